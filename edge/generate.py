"""The mugshot generator: an aligned, often angled face in, a frontal mugshot out.

A generator model is an ONNX file whose metadata says how it wants its input
(``ModelInputSpec``); the code reads that instead of assuming sizes or normalisation.
Until a trained model is configured, ``NoGenerator`` passes the aligned crop through
and events say ``generator: none``.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .align import ModelInputSpec, align_face, from_tensor, to_tensor
from .models import ModelError, manifest_model, onnx_session, sha256_file

log = logging.getLogger(__name__)

DEFAULT_STUDENT = "student"  # names in models/manifest.toml
DEFAULT_STUDENT_INT8 = "student_int8"


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

    def generate(self, patch: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        crop, _ = align_face(patch, landmarks, self.spec.size, self.spec.face_scale)
        output = self._session.run(None, {self._input: to_tensor(crop, self.spec)})[0]
        return from_tensor(output, self.spec)[0]

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "sha256": self.sha256, "precision": self.precision}

    precision = "fp32"


def make_generator(model: str, threads: int, models_dir: Path, precision: str = "fp32",
                   int8_model: str = "") -> NoGenerator | OnnxGenerator:
    from .precision import choose

    if model == "none":
        return NoGenerator()
    int8 = Path(int8_model) if int8_model else None
    if model == "auto":
        student = manifest_model(models_dir, DEFAULT_STUDENT, "generator.model")
        if student is None:
            log.info("no trained generator in %s: publishing aligned crops (generator: none)", models_dir)
            return NoGenerator()
        model = str(student)
        int8 = int8 or manifest_model(models_dir, DEFAULT_STUDENT_INT8, "generator.int8_model")
    fp32 = OnnxGenerator(model, threads)
    choice = choose(precision, Path(model), int8, (1, 3, fp32.spec.size, fp32.spec.size), "generator.precision",
                    threads)
    if choice.precision == "fp32":
        return fp32
    generator = OnnxGenerator(choice.model, threads)
    generator.precision = "int8"
    return generator
