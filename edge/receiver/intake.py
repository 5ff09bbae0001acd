"""Assembling events from MQTT messages: validate, tie to the topic's device, store once.

Each event arrives as three messages under its box's topics: two JPEGs
(``<prefix>/<camera>/images/<event_id>/mugshot`` and ``.../crop``) and the event JSON
(``<prefix>/<camera>/event``).  A part is tied to the device and camera of the topic it came
on; the event JSON must name the same device and camera, and it is stored only once its
images have arrived under that same device and camera and match the sha256 it names.
Anything malformed, oversized, not a JPEG or mismatching is logged as one line and skipped;
nothing from the wire can stop the receiver.  Parts still on the way live in the index,
bounded by count, bytes and age.  A gap in a box's ``sequence`` numbers is logged as loss.
"""
from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass

from .retention import RetentionPolicy, apply_retention
from .index import MAX_SEQUENCE_JUMP
from .schema import ALL_IMAGE_NAMES, EVENT_ID, MAX_SEQUENCE, NAME, EventRejected, image_names, is_jpeg, parse_event
from .store import EventStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PendingLimits:
    events: int = 256
    bytes: int = 64_000_000
    age: float = 120.0  # seconds a part waits for the rest of its event


class Counts:
    """What happened to the messages, per device (``-`` for messages from no box with stored
    events: made-up device names in topics cannot grow the counters without bound)."""

    KINDS = ("stored", "duplicates", "rejected", "incomplete_dropped", "sequence_missing", "late")

    def __init__(self):
        self.lock = threading.Lock()
        self.per_device: dict[str, Counter] = defaultdict(Counter)
        self.rejected_reasons: Counter = Counter()
        self.retention_deleted: Counter = Counter()
        self.last_event: dict[str, float] = {}  # device -> when its newest event was stored

    def add(self, device: str, kind: str, n: int = 1) -> None:
        with self.lock:
            self.per_device[device][kind] += n

    def total(self, kind: str) -> int:
        with self.lock:
            return sum(c[kind] for c in self.per_device.values())

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self.lock:
            return {d: {k: c[k] for k in self.KINDS} for d, c in self.per_device.items()}


class Receiver:
    def __init__(self, out, max_bytes: int = 5_000_000, *, pending: PendingLimits = PendingLimits(),
                 retention: RetentionPolicy = RetentionPolicy(), fsync: bool = True):
        self.store = EventStore(out, fsync=fsync)
        self.out = self.store.root
        self.max_bytes = max_bytes
        self.limits = pending
        self.retention = retention
        self.counts = Counts()
        self.changed = threading.Event()  # set when something was stored (the gallery redraws)
        self.subscribed = threading.Event()  # set when the broker acknowledged the subscriptions
        self.connected = lambda: True  # replaced by start_receiving with the connection's state
        self.refresh_stats = lambda: None  # replaced by start_receiving: ask for the boxes' retained stats
        self.missing_at_close: dict = {}
        self.counts.last_event.update(self.store.index.last_received())
        self._complete_leftovers()

    # counters kept for the CLI summary and the demo
    @property
    def stored(self) -> int:
        return self.counts.total("stored")

    @property
    def duplicates(self) -> int:
        return self.counts.total("duplicates")

    @property
    def rejected(self) -> int:
        return self.counts.total("rejected")

    def close(self) -> None:
        self.missing_at_close = self.missing()  # for the stop line
        self.store.close()

    def handle(self, topic: str, payload: bytes, now: float | None = None) -> None:
        now = time.time() if now is None else now
        parts = topic.split("/")
        if len(parts) >= 5 and parts[-3] == "images":
            device, camera, event_id, part = parts[-5], parts[-4], parts[-2], parts[-1]
            if not (NAME.match(device) and NAME.match(camera) and EVENT_ID.match(event_id)
                    and part in ALL_IMAGE_NAMES):
                return self._reject("-", "topic", f"{topic}: not an image topic of an event")
        elif len(parts) >= 2 and parts[-1] == "stats":
            return self._stats(parts[-2], payload)
        elif len(parts) >= 3 and parts[-1] == "event":
            device, camera, part = parts[-3], parts[-2], "event"
            if not (NAME.match(device) and NAME.match(camera)):
                return self._reject("-", "topic", f"{topic}: device or camera is not a plain name")
        else:
            return
        if len(payload) > self.max_bytes:
            return self._reject(device, "too_large",
                                f"{topic}: {len(payload)} bytes is over the {self.max_bytes}-byte limit")
        if part == "event":
            try:
                meta = parse_event(payload)
            except EventRejected as exc:
                return self._reject(device, "malformed", f"{topic}: {exc}")
            if (meta["device"], meta["camera"]) != (device, camera):
                return self._reject(device, "wrong_topic", f"{topic}: the event says device {meta['device']!r} "
                                                           f"camera {meta['camera']!r}, not those of its topic")
            event_id = meta["event_id"]
        elif not is_jpeg(payload):
            return self._reject(device, "not_jpeg", f"{topic}: {len(payload)} bytes that are not a JPEG")
        digest = hashlib.sha256(payload).hexdigest()
        try:
            stored_one = self._take(device, camera, event_id, part, payload, digest, meta if part == "event" else None,
                                    now)
        except (OSError, sqlite3.Error) as exc:  # a full disk, a planted link: this event is lost, nothing else
            return self._reject(device, "write_failed", f"{topic}: event {device}/{event_id} not stored: {exc}")
        if stored_one and self.retention.active:
            self._retain(now)

    def _take(self, device: str, camera: str, event_id: str, part: str, payload: bytes, digest: str,
              meta: dict | None, now: float) -> bool:
        with self.store.index.transaction():
            stored = self.store.index.stored(device, event_id)
            if part == "event":
                if stored is not None and stored.revision >= meta["revision"]:
                    self.store.index.drop_parts(device, camera, event_id)
                    self.counts.add(device, "duplicates")
                    log.debug("duplicate of event %s/%s revision %d dropped", device, event_id, meta["revision"])
                    return False
                if isinstance(meta.get("sequence"), int) and not self._check_sequence(device, meta["sequence"]):
                    self.store.index.drop_parts(device, camera, event_id)
                    return False
            elif stored is not None and stored.meta["images"].get(part, {}).get("sha256") == digest:
                return False  # an image of an event already stored, delivered again
            self.store.index.put_part(device, camera, event_id, part, payload, digest, now)
            stored_one = self._complete(device, camera, event_id, now)
            self._bound_pending(now)
        return stored_one

    def _complete(self, device: str, camera: str, event_id: str, now: float) -> bool:
        parts = self.store.index.parts(device, camera, event_id)
        if "event" not in parts:
            return False
        meta = parse_event(parts["event"][0])
        stored = self.store.index.stored(device, event_id)
        names = image_names(meta)  # the mugshot and crop, and a profile when the event has one
        for name in names:  # a new revision may keep an image already stored (not sent twice)
            if name not in parts and stored is not None and stored.camera == camera and \
                    stored.meta["images"].get(name, {}).get("sha256") == meta["images"][name]["sha256"]:
                parts[name] = (self.store.read(device, f"{event_id}_{name}.jpg"), meta["images"][name]["sha256"])
        if any(name not in parts for name in names):
            return False
        for name in names:
            if parts[name][1] != meta["images"][name]["sha256"]:
                self.store.index.drop_parts(device, camera, event_id)
                self._reject(device, "hash", f"event {device}/{event_id}: {name} sha256 {parts[name][1][:12]} "
                                                    f"does not match the event's "
                                                    f"{meta['images'][name]['sha256'][:12]}: not stored")
                return False
        self.store.save(meta, {name: parts[name][0] for name in names}, now, stored)
        self.store.index.drop_parts(device, camera, event_id)
        self.counts.add(device, "stored")
        with self.counts.lock:
            self.counts.last_event[device] = now
        self.changed.set()
        log.info("event %s rev %d from %s/%s stored", event_id, meta["revision"], device, camera)
        return True

    def _check_sequence(self, device: str, sequence: int) -> bool:
        """Record the event's number; False for a number too large to be real (the event is refused)."""
        verdict, last, missing = self.store.index.check_sequence(device, sequence)
        if verdict == "absurd":
            self._reject(device, "sequence", f"{device}: sequence jumped from {last} to {sequence}, more than "
                                             f"{MAX_SEQUENCE_JUMP} at once: not a real number, event refused "
                                             f"(not counted as loss)")
            return False
        if verdict == "gap":
            self._count(device, "sequence_missing", missing)
            log.warning("%s: sequence jumped from %d to %d: %d event%s lost between the box and this receiver "
                        "(or still on the way)", device, last, sequence, missing, "" if missing == 1 else "s")
        elif verdict == "late":
            self._count(device, "late")
            log.info("%s: sequence %d arrived late (after %d): not lost", device, sequence, last)
        elif verdict == "reset":
            log.info("%s: sequence went back from %d to %d: the box started counting again", device, last,
                     sequence)
        return True

    def _stats(self, device: str, payload: bytes) -> None:
        """A box's retained stats: its ``last_sequence`` shows a missing tail without a later event."""
        if not NAME.match(device) or len(payload) > 65536:
            return
        try:
            last_sent = json.loads(payload).get("last_sequence")
        except (ValueError, AttributeError, UnicodeDecodeError):
            return self._reject(device, "malformed", f"{device}/stats: not a JSON object")
        if isinstance(last_sent, bool) or not isinstance(last_sent, int) or not 0 < last_sent <= MAX_SEQUENCE:
            return
        try:
            with self.store.index.transaction():
                verdict, last, missing = self.store.index.check_tail(device, last_sent)
        except sqlite3.Error as exc:
            return log.error("%s/stats: not recorded: %s", device, exc)
        if verdict == "absurd":
            self._reject(device, "sequence", f"{device}/stats: last_sequence {last_sent} is more than "
                                             f"{MAX_SEQUENCE_JUMP} past {last}: not a real number, ignored")
        elif verdict == "tail":
            self._count(device, "sequence_missing", missing)
            log.warning("%s: the box sent events up to %d, the last that came here is %d: %d event%s missing "
                        "(%d-%d)", device, last_sent, last, missing, "" if missing == 1 else "s", last + 1, last_sent)
            self.changed.set()

    def missing(self) -> dict[str, tuple[int, list[tuple[int, int]]]]:
        """Sequence numbers missing now, per box: (count, ranges)."""
        with self.store.index.lock:
            return self.store.index.missing_ranges()

    def _bound_pending(self, now: float) -> None:
        while True:
            events, size, oldest = self.store.index.pending()
            if events > self.limits.events:
                why = f"more than {self.limits.events} incomplete events"
            elif size > self.limits.bytes:
                why = f"incomplete events hold more than {self.limits.bytes} bytes"
            elif oldest is not None and oldest < now - self.limits.age:
                why = f"its parts waited more than {self.limits.age:g} s"
            else:
                return
            device, camera, event_id = self.store.index.oldest_pending()
            self.store.index.drop_parts(device, camera, event_id)
            self._count(device, "incomplete_dropped")
            log.warning("event %s/%s never completed: dropped its parts (%s)", device, event_id, why)

    def _complete_leftovers(self) -> None:
        """Events whose parts all arrived before a crash are stored at start; stale parts expire."""
        with self.store.index.transaction():
            for device, camera, event_id in self.store.index.query(
                    "SELECT DISTINCT device, camera, event_id FROM parts"):
                self._complete(device, camera, event_id, time.time())
            self._bound_pending(time.time())

    def maintain(self, now: float | None = None) -> None:
        """Periodic work: expire old parts, apply retention by age."""
        now = time.time() if now is None else now
        with self.store.index.transaction():
            self._bound_pending(now)
        self._retain(now)

    def _retain(self, now: float) -> None:
        try:
            deleted = apply_retention(self.store, self.retention, now)
        except (OSError, sqlite3.Error) as exc:
            log.error("retention failed, retried with the next event: %s", exc)
            return
        with self.counts.lock:
            self.counts.retention_deleted.update(deleted)

    def _count(self, device: str, kind: str, n: int = 1) -> None:
        with self.counts.lock:  # only boxes that have stored events get their own counters (and metrics)
            known = device in self.counts.last_event
        self.counts.add(device if known else "-", kind, n)

    def _reject(self, device: str, reason: str, message: str) -> None:
        self._count(device, "rejected")
        with self.counts.lock:
            self.counts.rejected_reasons[reason] += 1
        log.warning("skipped: %s", message)
