"""Framing a side view like the mugshot: alignment by the landmarks a profile actually shows.

YuNet gives five landmarks on every face, but on a profile the far eye and the far mouth
corner are hidden (YuNet guesses them, squeezed against the nose), so the frontal five-point
alignment shrinks and shifts a side view.  Here the visible three (near eye, nose tip, near
mouth corner) are fitted to where a generic head turned by the measured yaw puts them in the
mugshot's frame, turning about the head's centre: the eyes land at the mugshot's eye height,
the face has the mugshot's scale, and the head (not the nose) sits in the middle.

``profile_landmarks`` returns five *virtual* landmarks in the image: where the frontal
template's points would lie for that framing.  Anything that aligns by five landmarks (the
generator's ``generate``, ``align_face`` for a crop) then frames the side view exactly so.
"""
from __future__ import annotations

import math

import numpy as np

from .align import TEMPLATE, similarity_transform, transform_points
from .quality import HEAD_MODEL, PROFILE_MIN_YAW

HEAD_CENTRE = np.float64([0.0, -10.0, 100.0])  # mm, from the nose tip: the head turns about this point
RIGHT, LEFT = (0, 3), (1, 4)  # the (eye, mouth corner) indices of each side, YuNet's order


def _turned(yaw_degrees: float) -> np.ndarray:
    """The generic head's 5 points turned by ``yaw_degrees`` about its centre, projected (orthographic), in
    the unit frontal template's frame (at yaw 0 they match ``TEMPLATE`` in least squares)."""
    t = math.radians(yaw_degrees)
    rotation = np.float64([[math.cos(t), 0.0, math.sin(t)], [0.0, 1.0, 0.0], [-math.sin(t), 0.0, math.cos(t)]])
    turned = (HEAD_MODEL - HEAD_CENTRE) @ rotation.T + HEAD_CENTRE
    to_template = similarity_transform(HEAD_MODEL[:, :2], TEMPLATE)
    return transform_points(turned[:, :2].astype(np.float32), to_template)


def visible_side(landmarks: np.ndarray) -> tuple[int, int]:
    """The (eye, mouth corner) indices of the side facing the camera: its eye lies farther from the nose."""
    nose = landmarks[2, 0]
    return LEFT if abs(landmarks[1, 0] - nose) >= abs(landmarks[0, 0] - nose) else RIGHT


def profile_landmarks(landmarks: np.ndarray, yaw: float) -> np.ndarray:
    """Five virtual landmarks (image coordinates) that frame this side view like the mugshot when aligned
    with the frontal template; fitted on the visible eye, the nose tip and the visible mouth corner."""
    landmarks = np.asarray(landmarks, np.float32)
    eye, mouth = visible_side(landmarks)
    seen = [eye, 2, mouth]
    turn = min(90.0, max(abs(yaw), 1.0))
    facing = math.copysign(1.0, landmarks[2, 0] - landmarks[eye, 0])  # the nose's side of the visible eye
    best = None
    for signed in (turn, -turn):  # the head model's turn whose nose lies on the same side of that eye
        target = _turned(signed)
        if math.copysign(1.0, target[2, 0] - target[eye, 0]) == facing:
            best = target
            break
    target = best if best is not None else _turned(turn)
    to_frame = similarity_transform(landmarks[seen], target[seen])  # image -> unit template frame
    back = np.vstack([to_frame, [0.0, 0.0, 1.0]])
    inverse = np.linalg.inv(back)[:2]
    return transform_points(TEMPLATE, inverse.astype(np.float32))


def framing_landmarks(landmarks: np.ndarray, yaw: float) -> np.ndarray:
    """The landmarks to align a shot by: its own five, or for a profile (|yaw| >= ``PROFILE_MIN_YAW``) the
    virtual five fitted on its visible landmarks (``profile_landmarks``)."""
    return profile_landmarks(landmarks, yaw) if abs(yaw) >= PROFILE_MIN_YAW else landmarks
