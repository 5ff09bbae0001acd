"""The mugshot generator: a restoration network, the aligned crop in, the same face as a clean mugshot out.

A generator model is an ONNX (or TFLite) file whose metadata says how it wants its input
(``ModelInputSpec``); the code reads that instead of assuming sizes or normalisation.  Its input is
the aligned crop alone: a model whose metadata asks for the frontalized face and its visibility map
(the 7-channel refiner, retired with ``generator.model = "frontalize"`` in favour of restoration: see
docs/results.md) is refused with one line.  ``NoGenerator`` passes the aligned crop through
(``generator.model = "none"``, no shipped student, or a face without an accepted face mesh under
``generator.crop_without_mesh``) and events say ``generator: none``.  Whatever a generator makes is
published at ``generator.output_size`` (:func:`publish_at`: upsampled when smaller, never downsampled).
"""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from .align import ModelInputSpec, align_face, from_tensor, to_tensor
from .model_files import ModelError, litert_interpreter, manifest_model, onnx_session, sha256_file

log = logging.getLogger(__name__)

DEFAULT_STUDENT = "student"  # names in models/manifest.toml
DEFAULT_STUDENT_INT8 = "student_int8"

# 128 -> 256 px on 29 frontal FRMDB faces, one run (python -m tools.generator.upsample_choice): bicubic PSNR
# 41.1 dB, SSIM 0.985, 0.86 of the truth's gradient energy, 0.11 ms; Lanczos-4 41.6 dB, 0.986, 0.86, but 1.7-2.0
# ms (an eighth of the 15 ms mugshot path); bilinear 38.4 dB, 0.979, blurred (0.70); nearest 35.4 dB,
# 0.965.  Bicubic: within 0.5 dB of the best at a 14th to a 19th of its cost (three runs).
UPSAMPLING = ("bicubic", cv2.INTER_CUBIC)


def publish_at(image: np.ndarray, size: int) -> tuple[np.ndarray, str]:
    """The mugshot as published at ``generator.output_size``: upsampled (``UPSAMPLING``) when it is smaller,
    as it is when it is that size or larger; with the interpolation used ("none" when not resized)."""
    if max(image.shape[:2]) >= size:
        return image, "none"
    return cv2.resize(image, (size, size), interpolation=UPSAMPLING[1]), UPSAMPLING[0]


class NoGenerator:
    name = "none"
    version = ""
    sha256 = ""
    spec = ModelInputSpec(size=256)

    def generate(self, patch: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        crop, _ = align_face(patch, landmarks, self.spec.size, self.spec.face_scale)
        return crop

    def describe(self) -> dict:
        return {"name": self.name}


def model_input(patch: np.ndarray, landmarks: np.ndarray, spec: ModelInputSpec) -> np.ndarray:
    """A generator's input as its spec says: the aligned crop, normalised, (1, 3, size, size)."""
    crop, _ = align_face(patch, landmarks, spec.size, spec.face_scale)
    return to_tensor(crop, spec)


class OnnxGenerator:
    def __init__(self, path: str | Path, threads: int = 1):
        self.path = Path(path)
        self.sha256 = sha256_file(self.path)
        self._session = onnx_session(self.path, threads)
        meta = self._session.get_modelmeta()
        try:
            self.spec = ModelInputSpec.from_metadata(meta.custom_metadata_map, f"generator.model: {self.path}")
        except ValueError as exc:
            raise ModelError(str(exc)) from None
        self.name = meta.custom_metadata_map.get("mugshot.name", self.path.stem)
        self.version = meta.custom_metadata_map.get("mugshot.version", str(meta.version))
        self._input = self._session.get_inputs()[0].name
        channels = self._session.get_inputs()[0].shape[1]
        if isinstance(channels, int) and channels != self.spec.channels:
            raise ModelError(f"generator.model: {self.path} takes {channels} input channels, but a generator takes the "
                             f"aligned crop alone ({self.spec.channels} channels; the 7-channel refiner was retired)")

    def generate(self, patch: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        output = self._session.run(None, {self._input: model_input(patch, landmarks, self.spec)})[0]
        return from_tensor(output, self.spec)[0]

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "sha256": self.sha256, "precision": self.precision}

    precision = "fp32"


def tflite_interpreter(path: str | Path, threads: int = 1):
    """A LiteRT interpreter for a generator (``model_files.litert_interpreter``)."""
    return litert_interpreter(path, threads, "generator.model")


def run_tflite(runner, x: np.ndarray) -> np.ndarray:
    """Run a signature runner on a float tensor; quantize/dequantize where the model's
    input/output are integer (full-integer INT8 models)."""
    (name, detail), = runner.get_input_details().items()
    scale, zero = detail.get("quantization", (0.0, 0))
    if np.issubdtype(detail["dtype"], np.integer) and scale:
        info = np.iinfo(detail["dtype"])
        x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(detail["dtype"])
    outputs = runner(**{name: x})
    (out_name, out_detail), = runner.get_output_details().items()
    y = outputs[out_name]
    scale, zero = out_detail.get("quantization", (0.0, 0))
    if np.issubdtype(out_detail["dtype"], np.integer) and scale:
        y = (y.astype(np.float32) - zero) * scale
    return y.astype(np.float32)


class TfliteGenerator:
    """A generator in TFLite form (XNNPACK on ARM, Coral); its spec is in ``<model>.json`` beside it."""

    def __init__(self, path: str | Path, threads: int = 1):
        self.path = Path(path)
        self.sha256 = sha256_file(self.path)
        sidecar = self.path.with_suffix(".json")
        if not sidecar.is_file():
            raise ModelError(f"generator.model: {sidecar} (the model's input spec) is missing")
        try:
            self.spec = ModelInputSpec.from_metadata({ModelInputSpec.METADATA_KEY: sidecar.read_text()},
                                                     f"generator.model: {self.path} ({sidecar.name})")
        except ValueError as exc:
            raise ModelError(str(exc)) from None
        self._runner = tflite_interpreter(self.path, threads).get_signature_runner()
        self.name, self.version = self.path.stem, ""
        self.precision = "int8" if "int8" in self.path.stem else "fp32"

    def generate(self, patch: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return from_tensor(run_tflite(self._runner, model_input(patch, landmarks, self.spec)), self.spec)[0]

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "sha256": self.sha256, "precision": self.precision,
                "runtime": "litert"}


def make_generator(model: str, threads: int, models_dir: Path, precision: str = "fp32",
                   int8_model: str = "") -> NoGenerator | OnnxGenerator | TfliteGenerator:
    from ..config.schema import RETIRED_GENERATORS
    from .precision import choose

    if model == "none":
        return NoGenerator()
    if model in RETIRED_GENERATORS:
        raise ModelError(f"generator.model: {RETIRED_GENERATORS[model]}")
    if model.endswith(".tflite"):
        return TfliteGenerator(model, threads)
    int8 = Path(int8_model) if int8_model else None
    if model == "auto":
        student = manifest_model(models_dir, DEFAULT_STUDENT, "generator.model")
        if student is None:
            log.info("no trained generator in %s: publishing aligned crops (generator: none)", models_dir)
            return NoGenerator()
        model = str(student)
        int8 = int8 or manifest_model(models_dir, DEFAULT_STUDENT_INT8, "generator.int8_model")
    fp32 = OnnxGenerator(model, threads)
    choice = choose(precision, Path(model), int8, (1, fp32.spec.channels, fp32.spec.size, fp32.spec.size),
                    "generator.precision", threads)
    if choice.precision == "fp32":
        return fp32
    generator = OnnxGenerator(choice.model, threads)
    generator.precision = "int8"
    return generator
