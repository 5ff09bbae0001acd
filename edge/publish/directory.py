"""Directory sink: each event as ``<event_id>.json`` with its JPEG images beside it.

Files are written to a temporary name and renamed, so a reader never sees half an
image; a later revision of the same event replaces the earlier files.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from ..events import Event
from .base import Publisher

log = logging.getLogger(__name__)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class DirectoryPublisher(Publisher):
    name = "directory"

    def __init__(self, path: str | Path, jpeg_quality: int = 90, max_side: int = 512):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.jpeg_quality, self.max_side = jpeg_quality, max_side
        self.written = 0

    def publish(self, event: Event) -> None:
        encoded = event.encode(self.jpeg_quality, self.max_side)
        for name, data in encoded.images.items():
            write_atomic(self.path / f"{event.event_id}_{name}.jpg", data)
        write_atomic(self.path / f"{event.event_id}.json",
                     json.dumps(encoded.metadata, indent=2).encode("utf-8"))
        self.written += 1

    def status(self) -> dict:
        return {"written": self.written}
