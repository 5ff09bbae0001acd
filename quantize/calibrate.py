"""Calibration and evaluation inputs, made by exactly the edge preprocessing.

Detector: frames letterboxed by ``edge.vision.detect.yunet.yunet_input``.  Generator: faces found
by the edge detector and turned into the model's input by ``edge.vision.generate.model_input`` with the
spec stored in the model: the aligned crop, as the box feeds the restoration generator.  A folder may be
the user's own pictures or frames saved by the daemon on the camera.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from onnxruntime.quantization import CalibrationDataReader

from edge.vision.align import ModelInputSpec
from edge.vision.detect.yunet import YuNetDetector, yunet_input
from edge.vision.generate import model_input

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".webp"}
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


class ArrayReader(CalibrationDataReader):
    def __init__(self, input_name: str, tensors: list[np.ndarray]):
        self._feeds = iter([{input_name: t} for t in tensors])

    def get_next(self):
        return next(self._feeds, None)


def images_in(folder: Path, limit: int) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"--calib {folder}: no images found")
    step = max(1, len(files) // limit)
    return files[::step][:limit]


def default_detector_images(data: Path = SHARED_DATA, limit: int = 64) -> list[Path]:
    """Real camera-like frames: FRMDB surveillance frames and Pointing'04 images."""
    frames = sorted((data / "frmdb" / "original").glob("*/*_Frames/*.jpg"))
    heads = sorted((data / "pointing04").glob("Person*/*.jpg"))
    picked = frames[:: max(1, len(frames) // (limit // 2))][: limit // 2]
    return picked + heads[:: max(1, len(heads) // (limit - len(picked)))][: limit - len(picked)]


def detector_tensors(images: list[Path], width: int, height: int) -> list[np.ndarray]:
    tensors = []
    for path in images:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is not None:
            tensors.append(yunet_input(image, width, height)[0])
    return tensors


@dataclass
class GeneratorInputs:
    """A generator's inputs as the box makes them, one per picture in which the detector found a face."""

    tensors: list[np.ndarray] = field(default_factory=list)  # (1, 3, S, S) float32 each
    sources: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tensors)

    def describe(self) -> dict:
        return {"faces": len(self)}


def generator_inputs(images: list[Path], spec: ModelInputSpec, detector: YuNetDetector | None = None
                     ) -> GeneratorInputs:
    """The box's path from picture to model input: YuNet's first face, aligned and normalised as the spec
    says (``edge.vision.generate.model_input``)."""
    detector = detector or YuNetDetector(score_threshold=0.5)
    made = GeneratorInputs()
    for path in images:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        found = detector.detect(image) if image is not None else []
        if not found:
            continue
        made.tensors.append(model_input(image, found[0].landmarks, spec))
        made.sources.append(path)
    return made


def annotated_frames(data: Path = SHARED_DATA, limit: int = 120) -> list[tuple[Path, tuple[float, float, float, float]]]:
    """Frames with a ground-truth head box: FRMDB surveillance frames and Pointing'04 images."""
    out = []
    with open(data / "frmdb" / "manifest.csv", newline="") as f:
        for r in csv.DictReader(f):
            if r["kind"] == "surveillance_frame" and r["x"]:
                out.append((data / "frmdb" / r["path"], tuple(float(r[k]) for k in "xywh")))
    with open(data / "pointing04" / "manifest.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if abs(int(r["pan_deg"])) <= 45 and abs(int(r["tilt_deg"])) <= 30]
    for r in rows[:: max(1, len(rows) // (limit // 2))]:
        out.append((data / "pointing04" / r["path"],
                    tuple(float(r[k]) for k in ("bbox_x", "bbox_y", "bbox_w", "bbox_h"))))
    return out[:limit] if len(out) > limit else out
