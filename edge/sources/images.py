"""A folder of pictures replayed in name order: for tests, calibration and offline runs."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from .base import ArrayFrame, Frame, FrameSource, SourceError, valid_image

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".webp", ".tif", ".tiff"}


class ImageFolderSource(FrameSource):
    is_live = False

    def __init__(self, folder: str, *, name: str = "images", fps: float = 0.0, pace: str = "fast"):
        self.folder = Path(folder)
        self.name = name
        self.fps = fps or 10.0
        self.pace = pace
        self._files: list[Path] = []
        self._next = 0
        self._start = 0.0
        self.corrupt_frames = 0

    def open(self) -> None:
        if not self.folder.is_dir():
            raise SourceError(f"image folder not found: {self.folder}")
        self._files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._files:
            raise SourceError(f"image folder has no pictures: {self.folder}")
        self._next, self._start, self._t0 = 0, time.monotonic(), time.time()

    def read(self) -> Frame | None:
        while self._next < len(self._files):
            path = self._files[self._next]
            index = self._next
            self._next += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if not valid_image(image):
                self.corrupt_frames += 1
                log.warning("skipped unreadable image %s", path)
                continue
            if self.pace == "realtime":
                delay = self._start + index / self.fps - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            return ArrayFrame(image=np.ascontiguousarray(image), index=index, timestamp=self._t0 + index / self.fps)
        return None

    def close(self) -> None:
        self._files = []
