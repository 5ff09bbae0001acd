"""MQTT publisher: events go to the on-disk spool first, then to the broker, in order.

Topics under ``<prefix>`` (default ``mugshot/<device_id>``):

- ``<prefix>/status``: ``online`` (once the camera delivered a frame) / ``offline`` (before that,
  and the last will) / ``stopped``, retained.
- ``<prefix>/<camera>/images/<event_id>/mugshot`` and ``.../crop``: JPEG bytes; ``.../profile`` too when
  the track showed its side (the event's ``images.profile``).
- ``<prefix>/<camera>/event``: the event JSON, sent after its images; never retained.
- ``<prefix>/<camera>/latest/mugshot``, ``.../latest/crop`` and ``.../latest/event``: retained
  copies of the newest event, sent with every event just before its event message, in spool
  order (late subscribers get one, not history; an automation fired by an event reads that
  event's pictures).  Those of a renamed or removed camera are cleared (edge/publish/retained.py).  The crop is the camera's own pixels: whatever a generator made of the face,
  the evidence sits beside it.  ``.../latest/profile``: the newest event's profile image that had one
  (an event without a profile leaves the last profile in place).
- ``<prefix>/<camera>/motion``: ``ON`` / ``OFF``, retained; the true state on every (re)connect,
  ``OFF`` on a clean stop.
- ``<prefix>/stats``: box health JSON (edge/publish/health.py), retained, every ``log.summary_seconds``
  and at a clean stop; ``last_sequence`` is the number of the newest event the broker took, so a
  receiver sees a missing tail without waiting for a later event.

A spooled event is deleted only when the broker has acknowledged all its messages; while
the broker is away, ``publish`` still returns at once (frame processing never waits).  An
event is durable once ``publish`` has returned: it is committed to the spool.  A spool that
cannot take an event (a full disk) is counted (``spool_write_failed``), never raised into the
frame loop; the sender thread survives any error (logged, retried with backoff), so delivery
resumes by itself once the disk has room again.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

from ..config import MqttPublisherConfig
from ..events import Event
from .base import Publisher
from .health import publisher_fields
from .homeassistant import DiscoveryRecord, DiscoveryScan, discovery_messages
from .mqtt_connection import ConnectionSettings, MqttConnection, read_password
from .retained import RetainedCleaner
from .spool import Spool, SpooledEvent

log = logging.getLogger(__name__)

POISON_ATTEMPTS = 3  # the connection fell this many times in a row while one event was in flight: refused


def default_spool_path() -> Path:
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    base = Path(state) if state else Path.home() / ".local" / "state" / "mugshot-edge"
    return base / "spool.sqlite"


class MqttPublisher(Publisher):
    name = "mqtt"
    spooled = True  # publish() returns once the event is committed to the on-disk spool

    def __init__(self, cfg: MqttPublisherConfig, *, device_id: str, cameras: list[str], version: str = "",
                 key: str = "publishers[0]", names: dict[str, str] | None = None):
        self.cfg = cfg
        self.names = names or {}  # slug -> the name as configured (Home Assistant shows it)
        self.device_id, self.cameras, self.version = device_id, cameras, version
        self.prefix = cfg.topic_prefix or f"mugshot/{device_id}"
        settings = ConnectionSettings(
            host=cfg.host, port=cfg.port, protocol=cfg.protocol, client_id=cfg.client_id or f"mugshot-{device_id}",
            keepalive=cfg.keepalive, tls=cfg.tls, ca_file=cfg.ca_file, cert_file=cfg.cert_file,
            key_file=cfg.key_file, username=cfg.username,
            password=read_password(cfg.password_file, cfg.password_env, key), reconnect_max=cfg.reconnect_max,
            tcp_nodelay=cfg.qos == 0)
        spool_path = Path(cfg.spool_path or default_spool_path())
        self.spool = Spool(spool_path, cfg.spool_max_events, cfg.spool_max_bytes)
        self.discovery_record = DiscoveryRecord(spool_path.with_name(spool_path.stem + ".discovery.json"))
        self.retained = RetainedCleaner(DiscoveryRecord(spool_path.with_name(spool_path.stem + ".retained.json")),
                                        self.prefix, cameras, self._publish_raw)
        self.connection = MqttConnection(settings, will=(f"{self.prefix}/status", b"offline"),
                                         on_connected=self._on_connected, on_message=self._on_message)
        self.delivered = 0
        self.rejected = 0
        self.spool_write_failed = 0  # events the spool could not take (full disk): lost, and counted
        self.sender_errors = 0
        self.sender_error = ""  # the sender's last error while it is failing, for STATUS
        self._in_flight_seq: int | None = None  # the event in flight when the connection last fell
        self._in_flight_drops = 0
        self._infos: list = []  # the messages of the event in flight
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._motion: dict[str, bool] = {camera: False for camera in cameras}  # nothing moves before frames
        self._camera_ready = False  # `online` only once the camera delivered a frame
        self._health: dict | None = None
        self._scan: DiscoveryScan | None = None
        self._sender = threading.Thread(target=self._send_loop, name="mqtt-sender", daemon=True)
        self.connection.start()
        self._sender.start()

    # --- Publisher interface ----------------------------------------------------------
    def publish(self, event: Event) -> None:
        encoded = event.encode(self.cfg.jpeg_quality, self.cfg.max_side)
        try:
            self.spool.put(encoded, event.camera)
        except sqlite3.Error as exc:
            self.spool_write_failed += 1
            log.error("spool %s cannot take event %s: %s (%d events lost so far: spool_write_failed)",
                      self.spool.path, event.event_id, exc, self.spool_write_failed)
            return
        self._wake.set()

    def motion(self, camera: str, moving: bool) -> None:
        self._motion[camera] = moving
        if self.connection.connected.is_set():
            self.connection.publish(f"{self.prefix}/{camera}/motion", b"ON" if moving else b"OFF", qos=0, retain=True)

    def available(self, delivering: bool) -> None:
        self._camera_ready = delivering
        if self.connection.connected.is_set():
            self.connection.publish(f"{self.prefix}/status", b"online" if delivering else b"offline", qos=1,
                                    retain=True)

    def health(self, payload: dict) -> None:
        self._health = payload
        if self.connection.connected.is_set():
            self._publish_health()

    def status(self) -> dict:
        depth, size = self.spool.depth()
        return {"broker": "connected" if self.connection.connected.is_set() else "disconnected",
                "spool": depth, "spool_bytes": size, "dropped": self.spool.dropped,
                "spool_write_failed": self.spool_write_failed,
                "delivered": self.delivered, "rejected": self.rejected, "sender_error": self.sender_error,
                "last_sequence": self.spool.last_sequence}

    def close(self, drain_seconds: float = 2.0) -> None:
        """Stop sending (the spool keeps what is left), publish ``stopped``, disconnect."""
        deadline = time.monotonic() + drain_seconds
        while self.connection.connected.is_set() and self.spool.depth()[0] and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stopping.set()
        self._wake.set()
        self._sender.join(self.cfg.ack_timeout + 1)
        if self.connection.connected.is_set():
            infos = [self.connection.publish(f"{self.prefix}/{camera}/motion", b"OFF", qos=1, retain=True)
                     for camera in self._motion]
            if self._health is not None:  # the last figures, with what the drain delivered
                infos.append(self._publish_health())
            infos.append(self.connection.publish(f"{self.prefix}/status", b"stopped", qos=1, retain=True))
            self.connection.wait_for_acks(infos, timeout=2.0)
        self.connection.stop()
        self.spool.close()

    # --- connection callbacks -----------------------------------------------------------
    def _on_connected(self, client) -> None:
        self.connection.publish(f"{self.prefix}/status", b"online" if self._camera_ready else b"offline", qos=1,
                                retain=True)
        if self.cfg.discovery:
            client.subscribe(f"{self.cfg.discovery_prefix}/status", qos=1)
        if not self.discovery_record.exists() and self._scan is None:
            self._start_discovery_scan(client)
        self._send_discovery()  # with discovery = false this clears what an earlier run announced
        self.retained.on_connected(client)  # a renamed or removed camera's pictures are cleared
        for camera, moving in self._motion.items():
            self.connection.publish(f"{self.prefix}/{camera}/motion", b"ON" if moving else b"OFF", qos=1, retain=True)
        if self._health is not None:
            self._publish_health()
        self._wake.set()

    def _publish_raw(self, topic: str, payload: bytes, **kwargs):
        return self.connection.publish(topic, payload, **kwargs)

    def _on_message(self, message) -> None:
        if self.retained.offer(message.topic, message.payload, bool(message.retain)):
            return
        if self._scan is not None and message.topic.startswith(f"{self.cfg.discovery_prefix}/") \
                and message.topic.endswith("/config"):
            self._scan.offer(message.topic, message.payload, bool(message.retain))
            return
        if message.topic == f"{self.cfg.discovery_prefix}/status" and message.payload == b"online":
            log.info("Home Assistant came online: re-sending discovery")
            self._send_discovery()

    def _send_discovery(self) -> None:
        messages = discovery_messages(
            discovery_prefix=self.cfg.discovery_prefix, topic_prefix=self.prefix, device_id=self.device_id,
            cameras=self.cameras, version=self.version,
            configuration_url=self.cfg.configuration_url, names=self.names) if self.cfg.discovery else []
        current = {topic for topic, _ in messages}
        for topic in self.discovery_record.stale(current):
            log.info("clearing Home Assistant discovery %s (no longer configured)", topic)
            self.connection.publish(topic, b"", qos=1, retain=True)
        for topic, payload in messages:
            self.connection.publish(topic, payload, qos=1, retain=True)
        self.discovery_record.save(current)

    def _start_discovery_scan(self, client) -> None:
        scan = self._scan = DiscoveryScan(self.cfg.discovery_prefix, self.device_id)
        client.subscribe(scan.topic_filter, qos=0)

        def finish() -> None:
            self._scan = None
            client.unsubscribe(scan.topic_filter)
            current = self.discovery_record.load()
            for topic in scan.stale(current):
                log.info("clearing Home Assistant discovery %s (published before, no longer configured)", topic)
                self.connection.publish(topic, b"", qos=1, retain=True)

        timer = threading.Timer(DiscoveryScan.SECONDS, finish)
        timer.daemon = True
        timer.start()

    def _publish_health(self):
        payload = self._health | publisher_fields(self.status())
        return self.connection.publish(f"{self.prefix}/stats", json.dumps(payload).encode(), qos=1, retain=True,
                                       content_type="application/json")

    # --- sender thread ------------------------------------------------------------------
    def _send_loop(self) -> None:
        """Never dies: an error (a full disk on remove, a locked spool) is logged, then retried with backoff."""
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                self._send_one()
                backoff, self.sender_error = 0.5, ""
            except Exception as exc:
                self.sender_errors += 1
                self.sender_error = f"{type(exc).__name__}: {exc}"
                if self.sender_errors == 1 or self.sender_errors % 100 == 0:
                    log.exception("mqtt sender: %s (error %d); retrying in %.1f s", exc, self.sender_errors, backoff)
                else:
                    log.error("mqtt sender: %s (error %d); retrying in %.1f s", exc, self.sender_errors, backoff)
                self._stopping.wait(backoff)
                backoff = min(30.0, backoff * 2)

    def _send_one(self) -> None:
        if not self.connection.connected.wait(0.5):
            return
        spooled = self.spool.oldest()
        if spooled is None:
            self._wake.wait(1.0)
            self._wake.clear()
            return
        outcome = self._deliver(spooled)
        if outcome is None and not self.connection.connected.is_set():
            # The connection fell while this event was in flight.  A broker that drops the connection
            # on a message (a topic it refuses, a packet over its limit) does so every time: after
            # POISON_ATTEMPTS in a row it is refused, so it cannot block the events behind it.
            self._in_flight_drops = self._in_flight_drops + 1 if self._in_flight_seq == spooled.seq else 1
            self._in_flight_seq = spooled.seq
            if self._in_flight_drops >= POISON_ATTEMPTS:
                outcome = False
                self.connection.last_error = ""
        elif outcome is not None:
            self._in_flight_seq, self._in_flight_drops = None, 0
        if outcome is not True:
            self.connection.forget(self._infos)  # we send it again ourselves, or not at all
        if outcome is True:
            sequence = spooled.encoded.metadata.get("sequence")
            self.spool.remove(spooled.seq, sequence if isinstance(sequence, int) and sequence > 0 else None)
            self.delivered += 1
        elif outcome is False:
            # The broker refused it (an ACL, a packet too large, a topic it cannot take): retrying cannot help.
            self.spool.remove(spooled.seq)
            self.rejected += 1
            self._in_flight_seq, self._in_flight_drops = None, 0
            log.error("broker rejected event %s (sequence %s) on %s/%s: dropped from the spool and counted "
                      "(check the ACL and the broker's message size limit)", spooled.encoded.event_id,
                      spooled.encoded.metadata.get("sequence"), self.prefix, spooled.camera)
        # None: timeout or disconnect; the same event is sent again after the reconnect.

    def _deliver(self, spooled: SpooledEvent) -> bool | None:
        encoded, camera = spooled.encoded, spooled.camera
        props = {"event_id": encoded.event_id, "revision": str(encoded.metadata.get("revision", 1))}
        infos = self._infos = []
        try:
            for name, data in encoded.images.items():
                infos.append(self.connection.publish(f"{self.prefix}/{camera}/images/{encoded.event_id}/{name}",
                                                     data, qos=self.cfg.qos, content_type="image/jpeg",
                                                     user_properties=props | {"image": name}))
            if camera in self.cameras:  # Home Assistant's latest pictures, before the event that fires on them
                infos.extend(self._publish_latest(spooled))
            infos.append(self.connection.publish(f"{self.prefix}/{camera}/event",
                                                 json.dumps(encoded.metadata).encode(), qos=self.cfg.qos,
                                                 content_type="application/json", user_properties=props))
        except ValueError as exc:  # paho refuses the topic (a wildcard in it) before it is sent
            log.error("event %s cannot be published on %s/%s: %s", encoded.event_id, self.prefix, camera, exc)
            return False
        if self.cfg.qos == 0:
            return True
        return self.connection.wait_for_acks(infos, self.cfg.ack_timeout)

    def _publish_latest(self, spooled: SpooledEvent) -> list:
        """The retained latest pictures and event of a camera, sent with every event, in spool order,
        just before its event message: an automation fired by event N reads N's pictures."""
        base, qos = f"{self.prefix}/{spooled.camera}/latest", self.cfg.qos
        infos = [self.connection.publish(f"{base}/{name}", spooled.encoded.images[name], qos=qos, retain=True,
                                         content_type="image/jpeg")
                 for name in ("mugshot", "crop", "profile") if name in spooled.encoded.images]
        infos.append(self.connection.publish(f"{base}/event", json.dumps(spooled.encoded.metadata).encode(),
                                             qos=qos, retain=True, content_type="application/json"))
        return infos
