"""The on-disk spool: every event is committed here before it is sent, and removed only
after the broker acknowledged it.

SQLite in WAL mode with ``synchronous=FULL``: a committed event survives the daemon being
killed (SIGKILL) and the power going.  The spool is bounded by event count and bytes;
when full it drops the oldest events and counts them (the count survives restarts).
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..events import EncodedEvent

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    camera TEXT NOT NULL,
    spooled REAL NOT NULL,
    metadata TEXT NOT NULL,
    mugshot BLOB NOT NULL,
    crop BLOB NOT NULL,
    size INTEGER NOT NULL,
    profile BLOB
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class SpooledEvent:
    seq: int
    camera: str
    spooled: float
    encoded: EncodedEvent


class Spool:
    def __init__(self, path: str | Path, max_events: int = 1000, max_bytes: int = 200_000_000):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_events, self.max_bytes = max_events, max_bytes
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            # keep the write-ahead log small on an SD card: checkpoint often, truncate after
            self._db.execute("PRAGMA wal_autocheckpoint=64")
            self._db.execute("PRAGMA journal_size_limit=1048576")
            self._db.executescript(SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(events)")}
            if "profile" not in columns:  # a spool written before events carried a profile image
                self._db.execute("ALTER TABLE events ADD COLUMN profile BLOB")
        except sqlite3.DatabaseError as exc:
            raise RuntimeError(f"spool {self.path}: cannot open ({exc})") from exc
        count, size = self.depth()
        if count:
            log.info("spool %s holds %d undelivered events (%d bytes) from before", self.path, count, size)

    def put(self, encoded: EncodedEvent, camera: str) -> int:
        """Commit an event; returns its row number. Drops the oldest when over the bounds.  A write
        that fails (a full disk) raises ``sqlite3.Error`` and leaves the spool as it was."""
        profile = encoded.images.get("profile")
        size = len(encoded.images["mugshot"]) + len(encoded.images["crop"]) + len(profile or b"")
        metadata = json.dumps(encoded.metadata, separators=(",", ":"))
        size += len(metadata)
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                cur = self._db.execute(
                    "INSERT INTO events (event_id, camera, spooled, metadata, mugshot, crop, size, profile) "
                    "VALUES (?,?,?,?,?,?,?,?)",
                    (encoded.event_id, camera, time.time(), metadata, encoded.images["mugshot"],
                     encoded.images["crop"], size, profile))
                seq = int(cur.lastrowid)
                dropped = self._enforce_bounds()
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        if dropped:
            log.warning("spool full (%d events / %d bytes max): dropped the %d oldest undelivered events",
                        self.max_events, self.max_bytes, dropped)
        return seq

    def _enforce_bounds(self) -> int:
        dropped = 0
        while True:
            count, size = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM events").fetchone()
            if count <= 1 or (count <= self.max_events and size <= self.max_bytes):
                break
            self._db.execute("DELETE FROM events WHERE seq = (SELECT MIN(seq) FROM events)")
            dropped += 1
        if dropped:
            self._db.execute("INSERT INTO counters (name, value) VALUES ('dropped', ?) "
                             "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value", (dropped,))
        return dropped

    def oldest(self) -> SpooledEvent | None:
        with self._lock:
            row = self._db.execute("SELECT seq, camera, spooled, metadata, mugshot, crop, profile FROM events "
                                   "ORDER BY seq LIMIT 1").fetchone()
        if row is None:
            return None
        seq, camera, spooled, metadata, mugshot, crop, profile = row
        images = {"mugshot": bytes(mugshot), "crop": bytes(crop)} | ({"profile": bytes(profile)} if profile else {})
        return SpooledEvent(seq, camera, spooled, EncodedEvent(json.loads(metadata), images))

    def remove(self, seq: int, delivered_sequence: int | None = None) -> None:
        """Delete a sent event; ``delivered_sequence``: the box's number of an event the broker took,
        kept (it survives restarts) as ``last_sequence`` for the retained stats."""
        with self._lock:
            if delivered_sequence is None:
                self._db.execute("DELETE FROM events WHERE seq = ?", (seq,))
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM events WHERE seq = ?", (seq,))
                self._db.execute("INSERT INTO counters (name, value) VALUES ('last_sequence', ?) "
                                 "ON CONFLICT(name) DO UPDATE SET value = excluded.value", (delivered_sequence,))
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    @property
    def last_sequence(self) -> int | None:
        """The box's number of the newest event the broker acknowledged (None: none yet)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = 'last_sequence'").fetchone()
        return int(row[0]) if row else None

    def depth(self) -> tuple[int, int]:
        """Undelivered events and their bytes."""
        with self._lock:
            count, size = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM events").fetchone()
        return int(count), int(size)

    @property
    def dropped(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
