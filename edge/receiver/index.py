"""The receiver's SQLite index: stored events, their revisions, parts still on the way,
per-box sequence numbers and running totals.

Images and the event JSON stay files (``<device>/<event_id>.json`` and
``_mugshot.jpg``/``_crop.jpg``); the index is what listing, filtering, duplicate checks and
retention read, so the work per event does not grow with the number stored.  Parts of an
event that is not complete yet are kept here too (not in memory): bounded, shared by
receivers that split one shared subscription over the same folder, and kept over a restart
(the broker has already been told they arrived).  WAL, ``synchronous=NORMAL``, a busy
timeout for the other receivers of a group.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .files import FILE_MODE
from .schema import view_of

log = logging.getLogger(__name__)

# A box's sequence number that jumps further than this past the last one seen is not real
# (a box's spool holds ~1000 events): the event is refused and logged, not counted as loss.
MAX_SEQUENCE_JUMP = 100_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- grows with every stored revision: the live gallery polls it
    device TEXT NOT NULL, event_id TEXT NOT NULL, camera TEXT NOT NULL, revision INTEGER NOT NULL,
    sequence INTEGER, best_seen TEXT NOT NULL, day TEXT NOT NULL, received REAL NOT NULL,
    bytes INTEGER NOT NULL, meta TEXT NOT NULL, view TEXT NOT NULL DEFAULT '', seen REAL NOT NULL DEFAULT 0,
    UNIQUE (device, event_id));
CREATE INDEX IF NOT EXISTS events_received ON events (received);
CREATE INDEX IF NOT EXISTS events_filter ON events (device, camera, day);
CREATE INDEX IF NOT EXISTS events_day ON events (day);
CREATE TABLE IF NOT EXISTS revisions (
    device TEXT NOT NULL, event_id TEXT NOT NULL, revision INTEGER NOT NULL, received REAL NOT NULL,
    bytes INTEGER NOT NULL, meta TEXT NOT NULL, PRIMARY KEY (device, event_id, revision));
CREATE TABLE IF NOT EXISTS parts (
    device TEXT NOT NULL, camera TEXT NOT NULL, event_id TEXT NOT NULL, part TEXT NOT NULL,
    payload BLOB NOT NULL, sha256 TEXT NOT NULL, received REAL NOT NULL,
    PRIMARY KEY (device, camera, event_id, part));
CREATE INDEX IF NOT EXISTS parts_received ON parts (received);
CREATE TABLE IF NOT EXISTS sequences (device TEXT PRIMARY KEY, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sequence_missing (device TEXT NOT NULL, sequence INTEGER NOT NULL,
    PRIMARY KEY (device, sequence));
CREATE TABLE IF NOT EXISTS totals (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO totals VALUES ('events', 0), ('bytes', 0);
"""


@dataclass(frozen=True)
class StoredEvent:
    id: int
    device: str
    event_id: str
    camera: str
    revision: int
    best_seen: str
    day: str
    received: float
    bytes: int
    meta: dict


class EventIndex:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        for suffix in ("-wal", "-shm", "-journal"):  # SQLite opens these by name: no planted link is followed
            companion = self.path.with_name(self.path.name + suffix)
            if companion.is_symlink():
                log.warning("%s is a link: removed, not followed", companion)
                companion.unlink()
        if self.path.is_symlink():
            raise OSError(f"{self.path} is a link: the index is not opened through it")
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE))
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.lock = threading.RLock()
        with self.transaction():
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self.db.execute(statement)
            self._add_search_columns()

    def _add_search_columns(self) -> None:
        """An index from before search gets the ``view`` and ``seen`` columns, filled from each event."""
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(events)")}
        if "view" not in columns:
            self.db.execute("ALTER TABLE events ADD COLUMN view TEXT NOT NULL DEFAULT ''")
            self.db.execute("ALTER TABLE events ADD COLUMN seen REAL NOT NULL DEFAULT 0")
            rows = self.db.execute("SELECT id, meta FROM events").fetchall()
            self.db.executemany("UPDATE events SET view=?, seen=? WHERE id=?",
                                ((*_search_columns(json.loads(meta)), id_) for id_, meta in rows))
            log.info("index: %d events given their view and time for search", len(rows))
        self.db.execute("CREATE INDEX IF NOT EXISTS events_seen ON events (seen)")

    def close(self) -> None:
        with self.lock:
            self.db.close()

    @contextmanager
    def transaction(self):
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def query(self, sql: str, args=()) -> list[tuple]:
        with self.lock:
            return self.db.execute(sql, args).fetchall()

    # --- parts on the way ---------------------------------------------------------------
    def put_part(self, device: str, camera: str, event_id: str, part: str, payload: bytes, sha256: str,
                 now: float) -> None:
        self.db.execute("INSERT OR REPLACE INTO parts VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (device, camera, event_id, part, payload, sha256, now))

    def parts(self, device: str, camera: str, event_id: str) -> dict[str, tuple[bytes, str]]:
        rows = self.db.execute("SELECT part, payload, sha256 FROM parts WHERE device=? AND camera=? AND event_id=?",
                               (device, camera, event_id))
        return {part: (payload, sha) for part, payload, sha in rows}

    def drop_parts(self, device: str, camera: str, event_id: str) -> None:
        self.db.execute("DELETE FROM parts WHERE device=? AND camera=? AND event_id=?", (device, camera, event_id))

    def pending(self) -> tuple[int, int, float | None]:
        """Incomplete events, their bytes, and when the oldest part arrived."""
        return self.db.execute("SELECT COUNT(DISTINCT device || '/' || camera || '/' || event_id), "
                               "COALESCE(SUM(LENGTH(payload)), 0), MIN(received) FROM parts").fetchone()

    def oldest_pending(self) -> tuple[str, str, str] | None:
        return self.db.execute("SELECT device, camera, event_id FROM parts ORDER BY received LIMIT 1").fetchone()

    # --- stored events ------------------------------------------------------------------
    def stored(self, device: str, event_id: str) -> StoredEvent | None:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM events WHERE device=? AND event_id=?",
                              (device, event_id)).fetchone()
        return _event(row) if row else None

    def put_event(self, meta: dict, received: float, size: int, replaced: StoredEvent | None) -> None:
        if replaced is not None:
            self.db.execute("INSERT OR REPLACE INTO revisions VALUES (?, ?, ?, ?, ?, ?)",
                            (replaced.device, replaced.event_id, replaced.revision, replaced.received,
                             replaced.bytes, json.dumps(replaced.meta)))
            self.db.execute("DELETE FROM events WHERE id=?", (replaced.id,))
            self._add_totals(-1, 0)
        self.db.execute("INSERT INTO events (device, event_id, camera, revision, sequence, best_seen, day, received,"
                        " bytes, meta, view, seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (meta["device"], meta["event_id"], meta["camera"], meta["revision"], meta.get("sequence"),
                         meta["best_seen"], meta["best_seen"][:10], received, size, json.dumps(meta),
                         *_search_columns(meta)))
        self._add_totals(1, size)

    def delete_event(self, event: StoredEvent) -> list[int]:
        """Remove an event and its revisions from the index; the revisions it had."""
        revisions = [r for (r,) in self.db.execute(
            "SELECT revision FROM revisions WHERE device=? AND event_id=?", (event.device, event.event_id))]
        revision_bytes = self.db.execute("SELECT COALESCE(SUM(bytes), 0) FROM revisions WHERE device=? AND "
                                         "event_id=?", (event.device, event.event_id)).fetchone()[0]
        self.db.execute("DELETE FROM revisions WHERE device=? AND event_id=?", (event.device, event.event_id))
        self.db.execute("DELETE FROM events WHERE id=?", (event.id,))
        for table in self.keyed_by_event():  # embeddings and the like, whoever added them
            self.db.execute(f'DELETE FROM "{table}" WHERE device=? AND event_id=?', (event.device, event.event_id))
        self._add_totals(-1, -(event.bytes + revision_bytes))
        return revisions

    def keyed_by_event(self) -> list[str]:
        """Tables beside the events that hold rows per stored event (columns ``device`` and ``event_id``),
        such as face embeddings: their rows go with the event."""
        names = [n for (n,) in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")
                 if n not in ("events", "revisions", "parts") and not n.startswith("sqlite_")]
        return [n for n in names if {"device", "event_id"} <= {row[1] for row in self.db.execute(
            "SELECT * FROM pragma_table_info(?)", (n,))}]

    def add_bytes(self, size: int) -> None:
        self._add_totals(0, size)

    def _add_totals(self, events: int, size: int) -> None:
        self.db.execute("UPDATE totals SET value = value + ? WHERE name='events'", (events,))
        self.db.execute("UPDATE totals SET value = value + ? WHERE name='bytes'", (size,))

    def totals(self) -> tuple[int, int]:
        rows = dict(self.db.execute("SELECT name, value FROM totals"))
        return rows["events"], rows["bytes"]

    def oldest(self, received_before: float | None = None) -> StoredEvent | None:
        if received_before is None:
            row = self.db.execute(f"SELECT {_COLUMNS} FROM events ORDER BY received LIMIT 1").fetchone()
        else:
            row = self.db.execute(f"SELECT {_COLUMNS} FROM events WHERE received < ? ORDER BY received LIMIT 1",
                                  (received_before,)).fetchone()
        return _event(row) if row else None

    def revisions(self, device: str, event_id: str) -> list[tuple[int, float]]:
        return self.query("SELECT revision, received FROM revisions WHERE device=? AND event_id=? ORDER BY revision",
                          (device, event_id))

    def revision_meta(self, device: str, event_id: str, revision: int) -> dict | None:
        rows = self.query("SELECT meta FROM revisions WHERE device=? AND event_id=? AND revision=?",
                          (device, event_id, revision))
        return json.loads(rows[0][0]) if rows else None

    def listing(self, *, device: str = "", camera: str = "", day: str = "", after: int = 0,
                limit: int = 100, oldest_first: bool = False) -> list[StoredEvent]:
        """Newest first (or oldest first), filtered; ``after`` keeps only events stored after that id."""
        where, args = ["id > ?"], [after]
        for column, value in (("device", device), ("camera", camera), ("day", day)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        order = "" if oldest_first else " DESC"
        rows = self.query(f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY id{order} LIMIT ?",
                          (*args, limit))
        return [_event(r) for r in rows]

    def choices(self) -> dict[str, list[str]]:
        """The boxes, cameras and days there are events for (for the filter menus)."""
        return {column: [v for (v,) in self.query(f"SELECT DISTINCT {column} FROM events ORDER BY {column}"
                                                  f"{' DESC' if column == 'day' else ''}")]
                for column in ("device", "camera", "day")}

    def last_received(self) -> dict[str, float]:
        return dict(self.query("SELECT device, MAX(received) FROM events GROUP BY device"))

    # --- sequence numbers ---------------------------------------------------------------
    def check_sequence(self, device: str, sequence: int, max_missing_rows: int = MAX_SEQUENCE_JUMP
                       ) -> tuple[str, int, int]:
        """Record a box's sequence number: ("gap", last, missing), ("late", last, 0),
        ("reset", last, 0), ("repeat", last, 0), ("first", 0, 0), ("next", last, 0), or
        ("absurd", last, 0) for a jump of more than MAX_SEQUENCE_JUMP (nothing recorded)."""
        row = self.db.execute("SELECT last FROM sequences WHERE device=?", (device,)).fetchone()
        if row is None:
            self.db.execute("INSERT INTO sequences VALUES (?, ?)", (device, sequence))
            return "first", 0, 0
        last = row[0]
        if sequence == last:
            return "repeat", last, 0
        if sequence - last > MAX_SEQUENCE_JUMP:
            return "absurd", last, 0
        if sequence > last:
            self.db.execute("UPDATE sequences SET last=? WHERE device=?", (sequence, device))
            missing = sequence - last - 1
            if missing == 0:
                return "next", last, 0
            self.db.executemany("INSERT OR IGNORE INTO sequence_missing VALUES (?, ?)",
                                ((device, s) for s in range(last + 1, min(sequence, last + 1 + max_missing_rows))))
            return "gap", last, missing
        if self.db.execute("DELETE FROM sequence_missing WHERE device=? AND sequence=?",
                           (device, sequence)).rowcount:
            return "late", last, 0
        self.db.execute("UPDATE sequences SET last=? WHERE device=?", (sequence, device))
        self.db.execute("DELETE FROM sequence_missing WHERE device=?", (device,))
        return "reset", last, 0


    def check_tail(self, device: str, last_sent: int) -> tuple[str, int, int]:
        """A box says (in its retained stats) that the broker took its events up to ``last_sent``:
        numbers after this receiver's last that never came are missing now.  ("tail", last,
        missing), ("absurd", last, 0), or ("known", last, 0) when there is nothing new to learn
        (an unknown box's number becomes its starting point)."""
        row = self.db.execute("SELECT last FROM sequences WHERE device=?", (device,)).fetchone()
        if row is None:
            self.db.execute("INSERT INTO sequences VALUES (?, ?)", (device, last_sent))
            return "known", 0, 0
        last = row[0]
        if last_sent <= last:
            return "known", last, 0
        if last_sent - last > MAX_SEQUENCE_JUMP:
            return "absurd", last, 0
        self.db.execute("UPDATE sequences SET last=? WHERE device=?", (last_sent, device))
        self.db.executemany("INSERT OR IGNORE INTO sequence_missing VALUES (?, ?)",
                            ((device, s) for s in range(last + 1, last_sent + 1)))
        return "tail", last, last_sent - last

    def missing_ranges(self, limit: int = 20) -> dict[str, tuple[int, list[tuple[int, int]]]]:
        """Per box: how many sequence numbers are missing now, and (up to ``limit``) their ranges."""
        result: dict[str, tuple[int, list[tuple[int, int]]]] = {}
        rows = self.query("SELECT device, sequence FROM sequence_missing ORDER BY device, sequence")
        for device, sequence in rows:
            count, ranges = result.get(device, (0, []))
            if ranges and ranges[-1][1] == sequence - 1:
                ranges[-1] = (ranges[-1][0], sequence)
            else:
                ranges.append((sequence, sequence))
            result[device] = (count + 1, ranges)
        return {d: (n, r[:limit]) for d, (n, r) in result.items()}


def format_ranges(ranges: list[tuple[int, int]]) -> str:
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


_COLUMNS = "id, device, event_id, camera, revision, best_seen, day, received, bytes, meta"


def _search_columns(meta: dict) -> tuple[str, float]:
    """The event's view and its best-seen time (seconds since the epoch, for time ranges)."""
    try:
        seen = datetime.fromisoformat(meta["best_seen"].replace("Z", "+00:00"))
    except ValueError:
        seen = None
    if seen is not None and seen.tzinfo is None:
        seen = seen.replace(tzinfo=timezone.utc)
    return view_of(meta), seen.timestamp() if seen else 0.0


def _event(row: tuple) -> StoredEvent:
    return StoredEvent(*row[:9], json.loads(row[9]))
