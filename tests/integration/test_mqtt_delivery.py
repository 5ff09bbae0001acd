"""Delivery under faults with a real Mosquitto and a real SQLite spool: a full spool, a spool the
sender cannot write, sequence numbers, and a message the broker keeps refusing."""
import json
import logging
import sqlite3
import threading

import pytest

from edge.config import MqttPublisherConfig
from edge.publish.mqtt import MqttPublisher
from edge.daemon.service import SdNotifier, ServiceMonitor
from edge.daemon.stats import PipelineStats
from tests.helpers import Recorder, make_event, wait

pytestmark = pytest.mark.integration


def publisher_for(broker, tmp_path, **overrides) -> MqttPublisher:
    cfg = MqttPublisherConfig(host="127.0.0.1", port=broker.port, spool_path=str(tmp_path / "spool.sqlite"),
                              reconnect_max=1.0, discovery=False)
    return MqttPublisher(MqttPublisherConfig(**(cfg.__dict__ | overrides)), device_id="box1", cameras=["door"])


def status_line(publisher) -> str:
    return ServiceMonitor(SdNotifier(""), 0, status=lambda: {"mqtt": publisher.status()}).status_line(PipelineStats())


def test_a_full_spool_is_counted_shown_and_delivery_resumes_when_space_is_free(broker, tmp_path):
    recorder = Recorder(broker.port, topics=["mugshot/+/+/event"], client_id="rec-full")
    broker.stop()
    publisher = publisher_for(broker, tmp_path)
    with publisher.spool._lock:  # the disk is nearly full: SQLite may grow the spool by a few pages only
        pages = publisher.spool._db.execute("PRAGMA page_count").fetchone()[0]
        publisher.spool._db.execute(f"PRAGMA max_page_count = {pages + 40}")
    accepted, failed = [], 0
    for i in range(30):
        event = make_event(i)
        publisher.publish(event)  # never raises into the frame loop
        if publisher.status()["spool_write_failed"] > failed:
            failed = publisher.status()["spool_write_failed"]
        else:
            accepted.append(event.event_id)
    status = publisher.status()
    assert 0 < len(accepted) < 30 and status["spool_write_failed"] == 30 - len(accepted)
    assert status["spool"] == len(accepted)
    assert f"write failed {30 - len(accepted)}" in status_line(publisher)
    from edge.publish.health import publisher_fields
    assert publisher_fields(status)["write_failures"] == 30 - len(accepted), "and in the retained stats"

    with publisher.spool._lock:  # space is free again
        publisher.spool._db.execute("PRAGMA max_page_count = 1073741823")
    broker.start()
    later = make_event(99)
    publisher.publish(later)
    accepted.append(later.event_id)
    assert publisher.status()["spool_write_failed"] == status["spool_write_failed"], "the new event was accepted"
    assert recorder.wait_for(lambda r: {e["event_id"] for e in r.events()} >= set(accepted), timeout=30), \
        "delivery resumes without a restart"
    publisher.close()
    recorder.stop()


def test_the_sender_survives_a_spool_it_cannot_write_and_resumes(broker, tmp_path):
    recorder = Recorder(broker.port, topics=["mugshot/+/+/event"], client_id="rec-locked")
    broker.stop()
    publisher = publisher_for(broker, tmp_path)
    sent = [make_event(i) for i in range(3)]
    for event in sent:
        publisher.publish(event)
    other = sqlite3.connect(tmp_path / "spool.sqlite", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process holds the spool: removing a delivered event fails
    broker.start()
    assert recorder.wait_for(lambda r: len(r.events()) >= 1, timeout=20)
    assert wait(lambda: publisher.status()["sender_error"] != "", timeout=15), "the failing remove is reported"
    assert "sender failing: OperationalError: database is locked" in status_line(publisher)
    other.execute("ROLLBACK")
    other.close()
    later = make_event(3)
    publisher.publish(later)
    want = [e.event_id for e in sent] + [later.event_id]
    assert recorder.wait_for(lambda r: {e["event_id"] for e in r.events()} >= set(want), timeout=40), \
        "the sender thread is still alive and delivers what is left"
    assert wait(lambda: publisher.spool.depth()[0] == 0, timeout=10)
    assert publisher._sender.is_alive() and publisher.status()["sender_error"] == ""
    publisher.close()
    recorder.stop()


def replay_pipeline(clip, tmp_path, broker_port):
    from edge.config import config_from_dict
    from edge.daemon.pipeline import build_pipeline

    cfg = config_from_dict({
        "device": {"id": "box1"},
        "camera": {"name": "door", "type": "opencv", "uri": str(clip), "on_end": "stop"},
        "publishers": [{"type": "directory", "path": str(tmp_path / "local")},
                       {"type": "mqtt", "host": "127.0.0.1", "port": broker_port, "discovery": False,
                        "reconnect_max": 1.0, "spool_path": str(tmp_path / "spool.sqlite")}]})
    return build_pipeline(cfg, threading.Event(), tmp_path / "state" / "sequence")  # as the daemon does


def test_every_event_is_numbered_across_restarts_and_spooled_before_it_is_logged(broker, tmp_path, shared_data,
                                                                                caplog):
    caplog.set_level(logging.INFO, logger="edge.daemon.pipeline")
    recorder = Recorder(broker.port, topics=["mugshot/+/+/event"], client_id="rec-seq")
    broker.stop()
    clip = shared_data / "video" / "single_face.mp4"
    logged, missing = [], []

    class SpoolCheck(logging.Handler):
        def emit(self, record):
            message = record.getMessage()
            if record.name == "edge.daemon.pipeline" and message.startswith("event "):
                event_id = message.split()[1]
                logged.append(event_id)
                with pipeline.publishers[1].spool._lock:
                    row = pipeline.publishers[1].spool._db.execute(
                        "SELECT 1 FROM events WHERE event_id = ?", (event_id,)).fetchone()
                if row is None:
                    missing.append(event_id)

    handler = SpoolCheck()
    logging.getLogger("edge.daemon.pipeline").addHandler(handler)
    try:
        for _ in range(2):  # two runs: the second is the box after a restart
            pipeline = replay_pipeline(clip, tmp_path, broker.port)
            try:
                pipeline.run()
            finally:
                pipeline.close()
    finally:
        logging.getLogger("edge.daemon.pipeline").removeHandler(handler)
    assert len(logged) >= 2 and not missing, "an event that was logged is already in the spool"
    local = {json.loads(p.read_text())["sequence"] for p in (tmp_path / "local").glob("*.json")}
    assert (tmp_path / "state" / "sequence").read_text().strip() == str(len(logged))
    broker.start()
    publisher = MqttPublisher(MqttPublisherConfig(host="127.0.0.1", port=broker.port, discovery=False,
                                                  reconnect_max=1.0, spool_path=str(tmp_path / "spool.sqlite")),
                              device_id="box1", cameras=["door"])
    assert recorder.wait_for(lambda r: len(r.events()) >= len(logged), timeout=30)
    sequences = [e["sequence"] for e in recorder.events()]
    assert sequences == list(range(1, len(logged) + 1)), "one number per published event, in order, no reuse"
    assert max(local) == len(logged), "the directory sink carries the same numbers"
    publisher.close()
    recorder.stop()


def test_a_message_the_broker_refuses_does_not_block_the_queue(broker, tmp_path):
    """A spooled event whose camera name the broker cannot take (from a config before validation):
    Mosquitto drops the connection each time it is sent; it is refused after a few tries and the
    good event behind it goes out."""
    recorder = Recorder(broker.port, topics=["mugshot/#"], client_id="rec-poison")
    broker.stop()
    publisher = publisher_for(broker, tmp_path)
    publisher.publish(make_event(0, camera="bad\0name"))
    publisher.publish(make_event(1, camera="bad#name"))
    good = make_event(2)
    publisher.publish(good)
    broker.start()
    assert recorder.wait_for(lambda r: good.event_id in {e["event_id"] for e in r.events()}, timeout=40), \
        "the good event is not stuck behind the refused ones"
    assert publisher.status()["rejected"] == 2
    publisher.close()
    recorder.stop()


def test_a_qos_0_publisher_has_nagle_off(broker, tmp_path):
    """QoS 0: Nagle held each event's later messages ~40 ms for the broker's delayed ACK. QoS 1 keeps
    Nagle: there the broker's PUBACKs carry the ACKs, and TCP_NODELAY measured slower."""
    import socket

    for qos, nodelay in ((0, True), (1, False)):
        publisher = publisher_for(broker, tmp_path, qos=qos, spool_path=str(tmp_path / f"spool{qos}.sqlite"),
                                  client_id=f"nagle-{qos}")
        assert publisher.connection.connected.wait(10)
        sock = publisher.connection.client.socket()
        assert bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)) is nodelay, qos
        publisher.close()
