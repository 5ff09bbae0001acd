"""A folder of pictures replayed in name order: for tests, calibration and offline runs."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from .base import ArrayFrame, Frame, FrameSource, SourceError, valid_image
from .image_size import image_size

log = logging.getLogger(__name__)

REDUCED = ((2, cv2.IMREAD_REDUCED_COLOR_2), (4, cv2.IMREAD_REDUCED_COLOR_4), (8, cv2.IMREAD_REDUCED_COLOR_8))

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".webp", ".tif", ".tiff"}


class ImageFolderSource(FrameSource):
    is_live = False

    def __init__(self, folder: str, *, name: str = "images", fps: float = 0.0, pace: str = "fast",
                 max_pixels: int = 24_000_000):
        self.folder = Path(folder)
        self.name = name
        self.fps = fps or 10.0
        self.pace = pace
        self._files: list[Path] = []
        self._next = 0
        self._start = 0.0
        self.corrupt_frames = 0
        self.oversized_frames = 0
        self.max_pixels = max_pixels

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
            flag = self._decode_flag(path)
            if flag is None:
                continue  # over camera.max_pixels: refused before decoding (counted, logged)
            image = cv2.imread(str(path), flag)
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

    def _decode_flag(self, path: Path) -> int | None:
        """How to decode this picture within ``max_pixels`` (read from its header first): full size,
        a JPEG at 1/2, 1/4 or 1/8, or None (refused: counted and logged)."""
        size = image_size(path)
        if size is None:
            return cv2.IMREAD_COLOR  # not a header we know: OpenCV decides (and counts it unreadable)
        width, height = size
        if width * height <= self.max_pixels:
            return cv2.IMREAD_COLOR
        self.oversized_frames += 1
        if path.suffix.lower() in (".jpg", ".jpeg"):
            for factor, flag in REDUCED:
                if -(-width // factor) * -(-height // factor) <= self.max_pixels:
                    log.warning("%s is %dx%d, over camera.max_pixels = %d: decoded at 1/%d (%d oversized so far)",
                                path, width, height, self.max_pixels, factor, self.oversized_frames)
                    return flag
        log.warning("skipped %s: %dx%d is over camera.max_pixels = %d (%d oversized so far)", path, width, height,
                    self.max_pixels, self.oversized_frames)
        return None

    def close(self) -> None:
        self._files = []
