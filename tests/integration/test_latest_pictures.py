"""Home Assistant's latest pictures follow the delivered events, in order, whatever the spool held,
and the retained pictures of a renamed or removed camera are cleared (real mosquitto)."""
import hashlib
import json

import pytest

from edge.config import MqttPublisherConfig
from edge.publish.mqtt import MqttPublisher
from tests.helpers import Recorder, make_event

pytestmark = pytest.mark.integration


def publisher_for(broker, tmp_path, cameras):
    cfg = MqttPublisherConfig(host="127.0.0.1", port=broker.port, spool_path=str(tmp_path / "spool.sqlite"),
                              reconnect_max=1.0, discovery=False)
    return MqttPublisher(cfg, device_id="box1", cameras=list(cameras), version="test")


def test_every_event_after_an_outage_fires_with_its_own_picture(broker, tmp_path):
    recorder = Recorder(broker.port, topics=["mugshot/box1/door/#"], client_id="ha")  # Home Assistant
    broker.stop()  # an outage: the box spools what it sees
    publisher = publisher_for(broker, tmp_path, ["door"])
    sent = [make_event(i) for i in range(6)]
    for event in sent:
        publisher.publish(event)
    assert publisher.spool.depth()[0] == 6
    broker.start()
    try:
        assert recorder.wait_for(lambda r: len(r.events()) == 6, timeout=30), len(recorder.events())
        latest = None
        fired = []
        with recorder.lock:
            messages = list(recorder.messages)
        for topic, payload, _, retained in messages:
            if topic == "mugshot/box1/door/latest/mugshot" and not retained:
                latest = hashlib.sha256(payload).hexdigest()
            elif topic == "mugshot/box1/door/event":
                fired.append((json.loads(payload), latest))
        assert len(fired) == 6
        for meta, picture in fired:  # what a "notify me with the face" automation attaches
            assert picture == meta["images"]["mugshot"]["sha256"], f"event {meta['event_id']} shows another face"
        assert [m["event_id"] for m, _ in fired] == [e.event_id for e in sent]
    finally:
        publisher.close()
        recorder.stop()


def test_the_pictures_of_a_renamed_or_removed_camera_are_cleared(broker, tmp_path):
    first = publisher_for(broker, tmp_path, ["door", "garage"])
    first.publish(make_event(1, camera="garage"))
    assert first.connection.connected.wait(10)
    watcher = Recorder(broker.port, topics=["mugshot/box1/garage/latest/event"])
    assert watcher.wait_for(lambda r: r.payloads("mugshot/box1/garage/latest/event"), timeout=20)
    watcher.stop()
    first.close()

    check = Recorder(broker.port, topics=["mugshot/box1/garage/#"])  # listening before the box comes back
    second = publisher_for(broker, tmp_path, ["door"])  # the garage camera was removed
    assert second.connection.connected.wait(10)
    assert check.wait_for(lambda r: b"" in r.payloads("mugshot/box1/garage/latest/mugshot"), timeout=10)
    check.stop()
    second.close()
    fresh = Recorder(broker.port, topics=["mugshot/box1/#"])  # what Home Assistant gets when it starts
    fresh.wait_for(lambda r: False, timeout=1.5)
    fresh.stop()
    left = {t for t, p, _, retained in fresh.messages if retained and p}
    assert not [t for t in left if "/garage/" in t], left
    assert "mugshot/box1/door/motion" in left
