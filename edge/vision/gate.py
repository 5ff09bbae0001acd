"""The mugshot quality gate: the box checks the generator's picture before it publishes it.

``MugshotGate(detector, spec).check(mugshot_bgr, crop_bgr) -> GateResult(ok, reason, measures)``, where
``crop_bgr`` is the aligned crop the mugshot was made from (same framing, ``spec.face_scale``; any size: the
crop is resized to the mugshot's).  It knows nothing about the model that made the mugshot.  Four checks:

1. **one face**: YuNet (the box's own detector) finds exactly one face in the mugshot;
2. **landmarks**: its five landmarks lie near the mugshot template (``canonical_points`` for the mugshot's size
   and ``spec.face_scale``): mean distance over the template's eye distance;
3. **colour and contrast**: not flat (grey standard deviation), not saturated (share of clipped pixels), no
   colour cast against the crop (largest channel-mean shift), no checkerboard or noise (high-frequency energy
   relative to the crop's, the crop's floored at ``HF_FLOOR`` so a sharpened blurry face is no checkerboard);
4. **structure**: SSIM with the crop.

``reason`` is "" when ok, else the failed checks, e.g. ``"faces=0; contrast=0.0<12.0"``; a mugshot that fails
is meant to be replaced by its crop, with the reason in the event.  A gate holds one detector whose input buffer
is reused: use one gate per thread.

The limits (:class:`GateLimits`) were chosen by measurement on 112 real faces of held-out people
(``python -m tools.generator.gate_thresholds``; table in docs/results.md): the crop passes on all of them, the
shipped student on 103 (every studio frontal and yaw 45 face; the misses are surveillance frames where its output
holds no face YuNet finds, and one colour shift), and models broken in four ways (flat, noise, checkerboard,
flipped weight bytes) on none.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from .align import MUGSHOT_FACE_SCALE, TEMPLATE, canonical_points

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateLimits:
    """Where the gate draws its lines (see the module docstring for how they were measured)."""

    max_landmark_error: float = 0.55  # mean landmark distance to the template, in template eye distances
    min_contrast: float = 12.0  # standard deviation of the grey image, 0..255
    max_clipped: float = 0.10  # share of pixels with a channel at 0 or 255, beyond the crop's own share
    max_colour_shift: float = 50.0  # largest |channel mean - the crop's channel mean|, 0..255
    max_high_frequency: float = 2.0  # high-frequency energy / the crop's (at least HF_FLOOR)
    min_ssim: float = 0.35  # grey SSIM with the crop
    face_score: float = 0.5  # the gate's own YuNet's score threshold (the crop itself is found at 0.5)


@dataclass(frozen=True)
class GateResult:
    ok: bool
    reason: str  # "" when ok; else the failed checks, "; "-separated
    measures: dict[str, float] = field(default_factory=dict)


HF_FLOOR = 4.0  # a blurred crop's high-frequency energy counts as at least this (a sharpened blur is no checkerboard)


def high_frequency(grey: np.ndarray) -> float:
    """Mean squared difference between an image and its 3x3 box blur: the energy a checkerboard or pixel
    noise adds and a natural face at this scale has little of."""
    grey = grey.astype(np.float32)
    detail = cv2.subtract(grey, cv2.blur(grey, (3, 3)))
    return float(cv2.mean(cv2.multiply(detail, detail))[0])


def clipped(image: np.ndarray) -> float:
    """Share of pixels with a channel at 0 or 255."""
    inside = cv2.inRange(image, (1, 1, 1), (254, 254, 254))
    return 1.0 - cv2.countNonZero(inside) / inside.size


def grey_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """``edge.vision.metrics.ssim`` (Gaussian window 11, sigma 1.5) on two grey images, in float32."""
    x, y = x.astype(np.float32), y.astype(np.float32)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blur = lambda img: cv2.GaussianBlur(img, (11, 11), 1.5)  # noqa: E731
    mx, my = blur(x), blur(y)
    mxx, myy, mxy = mx * mx, my * my, mx * my
    sxx, syy, sxy = blur(x * x) - mxx, blur(y * y) - myy, blur(x * y) - mxy
    value = ((2 * mxy + c1) * (2 * sxy + c2)) / ((mxx + myy + c1) * (sxx + syy + c2))
    return float(cv2.mean(value)[0])


def colour_measures(mugshot: np.ndarray, crop: np.ndarray) -> dict[str, float]:
    grey = cv2.cvtColor(mugshot, cv2.COLOR_BGR2GRAY)
    crop_grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    shift = np.abs(np.subtract(cv2.mean(mugshot)[:3], cv2.mean(crop)[:3]))
    return {"contrast": float(cv2.meanStdDev(grey)[1][0, 0]), "clipped": clipped(mugshot) - clipped(crop),
            "colour_shift": float(shift.max()),
            "high_frequency": high_frequency(grey) / max(high_frequency(crop_grey), HF_FLOOR),
            "ssim": grey_ssim(grey, crop_grey)}


class MugshotGate:
    """``detector``: a face detector (``edge.vision.detect``) or a callable that makes one on first use;
    None: YuNet at 160x160 (a mugshot is a face-filled square) with ``limits.face_score``.  ``spec``: the generator's
    :class:`~edge.vision.align.ModelInputSpec` (its ``face_scale`` places the template), or None for the
    published crop's framing."""

    def __init__(self, detector=None, spec=None, limits: GateLimits = GateLimits()):
        self._detector = detector
        self.face_scale = float(spec.face_scale) if spec is not None else MUGSHOT_FACE_SCALE
        self.limits = limits

    @property
    def detector(self):
        if self._detector is None:
            from .detect.yunet import YuNetDetector

            self._detector = YuNetDetector(input_width=160, input_height=160,
                                           score_threshold=self.limits.face_score)
        elif callable(self._detector) and not hasattr(self._detector, "detect"):
            self._detector = self._detector()
        return self._detector

    def measure(self, mugshot: np.ndarray, crop: np.ndarray, face: bool = True) -> dict[str, float]:
        size = mugshot.shape[1]
        if crop.shape[:2] != mugshot.shape[:2]:
            crop = cv2.resize(crop, (size, mugshot.shape[0]), interpolation=cv2.INTER_AREA)
        measures = colour_measures(mugshot, crop)
        if not face:
            return measures
        faces = self.detector.detect(mugshot)
        measures["faces"] = float(len(faces))
        if len(faces) == 1:
            template = canonical_points(size, self.face_scale)
            eye_distance = float(np.linalg.norm(TEMPLATE[1] - TEMPLATE[0])) * self.face_scale * size
            error = np.linalg.norm(faces[0].landmarks - template, axis=1).mean() / eye_distance
            measures["landmark_error"] = float(error)
            measures["face_score"] = float(faces[0].score)
        return measures

    def check(self, mugshot: np.ndarray, crop: np.ndarray, face: bool = True) -> GateResult:
        """Whether ``mugshot`` (BGR uint8) may be published in place of ``crop`` (the aligned crop it came
        from), why not, and every measure taken.  ``face=False`` (a profile view, which neither YuNet nor the
        frontal template is made for): the colour, contrast and structure checks only."""
        if mugshot.ndim != 3 or mugshot.shape[2] != 3 or mugshot.dtype != np.uint8:
            return GateResult(False, f"not a BGR uint8 picture: shape {mugshot.shape}, {mugshot.dtype}", {})
        measures = self.measure(mugshot, crop)
        lim = self.limits
        failed = []
        if not face:
            pass
        elif measures["faces"] != 1:
            failed.append(f"faces={measures['faces']:.0f}")
        elif measures["landmark_error"] > lim.max_landmark_error:
            failed.append(f"landmarks={measures['landmark_error']:.2f}>{lim.max_landmark_error}")
        if measures["contrast"] < lim.min_contrast:
            failed.append(f"contrast={measures['contrast']:.1f}<{lim.min_contrast}")
        if measures["clipped"] > lim.max_clipped:
            failed.append(f"clipped={measures['clipped']:.2f}>{lim.max_clipped}")
        if measures["colour_shift"] > lim.max_colour_shift:
            failed.append(f"colour_shift={measures['colour_shift']:.0f}>{lim.max_colour_shift}")
        if measures["high_frequency"] > lim.max_high_frequency:
            failed.append(f"high_frequency={measures['high_frequency']:.1f}>{lim.max_high_frequency}")
        if measures["ssim"] < lim.min_ssim:
            failed.append(f"ssim={measures['ssim']:.2f}<{lim.min_ssim}")
        return GateResult(not failed, "; ".join(failed), measures)

