"""``mugshot-edge mugshot PHOTO... --out DIR``: what the box would publish for still photos.

Each photo goes through the daemon's own stages (``Pipeline.best_shot`` then ``Pipeline.emit``:
detector, best face, mesh, pose, generator, crop) and its event is written as
``DIR/<name>_mugshot.jpg``, ``DIR/<name>_crop.jpg`` and ``DIR/<name>.json``, where ``<name>`` is the
photo's stem, or ``<parent>_<stem>`` for photos that share a stem (more parents, then a number, while names
still clash), so no photo's files overwrite another's; the JSON records the photo's path (``source_path``).
A photo without a face, one that is missing or one that cannot be read gets a one-line message and no
files; the others go on.  ``DIR/<name>_profile.jpg`` comes too when the face is a profile (|yaw| >= 60°:
the event's ``images.profile``, framed by its visible landmarks; its mugshot is then that side view too, and
says so in ``view``).
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
        self.source = ""  # the photo's path, recorded in its JSON
        self.written: list[Path] = []

    def publish(self, event: Event) -> None:
        encoded = event.encode(self.jpeg_quality, self.max_side)
        for name, data in encoded.images.items():
            path = self.out / f"{self.stem}_{name}.jpg"
            write_atomic(path, data)
            self.written.append(path)
        meta = self.out / f"{self.stem}.json"
        metadata = {**encoded.metadata, "source_path": self.source}
        write_atomic(meta, (json.dumps(metadata, indent=2) + "\n").encode())
        self.written.append(meta)


@dataclass
class StillsResult:
    done: list[str] = field(default_factory=list)  # output names of the photos with files written
    skipped: list[str] = field(default_factory=list)  # one line per photo without files
    missing: list[Path] = field(default_factory=list)  # photos that do not exist
    unreadable: list[Path] = field(default_factory=list)  # photos that exist but do not decode


def output_names(photos: list[Path]) -> list[str]:
    """One distinct output name per photo: its stem, or ``<parent>_<stem>`` where stems clash (then more
    parent folders, then the file's suffix, ``a_jpg`` beside ``a_png``).  The same photo given twice gets one name."""
    resolved = [p.resolve() for p in photos]
    names: dict[Path, str] = {}
    depth = 0
    pending = list(dict.fromkeys(resolved))
    while pending:
        candidates = {p: "_".join([*(q.name for q in reversed(p.parents[:depth]) if q.name), p.stem])
                      if depth else p.stem for p in pending}
        counts: dict[str, int] = {}
        for name in list(candidates.values()) + list(names.values()):
            counts[name] = counts.get(name, 0) + 1
        unique = [p for p in pending if counts[candidates[p]] == 1]
        for p in unique:
            names[p] = candidates[p]
        pending = [p for p in pending if p not in names]
        depth += 1
        if pending and depth > max(len(p.parents) for p in pending):
            for p in pending:  # same folder, same stem: a.jpg and a.png
                names[p] = f"{p.parent.name}_{p.stem}_{p.suffix.lstrip('.').lower()}" if p.parent.name else \
                    f"{p.stem}_{p.suffix.lstrip('.').lower()}"
            pending = []
    return [names[p] for p in resolved]


def run_stills(photos: list[Path], out: Path, cfg: Config) -> StillsResult:
    from ..daemon.pipeline import Pipeline, build_models

    out.mkdir(parents=True, exist_ok=True)
    detector, generator, mesher = build_models(cfg)
    sink = PhotoSink(out)
    pipeline = Pipeline(cfg, None, detector, generator, [sink], threading.Event(), mesher)
    result = StillsResult()
    for photo, name in zip(photos, output_names(photos)):
        if not photo.is_file():
            result.missing.append(photo)
            result.skipped.append(f"{photo}: no such file" if not photo.exists() else f"{photo}: not a file")
            continue
        size = photo.stat().st_size
        image = cv2.imread(str(photo)) if size else None
        if image is None:
            result.unreadable.append(photo)
            result.skipped.append(f"{photo}: not a readable image ({'empty file' if not size else f'{size} bytes'})")
            continue
        due = pipeline.best_shot(image, time.time())
        if due is None:
            result.skipped.append(f"{photo}: no face found")
            continue
        sink.stem, sink.source = name, str(photo.resolve())
        pipeline.emit(due)
        result.done.append(name)
    return result
