"""The receiver against a real mosquitto: killed mid-stream it loses nothing (messages are
acknowledged only once on disk), and two receivers split one MQTT 5 shared subscription."""
import hashlib
import json
import re
import signal
import time
from contextlib import ExitStack

import pytest

from edge.config import MqttPublisherConfig
from edge.publish.mqtt import MqttPublisher
from tests.helpers import make_event
from tests.processes import running_receiver

pytestmark = pytest.mark.integration


def stored_events(out):
    return sorted(str(p.relative_to(out)).removesuffix(".json") for p in out.glob("box*/*.json"))


def wait_until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def test_a_receiver_killed_mid_stream_loses_nothing(broker, tmp_path):
    out = tmp_path / "received"
    publisher = MqttPublisher(MqttPublisherConfig(host="127.0.0.1", port=broker.port, discovery=False,
                                                  spool_path=str(tmp_path / "spool.sqlite")),
                              device_id="box1", cameras=["door"])
    sent = []
    try:
        with running_receiver(broker.port, out, client_id="kill-me") as receiver:
            for i in range(60):
                event = make_event(i)
                publisher.publish(event)
                sent.append(f"box1/{event.event_id}")
                if i == 20:
                    assert wait_until(lambda: len(stored_events(out)) >= 5)
                    receiver.send_signal(signal.SIGKILL)  # mid-stream, with messages in flight
                    receiver.wait(10)
        assert wait_until(lambda: publisher.spool.depth()[0] == 0), "the broker took them all"
    finally:
        publisher.close()
    with running_receiver(broker.port, out, client_id="kill-me") as receiver:  # same session: the broker resends
        assert wait_until(lambda: len(stored_events(out)) == 60), f"{len(stored_events(out))} of 60"
    assert receiver.returncode == 0
    assert stored_events(out) == sorted(sent)
    for name in sent:
        meta = json.loads((out / f"{name}.json").read_text())
        for image in ("mugshot", "crop"):
            data = (out / f"{name}_{image}.jpg").read_bytes()
            assert hashlib.sha256(data).hexdigest() == meta["images"][image]["sha256"]


def test_two_receivers_split_one_shared_subscription(broker, tmp_path):
    out = tmp_path / "received"
    with ExitStack() as running:
        receivers = [running.enter_context(running_receiver(broker.port, out, "--share-group", "fleet",
                                                            client_id=f"fleet-{i}")) for i in range(2)]
        publishers = [MqttPublisher(MqttPublisherConfig(host="127.0.0.1", port=broker.port, discovery=False,
                                                        spool_path=str(tmp_path / f"spool{b}.sqlite")),
                                    device_id=f"box{b}", cameras=["door"]) for b in range(3)]
        for p in publishers:
            running.callback(p.close)
        sent = []
        for i in range(30):
            event = make_event(i, device=f"box{i % 3}")
            publishers[i % 3].publish(event)
            sent.append(f"box{i % 3}/{event.event_id}")
        wait_until(lambda: len(list(out.glob("box*/*.json"))) >= 30)
    assert [r.returncode for r in receivers] == [0, 0]
    assert sorted(str(p.relative_to(out)).removesuffix(".json") for p in out.glob("box*/*.json")) == sorted(sent)
    stored = [int(re.search(r"stopped: (\d+) stored", "".join(r.log)).group(1)) for r in receivers]
    assert sum(stored) == 30 and min(stored) > 0, f"both receivers did part of the work: {stored}"
    assert all("0 duplicates dropped, 0 messages skipped" in "".join(r.log) for r in receivers)
    assert not any("never completed" in line for r in receivers for line in r.log)
