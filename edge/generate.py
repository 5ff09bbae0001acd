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
from .models import ModelError, onnx_session, sha256_file

log = logging.getLogger(__name__)

DEFAULT_STUDENT = "student.onnx"  # in models/, once the trainer ships one


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
        return {"name": self.name, "version": self.version, "sha256": self.sha256}


def make_generator(model: str, threads: int, models_dir: Path) -> NoGenerator | OnnxGenerator:
    if model == "none":
        return NoGenerator()
    if model == "auto":
        candidate = models_dir / DEFAULT_STUDENT
        if not candidate.is_file():
            log.info("no trained generator in %s: publishing aligned crops (generator: none)", models_dir)
            return NoGenerator()
        model = str(candidate)
    return OnnxGenerator(model, threads)
