"""The motion gate: a cheap background-difference check on a small grey frame.

One job: say whether, and where, something changed.  The face detector runs only when
it does, so an empty scene costs one resize, one blur and one difference per frame.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from ..config import MotionConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MotionResult:
    moving: bool
    boxes: tuple[tuple[float, float, float, float], ...]  # x, y, w, h as fractions of the frame
    changed_fraction: float  # share of pixels above the threshold (after masking)
    recalibrated: bool = False  # the whole scene changed (lights): background reset


class MotionDetector:
    def __init__(self, cfg: MotionConfig):
        self.cfg = cfg
        self._background: np.ndarray | None = None  # float32, running average
        self._mask: np.ndarray | None = None  # uint8, 0 where masked out
        self._kernel = np.ones((3, 3), np.uint8)
        self.recalibrations = 0

    def reset(self) -> None:
        self._background = None

    def detect(self, gray: np.ndarray) -> MotionResult:
        cfg = self.cfg
        h, w = gray.shape[:2]
        if w != cfg.width:
            gray = cv2.resize(gray, (cfg.width, max(1, round(h * cfg.width / w))), interpolation=cv2.INTER_AREA)
            h, w = gray.shape[:2]
        if cfg.blur:
            gray = cv2.GaussianBlur(gray, (cfg.blur, cfg.blur), 0)
        if self._background is None or self._background.shape != gray.shape:
            self._background = gray.astype(np.float32)
            self._mask = self._build_mask(w, h)
            return MotionResult(False, (), 0.0)

        # cv2.absdiff on uint8 saturates correctly: |a - b| without wrap-around.
        diff = cv2.absdiff(gray, cv2.convertScaleAbs(self._background))
        _, changed = cv2.threshold(diff, cfg.threshold, 255, cv2.THRESH_BINARY)
        if self._mask is not None:
            changed = cv2.bitwise_and(changed, self._mask)
        fraction = cv2.countNonZero(changed) / changed.size

        if fraction > cfg.recalibrate_fraction:
            # Lights switched on, camera switched to night mode: learn the new scene at once.
            self._background = gray.astype(np.float32)
            self.recalibrations += 1
            log.info("motion gate recalibrated: %.0f%% of the frame changed at once", 100 * fraction)
            return MotionResult(False, (), fraction, recalibrated=True)

        cv2.accumulateWeighted(gray, self._background, cfg.alpha)
        if fraction == 0.0:
            return MotionResult(False, (), 0.0)
        if cfg.dilate:
            changed = cv2.dilate(changed, self._kernel, iterations=cfg.dilate)
        contours, _ = cv2.findContours(changed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        min_pixels = cfg.min_area * w * h
        boxes = []
        for contour in contours:
            if cv2.contourArea(contour) >= min_pixels:
                x, y, bw, bh = cv2.boundingRect(contour)
                boxes.append((x / w, y / h, bw / w, bh / h))
        return MotionResult(bool(boxes), tuple(boxes), fraction)

    def _build_mask(self, w: int, h: int) -> np.ndarray | None:
        if not self.cfg.masks:
            return None
        mask = np.full((h, w), 255, np.uint8)
        for polygon in self.cfg.masks:
            points = np.array([[x * w, y * h] for x, y in polygon], np.int32)
            cv2.fillPoly(mask, [points], 0)
        return mask


def union_box(boxes: tuple[tuple[float, float, float, float], ...]) -> tuple[float, float, float, float] | None:
    """The smallest box (fractions) that holds all motion boxes."""
    if not boxes:
        return None
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    return x0, y0, x1 - x0, y1 - y0
