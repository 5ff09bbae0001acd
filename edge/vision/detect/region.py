"""Run a detector on the motion region of a frame instead of the whole frame.

The region is the motion gate's box, padded so that a face at its border stays whole.
The detector letterboxes what it is given into its input, so a small region is
upscaled to the input size before detection (``max_upscale`` >= 1 caps that factor;
0 means no cap).  Detections always come back in full-frame pixels: the tracker cuts a face's
patch from the full-resolution frame, never from the detector's resized input.
"""
from __future__ import annotations

import numpy as np

from .base import Detection, FaceDetector

ROI_PADDING = 0.5  # the detector region extends the motion box by this share of its size per side
ROI_FULL_FRAME = 0.6  # a region larger than this share of the frame: detect on the whole frame
# A small region is upscaled into the detector's input by at most this factor: unlimited upscaling lost
# 7-11 points of recall at 480-640 px inputs on FRMDB's surveillance faces, 2x lost none at any input size
# against 1x's 1-2 points (`mugshot-edge bench-detect`, docs/results.md "Small faces").
MAX_REGION_UPSCALE = 2.0


def region_bounds(frame_size: tuple[int, int], region: tuple[float, float, float, float] | None
                  ) -> tuple[int, int, int, int] | None:
    """Pixel bounds (x0, y0, x1, y1) to detect in, or None for the whole frame."""
    w, h = frame_size
    if region is None or region[2] * region[3] > ROI_FULL_FRAME:
        return None
    rx, ry, rw, rh = region
    side = max(rw * w, rh * h)  # square-ish regions keep faces whole
    pad = side * ROI_PADDING
    x0, y0 = max(0, int(rx * w - pad)), max(0, int(ry * h - pad))
    x1, y1 = min(w, int((rx + rw) * w + pad)), min(h, int((ry + rh) * h + pad))
    if (x1 - x0) * (y1 - y0) > ROI_FULL_FRAME * w * h:
        return None
    return x0, y0, x1, y1


def detect_in_region(detector: FaceDetector, image: np.ndarray,
                     region: tuple[float, float, float, float] | None, max_upscale: float = 0.0) -> list[Detection]:
    """Faces in ``image`` (full-frame coordinates), looking only inside the padded motion ``region``."""
    bounds = region_bounds((image.shape[1], image.shape[0]), region)
    if bounds is None:
        return detector.detect(image)
    x0, y0, x1, y1 = bounds
    roi = image[y0:y1, x0:x1]
    width, height = getattr(detector, "input_width", 0), getattr(detector, "input_height", 0)
    if max_upscale > 0 and width and height:
        fit = min(width / roi.shape[1], height / roi.shape[0])
        if fit > max_upscale:  # pad with black so that the letterbox scales by max_upscale only
            cw, ch = int(np.ceil(width / max_upscale)), int(np.ceil(height / max_upscale))
            canvas = np.zeros((max(ch, roi.shape[0]), max(cw, roi.shape[1]), 3), np.uint8)
            canvas[:roi.shape[0], :roi.shape[1]] = roi
            roi = canvas
    return [d.shifted(x0, y0) for d in detector.detect(roi)]
