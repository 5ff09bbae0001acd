"""People in the receiver's index: face embeddings, persons, and incremental grouping.

Tables (in ``index.sqlite``, beside the events; nothing leaves the receiver):

- ``people``: id, name (NULL until a user names them), created, updated;
- ``faces``: one embedding per stored image part (``source = 'event'``: device, event_id,
  revision, part) or per library photo a user added (``source = 'library'``: only the
  embedding is kept, never the photo), each with the person it belongs to;
- ``people_state``: the last event row embedded (the worker's watermark).

SQLite triggers keep them true whoever deletes an event (retention, a DELETE from the web
app, another receiver of a share group): an event's faces go with its row, and a person
left without faces and without a name goes with them.

Grouping is incremental: a new face joins the person whose mean embedding (the centroid of
their faces, unit length) is the most similar, when that similarity reaches ``threshold``;
otherwise it starts a new person.  Named people take part like any other (their library
photos count as faces), with a lower ``named_threshold``, so a regular who has been named is
recognised on the next visit.  A face smaller than ``SMALL_FACE`` pixels in its frame joins
anyone only above ``SMALL_THRESHOLD``.  The result depends on the order events arrive in.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

import numpy as np

from .embed import DIM

log = logging.getLogger(__name__)

THRESHOLD = 0.74  # cosine similarity to join a person (chosen by measurement: docs/receiver.md "People")
NAMED_THRESHOLD = 0.70  # to join a person a user has named (their library photos vouch for them)
SMALL_FACE = 80  # pixels (the event's quality.size): smaller faces in the frame look alike to the network...
SMALL_THRESHOLD = 0.80  # ...and join anyone, named or not, only above this (halved false merges: docs/receiver.md)

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS people (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, created REAL NOT NULL, "
    "updated REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS faces (id INTEGER PRIMARY KEY AUTOINCREMENT, person_id INTEGER NOT NULL, "
    "source TEXT NOT NULL, device TEXT, event_id TEXT, revision INTEGER, part TEXT, added REAL NOT NULL, "
    "embedding BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS faces_event ON faces (device, event_id)",
    "CREATE INDEX IF NOT EXISTS faces_person ON faces (person_id)",
    "CREATE TABLE IF NOT EXISTS people_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO people_state VALUES ('embedded_up_to', 0)",
    "CREATE TRIGGER IF NOT EXISTS faces_go_with_their_event AFTER DELETE ON events BEGIN "
    "DELETE FROM faces WHERE source = 'event' AND device = old.device AND event_id = old.event_id; END",
    "CREATE TRIGGER IF NOT EXISTS people_without_faces_go AFTER DELETE ON faces BEGIN "
    "DELETE FROM people WHERE id = old.person_id AND name IS NULL "
    "AND NOT EXISTS (SELECT 1 FROM faces WHERE person_id = old.person_id); END",
)


class PeopleError(ValueError):
    """A request about people that cannot be done (the text says why)."""


@dataclass(frozen=True)
class Person:
    id: int
    name: str | None
    events: int
    photos: int
    last_seen: str | None

    def summary(self) -> dict:
        return {"id": self.id, "name": self.name, "events": self.events, "library_photos": self.photos,
                "last_seen": self.last_seen, "url": f"/people/{self.id}"}


class People:
    """The people tables of one receiver index, with the grouping state kept in memory."""

    def __init__(self, index, threshold: float = THRESHOLD, named_threshold: float | None = None):
        self.index, self.threshold = index, threshold
        self.named_threshold = min(threshold, NAMED_THRESHOLD) if named_threshold is None else named_threshold
        with index.transaction() as db:
            for statement in SCHEMA:
                db.execute(statement)
        self._load()

    # --- grouping ---------------------------------------------------------------------
    # Each person's embedding sum is kept in memory, their unit-length centroids as the rows of one
    # matrix: grouping an event costs one matrix-vector product, however many faces each person has.
    def _load(self) -> None:
        self._sums: dict[int, np.ndarray] = {}
        self._row: dict[int, int] = {}
        self._row_ids: list[int | None] = []
        self._matrix = np.zeros((64, DIM), np.float32)
        for person, blob in self.index.query("SELECT person_id, embedding FROM faces"):
            self._sums[person] = self._sums.get(person, np.zeros(DIM, np.float32)) + np.frombuffer(blob, np.float32)
        for person in self._sums:
            self._set_row(person)
        self._expected = self._count()

    def _set_row(self, person: int) -> None:
        total = self._sums[person]
        centroid = total / max(float(np.linalg.norm(total)), 1e-12)
        row = self._row.get(person)
        if row is None:
            row = len(self._row_ids)
            if row == len(self._matrix):
                self._matrix = np.vstack([self._matrix, np.zeros_like(self._matrix)])
            self._row[person] = row
            self._row_ids.append(person)
        self._matrix[row] = centroid

    def _drop(self, person: int) -> None:
        self._sums.pop(person, None)
        row = self._row.pop(person, None)
        if row is not None:
            self._matrix[row] = 0
            self._row_ids[row] = None

    def _refresh(self, person: int) -> None:
        """Recount a person's sum from the index (after a merge or split)."""
        rows = self.index.db.execute("SELECT embedding FROM faces WHERE person_id=?", (person,)).fetchall()
        if not rows:
            self._drop(person)
            return
        self._sums[person] = np.sum([np.frombuffer(b, np.float32) for (b,) in rows], axis=0)
        self._set_row(person)

    def best_match(self, embedding: np.ndarray, among: set[int] | None = None) -> tuple[int | None, float]:
        """The most similar person (of ``among``, or of everyone) and the similarity (None, -1 when there
        is nobody)."""
        n = len(self._row_ids)
        if among is not None:
            rows = [self._row[p] for p in among if p in self._row]
            if not rows:
                return None, -1.0
            sims = self._matrix[rows] @ embedding
            best = int(np.argmax(sims))
            return self._row_ids[rows[best]], float(sims[best])
        if not self._row:
            return None, -1.0
        sims = self._matrix[:n] @ embedding  # a dropped person's row is zero: it never reaches a threshold
        best = int(np.argmax(sims))
        return (self._row_ids[best], float(sims[best])) if self._row_ids[best] is not None else (None, -1.0)

    def _count(self) -> tuple[int, int]:
        return tuple(self.index.db.execute("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM faces").fetchone())

    def sync(self) -> None:
        """Reload the sums when faces went without this object (an event deleted by retention or by the
        web app takes its faces with it, by trigger)."""
        if self._count() != self._expected:
            self._load()

    def add_event_face(self, device: str, event_id: str, revision: int, part: str, embedding: np.ndarray,
                       now: float | None = None, face_size: float | None = None) -> tuple[int, float] | None:
        """Store one event image's embedding and group it (inside ``index.transaction()``); its person and
        the similarity that placed it there (0 for a new person), or None when the event is gone."""
        now = time.time() if now is None else now
        db = self.index.db
        if db.execute("SELECT 1 FROM events WHERE device=? AND event_id=? AND revision=?",
                      (device, event_id, revision)).fetchone() is None:
            return None  # deleted (or replaced by a newer revision) while it was being embedded
        small = face_size is not None and face_size < SMALL_FACE
        threshold = max(self.threshold, SMALL_THRESHOLD) if small else self.threshold
        named_threshold = max(self.named_threshold, SMALL_THRESHOLD) if small else self.named_threshold
        person, similarity = self.best_match(embedding)
        if person is None or similarity < threshold:
            named = {i for (i,) in db.execute("SELECT id FROM people WHERE name IS NOT NULL")}
            person, similarity = self.best_match(embedding, named) if named else (None, -1.0)
            if person is None or similarity < named_threshold:
                person, similarity = self._new_person(now), 0.0
        db.execute("INSERT INTO faces (person_id, source, device, event_id, revision, part, added, embedding) "
                   "VALUES (?, 'event', ?, ?, ?, ?, ?, ?)",
                   (person, device, event_id, revision, part, now, embedding.astype(np.float32).tobytes()))
        db.execute("UPDATE people SET updated=? WHERE id=?", (now, person))
        self._sums[person] = self._sums.get(person, np.zeros(DIM, np.float32)) + embedding.astype(np.float32)
        self._set_row(person)
        self._expected = self._count()
        return person, similarity

    def _new_person(self, now: float) -> int:
        return self.index.db.execute("INSERT INTO people (name, created, updated) VALUES (NULL, ?, ?)",
                                     (now, now)).lastrowid

    def watermark(self) -> int:
        return self.index.query("SELECT value FROM people_state WHERE name='embedded_up_to'")[0][0]

    def set_watermark(self, value: int) -> None:
        self.index.db.execute("UPDATE people_state SET value=? WHERE name='embedded_up_to'", (value,))

    # --- reading ------------------------------------------------------------------------
    def listing(self) -> list[Person]:
        rows = self.index.query(
            "SELECT p.id, p.name, COUNT(DISTINCT CASE WHEN f.source='event' THEN f.device || '/' || f.event_id END), "
            "SUM(f.source='library'), MAX(e.best_seen) FROM people p LEFT JOIN faces f ON f.person_id = p.id "
            "LEFT JOIN events e ON f.source='event' AND e.device = f.device AND e.event_id = f.event_id "
            "GROUP BY p.id ORDER BY MAX(e.best_seen) IS NULL, MAX(e.best_seen) DESC, p.id DESC")
        return [Person(i, n, c or 0, int(l or 0), s) for i, n, c, l, s in rows]

    def person(self, person_id: int) -> Person | None:
        return next((p for p in self.listing() if p.id == person_id), None)

    def sightings(self, person_id: int) -> list[dict]:
        """Every event of a person, newest first: time, box, camera, view (yaw), similarity kept out."""
        rows = self.index.query(
            "SELECT DISTINCT e.device, e.event_id, e.camera, e.best_seen, e.meta FROM faces f JOIN events e "
            "ON e.device = f.device AND e.event_id = f.event_id WHERE f.person_id=? AND f.source='event' "
            "ORDER BY e.best_seen DESC, e.id DESC", (person_id,))

        out = []
        for device, event_id, camera, best_seen, meta in rows:
            pose = json.loads(meta).get("pose", {})
            out.append({"device": device, "event_id": event_id, "camera": camera, "time": best_seen,
                        "yaw": pose.get("yaw"), "view": view_name(pose.get("yaw")),
                        "url": f"/events/{device}/{event_id}",
                        "crop": f"/files/{device}/{event_id}_crop.jpg"})
        return out

    def person_of(self, device: str, event_id: str) -> int | None:
        rows = self.index.query("SELECT person_id FROM faces WHERE source='event' AND device=? AND event_id=? "
                                "ORDER BY id LIMIT 1", (device, event_id))
        return rows[0][0] if rows else None

    # --- changes a user makes (each in one transaction) ---------------------------------
    def _require(self, person_id: int) -> None:
        if self.index.db.execute("SELECT 1 FROM people WHERE id=?", (person_id,)).fetchone() is None:
            raise PeopleError(f"no person {person_id}")

    def rename(self, person_id: int, name: str | None) -> None:
        with self.index.transaction() as db:
            self._require(person_id)
            db.execute("UPDATE people SET name=?, updated=? WHERE id=?", (name or None, time.time(), person_id))
            if not name and db.execute("SELECT 1 FROM faces WHERE person_id=?", (person_id,)).fetchone() is None:
                db.execute("DELETE FROM people WHERE id=?", (person_id,))

    def merge(self, person_id: int, into: int) -> None:
        """Every face of ``person_id`` moves to ``into``; ``into`` keeps its name, or takes this one's."""
        if person_id == into:
            raise PeopleError("a person cannot be merged with themselves")
        with self.index.transaction() as db:
            self._require(person_id)
            self._require(into)
            name = db.execute("SELECT name FROM people WHERE id=?", (person_id,)).fetchone()[0]
            db.execute("UPDATE faces SET person_id=? WHERE person_id=?", (into, person_id))
            db.execute("UPDATE people SET name=COALESCE(name, ?), updated=? WHERE id=?", (name, time.time(), into))
            db.execute("DELETE FROM people WHERE id=?", (person_id,))
            self._drop(person_id)
            self._refresh(into)

    def split(self, person_id: int, events: list[tuple[str, str]]) -> int:
        """The given events of a person become a new, unnamed person; its id."""
        with self.index.transaction() as db:
            self._require(person_id)
            owned = {tuple(r) for r in db.execute("SELECT device, event_id FROM faces WHERE person_id=? AND "
                                                  "source='event'", (person_id,))}
            wanted = set(events)
            if not wanted or not wanted <= owned:
                raise PeopleError(f"choose one or more of person {person_id}'s own events to split off")
            if wanted == owned and db.execute("SELECT 1 FROM faces WHERE person_id=? AND source='library'",
                                              (person_id,)).fetchone() is None:
                raise PeopleError("splitting off every event would leave nobody behind")
            new = self._new_person(time.time())
            db.executemany("UPDATE faces SET person_id=? WHERE person_id=? AND source='event' AND device=? AND "
                           "event_id=?", [(new, person_id, d, e) for d, e in sorted(wanted)])
            self._refresh(person_id)
            self._refresh(new)
            return new

    def forget(self, person_id: int) -> list[tuple[str, str]]:
        """Delete a person and every embedding of theirs; the events they were seen in (the caller may
        delete those too)."""
        with self.index.transaction() as db:
            self._require(person_id)
            events = [tuple(r) for r in db.execute("SELECT DISTINCT device, event_id FROM faces WHERE "
                                                   "person_id=? AND source='event'", (person_id,))]
            db.execute("DELETE FROM faces WHERE person_id=?", (person_id,))
            db.execute("DELETE FROM people WHERE id=?", (person_id,))
            self._drop(person_id)
            self._expected = self._count()
        return events

    def add_library_face(self, person_id: int, embedding: np.ndarray) -> None:
        with self.index.transaction() as db:
            self._require(person_id)
            if db.execute("SELECT name FROM people WHERE id=?", (person_id,)).fetchone()[0] is None:
                raise PeopleError("name this person before adding photos of them")
            db.execute("INSERT INTO faces (person_id, source, added, embedding) VALUES (?, 'library', ?, ?)",
                       (person_id, time.time(), embedding.astype(np.float32).tobytes()))
            self._refresh(person_id)
            self._expected = self._count()

    def new_named(self, name: str) -> int:
        with self.index.transaction() as db:
            person = self._new_person(time.time())
            db.execute("UPDATE people SET name=? WHERE id=?", (name, person))
            return person

    def counts(self) -> tuple[int, int]:
        """(people, stored embeddings)."""
        return (self.index.query("SELECT COUNT(*) FROM people")[0][0],
                self.index.query("SELECT COUNT(*) FROM faces")[0][0])


def view_name(yaw) -> str:
    if not isinstance(yaw, (int, float)):
        return "unknown"
    if abs(yaw) < 20:
        return "frontal"
    return "half-profile" if abs(yaw) < 60 else "profile"
