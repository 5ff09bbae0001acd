"""`mugshot-edge check`: folders that cannot be written fail it; a broker is reported, never fatal."""
import socket
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.integration.test_service import frames_dir, write_config  # noqa: F401

pytestmark = pytest.mark.integration


def check(config):
    return subprocess.run([sys.executable, "-m", "edge", "check", "--config", str(config)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_check_fails_on_an_event_folder_that_cannot_be_written(tmp_path, frames_dir):
    (tmp_path / "a-file").write_text("x")
    config = tmp_path / "config.toml"
    write_config(config, frames_dir)
    config.write_text(config.read_text().replace('path = "events"', 'path = "a-file/events"'))
    result = check(config)
    assert result.returncode == 78, result.stdout + result.stderr
    assert "publishers[0].path: cannot create" in result.stderr and "Traceback" not in result.stderr


def test_check_says_whether_each_broker_answered_without_failing(tmp_path, frames_dir, broker):
    config = tmp_path / "config.toml"
    mqtt = ('[[publishers]]\ntype = "mqtt"\nhost = "127.0.0.1"\nport = {port}\nspool_path = "spool.sqlite"\n'
            'protocol = "3.1.1"\n')
    write_config(config, frames_dir, extra=mqtt.format(port=broker.port) + mqtt.format(port=free_port()))
    result = check(config)
    assert result.returncode == 0, result.stderr
    assert f"publishers[1]: broker 127.0.0.1:{broker.port} answered (MQTT 3.1.1)" in result.stdout
    assert "publishers[2]: broker 127.0.0.1:" in result.stdout and "did not answer within" in result.stdout
    assert "camera porch: first frame" in result.stdout
