"""The box's own retained topics per camera (latest pictures, latest event, motion), and clearing
those of a camera that was renamed or removed.

What the box publishes retained is kept in a small JSON file beside the spool (the same format
as the discovery record, edge/publish/homeassistant.py), so after a rename of the camera or the
box the old topics get an empty retained payload at the next connect and the broker forgets
their pictures.  Without a record (first start with this version, a wiped state directory) the
box listens for a moment to what is retained under its own prefix and clears what belongs to
no configured camera.
"""
from __future__ import annotations

import logging
import threading

from .homeassistant import DiscoveryRecord

log = logging.getLogger(__name__)

LATEST_PARTS = ("mugshot", "crop", "event")
SCAN_SECONDS = 2.0


def camera_topics(prefix: str, camera: str) -> list[str]:
    return [f"{prefix}/{camera}/latest/{part}" for part in LATEST_PARTS] + [f"{prefix}/{camera}/motion"]


def retained_topics(prefix: str, cameras: list[str]) -> set[str]:
    return {topic for camera in cameras for topic in camera_topics(prefix, camera)}


class RetainedCleaner:
    def __init__(self, record: DiscoveryRecord, prefix: str, cameras: list[str], publish):
        self.record, self.prefix, self.publish = record, prefix, publish
        self.current = retained_topics(prefix, cameras)
        self._scanning: set[str] | None = None

    def on_connected(self, client) -> None:
        if self.record.exists():
            self._clear(self.record.stale(self.current), "no longer configured")
        elif self._scanning is None:
            self._scanning = set()
            filters = [f"{self.prefix}/+/latest/+", f"{self.prefix}/+/motion"]
            for topic_filter in filters:
                client.subscribe(topic_filter, qos=0)

            def finish() -> None:
                found, self._scanning = self._scanning or set(), None
                for topic_filter in filters:
                    client.unsubscribe(topic_filter)
                self._clear(sorted(found - self.current), "published before, no longer configured")

            timer = threading.Timer(SCAN_SECONDS, finish)
            timer.daemon = True
            timer.start()
        self.record.save(self.current)

    def offer(self, topic: str, payload: bytes, retained: bool) -> bool:
        """A message from the scan; True when it was one (it is then handled here)."""
        if self._scanning is None or not topic.startswith(f"{self.prefix}/"):
            return False
        if not (topic.endswith("/motion") or "/latest/" in topic):
            return False
        if retained and payload:
            self._scanning.add(topic)
        return True

    def _clear(self, topics, why: str) -> None:
        for topic in topics:
            log.info("clearing retained %s (%s)", topic, why)
            self.publish(topic, b"", qos=1, retain=True)
