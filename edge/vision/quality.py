"""Face quality: size, sharpness, detector score, head pose, frame edge; and the best-shot score."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from .align import align_face

# A generic head in millimetres (x right in the image, y down, z away from the camera),
# for the 5 landmarks in YuNet's order; nose tip at the origin.
HEAD_MODEL = np.float64([
    [-32.0, -35.0, 28.0],  # right eye (image left)
    [32.0, -35.0, 28.0],  # left eye
    [0.0, 0.0, 0.0],  # nose tip
    [-24.0, 30.0, 22.0],  # right mouth corner
    [24.0, 30.0, 22.0],  # left mouth corner
])

SHARPNESS_SIZE = 96  # sharpness is measured on an aligned crop of this size, so sizes compare


@dataclass(frozen=True)
class FaceQuality:
    size: float  # shorter side of the box, pixels
    sharpness: float  # variance of the Laplacian on a fixed-size aligned crop
    score: float  # detector confidence
    yaw: float  # degrees, positive: the face turns towards the image's left
    pitch: float  # degrees, positive: looking down
    roll: float  # degrees, positive: the head tilts clockwise in the image
    at_edge: bool  # the box touches the frame border (face probably cut off)
    pose_source: str = "landmarks"  # "mesh": Procrustes of the dense face mesh; "landmarks": 5-point PnP fit
    mesh_presence: float = 0.0  # the face mesh's presence probability (0 when the mesh did not run)

    def as_dict(self) -> dict:
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def head_pose(landmarks: np.ndarray, frame_size: tuple[int, int]) -> tuple[float, float, float]:
    """Rough yaw, pitch, roll in degrees from the 5 landmarks (a generic-head PnP fit)."""
    w, h = frame_size
    focal = float(max(w, h))
    camera = np.float64([[focal, 0, w / 2], [0, focal, h / 2], [0, 0, 1]])
    ok, rvec, _ = cv2.solvePnP(HEAD_MODEL, landmarks.astype(np.float64), camera, None, flags=cv2.SOLVEPNP_EPNP)
    eyes = landmarks[1] - landmarks[0]
    roll = math.degrees(math.atan2(float(eyes[1]), float(eyes[0])))
    if not ok:
        return 0.0, 0.0, roll
    rotation, _ = cv2.Rodrigues(rvec)
    # rotation maps head coordinates to camera coordinates; read yaw (about y) and pitch (about x)
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, -rotation[2, 0]))))
    pitch = math.degrees(math.atan2(rotation[2, 1], rotation[2, 2]))
    return yaw, pitch, roll


def measure(image: np.ndarray, box: tuple[float, float, float, float], landmarks: np.ndarray,
            score: float, mesh_pose: tuple[float, float, float] | None = None,
            mesh_presence: float = 0.0) -> FaceQuality:
    """Quality of one detection; ``mesh_pose`` (yaw, pitch, roll from the face mesh) replaces the
    5-point estimate where the mesh is present."""
    h, w = image.shape[:2]
    x, y, bw, bh = box
    crop, _ = align_face(image, landmarks, SHARPNESS_SIZE, soft_edges=False)  # measuring
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    sharpness = float(cv2.Laplacian(gray, cv2.CV_32F).var())
    yaw, pitch, roll = mesh_pose if mesh_pose is not None else head_pose(landmarks, (w, h))
    at_edge = x <= 2 or y <= 2 or x + bw >= w - 2 or y + bh >= h - 2
    return FaceQuality(min(bw, bh), sharpness, score, yaw, pitch, roll, at_edge,
                       "mesh" if mesh_pose is not None else "landmarks", mesh_presence)


# The view a shot shows, from the box's head pose (|yaw| in degrees; the mesh pose where the mesh was
# accepted, else the 5-point fit).  FRONTAL_MAX_YAW: below it the face reads as a frontal photograph (both
# eyes and cheeks, the nose inside the cheek line).  PROFILE_MIN_YAW: from it on the far eye is hidden and
# the nose breaks the cheek line (a side view); it is also mesh.max_landmark_yaw, beyond which the mesh is
# refused.  Between: three-quarter.  On FRMDB's studio rig (10 held-out people, docs/architecture.md) the
# box reads camera 0° as 2-18°, ±45° as 28-50° (one 64°) and ±90° mostly as 63-87°.
FRONTAL_MAX_YAW = 20.0
PROFILE_MIN_YAW = 60.0
VIEWS = ("frontal", "three-quarter", "profile")  # from the most to the least frontal
PROFILE_MIN_SIZE = 40.0  # pixels (the box's shorter side): a smaller side view shows no usable ear or profile


def view_of(yaw: float) -> str:
    """``"frontal"`` (|yaw| < 20°), ``"three-quarter"`` or ``"profile"`` (|yaw| >= 60°)."""
    turn = abs(yaw)
    return "frontal" if turn < FRONTAL_MAX_YAW else ("profile" if turn >= PROFILE_MIN_YAW else "three-quarter")


def frontality(yaw: float, pitch: float) -> float:
    """How frontal a head pose is, 0..1: cos²(yaw)·cos(pitch).  Yaw counts twice because a turned face
    loses its far half (a 30° turn scores 0.75, 45° 0.5, 60° 0.25), a nod only foreshortens it."""
    return max(0.0, math.cos(math.radians(yaw))) ** 2 * max(0.0, math.cos(math.radians(pitch)))


def _base_score(q: FaceQuality, ideal_size: float, ideal_sharpness: float) -> float:
    size = min(1.0, q.size / ideal_size) ** 0.5
    sharp = min(1.0, math.log1p(q.sharpness) / math.log1p(ideal_sharpness))
    return q.score * size * sharp


def shot_score(q: FaceQuality, ideal_size: float = 160.0, ideal_sharpness: float = 400.0) -> float:
    """How good a shot is for a mugshot, 0..1: detector confidence × size × sharpness × frontality × edge.
    Frontality (``frontality``) is the term that makes the least-turned sharp shot win: among shots of equal
    size and sharpness a 20° turn keeps 88% of a frontal shot's score, 45° only half."""
    edge = 0.5 if q.at_edge else 1.0
    return _base_score(q, ideal_size, ideal_sharpness) * frontality(q.yaw, q.pitch) * edge


def profile_score(q: FaceQuality, ideal_size: float = 160.0, ideal_sharpness: float = 400.0) -> float:
    """How good a shot is as the track's profile (side) view, 0..1; 0 for a shot that is no profile:
    |yaw| below ``PROFILE_MIN_YAW``, smaller than ``PROFILE_MIN_SIZE`` or touching the frame edge.  Among
    profiles, confidence × size × sharpness × sin²(yaw) (the nearer a true 90° side view, the better)."""
    if abs(q.yaw) < PROFILE_MIN_YAW or q.size < PROFILE_MIN_SIZE or q.at_edge:
        return 0.0
    side = math.sin(math.radians(min(90.0, abs(q.yaw)))) ** 2
    return _base_score(q, ideal_size, ideal_sharpness) * side
