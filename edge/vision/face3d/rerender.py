"""Rotate-and-Render (Zhou et al., CVPR 2020) from one photo and its mesh: turn the face to another
pose and render it in the photo's own frame, then turn it back and render again.

The once-rendered view is a synthetic angled photo of the person; the twice-rendered one carries
the artefacts of rendering from a partial view (stretched texture, mirrored fill of what the
turned view hid), the same artefacts the box's frontalizer shows, with the original photo as
the clean target.  Rendered faces are pasted onto the photo (hair, background and everything
outside the mesh stay), each with the mask of where the face was drawn.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .canonical import CanonicalFace
from .frontalize import Frontalized, render_view
from .pose import HeadPose, rotation_from_angles, to_camera_frame


@dataclass(frozen=True)
class RotatedPair:
    rotated: np.ndarray  # the photo with the face turned by (yaw, pitch), BGR uint8
    rotated_points: np.ndarray  # (468, 3) the turned mesh in that image
    rendered: Frontalized  # the turned face alone (visibility: how much of it the photo showed)
    twice: np.ndarray  # turned back and rendered again onto the photo: the network's input, the photo its target
    twice_rendered: Frontalized


def turned_mesh(points: np.ndarray, pose: HeadPose, yaw: float, pitch: float = 0.0) -> np.ndarray:
    """The mesh turned by ``yaw`` and ``pitch`` more (degrees, the project's convention) about the head's own
    centre, in the same image pixels."""
    delta = pose.rotation @ rotation_from_angles(yaw, pitch, 0.0) @ pose.rotation.T
    camera = to_camera_frame(points)
    turned = (camera - pose.translation) @ delta.T + pose.translation
    return (turned * np.array([1.0, -1.0, 1.0])).astype(np.float32)


def _paste(photo: np.ndarray, view: Frontalized) -> np.ndarray:
    alpha = cv2.GaussianBlur(view.inside.astype(np.float32), (5, 5), 0)[..., None]
    return np.clip(alpha * view.image + (1.0 - alpha) * photo + 0.5, 0, 255).astype(np.uint8)


def rotate_and_render(photo: np.ndarray, points: np.ndarray, pose: HeadPose, canonical: CanonicalFace,
                      yaw: float, pitch: float = 0.0) -> RotatedPair:
    shape = photo.shape[:2]
    turned = turned_mesh(points, pose, yaw, pitch)
    rendered = render_view(photo, points, turned[:, :2], turned[:, 2], shape, canonical)
    rotated = _paste(photo, rendered)
    back = render_view(rotated, turned, points[:, :2], points[:, 2], shape, canonical)
    return RotatedPair(rotated, turned, rendered, _paste(photo, back), back)
