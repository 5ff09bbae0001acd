"""MediaPipe's canonical face model: 468 vertices (cm, y up, z towards the viewer), UVs, 898 triangles,
the weighted Procrustes landmarks, and what the project derives from it (mirror partners, the five
points that match YuNet's landmarks)."""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..model_files import ModelError, manifest_model

MANIFEST_NAME = "face_mesh_canonical"

# Mesh vertices of YuNet's five points: eye centres (mean of each eye's contour), nose tip, mouth corners.
# The person's right eye is on the image's left, as in YuNet's order.
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
NOSE_TIP = 1
MOUTH_RIGHT, MOUTH_LEFT = 61, 291


@dataclass(frozen=True)
class CanonicalFace:
    vertices: np.ndarray  # (468, 3) float32
    uv: np.ndarray  # (468, 2) float32
    triangles: np.ndarray  # (898, 3) int32
    procrustes_weights: np.ndarray  # (468,) float32, zero outside MediaPipe's 33 rigid landmarks
    mirror: np.ndarray  # (468,) int32: the vertex at the mirrored position (x -> -x)

    def five_points(self, points: np.ndarray) -> np.ndarray:
        """YuNet's five landmarks from mesh points (N, 2 or 3), in YuNet's order."""
        return np.stack([points[list(RIGHT_EYE)].mean(0), points[list(LEFT_EYE)].mean(0),
                         points[NOSE_TIP], points[MOUTH_RIGHT], points[MOUTH_LEFT]])


def mirror_partners(vertices: np.ndarray) -> np.ndarray:
    """For each vertex, the nearest vertex to its mirror image across the x = 0 plane."""
    mirrored = vertices * np.float32([-1, 1, 1])
    distances = ((mirrored[:, None, :] - vertices[None, :, :]) ** 2).sum(-1)
    return distances.argmin(1).astype(np.int32)


def read_canonical(path: Path) -> CanonicalFace:
    try:
        data = json.loads(path.read_text())
        vertices = np.asarray(data["vertices"], np.float32)
        uv = np.asarray(data["uv"], np.float32)
        triangles = np.asarray(data["triangles"], np.int32)
        weights = np.zeros(len(vertices), np.float32)
        weights[np.asarray(data["procrustes_ids"], np.int64)] = np.asarray(data["procrustes_weights"], np.float32)
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise ModelError(f"mesh.canonical: {path} is not a canonical face model ({exc})") from None
    if vertices.shape != (468, 3) or triangles.ndim != 2 or triangles.shape[1] != 3:
        raise ModelError(f"mesh.canonical: {path} has {vertices.shape} vertices, expected (468, 3)")
    return CanonicalFace(vertices, uv, triangles, weights, mirror_partners(vertices))


@functools.lru_cache(maxsize=1)
def load_canonical(models_dir: Path | None = None) -> CanonicalFace:
    """The shipped canonical model, hash-checked against ``models/manifest.toml``."""
    if models_dir is None:
        from models import MODELS_DIR
        models_dir = MODELS_DIR
    path = manifest_model(Path(models_dir), MANIFEST_NAME, "mesh.canonical")
    if path is None:
        raise ModelError(f"mesh.canonical: {models_dir}/manifest.toml lists no '{MANIFEST_NAME}'")
    return read_canonical(path)
