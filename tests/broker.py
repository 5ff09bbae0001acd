"""A real Mosquitto broker for tests: free loopback port, generated config, restartable."""
from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path


def find_mosquitto() -> str:
    path = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if path is None:
        raise RuntimeError("mosquitto is not installed: run the test command (bash tests/run.sh), which installs it")
    return path


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

    def start(self) -> "Broker":
        log = open(self.log, "ab")
        self.process = subprocess.Popen([find_mosquitto(), "-c", str(self.config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # saves the persistence file
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
