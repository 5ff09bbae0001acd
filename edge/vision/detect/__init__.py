"""Face detectors, chosen by ``detector.type``; one module per detector."""
from __future__ import annotations

from ...config import DetectorConfig
from .base import Detection, FaceDetector

__all__ = ["Detection", "FaceDetector", "make_detector"]


def make_detector(cfg: DetectorConfig) -> FaceDetector:
    if cfg.type == "yunet":
        from pathlib import Path

        from ..model_files import cache_dir, locate_yunet, with_free_spatial_dims
        from ..precision import choose
        from .yunet import YuNetDetector

        fp32 = Path(cfg.model) if cfg.model else locate_yunet()
        int8 = Path(cfg.int8_model) if cfg.int8_model else cache_dir() / "yunet_int8.onnx"
        choice = choose(cfg.precision, with_free_spatial_dims(fp32), int8,
                        (1, 3, cfg.input_height, cfg.input_width), "detector.precision", cfg.threads)
        detector = YuNetDetector(fp32 if choice.precision == "fp32" else int8, input_width=cfg.input_width,
                                 input_height=cfg.input_height, score_threshold=cfg.score_threshold,
                                 nms_threshold=cfg.nms_threshold, min_face=cfg.min_face, threads=cfg.threads)
        detector.precision = choice.precision
        return detector
    raise ValueError(f"detector.type: unknown detector {cfg.type!r}")
