"""A camera that does not answer (a stream URL that accepts and stays silent), with the real daemon and
a real mosquitto: the box stays offline for Home Assistant until a first frame, says why in its log,
and a stop during the wait is prompt."""
import signal
import socket
import time

import pytest

from tests.helpers import Recorder
from tests.integration.test_service import start_daemon

pytestmark = pytest.mark.integration


def test_a_silent_camera_keeps_the_box_offline_and_does_not_block_a_stop(broker, tmp_path):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never says a word
    port = silent.getsockname()[1]
    config = tmp_path / "config.toml"
    config.write_text(f'[device]\nid = "box1"\n[camera]\nname = "porch"\ntype = "opencv"\n'
                      f'uri = "http://127.0.0.1:{port}/video.mjpg"\nstall_timeout = 2.0\n'
                      f'[[publishers]]\ntype = "mqtt"\nhost = "127.0.0.1"\nport = {broker.port}\n'
                      f'spool_path = "{tmp_path}/spool.sqlite"\n')
    recorder = Recorder(broker.port, topics=["mugshot/box1/status", "mugshot/box1/stats"])
    daemon = start_daemon(config)
    try:
        assert recorder.wait_for(lambda r: r.payloads("mugshot/box1/stats"), timeout=60), "the box is up"
        time.sleep(3.0)
        assert recorder.payloads("mugshot/box1/status") == [b"offline"], recorder.payloads("mugshot/box1/status")
        started = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(15) == 0
        assert time.monotonic() - started < 8, "a stop is not held up by the camera"
        log = daemon.stderr.read()
        assert "porch has not answered for 2 s" in log, log[-2000:]
        assert recorder.wait_for(lambda r: r.payloads("mugshot/box1/status")[-1:] == [b"stopped"])
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        recorder.stop()
        silent.close()
