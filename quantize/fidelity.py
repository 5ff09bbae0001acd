"""Does the INT8 model still work?  Measured against the FP32 model on real faces and frames."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.vision.align import ModelInputSpec, from_tensor
from edge.vision.detect.base import iou
from edge.vision.detect.yunet import YuNetDetector
from edge.vision.metrics import psnr, ssim
from edge.vision.model_files import onnx_session

from .calibrate import GeneratorInputs


HEAD_SCALE = 1.8  # the annotations are loose head boxes, about twice the face box (median 1.97 here)


def head_box(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    x, y, w, h = box
    side = HEAD_SCALE * max(w, h)
    return (x + w / 2 - side / 2, y + h / 2 - side / 2, side, side)


def detector_fidelity(fp32: Path, int8: Path, frames: list[tuple[Path, tuple]], width: int, height: int) -> dict:
    """Recall and precision at IoU 0.5 against the annotated head boxes for both models (a face box
    is turned into a head box first), INT8's agreement with FP32 at IoU 0.5, and the largest
    landmark displacement of INT8 against FP32 on the faces both find."""
    models = {"fp32": YuNetDetector(fp32, input_width=width, input_height=height, score_threshold=0.6),
              "int8": YuNetDetector(int8, input_width=width, input_height=height, score_threshold=0.6)}
    stats = {name: {"tp": 0, "detections": 0} for name in models}
    displacement = 0.0
    agree = {"fp32": 0, "int8": 0, "matched": 0}
    for path, truth in frames:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        found = {name: model.detect(image) for name, model in models.items()}
        for name, faces in found.items():
            stats[name]["detections"] += len(faces)
            stats[name]["tp"] += int(any(iou(head_box(f.box), truth) >= 0.5 for f in faces))
        agree["fp32"] += len(found["fp32"])
        agree["int8"] += len(found["int8"])
        for face in found["fp32"]:
            match = max(found["int8"], key=lambda f: iou(f.box, face.box), default=None)
            if match is not None and iou(match.box, face.box) >= 0.5:
                agree["matched"] += 1
                shift = float(np.abs(match.landmarks - face.landmarks).max()) / max(face.box[2], 1.0)
                displacement = max(displacement, shift)
    result = {"frames": len(frames)}
    for name, s in stats.items():
        result[f"{name}_recall"] = s["tp"] / max(len(frames), 1)
        result[f"{name}_precision"] = s["tp"] / max(s["detections"], 1)
    result["int8_vs_fp32_recall"] = agree["matched"] / max(agree["fp32"], 1)
    result["int8_vs_fp32_precision"] = agree["matched"] / max(agree["int8"], 1)
    result["max_landmark_shift"] = displacement  # as a fraction of the face width
    result["recall_drop"] = result["fp32_recall"] - result["int8_recall"]
    result["precision_drop"] = result["fp32_precision"] - result["int8_precision"]
    return result


def run_generator(path: Path, tensors: list[np.ndarray], spec: ModelInputSpec) -> list[np.ndarray]:
    session = onnx_session(path, threads=2)
    name = session.get_inputs()[0].name
    return [from_tensor(session.run(None, {name: x})[0], spec)[0] for x in tensors]


def _mean_psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return float(np.mean([psnr(x, y) for x, y in zip(a, b)])) if a else float("nan")


def generator_fidelity(fp32: Path, int8: Path, inputs: GeneratorInputs, spec: ModelInputSpec,
                       identity: bool = False) -> dict:
    """PSNR/SSIM of INT8 output against FP32 output on the box's inputs (``calibrate.generator_inputs``),
    and (optionally) how often the dlib identity of the INT8 output agrees with that of the FP32 output."""
    a, b = run_generator(fp32, inputs.tensors, spec), run_generator(int8, inputs.tensors, spec)
    result = {"faces": len(a), "psnr": _mean_psnr(a, b),
              "ssim": float(np.mean([ssim(x, y) for x, y in zip(a, b)])) if a else float("nan")}
    result["ssim_drop"] = 1.0 - result["ssim"]
    if identity and a:
        from edge.vision.metrics import DlibIdentity
        embed = DlibIdentity(spec).embed
        ea, eb = embed(np.stack(a)), embed(np.stack(b))
        result["identity_distance_mean"] = float(np.linalg.norm(ea - eb, axis=1).mean())
        result["identity_same_person"] = float(np.mean(np.linalg.norm(ea - eb, axis=1) < 0.6))
    return result
