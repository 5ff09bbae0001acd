"""Issue 24, against a real mosquitto with the real daemon and receiver processes: any printable
name arrives (one naming rule, edge/names.py), and a receiver knows a missing tail without
waiting for a later event."""
import json
import signal
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.helpers import Recorder
from tests.integration.test_receiver_web import start_receiver

pytestmark = pytest.mark.integration


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_box_and_camera_with_any_printable_name_are_received(broker, tmp_path, shared_data):
    out = tmp_path / "received"
    receiver = start_receiver(broker.port, out)
    ha = Recorder(broker.port, topics=["homeassistant/+/+/config"])
    try:
        config = tmp_path / "box.toml"
        config.write_text('[device]\nid = "Haustür"\n'
                          f'[[publishers]]\ntype = "mqtt"\nhost = "127.0.0.1"\nport = {broker.port}\n'
                          'spool_path = "spool.sqlite"\n')
        result = subprocess.run([sys.executable, "-m", "edge", "replay",
                                 str(shared_data / "video" / "single_face.mp4"), "--camera", "front door",
                                 "--out", str(tmp_path / "local"), "--config", str(config)],
                                cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        sent = [json.loads(p.read_text()) for p in (tmp_path / "local").glob("*.json")]
        assert sent, "the clip made events"
        import time
        deadline = time.monotonic() + 20
        while len(list(out.glob("Haustur/*.json"))) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.1)
        stored = [json.loads(p.read_text()) for p in out.glob("Haustur/*.json")]
        assert len(stored) == len(sent), "".join(receiver.log)
        assert {(m["device"], m["camera"], m["device_name"], m["camera_name"]) for m in stored} == \
            {("Haustur", "front_door", "Haustür", "front door")}
        assert not [line for line in receiver.log if "skipped" in line]
        configs = {t: json.loads(p) for t, p, _, _ in ha.messages if p}
        image = configs["homeassistant/image/mugshot_haustur_front_door_mugshot/config"]
        assert image["name"] == "front door mugshot" and image["device"]["name"] == "Mugshot Haustür"
        assert image["image_topic"] == "mugshot/Haustur/front_door/latest/mugshot"
    finally:
        ha.stop()
        stop(receiver)
