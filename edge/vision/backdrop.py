"""The optional plain backdrop of the published picture: a person mask from MediaPipe's selfie
segmentation (``models/selfie_segmentation.tflite`` on LiteRT when ai-edge-litert is installed, else its
conversion ``selfie_segmentation.onnx`` on onnxruntime: the same mask within 2e-5), feathered, and the
picture composited onto one flat colour.

It is applied to the published mugshot and profile picture only, never to the event's crop (the
camera's evidence).  The mask's edge is tightened and softened before compositing: the network's raw
edge runs a few pixels into the old background, which leaves a dark halo on a light backdrop.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import cv2
import numpy as np

from .model_files import ModelError, litert_available, litert_interpreter, manifest_model, onnx_session, sha256_file

log = logging.getLogger(__name__)

INPUT_SIZE = 256
MANIFEST_ONNX, MANIFEST_TFLITE = "selfie_segmentation", "selfie_segmentation_tflite"
# the mask's edge: the network's probability steepened about THRESHOLD (0.3 keeps more of dark hair over a dark
# background than 0.5 without keeping more of the background; 0.15 keeps curtain, looked at on FRMDB validation
# people), pulled in by ERODE and blurred over FEATHER (shares of the picture's side; a wider feather smudges)
THRESHOLD = 0.3
ERODE = 0.010
FEATHER = 0.004
_HEX = re.compile(r"#?([0-9a-fA-F]{6})")


def parse_colour(text: str) -> tuple[int, int, int]:
    """``#rrggbb`` -> (b, g, r) as OpenCV stores pixels; ValueError for anything else."""
    match = _HEX.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"expected a colour as #rrggbb, got {text!r}")
    value = int(match.group(1), 16)
    return value & 0xFF, (value >> 8) & 0xFF, value >> 16


class _OnnxSegmenter:
    runtime = "onnxruntime"

    def __init__(self, path: Path, threads: int):
        self.session = onnx_session(path, threads)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"input": x})[0].reshape(INPUT_SIZE, INPUT_SIZE)


class _LiteRtSegmenter:
    runtime = "litert"

    def __init__(self, path: Path, threads: int):
        self.interpreter = litert_interpreter(path, threads, "generator.backdrop")
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.input, x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output)[0, :, :, 0]


class Backdrop:
    def __init__(self, segmenter, colour: tuple[int, int, int], sha256: str):
        self.segmenter = segmenter
        self.colour = np.array(colour, np.float32)
        self.sha256 = sha256

    def describe(self) -> dict:
        return {"name": "mediapipe-selfie-segmentation", "version": "0.10.21", "sha256": self.sha256,
                "runtime": self.segmenter.runtime}

    def raw_mask(self, image: np.ndarray) -> np.ndarray:
        """The network's person probability (H, W) float32 0..1 for a BGR picture, at its size."""
        rgb = cv2.cvtColor(cv2.resize(image, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA),
                           cv2.COLOR_BGR2RGB)
        prob = self.segmenter(rgb.astype(np.float32)[None] * np.float32(1 / 255.0))
        return cv2.resize(np.clip(prob, 0, 1), (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)

    def mask(self, image: np.ndarray) -> np.ndarray:
        """The feathered person mask (H, W) float32 0..1: the raw edge tightened and softened."""
        prob = self.raw_mask(image)
        side = max(image.shape[:2])
        hard = np.clip((prob - THRESHOLD) * 4.0 + 0.5, 0.0, 1.0)  # a steeper edge than the network's
        erode = max(1, round(ERODE * side))
        hard = cv2.erode(hard, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode + 1, 2 * erode + 1)))
        sigma = max(0.5, FEATHER * side)
        return cv2.GaussianBlur(hard, (0, 0), sigma)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The picture with everything but the person replaced by the backdrop colour (same size, uint8)."""
        alpha = self.mask(image)[..., None]
        out = image.astype(np.float32) * alpha + self.colour * (1.0 - alpha)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def make_backdrop(colour: str = "#e0e0e0", threads: int = 1, models_dir: Path | None = None,
                  runtime: str = "auto") -> Backdrop:
    """The shipped segmentation model, hash-checked, compositing onto ``colour``: on LiteRT (``auto`` when
    ai-edge-litert is installed) or onnxruntime (always installed)."""
    if models_dir is None:
        from models import MODELS_DIR
        models_dir = MODELS_DIR
    models_dir = Path(models_dir)
    try:
        bgr = parse_colour(colour)
    except ValueError as exc:
        raise ModelError(f"generator.backdrop_colour: {exc}") from None
    if runtime == "auto":
        runtime = "litert" if litert_available() else "onnxruntime"
    if runtime == "litert":
        if not litert_available():
            raise ModelError("generator.backdrop: runtime 'litert' needs ai-edge-litert: install the tflite extra")
        name, runner = MANIFEST_TFLITE, _LiteRtSegmenter
    elif runtime == "onnxruntime":
        name, runner = MANIFEST_ONNX, _OnnxSegmenter
    else:
        raise ModelError(f"generator.backdrop: unknown runtime {runtime!r}")
    path = manifest_model(models_dir, name, "generator.backdrop")
    if path is None:
        raise ModelError(f"generator.backdrop: {models_dir}/manifest.toml lists no {name} model")
    return Backdrop(runner(path, threads), bgr, sha256_file(path))
