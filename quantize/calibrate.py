"""Calibration and evaluation inputs, made by exactly the edge preprocessing.

Detector: frames letterboxed by ``edge.detect.yunet.yunet_input``.  Generator: faces found
by the edge detector and aligned by ``edge.align`` with the spec stored in the model.
A folder may be the user's own pictures or frames saved by the daemon on the camera.
"""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
from onnxruntime.quantization import CalibrationDataReader

from edge.align import ModelInputSpec, align_face, to_tensor
from edge.detect.yunet import YuNetDetector, yunet_input

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


def aligned_faces(images: list[Path], spec: ModelInputSpec, detector: YuNetDetector | None = None) -> list[np.ndarray]:
    detector = detector or YuNetDetector(score_threshold=0.5)
    faces = []
    for path in images:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        found = detector.detect(image) if image is not None else []
        if found:
            faces.append(align_face(image, found[0].landmarks, spec.size, spec.face_scale)[0])
    return faces


def generator_tensors(faces: list[np.ndarray], spec: ModelInputSpec) -> list[np.ndarray]:
    return [to_tensor(face, spec) for face in faces]


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
