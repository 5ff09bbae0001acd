"""A local MQTT broker on a free loopback port: for the demo and the tests.

Debian's ``mosquitto`` when it is installed (generated config, optional TLS, passwords
and ACL, restartable with persistence); otherwise the pure-Python ``amqtt`` broker,
which speaks MQTT 3.1.1 only.
"""
from __future__ import annotations

import getpass
import importlib.util
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


def _terminate(process: subprocess.Popen | None) -> None:
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _launch(cmd: list[str], log: Path, port: int, what: str) -> subprocess.Popen:
    with open(log, "ab") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=out)
    _wait_listening(process, port, log, what)
    return process


def _wait_listening(process: subprocess.Popen, port: int, log: Path, what: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise RuntimeError(f"{what} did not start listening on 127.0.0.1:{port}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self, workdir: Path, *, tls: dict | None = None, passwords: dict[str, str] | None = None,
                 acl: str | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        # 'user': run as whoever runs the tests, so the persistence file can be written
        lines = [f"user {getpass.getuser()}", f"listener {self.port} 127.0.0.1", "persistence true",
                 f"persistence_location {self.workdir}/", "log_dest stderr", "log_type error", "log_type warning"]
        if passwords:
            pwfile = self.workdir / "passwords"
            pwfile.write_text("")
            for user, password in passwords.items():
                subprocess.run(["mosquitto_passwd", "-b", str(pwfile), user, password], check=True,
                               capture_output=True)
            pwfile.chmod(0o600)
            lines += [f"password_file {pwfile}", "allow_anonymous false"]
        else:
            lines.append("allow_anonymous true")
        if acl:
            (self.workdir / "acl").write_text(acl)
            lines.append(f"acl_file {self.workdir / 'acl'}")
        if tls:
            lines += [f"cafile {tls['ca']}", f"certfile {tls['cert']}", f"keyfile {tls['key']}"]
        self.config = self.workdir / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.log = self.workdir / "mosquitto.log"

    protocol = "5"

    def start(self) -> "Broker":
        binary = find_mosquitto()
        if binary is None:
            raise RuntimeError("mosquitto is not installed (apt-get install mosquitto; the test command does this)")
        self.process = _launch([binary, "-c", str(self.config)], self.log, self.port, "mosquitto")
        return self

    def stop(self) -> None:
        _terminate(self.process)  # SIGTERM: mosquitto saves its persistence file
        self.process = None


class AmqttBroker:
    """The pure-Python fallback: MQTT 3.1.1, anonymous, loopback only."""

    protocol = "3.1.1"

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.config = self.workdir / "amqtt.yaml"
        self.config.write_text(f"listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{self.port}\n"
                               "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
                               "    allow_anonymous: true\n")
        self.log = self.workdir / "amqtt.log"

    def start(self) -> "AmqttBroker":
        binary = shutil.which("amqtt") or str(Path(sys.executable).parent / "amqtt")
        self.process = _launch([binary, "-c", str(self.config)], self.log, self.port, "amqtt")
        return self

    def stop(self) -> None:
        _terminate(self.process)  # SIGTERM: mosquitto saves its persistence file
        self.process = None


def start_local_broker(workdir: Path) -> Broker | AmqttBroker:
    """mosquitto if installed, else amqtt; raises RuntimeError when neither can run."""
    if find_mosquitto():
        return Broker(workdir).start()
    if importlib.util.find_spec("amqtt") is None:
        raise RuntimeError("no local MQTT broker: install Debian's mosquitto or 'pip install amqtt'")
    return AmqttBroker(workdir).start()
