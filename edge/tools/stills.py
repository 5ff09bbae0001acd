"""``mugshot-edge mugshot PHOTO... --out DIR``: what the box would publish for still photos.

Each photo goes through the daemon's own stages (``Pipeline.best_shot`` then ``Pipeline.emit``:
detector, best face, mesh, pose, generator, crop) and its event is written as
``DIR/<stem>_mugshot.jpg``, ``DIR/<stem>_crop.jpg`` and ``DIR/<stem>.json``, and
``DIR/<stem>_profile.jpg`` when the face is a profile (|yaw| >= 60°: the event's ``images.profile``,
framed by its visible landmarks; its mugshot is then that side view too, and says so in ``view``).  A photo without a
face, or one that cannot be read, gets a one-line message and no files; the others go on.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from ..config import Config
from ..events import Event
from ..publish.base import Publisher
from ..files import write_atomic

log = logging.getLogger(__name__)


class PhotoSink(Publisher):
    """Writes the event of the photo being processed under the photo's name."""
    name = "photos"

    def __init__(self, out: Path, jpeg_quality: int = 90, max_side: int = 512):
        self.out, self.jpeg_quality, self.max_side = out, jpeg_quality, max_side
        self.stem = ""
        self.written: list[Path] = []

    def publish(self, event: Event) -> None:
        encoded = event.encode(self.jpeg_quality, self.max_side)
        for name, data in encoded.images.items():
            path = self.out / f"{self.stem}_{name}.jpg"
            write_atomic(path, data)
            self.written.append(path)
        meta = self.out / f"{self.stem}.json"
        write_atomic(meta, (json.dumps(encoded.metadata, indent=2) + "\n").encode())
        self.written.append(meta)


@dataclass
class StillsResult:
    done: list[str] = field(default_factory=list)  # photo stems with files written
    skipped: list[str] = field(default_factory=list)  # one line per photo without files


def run_stills(photos: list[Path], out: Path, cfg: Config) -> StillsResult:
    from ..daemon.pipeline import Pipeline, build_models

    out.mkdir(parents=True, exist_ok=True)
    detector, generator, mesher = build_models(cfg)
    sink = PhotoSink(out)
    pipeline = Pipeline(cfg, None, detector, generator, [sink], threading.Event(), mesher)
    result = StillsResult()
    for photo in photos:
        image = cv2.imread(str(photo)) if photo.is_file() else None
        if image is None:
            result.skipped.append(f"{photo}: not a readable image")
            continue
        due = pipeline.best_shot(image, time.time())
        if due is None:
            result.skipped.append(f"{photo}: no face found")
            continue
        sink.stem = photo.stem
        pipeline.emit(due)
        result.done.append(photo.stem)
    return result
