"""True head pose from the dense mesh: weighted Procrustes (a similarity fit) of the face's points to
MediaPipe's canonical face model.

Angles follow the project's convention (``edge.vision.quality.FaceQuality``): yaw positive when the face
turns towards the image's left, pitch positive looking down, roll positive when the head tilts
clockwise in the image.  The rotation is ``R = Rz Ry Rx`` in the canonical frame (x to the viewer's
right, y up, z towards the camera).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .canonical import CanonicalFace


@dataclass(frozen=True)
class HeadPose:
    yaw: float
    pitch: float
    roll: float
    rotation: np.ndarray  # (3, 3): canonical frame -> camera frame (x right, y up, z towards the camera)
    scale: float  # image pixels per canonical unit (cm)
    translation: np.ndarray  # (3,) camera frame, pixels
    source: str = "mesh"


def to_camera_frame(points: np.ndarray) -> np.ndarray:
    """Image points (x right, y down, z towards the camera) -> (x right, y up, z towards the camera)."""
    return np.asarray(points, np.float64) * np.array([1.0, -1.0, 1.0])


def weighted_similarity(source: np.ndarray, target: np.ndarray, weights: np.ndarray
                        ) -> tuple[float, np.ndarray, np.ndarray]:
    """s, R, t minimising sum w |s R source + t - target|^2 (weighted Umeyama, proper rotation)."""
    w = np.asarray(weights, np.float64)
    w = w / w.sum()
    mu_s, mu_t = w @ source, w @ target
    s_c, t_c = source - mu_s, target - mu_t
    cov = (t_c * w[:, None]).T @ s_c
    u, sv, vt = np.linalg.svd(cov)
    d = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[2] = -1.0
    rotation = u @ np.diag(d) @ vt
    variance = float(w @ (s_c ** 2).sum(1))
    scale = float((sv * d).sum() / variance) if variance > 0 else 1.0
    return scale, rotation, mu_t - scale * rotation @ mu_s


def euler_angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in the project's convention from R = Rz(c) Ry(b) Rx(a)."""
    b = math.asin(max(-1.0, min(1.0, -rotation[2, 0])))
    a = math.atan2(rotation[2, 1], rotation[2, 2])
    c = math.atan2(rotation[1, 0], rotation[0, 0])
    return -math.degrees(b), math.degrees(a), -math.degrees(c)


def rotation_from_angles(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """The inverse of :func:`euler_angles`."""
    a, b, c = math.radians(pitch), math.radians(-yaw), math.radians(-roll)
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def procrustes_pose(points: np.ndarray, canonical: CanonicalFace, weights: np.ndarray | None = None) -> HeadPose:
    """Head pose of a mesh (468, 3) in image pixels, by weighted Procrustes to the canonical model."""
    target = to_camera_frame(points)
    w = canonical.procrustes_weights if weights is None else weights
    scale, rotation, translation = weighted_similarity(canonical.vertices.astype(np.float64), target, w)
    yaw, pitch, roll = euler_angles(rotation)
    return HeadPose(yaw, pitch, roll, rotation, scale, translation)
