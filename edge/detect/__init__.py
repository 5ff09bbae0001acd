"""Face detectors, chosen by ``detector.type``; one module per detector."""
from __future__ import annotations

from ..config import DetectorConfig
from .base import Detection, FaceDetector

__all__ = ["Detection", "FaceDetector", "make_detector"]


def make_detector(cfg: DetectorConfig) -> FaceDetector:
    if cfg.type == "yunet":
        from .yunet import YuNetDetector
        return YuNetDetector(cfg.model, input_width=cfg.input_width, input_height=cfg.input_height,
                             score_threshold=cfg.score_threshold, nms_threshold=cfg.nms_threshold,
                             min_face=cfg.min_face, threads=cfg.threads)
    raise ValueError(f"detector.type: unknown detector {cfg.type!r}")
