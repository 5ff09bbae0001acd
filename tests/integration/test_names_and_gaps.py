"""Issue 24, against a real mosquitto with the real daemon and receiver processes: any printable
name arrives (one naming rule, edge/names.py), and a receiver knows a missing tail without
waiting for a later event."""
import json
import signal
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.helpers import Recorder, wait
from tests.processes import running_receiver, stop

pytestmark = pytest.mark.integration


def test_a_box_and_camera_with_any_printable_name_are_received(broker, tmp_path, shared_data):
    out = tmp_path / "received"
    with running_receiver(broker.port, out) as receiver:
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
            assert wait(lambda: len(list(out.glob("Haustur/*.json"))) >= len(sent), timeout=30)
            stored = [json.loads(p.read_text()) for p in out.glob("Haustur/*.json")]
            assert len(stored) == len(sent)
            assert {(m["device"], m["camera"], m["device_name"], m["camera_name"]) for m in stored} == \
                {("Haustur", "front_door", "Haustür", "front door")}
            assert not [line for line in receiver.log if "skipped" in line]
            configs = {t: json.loads(p) for t, p, _, _ in ha.messages if p}
            image = configs["homeassistant/image/mugshot_haustur_front_door_mugshot/config"]
            assert image["name"] == "front door mugshot" and image["device"]["name"] == "Mugshot Haustür"
            assert image["image_topic"] == "mugshot/Haustur/front_door/latest/mugshot"
        finally:
            ha.stop()
    assert receiver.returncode == 0


def test_a_missing_tail_is_reported_on_metrics_health_and_the_stop_line(tmp_path):
    """A receiver too slow for the broker's queue loses the end of a burst; the box's retained stats
    (last_sequence) make the loss known at once, with its range, not only when a later event comes."""
    import dataclasses
    import urllib.request

    from edge.config import MqttPublisherConfig
    from edge.publish.mqtt import MqttPublisher
    from edge.tools.local_broker import Broker, free_port
    from tests.helpers import make_event

    broker = Broker(tmp_path / "broker")
    broker.config.write_text(broker.config.read_text() + "max_queued_messages 5\nmax_inflight_messages 5\n")
    broker.start()
    out, http = tmp_path / "received", free_port()
    try:
        with running_receiver(broker.port, out, "--http", f"127.0.0.1:{http}", "--stats-seconds", "1",
                              client_id="slow", wait_for=("subscribed to", "web gallery"),
                              stop_timeout=20) as receiver:
            publisher = None
            try:
                receiver.send_signal(signal.SIGSTOP)  # a receiver that cannot keep up: the broker's queue overflows
                publisher = MqttPublisher(MqttPublisherConfig(host="127.0.0.1", port=broker.port, discovery=False,
                                                              spool_path=str(tmp_path / "spool.sqlite")),
                                          device_id="box1", cameras=["door"])
                publisher.health({"device": "box1"})
                for i in range(30):
                    publisher.publish(dataclasses.replace(make_event(i), sequence=i + 1))
                assert wait(lambda: publisher.spool.depth()[0] == 0), "the broker took every event"
                publisher.close()
                receiver.send_signal(signal.SIGCONT)

                def health():
                    with urllib.request.urlopen(f"http://127.0.0.1:{http}/healthz", timeout=5) as response:
                        return json.loads(response.read())
                assert wait(lambda: health()["missing_events"] > 0, timeout=20)
                stored = len(list(out.glob("box1/*.json")))
                body = health()
                assert stored + body["missing_events"] == 30, (stored, body)
                assert body["missing"]["box1"]["ranges"].endswith("-30"), body
                with urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=5) as response:
                    metrics = response.read().decode()
                assert f'mugshot_receiver_sequence_missing_now{{device="box1"}} {30 - stored}.0' in metrics
                # SIGTERM, and its log read to the end (stop() joins the reader at EOF): the stop line is in it
                assert stop(receiver, 20) == 0, receiver.log[-5:]
                stop_line = [line for line in receiver.log if "stopped:" in line]
                assert stop_line and f"{30 - stored} events missing: box1 {30 - stored} (" in stop_line[0], \
                    receiver.log[-5:]
                assert "-30)" in stop_line[0]
            finally:
                if receiver.poll() is None:
                    receiver.send_signal(signal.SIGCONT)  # a stopped process would sit out SIGTERM's timeout
                if publisher is not None:
                    publisher.connection.stop()
    finally:
        broker.stop()
