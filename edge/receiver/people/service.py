"""The receiver's people worker: embeds every stored event and groups it, in its own thread.

It reads the events the index holds past its watermark (so events stored while it was off,
or by another receiver of a share group, are embedded too), embeds each one's image parts
(``PARTS`` present in the event) and groups them.  The intake never waits for it: a slow
embedding delays the people pages, not the events.  ``--no-people`` leaves it off.
"""
from __future__ import annotations

import json
import logging
import threading
import time

import numpy as np

from .embed import FaceEmbedder, decode
from .store import People, PeopleError

log = logging.getLogger(__name__)

# The image parts embedded: the box's aligned crop (the generated mugshot identified people
# far less often: docs/receiver.md "People"), and a profile view where a box sends one.
PARTS = ("crop", "profile")
BATCH = 32


class PeopleService:
    def __init__(self, store, threshold: float | None = None, embedder: FaceEmbedder | None = None,
                 on_person=None, named_threshold: float | None = None):
        self.store = store
        self.people = People(store.index, named_threshold=named_threshold) if threshold is None else \
            People(store.index, threshold, named_threshold)
        self.embedder = embedder or FaceEmbedder()
        self.on_person = on_person  # called (meta, person_id, name, similarity) after an event is grouped
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.embedded = 0
        self.seconds = 0.0
        self._detector = None

    # --- the worker ---------------------------------------------------------------------
    def start(self, interval: float = 1.0) -> "PeopleService":
        self.thread = threading.Thread(target=self._run, args=(interval,), name="receiver-people", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(30)

    def _run(self, interval: float) -> None:
        while not self.stop_event.is_set():
            try:
                done = self.catch_up()
            except Exception:  # a damaged picture or a full disk must not end the worker
                log.exception("people: embedding failed; retried in %g s", interval)
                done = 0
            if not done:
                self.stop_event.wait(interval)

    def catch_up(self, limit: int = BATCH) -> int:
        """Embed and group up to ``limit`` events stored past the watermark; how many were done."""
        index = self.store.index
        rows = index.query("SELECT id, device, event_id, camera, revision, meta FROM events WHERE id > ? "
                           "ORDER BY id LIMIT ?", (self.people.watermark(), limit))
        if not rows:
            return 0

        work = []
        for row_id, device, event_id, camera, revision, meta_text in rows:
            meta = json.loads(meta_text)
            for part in PARTS:
                if part not in meta.get("images", {}):
                    continue
                try:
                    image = decode(self.store.read(device, f"{event_id}_{part}.jpg"))
                except (OSError, ValueError) as exc:
                    log.warning("people: event %s/%s %s not embedded: %s", device, event_id, part, exc)
                    continue
                work.append((row_id, device, event_id, revision, part, image, meta))
        started = time.perf_counter()
        vectors = self.embedder.embed_many([w[5] for w in work]) if work else np.zeros((0, 0))
        self.seconds += time.perf_counter() - started
        grouped = []
        with index.transaction():
            self.people.sync()
            done_by_another = self.people.watermark()  # receivers of a share group share one index
            for (row_id, device, event_id, revision, part, _, meta), vector in zip(work, vectors):
                if row_id <= done_by_another:
                    continue
                size = meta.get("quality", {}).get("size")
                placed = self.people.add_event_face(device, event_id, revision, part, vector,
                                                    face_size=size if isinstance(size, (int, float)) else None)
                if placed is not None and part == "crop":
                    grouped.append((meta, *placed))
            self.people.set_watermark(max(rows[-1][0], done_by_another))
        self.embedded += len(work)
        for meta, person, similarity in grouped:
            log.debug("event %s/%s: person %d (similarity %.2f)", meta["device"], meta["event_id"], person,
                      similarity)
            if self.on_person is not None:
                name = index.query("SELECT name FROM people WHERE id=?", (person,))
                self.on_person(meta, person, name[0][0] if name else None, similarity)
        return len(rows)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """True once every stored event has been embedded (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            newest = self.store.index.query("SELECT COALESCE(MAX(id), 0) FROM events")[0][0]
            if self.people.watermark() >= newest:
                return True
            time.sleep(0.05)
        return False

    # --- a user's own photo of a named person ------------------------------------------
    def face_from_photo(self, data: bytes) -> np.ndarray:
        """The largest face of a photo, aligned as the box aligns its crop (YuNet, five points,
        face scale 0.7, 256 px); PeopleError when the photo is unreadable or shows no face."""
        from ...vision.align import MUGSHOT_FACE_SCALE, align_face
        from ...vision.detect.yunet import YuNetDetector

        try:
            image = decode(data)
        except ValueError as exc:
            raise PeopleError(f"photo: {exc}") from None
        if self._detector is None:
            self._detector = YuNetDetector()
        faces = self._detector.detect(image)
        if not faces:
            raise PeopleError("photo: no face found in it")
        face = max(faces, key=lambda d: d.box[2] * d.box[3])
        crop, _ = align_face(image, face.landmarks, 256, MUGSHOT_FACE_SCALE)
        return crop

    def add_photo(self, person_id: int, data: bytes) -> None:
        self.people.add_library_face(person_id, self.embedder.embed(self.face_from_photo(data)))

    def forget(self, person_id: int, delete_events: bool = False) -> tuple[int, int]:
        """Forget a person: their embeddings always, their events (files, index rows) when asked;
        (events seen in, events deleted)."""
        events = self.people.forget(person_id)
        deleted = 0
        if delete_events:
            with self.store.index.transaction():
                for device, event_id in events:
                    stored = self.store.index.stored(device, event_id)
                    if stored is not None:
                        self.store.delete(stored)
                        deleted += 1
        log.info("person %d forgotten: %d embeddings' events, %d events deleted", person_id, len(events), deleted)
        return len(events), deleted


def name_announcer(connection, base: str):
    """``on_person`` for ``--publish-names``: a named person's event goes back over MQTT as
    ``<base>/<device>/<camera>/person`` (QoS 1, not retained) with the event id and a confidence
    (the cosine similarity that placed it), so Home Assistant can say who is at the door.
    Unnamed people are never announced."""
    def announce(meta: dict, person: int, name: str | None, similarity: float) -> None:
        if name is None:
            return
        payload = {"event_id": meta["event_id"], "device": meta["device"], "camera": meta["camera"],
                   "time": meta.get("best_seen"), "person_id": person, "name": name,
                   "confidence": round(float(similarity), 3)}
        connection.publish(f"{base}/{meta['device']}/{meta['camera']}/person", json.dumps(payload).encode(),
                           qos=1, content_type="application/json")
    return announce
