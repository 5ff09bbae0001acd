"""Stored events: files per device plus the SQLite index, revisions kept beside them.

Layout under the output folder::

    index.sqlite                          the index (events, revisions, parts on the way)
    index.html                            the static gallery (newest first)
    <device>/<event_id>.json              the newest revision's metadata
    <device>/<event_id>_mugshot.jpg       the generated mugshot
    <device>/<event_id>_crop.jpg          the camera's own face crop
    <device>/<event_id>_profile.jpg       the track's side view, when it showed one
    <device>/revisions/<event_id>.r<N>.json, ..._mugshot.jpg, ..._crop.jpg   earlier revisions

The device folder is the device named in the topic the parts came on, so a publisher can
only ever write under its own topic's folder.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from .files import SafeFolder
from .index import EventIndex, StoredEvent
from .schema import ALL_IMAGE_NAMES, IMAGE_NAMES, NAME

log = logging.getLogger(__name__)


def file_names(event_id: str, revision: int | None = None) -> dict[str, str]:
    stem = event_id if revision is None else f"{event_id}.r{revision}"
    return {"json": f"{stem}.json"} | {name: f"{stem}_{name}.jpg" for name in ALL_IMAGE_NAMES}


class EventStore:
    def __init__(self, out: str | Path, fsync: bool = True):
        self.folder = SafeFolder(out)
        self.root = self.folder.root
        self.index = EventIndex(self.root / "index.sqlite")
        self.fsync = fsync

    def close(self) -> None:
        self.index.close()
        self.folder.close()

    def save(self, meta: dict, images: dict[str, bytes], received: float, replaced: StoredEvent | None) -> int:
        """Write a complete event (call inside an index transaction); its size in bytes."""
        device, event_id = meta["device"], meta["event_id"]
        if replaced is not None:  # the earlier revision moves aside, it is not overwritten
            old, new = file_names(event_id), file_names(event_id, replaced.revision)
            for kind in old:
                self.folder.rename((device,), old[kind], (device, "revisions"), new[kind])
        names = file_names(event_id)
        document = json.dumps(meta, indent=2).encode("utf-8")
        files = {names[name]: data for name, data in images.items()} | {names["json"]: document}  # JSON last
        self.folder.write_many((device,), files, self.fsync)
        size = len(document) + sum(len(data) for data in images.values())
        self.index.put_event(meta, received, size, replaced)
        return size

    def delete(self, event: StoredEvent) -> int:
        """Delete an event, its files and its earlier revisions (inside an index transaction)."""
        revisions = self.index.delete_event(event)
        extra = [n for n in event.meta.get("images", {}) if n not in IMAGE_NAMES and NAME.match(n)]  # a profile

        def names(revision=None):
            stem = file_names(event.event_id, revision)
            return [*stem.values(), *(stem["json"][:-len(".json")] + f"_{n}.jpg" for n in extra)]

        freed = sum(self.folder.remove((event.device,), n) for n in names())
        for revision in revisions:
            freed += sum(self.folder.remove((event.device, "revisions"), n) for n in names(revision))
        return freed

    def read(self, device: str, name: str) -> bytes:
        with self.folder.open_read((device,), name) as f:
            return f.read()
