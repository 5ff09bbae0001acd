"""Features the README names that no other test exercised (issue 26 item 6): ``motion.hold_seconds``, the TLS
default port 8883, and the MQTT 5 content type and user properties of every published message."""
import threading
from dataclasses import replace

import pytest

from edge.config import Config, MotionConfig
from edge.publish.mqtt_connection import ConnectionSettings
from tests.helpers import Recorder, make_event

pytestmark = pytest.mark.integration


def run_clip(clip, hold_seconds):
    from edge.daemon.pipeline import build_pipeline

    base = Config()
    cfg = Config(device=base.device, camera=base.camera.__class__(name="door", type="opencv", uri=str(clip),
                                                                 pace="fast", on_end="stop"),
                 motion=replace(MotionConfig(), hold_seconds=hold_seconds), publishers=())
    pipeline = build_pipeline(cfg, threading.Event())
    try:
        return pipeline.run()
    finally:
        pipeline.close()


def test_motion_hold_seconds_keeps_the_detector_running_after_motion_stops(shared_data):
    clip = shared_data / "video" / "face_noface.mov"
    none, held = run_clip(clip, 0.0), run_clip(clip, 1000.0)
    print(f"hold 0: {none.summary()}\nhold 1000 s: {held.summary()}")
    assert none.frames == held.frames and 0 < none.motion_frames == held.motion_frames < none.frames
    assert none.detector_runs == none.motion_frames, "without a hold the detector runs on moving frames only"
    assert held.detector_runs > held.motion_frames, "with a hold it runs on after the motion stopped"


def test_tls_default_port_is_8883():
    assert ConnectionSettings(host="box").effective_port == 1883
    assert ConnectionSettings(host="box", tls=True).effective_port == 8883
    assert ConnectionSettings(host="box", tls=True, port=9000).effective_port == 9000


class PropertyRecorder(Recorder):
    """Keeps each message's MQTT 5 properties."""

    def _record(self, message) -> None:
        props = getattr(message, "properties", None)
        with self.lock:
            self.properties = getattr(self, "properties", [])
            self.properties.append((message.topic, getattr(props, "ContentType", None),
                                    dict(getattr(props, "UserProperty", []) or [])))
        super()._record(message)


def test_mqtt5_messages_carry_content_type_and_user_properties(broker, tmp_path):
    from edge.config import MqttPublisherConfig
    from edge.publish.mqtt import MqttPublisher

    recorder = PropertyRecorder(broker.port, topics=["mugshot/+/+/event", "mugshot/+/+/images/#"])
    publisher = MqttPublisher(MqttPublisherConfig(host="127.0.0.1", port=broker.port, discovery=False,
                                                  spool_path=str(tmp_path / "spool.sqlite")),
                              device_id="box1", cameras=["door"])
    try:
        event = make_event(3)
        publisher.publish(event)
        assert recorder.wait_for(lambda r: r.events(), timeout=20)
    finally:
        publisher.close()
        recorder.stop()
    seen = {topic.rsplit("/", 1)[1]: (kind, props) for topic, kind, props in recorder.properties}
    revision = {"event_id": event.event_id, "revision": "1"}
    assert seen["event"] == ("application/json", revision)
    assert seen["mugshot"] == ("image/jpeg", revision | {"image": "mugshot"})
    assert seen["crop"] == ("image/jpeg", revision | {"image": "crop"})


def test_healthz_answers_503_while_the_broker_is_away(broker, tmp_path):
    import json
    import time
    import urllib.error
    import urllib.request

    from edge.tools.local_broker import free_port
    from tests.processes import running_receiver

    http = free_port()

    def health():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http}/healthz", timeout=5) as response:
                return response.status, json.load(response)["broker"]
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)["broker"]

    def until(expected, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and health() != expected:
            time.sleep(0.1)
        return health()

    with running_receiver(broker.port, tmp_path / "out", "--http", f"127.0.0.1:{http}",
                          wait_for=("subscribed to", "web gallery on")):
        assert health() == (200, "connected")
        broker.stop()
        assert until((503, "disconnected")) == (503, "disconnected")
        broker.start()
        assert until((200, "connected")) == (200, "connected"), "healthy again once the broker is back"


def test_the_gallery_filters_by_day(tmp_path):
    from starlette.testclient import TestClient

    from edge.receiver.intake import Receiver
    from edge.receiver.web import create_app
    from tests.unit.test_receiver_intake import send

    receiver = Receiver(tmp_path / "store")
    events = [make_event(i).encode() for i in range(2)]
    send(receiver, events[0])
    old = events[1].metadata["best_seen"]
    send(receiver, events[1], meta=events[1].metadata | {"best_seen": "2026-01-02" + old[10:]})
    client = TestClient(create_app(receiver))
    that_day = client.get("/?day=2026-01-02").text
    assert events[1].event_id in that_day and events[0].event_id not in that_day
    today = client.get(f"/?day={old[:10]}").text
    assert events[0].event_id in today and events[1].event_id not in today
    bad = client.get("/?day=not-a-day")  # not a date: refused in one line naming the parameter
    assert bad.status_code == 400 and bad.text.startswith("day: ")


def test_receiver_retention_and_pending_flags_reach_the_receiver(broker, tmp_path):
    """``--keep-events``, ``--keep-days``, ``--keep-bytes`` and ``--pending-*`` on the command line: the receiver
    keeps the newest events within --keep-events (the retention itself is unit-tested in test_receiver_intake)."""
    import time

    from edge.config import MqttPublisherConfig
    from edge.publish.mqtt import MqttPublisher
    from tests.processes import running_receiver

    out = tmp_path / "received"
    publisher = MqttPublisher(MqttPublisherConfig(host="127.0.0.1", port=broker.port, discovery=False,
                                                  spool_path=str(tmp_path / "spool.sqlite")),
                              device_id="box1", cameras=["door"])
    try:
        with running_receiver(broker.port, out, "--keep-events", "2", "--keep-days", "30", "--keep-bytes",
                              "100000000", "--pending-events", "8", "--pending-bytes", "10000000",
                              "--pending-seconds", "30") as receiver:
            sent = []
            for i in range(3):
                event = make_event(i)
                publisher.publish(event)
                sent.append(event.event_id)
                time.sleep(0.01)  # distinct best_seen
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not any("retention: deleted 1 event" in line
                                                          for line in receiver.log):
                time.sleep(0.05)
    finally:
        publisher.close()
    log = "".join(receiver.log)
    assert "retention: deleted 1 event (1 by count)" in log, log
    assert sorted(p.stem for p in (out / "box1").glob("*.json")) == sorted(sent[1:]), "the two newest are kept"
