"""Connecting a Receiver to the broker, and the thread that keeps the gallery and the store tidy.

With ``share_group`` the subscriptions are MQTT 5 shared subscriptions
(``$share/<group>/<prefix>/+/event`` ...): the broker hands each message to one receiver
of the group, so several receivers split a fleet's load.  They must share one output
folder (its index holds the parts of an event that went to different receivers).
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from ..publish.mqtt_connection import ConnectionSettings, MqttConnection
from .acks import DurableAcks
from .gallery import write_gallery
from .intake import PendingLimits, Receiver
from .retention import RetentionPolicy

log = logging.getLogger(__name__)


def topic_filters(prefix: str, share_group: str = "") -> list[str]:
    filters = [f"{prefix}/+/event", f"{prefix}/+/images/+/+", f"{prefix}/stats"]
    return [f"$share/{share_group}/{f}" for f in filters] if share_group else filters


class Maintenance(threading.Thread):
    """Redraws ``index.html`` after changes (at most once per ``interval``), expires parts and
    applies retention by age once a minute."""

    def __init__(self, receiver: Receiver, interval: float = 1.0, sweep_every: float = 60.0,
                 refresh_stats=None, stats_every: float = 30.0):
        super().__init__(name="receiver-maintenance", daemon=True)
        self.receiver, self.interval, self.sweep_every = receiver, interval, sweep_every
        self.refresh_stats, self.stats_every = refresh_stats, stats_every
        self.stopping = threading.Event()

    def run(self) -> None:
        self._draw()
        since_sweep = since_stats = 0.0
        while not self.stopping.wait(self.interval):
            since_sweep += self.interval
            since_stats += self.interval
            try:
                if self.refresh_stats is not None and since_stats >= self.stats_every:
                    since_stats = 0.0
                    self.refresh_stats()
                if since_sweep >= self.sweep_every:
                    since_sweep = 0.0
                    self.receiver.maintain()
                if self.receiver.changed.is_set():
                    self._draw()
            except Exception:  # the receiving goes on whatever happens here
                log.exception("receiver maintenance failed")

    def _draw(self) -> None:
        self.receiver.changed.clear()
        write_gallery(self.receiver.store)

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)
        self._draw()


def start_receiving(settings: ConnectionSettings, out: str | Path, prefix: str = "mugshot/+",
                    max_bytes: int = 5_000_000, *, share_group: str = "", pending: PendingLimits = PendingLimits(),
                    retention: RetentionPolicy = RetentionPolicy(), stats_every: float = 30.0
                    ) -> tuple[Receiver, MqttConnection]:
    """Subscribe to the boxes under ``prefix`` and store their events in ``out``.  Every
    ``stats_every`` seconds (and at the stop) the boxes' retained stats are asked for again: a
    stats message the broker dropped for a slow receiver still shows a missing tail."""
    if share_group and settings.protocol != "5":
        raise ValueError("shared subscriptions need MQTT 5 (--protocol 5)")
    # files are not fsynced one by one: DurableAcks makes a batch durable before acknowledging it
    receiver = Receiver(out, max_bytes, pending=pending, retention=retention, fsync=False)
    filters = topic_filters(prefix, share_group)
    acks: DurableAcks | None = None

    def acknowledged(*_) -> None:
        log.info("subscribed to %s", ", ".join(filters))
        receiver.subscribed.set()

    def subscribe(client) -> None:
        acks.connected()
        client.on_subscribe = acknowledged
        client.subscribe([(f, 1) for f in filters])

    def message(message) -> None:
        try:
            receiver.handle(message.topic, message.payload)
        finally:
            acks.received(message.mid, message.qos)

    connection = MqttConnection(settings, on_connected=subscribe, on_message=message)
    acks = DurableAcks(connection.client, receiver.store.folder.fd)
    acks.start()
    receiver.acks = acks
    receiver.connected = connection.connected.is_set
    stats_filter = filters[-1]

    def refresh_stats() -> None:
        if connection.connected.is_set():  # a subscription again: the broker sends the retained copies
            connection.client.subscribe(stats_filter, qos=1)

    receiver.refresh_stats = refresh_stats
    receiver.maintenance = Maintenance(receiver, refresh_stats=refresh_stats, stats_every=stats_every)
    receiver.maintenance.start()
    connection.start()
    return receiver, connection


def stop_receiving(receiver: Receiver, connection: MqttConnection, stats_wait: float = 1.0) -> None:
    if connection.connected.is_set() and stats_wait > 0:  # the boxes' last word on what they sent
        receiver.refresh_stats()
        threading.Event().wait(stats_wait)
    receiver.acks.stop()  # what was received is on disk and acknowledged before the DISCONNECT
    connection.stop()
    receiver.maintenance.stop()
    receiver.close()
