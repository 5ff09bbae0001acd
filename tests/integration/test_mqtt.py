"""MQTT delivery against a real Mosquitto: ordering, broker outages, SIGKILL, discovery, receiver."""
import json
import os
import signal
import statistics
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from edge.config import MqttPublisherConfig
from edge.publish.mqtt import MqttPublisher
from tests.conftest import ROOT
from tests.helpers import Recorder, make_event, wait
from tests.processes import killed_after, running_receiver

pytestmark = pytest.mark.integration


def publisher_for(broker, tmp_path, **overrides) -> MqttPublisher:
    cfg = MqttPublisherConfig(host="127.0.0.1", port=broker.port, spool_path=str(tmp_path / "spool.sqlite"),
                              reconnect_max=1.0)
    cfg = MqttPublisherConfig(**(cfg.__dict__ | overrides))
    return MqttPublisher(cfg, device_id="box1", cameras=["door"], version="test")


def unique_in_order(events):
    seen, order = set(), []
    for e in events:
        if e["event_id"] not in seen:
            seen.add(e["event_id"])
            order.append(e["event_id"])
    return order


def test_events_arrive_in_order_with_images_and_latency(broker, tmp_path, capsys):
    recorder = Recorder(broker.port, topics=["mugshot/#"])
    publisher = publisher_for(broker, tmp_path)
    assert publisher.connection.connected.wait(10)
    publisher.available(True)  # the pipeline says so at the camera's first frame
    sent, sent_at = [], {}
    for i in range(30):
        event = make_event(i)
        sent_at[event.event_id] = time.time()
        publisher.publish(event)
        sent.append(event.event_id)
        time.sleep(0.02)
    assert recorder.wait_for(lambda r: len(r.events()) >= 30)
    events = recorder.events()
    assert unique_in_order(events) == sent
    for e in events[:3]:
        image = recorder.payloads(f"mugshot/box1/door/images/{e['event_id']}/mugshot")[0]
        import hashlib
        assert hashlib.sha256(image).hexdigest() == e["images"]["mugshot"]["sha256"]
    latencies = sorted(1000 * (e["_received"] - sent_at[e["event_id"]]) for e in events)
    median, p95 = statistics.median(latencies), latencies[int(0.95 * (len(latencies) - 1))]
    with capsys.disabled():
        print(f"\n[mqtt latency] loopback event->receipt over {len(latencies)} events: "
              f"median {median:.1f} ms, p95 {p95:.1f} ms")
    last_crop = recorder.payloads(f"mugshot/box1/door/images/{sent[-1]}/crop")[0]
    assert recorder.wait_for(lambda r: r.payloads("mugshot/box1/door/latest/crop")[-1:] == [last_crop]), \
        "the camera's own face crop is retained beside the mugshot"
    assert recorder.payloads("mugshot/box1/door/latest/mugshot")
    assert recorder.payloads("mugshot/box1/status")[:2] == [b"offline", b"online"]  # online from the first frame
    publisher.close()
    assert recorder.wait_for(lambda r: r.payloads("mugshot/box1/status")[-1] == b"stopped")
    recorder.stop()


def test_broker_down_mid_burst_loses_nothing(broker, tmp_path, capsys):
    recorder = Recorder(broker.port, topics=["mugshot/+/+/event"], client_id="rec-outage")
    publisher = publisher_for(broker, tmp_path)
    assert publisher.connection.connected.wait(10)
    sent = []
    for i in range(40):
        if i == 10:
            assert wait(lambda: publisher.spool.depth()[0] == 0)
            broker.stop()
            assert wait(lambda: not publisher.connection.connected.is_set(), 10)
        if i == 30:
            assert publisher.spool.depth()[0] == 20, "events pile up in the spool while the broker is away"
            broker.start()
        event = make_event(i)
        publisher.publish(event)
        sent.append(event.event_id)
    assert recorder.wait_for(lambda r: len(set(unique_in_order(r.events()))) >= 40, timeout=40)
    got = unique_in_order(recorder.events())
    with capsys.disabled():
        print(f"\n[mqtt fault] broker stopped mid-burst: {len(set(got) & set(sent))}/{len(sent)} delivered, "
              f"in order: {got == sent}")
    assert got == sent
    assert all(not retained for t, _, _, retained in recorder.messages)
    publisher.close()
    recorder.stop()


def run_burst(port, spool, count, delay=0.0):
    return subprocess.Popen([sys.executable, "-m", "tests.integration.burst", str(port), str(spool), str(count),
                             str(delay)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


@pytest.mark.parametrize("broker_up", [True, False], ids=["broker-up", "broker-down"])
def test_sigkill_mid_burst_loses_no_spooled_event(broker, tmp_path, broker_up, capsys):
    recorder = Recorder(broker.port, topics=["mugshot/+/+/event", "mugshot/+/status"], client_id="rec-kill")
    if not broker_up:
        broker.stop()
    spool = tmp_path / "spool.sqlite"
    spooled = []
    with killed_after(run_burst(broker.port, spool, 200, delay=0.01), 60) as burst:  # 60 s: then EOF
        while len(spooled) < 25:
            line = burst.stdout.readline()
            assert line, f"burst ended early (or ran past its 60 s) after {len(spooled)} spooled events"
            if line.startswith("spooled "):
                spooled.append(line.split()[1])
        burst.send_signal(signal.SIGKILL)
        burst.wait()
    if not broker_up:
        broker.start()
    else:
        assert recorder.wait_for(lambda r: b"offline" in r.payloads("mugshot/box1/status"))
    with killed_after(run_burst(broker.port, spool, 0), 90) as drain:  # it gives up on its spool after 30 s
        drain.communicate(timeout=120)  # the watchdog ends it first; this only bounds the wait
        assert drain.returncode == 0, f"the drain exited {drain.returncode} (negative: killed at its deadline)"
    assert recorder.wait_for(lambda r: set(spooled) <= set(unique_in_order(r.events())), timeout=30)
    got = unique_in_order(recorder.events())
    delivered = len(set(spooled) & set(got))
    with capsys.disabled():
        print(f"\n[mqtt fault] SIGKILL mid-burst ({'broker up' if broker_up else 'broker down'}): "
              f"{delivered}/{len(spooled)} acknowledged-to-spool events delivered ({len(got)} sent in all)")
    assert delivered == len(spooled)
    assert [e for e in got if e in spooled] == spooled, "in order"
    recorder.stop()


def test_home_assistant_discovery_and_rediscovery(broker, tmp_path):
    recorder = Recorder(broker.port, topics=["homeassistant/#"])
    publisher = publisher_for(broker, tmp_path)
    topics = {"homeassistant/image/mugshot_box1_door_mugshot/config",
              "homeassistant/image/mugshot_box1_door_crop/config",
              "homeassistant/sensor/mugshot_box1_door_last_event/config",
              "homeassistant/binary_sensor/mugshot_box1_door_motion/config"}
    assert recorder.wait_for(lambda r: topics <= {t for t, *_ in r.messages})
    image = json.loads(recorder.payloads("homeassistant/image/mugshot_box1_door_mugshot/config")[0])
    assert image["image_topic"] == "mugshot/box1/door/latest/mugshot"
    assert image["availability"] == [{"topic": "mugshot/box1/status",
                                     "value_template": "{{ 'online' if value == 'online' else 'offline' }}"}]
    crop = json.loads(recorder.payloads("homeassistant/image/mugshot_box1_door_crop/config")[0])
    assert crop["image_topic"] == "mugshot/box1/door/latest/crop"
    before = len(recorder.messages)
    recorder.connection.publish("homeassistant/status", b"online", qos=1)
    assert recorder.wait_for(lambda r: len(r.messages) >= before + 5)  # our own 'online' + 4 configs again
    publisher.motion("door", True)
    motion = Recorder(broker.port, topics=["mugshot/box1/door/motion"])
    assert motion.wait_for(lambda r: r.payloads("mugshot/box1/door/motion") == [b"ON"])
    publisher.close()
    recorder.stop()
    motion.stop()


def test_spool_bounds_hold_while_the_broker_is_away(broker, tmp_path):
    broker.stop()
    publisher = publisher_for(broker, tmp_path, spool_max_events=10)
    for i in range(25):
        publisher.publish(make_event(i))
    assert publisher.status()["spool"] == 10 and publisher.status()["dropped"] == 15
    publisher.close(drain_seconds=0)


def test_daemon_replay_to_receiver_end_to_end_same_bytes(broker, tmp_path, shared_data):
    out = tmp_path / "received"
    config = tmp_path / "config.toml"
    config.write_text(f'[device]\nid = "box1"\n[[publishers]]\ntype = "directory"\npath = "local"\n'
                      f'[[publishers]]\ntype = "mqtt"\nhost = "127.0.0.1"\nport = {broker.port}\n'
                      f'spool_path = "spool.sqlite"\n')
    with running_receiver(broker.port, out) as receiver:
        result = subprocess.run([sys.executable, "-m", "edge", "replay", str(shared_data / "video" / "single_face.mp4"),
                                 "--out", str(tmp_path / "local"), "--config", str(config)],
                                cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        local = sorted((tmp_path / "local").glob("*.json"))
        assert local
        assert wait(lambda: len(list(out.glob("box1/*.json"))) == len(local), 20)
    for meta_path in local:
        eid = meta_path.stem
        for name in ("mugshot", "crop"):
            assert (out / "box1" / f"{eid}_{name}.jpg").read_bytes() == \
                (tmp_path / "local" / f"{eid}_{name}.jpg").read_bytes()
        assert json.loads((out / "box1" / f"{eid}.json").read_text()) == json.loads(meta_path.read_text())
    assert eid in (out / "index.html").read_text()
    assert receiver.returncode == 0


def test_receiver_survives_garbage_and_stores_nothing_wrong(broker, tmp_path):
    out = tmp_path / "received"
    sender = Recorder(broker.port, topics=[])
    try:
        with running_receiver(broker.port, out, "--max-bytes", "5000000") as receiver:
            received(sender, out, receiver)
    finally:
        sender.stop()
    err = "".join(receiver.log)
    assert receiver.returncode == 0
    assert "1 stored, 1 duplicates dropped" in err
    assert "over the 5000000-byte limit" in err and "malformed event JSON" in err and "does not match" in err
    assert "that are not a JPEG" in err


def received(sender, out, receiver):
    """Garbage, a forged image, a good event twice and a 10 MB image, sent to a running receiver."""
    good = make_event(1).encode()
    bad_hash = make_event(2).encode()
    eid, bid = good.event_id, bad_hash.event_id
    c = sender.connection
    c.publish("mugshot/box1/door/event", b"\x00\xff garbage", qos=1)
    c.publish("mugshot/box1/door/event", json.dumps(good.metadata).encode()[:40], qos=1)  # truncated JSON
    c.publish("mugshot/box1/door/images/../../etc/mugshot", b"x", qos=1)  # path tricks are not image topics
    c.publish(f"mugshot/box1/door/images/{bid}/mugshot", b"not a JPEG", qos=1)
    other = cv2.imencode(".jpg", cv2.flip(cv2.imdecode(np.frombuffer(bad_hash.images["mugshot"], np.uint8), 1), 1))[1]
    c.publish(f"mugshot/box1/door/images/{bid}/mugshot", other.tobytes(), qos=1)  # a JPEG, but not the one named
    c.publish(f"mugshot/box1/door/images/{bid}/crop", bad_hash.images["crop"], qos=1)
    c.publish("mugshot/box1/door/event", json.dumps(bad_hash.metadata).encode(), qos=1)
    for _ in range(2):  # the second time is a duplicate, as QoS 1 may deliver after a reconnect
        for name, data in good.images.items():
            c.publish(f"mugshot/box1/door/images/{eid}/{name}", data, qos=1)
        c.publish("mugshot/box1/door/event", json.dumps(good.metadata).encode(), qos=1)
    assert wait(lambda: (out / "box1" / f"{eid}.json").exists(), 20)
    # last: under CPU load, messages published right after a 10 MB one sometimes never reached the
    # receiver (sender connected, the 10 MB one logged; seen with the old receiver too, not yet explained)
    c.publish(f"mugshot/box1/door/images/{eid}/mugshot", os.urandom(10_000_000), qos=1)  # 10 MB
    assert wait(lambda: any("over the 5000000-byte limit" in line for line in receiver.log), 20), \
        "the receiver logs the 10 MB image it refused"
    assert receiver.poll() is None, "the receiver keeps running"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if not p.name.startswith("index.")) == sorted(
        ["box1", f"box1/{eid}.json", f"box1/{eid}_mugshot.jpg", f"box1/{eid}_crop.jpg"])
    assert (out / "box1" / f"{eid}_mugshot.jpg").read_bytes() == good.images["mugshot"]


def test_mqtt_311_also_delivers(broker, tmp_path):
    recorder = Recorder(broker.port, topics=["mugshot/+/+/event"], protocol="3.1.1")
    publisher = publisher_for(broker, tmp_path, protocol="3.1.1")
    event = make_event(7)
    publisher.publish(event)
    assert recorder.wait_for(lambda r: [e["event_id"] for e in r.events()] == [event.event_id])
    publisher.close()
    recorder.stop()


def test_amqtt_fallback_broker_delivers_over_311(tmp_path, monkeypatch):
    from edge.tools import local_broker

    monkeypatch.setattr(local_broker, "find_mosquitto", lambda: None)
    fallback = local_broker.start_local_broker(tmp_path / "amqtt")
    try:
        assert isinstance(fallback, local_broker.AmqttBroker) and fallback.protocol == "3.1.1"
        recorder = Recorder(fallback.port, topics=["mugshot/+/+/event"], protocol="3.1.1")
        publisher = publisher_for(fallback, tmp_path, protocol="3.1.1", discovery=False)
        event = make_event(8)
        publisher.publish(event)
        assert recorder.wait_for(lambda r: [e["event_id"] for e in r.events()] == [event.event_id])
        publisher.close()
        recorder.stop()
    finally:
        fallback.stop()
