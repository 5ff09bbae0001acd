"""The refiner's extra inputs, made by the box's own code: `mugshot-train prepare --geometry`.

For every cached view the face is found by YuNet (as prepare already does), meshed by the box's
``FaceMesher`` (its gates decide whether the mesh is accepted), posed by ``procrustes_pose`` and
frontalized by ``FrontalRenderer`` at the cache's size and face scale: what
``edge.vision.generate.ModelInput`` renders from a shot's mesh.  Without an accepted mesh the frontal
channels are empty and the visibility map zero, as on the box.

Rotate-and-Render pairs (Zhou et al., CVPR 2020; ``edge.vision.face3d.rerender``): a near-frontal photo of
a training person with an accepted mesh, its face turned by a yaw and rendered (the *turned* view),
and turned back and rendered again (the *twice*-rendered view).  Each rendered picture goes through
the same path as a camera view (YuNet, mesh, pose, frontalizer, aligned crop) and becomes an input
whose target is the photo's own aligned crop.  Only each person's frontal photo and the views within
10 degrees of its pose are sources, so every target is a frontal face.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import numpy as np

from edge.vision.align import ModelInputSpec, align_face

log = logging.getLogger(__name__)

GEOMETRY_VERSION = 1
ROTATE_YAWS = (-45.0, -25.0, 25.0, 45.0)  # default turns of a source photo, degrees
# a view is a source when its mesh yaw and pitch are within this many degrees of its person's frontal photo's
# (the frontality bound; relative, because the mesh reads FRMDB's frontals at +4..+11 degrees of yaw)
ROTATE_MAX_SOURCE_POSE = 10.0
ROTATED, RERENDERED = "rotated", "rerendered"  # the cache's kinds of the two Rotate-and-Render inputs


@dataclass
class ViewGeometry:
    crop: np.ndarray  # (S, S, 3) uint8 aligned crop
    frontal: np.ndarray | None  # (S, S, 3) uint8 frontalized face, None without an accepted mesh
    visibility: np.ndarray | None  # (S, S) float32 0..1
    mesh: object | None  # the accepted edge.vision.face3d.FaceMesh
    pose: object | None  # its edge.vision.face3d.HeadPose


class BoxGeometry:
    """Aligned crop + frontalized face + visibility of a detected face, as the box computes them."""

    def __init__(self, spec: ModelInputSpec, mesher=None):
        from edge.vision.face3d import FrontalRenderer, make_mesher

        self.spec = spec
        self.mesher = mesher if mesher is not None else make_mesher()
        self.renderer = FrontalRenderer(self.mesher.canonical, spec.size, spec.face_scale)

    def describe(self) -> str:
        return json.dumps({"version": GEOMETRY_VERSION, "mesh": self.mesher.describe(),
                           "min_presence": self.mesher.min_presence, "max_disagreement": self.mesher.max_disagreement,
                           "max_landmark_yaw": self.mesher.max_landmark_yaw})

    def of(self, image: np.ndarray, face) -> ViewGeometry:
        """``face``: a YuNet detection in ``image`` (box, landmarks)."""
        from edge.vision.face3d import procrustes_pose

        crop = align_face(image, face.landmarks, self.spec.size, self.spec.face_scale)[0]
        mesh = self.mesher.run(image, face.box, face.landmarks)
        if not mesh.accepted:
            return ViewGeometry(crop, None, None, None, None)
        pose = procrustes_pose(mesh.points, self.mesher.canonical)
        frontal = self.renderer.render(image, mesh.points, pose)
        return ViewGeometry(crop, frontal.image, frontal.visibility, mesh, pose)


def near_face(detector, image: np.ndarray, box) -> object | None:
    """The detection in ``image`` nearest the centre of ``box`` (a rendered picture keeps its face
    where the photo had it)."""
    faces = detector.detect(image)
    if not faces:
        return None
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return min(faces, key=lambda f: (f.box[0] + f.box[2] / 2 - cx) ** 2 + (f.box[1] + f.box[3] / 2 - cy) ** 2)


def rotated_views(geometry: BoxGeometry, detector, image: np.ndarray, face, source: ViewGeometry,
                  yaws: tuple[float, ...]) -> list[tuple[str, float, np.ndarray, object, ViewGeometry]]:
    """(kind, yaw, the rendered picture, YuNet's face in it, its geometry) for each turn of a source photo whose mesh was
    accepted; a rendered picture in which YuNet finds no face is left out."""
    from edge.vision.face3d.rerender import rotate_and_render

    made = []
    for yaw in yaws:
        pair = rotate_and_render(image, source.mesh.points, source.pose, geometry.mesher.canonical, yaw)
        for kind, picture in ((ROTATED, pair.rotated), (RERENDERED, pair.twice)):
            found = near_face(detector, picture, face.box)
            if found is not None:
                made.append((kind, float(yaw), picture, found, geometry.of(picture, found)))
    return made


def is_rotation_source(view: ViewGeometry, frontal=None, max_pose: float = ROTATE_MAX_SOURCE_POSE) -> bool:
    """A photo with an accepted mesh and a frontal target: the person's frontal itself (``frontal`` None),
    or a view whose mesh pose is within ``max_pose`` of that frontal's (``frontal``: its HeadPose, or
    False when the frontal has no mesh to compare with)."""
    if view.pose is None or frontal is False:
        return False
    if frontal is None:
        return True
    return abs(view.pose.yaw - frontal.yaw) <= max_pose and abs(view.pose.pitch - frontal.pitch) <= max_pose


class GeometryColumns:
    """The cache's geometry arrays, one row per input view."""

    def __init__(self, size: int):
        self.size = size
        self.frontals: list[np.ndarray] = []
        self.visibility: list[np.ndarray] = []
        self.has_mesh: list[bool] = []
        self.mesh_yaws: list[float] = []
        self.turns: list[float] = []

    def add(self, view: ViewGeometry, turn: float = float("nan")) -> None:
        s = self.size
        self.frontals.append(view.frontal if view.frontal is not None else np.zeros((s, s, 3), np.uint8))
        self.visibility.append(view.visibility if view.visibility is not None else np.zeros((s, s), np.float32))
        self.has_mesh.append(view.frontal is not None)
        self.mesh_yaws.append(view.pose.yaw if view.pose is not None else float("nan"))
        self.turns.append(turn)

    def arrays(self, description: str) -> dict[str, np.ndarray]:
        s = self.size
        return {"view_frontals": np.asarray(self.frontals, np.uint8).reshape(-1, s, s, 3),
                # float16: the renderer's 0..1 map to ~5e-4, what the box feeds as float32
                "view_visibility": np.asarray(self.visibility, np.float16).reshape(-1, s, s),
                "has_mesh": np.asarray(self.has_mesh, bool), "mesh_yaws": np.asarray(self.mesh_yaws, np.float32),
                "turns": np.asarray(self.turns, np.float32), "geometry": np.asarray(description)}
