"""``--http`` settings, checked before anything starts: the address, the extra installed, and a
password/token (from a file or the environment, never the command line or a config file)
for anything but loopback."""
from __future__ import annotations

import importlib.util
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..config import ConfigError

TOKEN_ENV = "MUGSHOT_RECEIVE_TOKEN"


@dataclass(frozen=True)
class WebSettings:
    host: str
    port: int
    token: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def web_settings(value: str, token_file: str = "", token_env: str = "") -> WebSettings:
    missing = [m for m in ("starlette", "uvicorn", "prometheus_client") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError("--http", f"needs {', '.join(missing)}: pip install 'mugshot-edge[receiver]'")
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ConfigError("--http", f"expected HOST:PORT, e.g. 127.0.0.1:8080, got {value!r}")
    try:
        port_number = int(port)
        if not 0 < port_number < 65536:
            raise ValueError
    except ValueError:
        raise ConfigError("--http", f"port must be 1-65535, got {port!r}") from None
    host = host.strip("[]")
    token = None
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError("--auth-token-file", f"cannot read {token_file}: {exc.strerror}") from None
    elif token_env or os.environ.get(TOKEN_ENV):
        name = token_env or TOKEN_ENV
        token = os.environ.get(name)
        if token is None:
            raise ConfigError("--auth-token-env", f"environment variable {name} is not set")
    if token is not None and len(token) < 12:
        raise ConfigError("--auth-token-file" if token_file else "--auth-token-env",
                          "the password/token must be at least 12 characters")
    if token is None and not is_loopback(host):
        raise ConfigError("--http", f"{host} is not loopback: give a password/token with --auth-token-file, "
                                    f"--auth-token-env or ${TOKEN_ENV}")
    return WebSettings(host, port_number, token)
