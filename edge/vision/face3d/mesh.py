"""The dense face mesh: crop a YuNet detection the way MediaPipe's face-landmark network expects,
run the network, and map its 468 3-D points back to the image.

The crop is a square about the detection box's centre, ``CROP_SCALE`` times its larger side,
rotated upright by the eye line, resized to 192x192, RGB in 0..1.  Points come back as
(468, 3) float32 in image pixels: x right, y down, z towards the camera in the same pixel
units (MediaPipe's z grows away from the camera; it is negated here so the points form a
right-handed frame with the canonical model after flipping y).  A mesh is accepted only when
the network's face-presence score reaches ``min_presence``, its five points agree with YuNet's,
and the 5-point yaw estimate is within ``max_landmark_yaw``: a profile beyond the network's
range gets a confident mesh that fits the five points but reads the yaw 35-40° short
(``mugshot-train pose``).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..model_files import ModelError, litert_available, litert_interpreter, manifest_model, onnx_session, sha256_file
from ..quality import head_pose
from .canonical import CanonicalFace, load_canonical

log = logging.getLogger(__name__)

INPUT_SIZE = 192
CROP_SCALE = 1.5
MANIFEST_ONNX, MANIFEST_TFLITE = "face_mesh", "face_mesh_tflite"


@dataclass(frozen=True)
class FaceMesh:
    points: np.ndarray  # (468, 3) float32, image pixels; z towards the camera
    presence: float  # 0..1, the network's face-presence probability
    agreement: float  # mean distance of the mesh's five points to YuNet's, in shares of the box size
    accepted: bool = True  # presence and agreement passed the mesher's gates: a mesh the box may use

    def shifted(self, dx: float, dy: float) -> "FaceMesh":
        return FaceMesh(self.points - np.float32([dx, dy, 0.0]), self.presence, self.agreement, self.accepted)

    def five_points(self, canonical: CanonicalFace) -> np.ndarray:
        return canonical.five_points(self.points[:, :2])


def crop_matrix(box: tuple[float, float, float, float], landmarks: np.ndarray) -> np.ndarray:
    """2x3 matrix from image pixels to the 192x192 network input (square, enlarged, eyes level)."""
    x, y, w, h = box
    centre = (x + w / 2.0, y + h / 2.0)
    eyes = np.asarray(landmarks[1], np.float64) - np.asarray(landmarks[0], np.float64)
    angle = math.degrees(math.atan2(eyes[1], eyes[0]))
    side = max(w, h) * CROP_SCALE
    matrix = cv2.getRotationMatrix2D(centre, angle, INPUT_SIZE / side)
    matrix[:, 2] += np.array([INPUT_SIZE / 2.0 - centre[0], INPUT_SIZE / 2.0 - centre[1]])
    return matrix


class _OnnxRunner:
    runtime = "onnxruntime"

    def __init__(self, path: Path, threads: int):
        self.session = onnx_session(path, threads)

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        landmarks, presence = self.session.run(None, {"input": x})
        return landmarks.reshape(-1), float(presence.reshape(-1)[0])


class _LiteRtRunner:
    runtime = "litert"

    def __init__(self, path: Path, threads: int):
        self.interpreter = litert_interpreter(path, threads, "mesh")
        self.input = self.interpreter.get_input_details()[0]["index"]
        outputs = {d["name"]: d["index"] for d in self.interpreter.get_output_details()}
        self.landmarks, self.presence = outputs["conv2d_21"], outputs["conv2d_31"]

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        self.interpreter.set_tensor(self.input, x)
        self.interpreter.invoke()
        return (self.interpreter.get_tensor(self.landmarks).reshape(-1),
                float(self.interpreter.get_tensor(self.presence).reshape(-1)[0]))


class FaceMesher:
    def __init__(self, runner, canonical: CanonicalFace, sha256: str, min_presence: float = 0.5,
                 max_disagreement: float = 0.12, max_landmark_yaw: float = 60.0):
        self.runner = runner
        self.canonical = canonical
        self.sha256 = sha256
        self.min_presence = min_presence
        self.max_disagreement = max_disagreement
        self.max_landmark_yaw = max_landmark_yaw

    @property
    def runtime(self) -> str:
        return self.runner.runtime

    def describe(self) -> dict:
        return {"name": "mediapipe-face-landmark", "version": "0.10.21", "sha256": self.sha256,
                "runtime": self.runtime}

    @staticmethod
    def network_input(image: np.ndarray, box, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the network's input (1, 192, 192, 3) RGB 0..1, the 2x3 matrix from image pixels to it)."""
        matrix = crop_matrix(box, landmarks)
        crop = cv2.warpAffine(image, matrix, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        return cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32)[None] * np.float32(1 / 255.0), matrix

    def run(self, image: np.ndarray, box, landmarks: np.ndarray) -> FaceMesh:
        """The mesh whatever its presence, with ``accepted`` saying whether it passed the gates."""
        x, matrix = self.network_input(image, box, landmarks)
        flat, logit = self.runner(x)
        local = flat.reshape(-1, 3)
        inverse = cv2.invertAffineTransform(matrix)
        scale = math.hypot(matrix[0, 0], matrix[0, 1])
        points = np.empty_like(local)
        points[:, :2] = local[:, :2] @ inverse[:, :2].T + inverse[:, 2]
        points[:, 2] = -local[:, 2] / scale
        presence = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, logit))))
        five = self.canonical.five_points(points[:, :2])
        size = max(1.0, float(max(box[2], box[3])))
        agreement = float(np.linalg.norm(five - np.asarray(landmarks, np.float32), axis=1).mean() / size)
        landmark_yaw = head_pose(np.asarray(landmarks, np.float32), (image.shape[1], image.shape[0]))[0]
        accepted = (presence >= self.min_presence and agreement <= self.max_disagreement
                    and abs(landmark_yaw) <= self.max_landmark_yaw)
        return FaceMesh(points.astype(np.float32), presence, agreement, accepted)

    def mesh(self, image: np.ndarray, box, landmarks: np.ndarray) -> FaceMesh | None:
        """The face's mesh, or None when the network does not see a face there or disagrees with YuNet."""
        result = self.run(image, box, landmarks)
        return result if result.accepted else None


def make_mesher(runtime: str = "auto", threads: int = 1, models_dir: Path | None = None,
                min_presence: float = 0.5, max_disagreement: float = 0.12, max_landmark_yaw: float = 60.0
                ) -> FaceMesher:
    """The shipped face-landmark network on LiteRT (``auto`` when ai-edge-litert is installed: several
    times faster here) or onnxruntime (always installed), hash-checked."""
    if models_dir is None:
        from models import MODELS_DIR
        models_dir = MODELS_DIR
    models_dir = Path(models_dir)
    if runtime == "auto":
        runtime = "litert" if litert_available() else "onnxruntime"
    if runtime == "litert":
        if not litert_available():
            raise ModelError("mesh.runtime: 'litert' needs ai-edge-litert (pip install -e '.[tflite]')")
        path = manifest_model(models_dir, MANIFEST_TFLITE, "mesh.model")
        runner_cls = _LiteRtRunner
    elif runtime == "onnxruntime":
        path = manifest_model(models_dir, MANIFEST_ONNX, "mesh.model")
        runner_cls = _OnnxRunner
    else:
        raise ModelError(f"mesh.runtime: unknown runtime {runtime!r}")
    if path is None:
        raise ModelError(f"mesh.model: {models_dir}/manifest.toml lists no face-mesh model for {runtime}")
    return FaceMesher(runner_cls(path, threads), load_canonical(models_dir), sha256_file(path),
                      min_presence, max_disagreement, max_landmark_yaw)
