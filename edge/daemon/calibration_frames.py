"""Opt-in saving of camera frames with faces, as calibration data for ``mugshot-quantize``.

The best calibration data is the camera's own scene.  These are pictures of people, so it
is off unless ``[calibration] save_frames = true``, bounded by ``max_frames`` (it stops,
it does not rotate) and spaced by ``min_interval_seconds``.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

from ..files import write_atomic

log = logging.getLogger(__name__)


def default_calibration_dir() -> Path:
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return (Path(state) if state else Path.home() / ".local" / "state" / "mugshot-edge") / "calibration"


class CalibrationFrameSaver:
    def __init__(self, folder: Path, max_frames: int, min_interval: float):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_frames, self.min_interval = max_frames, min_interval
        self.saved = len(list(self.folder.glob("frame_*.jpg")))
        self._last = float("-inf")
        if self.saved >= max_frames:
            log.info("calibration folder %s already holds %d frames: saving no more", folder, self.saved)

    def offer(self, image: np.ndarray, faces: int, now: float) -> bool:
        if faces == 0 or self.saved >= self.max_frames or now - self._last < self.min_interval:
            return False
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        if not ok:
            return False
        write_atomic(self.folder / f"frame_{int(now * 1000):015d}.jpg", data.tobytes())
        self.saved += 1
        self._last = now
        if self.saved == self.max_frames:
            log.info("saved %d calibration frames in %s: done (use mugshot-quantize --calib %s)",
                     self.saved, self.folder, self.folder)
        return True
