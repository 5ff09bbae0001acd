"""The frontalizing renderer: the face's own mesh turned to frontal and textured from the photo.

1. The mesh (image pixels) is brought into the canonical frame by the inverse of its Procrustes pose:
   the person's own shape, frontal.  It is projected (orthographically) into the same mugshot frame
   as ``edge.vision.align`` (the five points fitted to the template at ``size`` and ``face_scale``).
2. Each output pixel takes its triangle from a depth-ordered rasterisation (a z-buffer at triangle
   granularity: nearer triangles are drawn last, so a hidden triangle never paints over a visible
   one) and its place in the photo from that triangle's barycentric coordinates.
3. Visibility per vertex in the photo: the normal's component towards the camera (full from 60° on
   towards the camera, so only strongly foreshortened parts take the mirror's texture), times a depth
   test against the photo's own z-buffer (a vertex behind a nearer part of the face, such as the
   far cheek behind the nose, is hidden).  Per pixel it is interpolated like the texture.
4. Soft symmetry: a pixel is ``v * own + (1 - v) * v' * mirrored``, normalised, where the mirrored
   sample is the same barycentric point on the mirror-partner vertices (the other side of the face)
   and ``v'`` its visibility (where neither was seen, the own sample).  The visibility map says how
   much of each pixel was seen, own or mirrored; outside the mesh (hair, ears, neck) the image
   holds ``fill`` and the map is 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..align import MUGSHOT_FACE_SCALE, canonical_points, similarity_transform
from .canonical import CanonicalFace
from .pose import HeadPose, to_camera_frame

SUBPIXEL_BITS = 4  # fixed-point precision of the rasteriser
ZBUFFER_SIZE = 128.0  # the photo's z-buffer, pixels across the face
FACING_FULL = 0.5  # a surface turned less than 60° from the camera (cos 60° = 0.5) counts as fully seen
OWN_FLOOR = 1e-3  # weight of the own sample where neither side was seen


@dataclass(frozen=True)
class Frontalized:
    image: np.ndarray  # (size, size, 3) uint8 BGR, frontal face; ``fill`` outside the mesh
    visibility: np.ndarray  # (size, size) float32 0..1: share of the pixel seen in the photo (own or mirrored side)
    inside: np.ndarray  # (size, size) bool: covered by the face mesh
    source: np.ndarray  # (size, size, 2) float32: where each pixel was sampled in the photo (-1 outside)


def rasterize(points: np.ndarray, depth: np.ndarray, triangles: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Triangle index per pixel (-1 where none): triangles drawn far to near, so the nearest wins.

    ``points`` (N, 2) in pixels, ``depth`` (N,) larger = nearer the viewer.
    """
    ids = np.zeros(shape, np.int32)  # 0: background, k + 1: triangle k
    order = np.argsort(depth[triangles].mean(1), kind="stable")
    fixed = np.round(points * (1 << SUBPIXEL_BITS)).astype(np.int32)
    fill = cv2.fillConvexPoly
    for corners, value in zip(list(fixed[triangles[order]]), (order + 1).tolist()):
        fill(ids, corners, value, cv2.LINE_8, SUBPIXEL_BITS)
    return ids - 1


def barycentric(points: np.ndarray, triangles: np.ndarray, which: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """(P, 3) barycentric coordinates of ``xy`` (P, 2) in triangles ``which`` (P,) of the mesh ``points``."""
    corners = points[triangles[which]]  # (P, 3, 2)
    a, e1, e2 = corners[:, 0], corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    d = xy - a
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    det = np.where(np.abs(det) < 1e-12, 1e-12, det)
    l1 = (d[:, 0] * e2[:, 1] - d[:, 1] * e2[:, 0]) / det
    l2 = (e1[:, 0] * d[:, 1] - e1[:, 1] * d[:, 0]) / det
    return np.stack([1.0 - l1 - l2, l1, l2], 1)


def vertex_visibility(points: np.ndarray, canonical: CanonicalFace, shape: tuple[int, int],
                      tolerance: float) -> np.ndarray:
    """0..1 per vertex: facing the camera in the photo, and not behind a nearer part of the face."""
    camera = to_camera_frame(points)
    tri = canonical.triangles
    normals = np.cross(camera[tri[:, 1]] - camera[tri[:, 0]], camera[tri[:, 2]] - camera[tri[:, 0]])
    if _winding(canonical) < 0:
        normals = -normals
    corners = tri.ravel()
    repeated = np.repeat(normals, 3, axis=0)
    vertex_normals = np.stack([np.bincount(corners, repeated[:, d], minlength=len(camera)) for d in range(3)], 1)
    vertex_normals /= np.maximum(np.linalg.norm(vertex_normals, axis=1, keepdims=True), 1e-9)
    facing = np.clip(vertex_normals[:, 2] / FACING_FULL, 0.0, 1.0)

    # depth test against the photo's own z-buffer, drawn at about ZBUFFER_SIZE px across the face for speed
    xy, z = points[:, :2].astype(np.float64), points[:, 2].astype(np.float64)
    origin = xy.min(0) - 2
    scale = ZBUFFER_SIZE / max(1.0, float((xy.max(0) - xy.min(0)).max()))
    local = (xy - origin) * scale
    grid = (int(local[:, 1].max()) + 3, int(local[:, 0].max()) + 3)
    ids = np.full(grid, -1, np.int32)
    front_facing = np.flatnonzero(normals[:, 2] > 0)  # only these can be the nearest surface seen
    if len(front_facing):
        ids_front = rasterize(local, z, tri[front_facing], grid)
        ids = np.where(ids_front >= 0, front_facing[np.maximum(ids_front, 0)], -1)
    px = np.clip(np.round(local).astype(int), 0, [grid[1] - 1, grid[0] - 1])
    front = ids[px[:, 1], px[:, 0]]
    bary = barycentric(local, tri, np.maximum(front, 0), local)
    front_depth = (bary * z[tri[np.maximum(front, 0)]]).sum(1)
    unoccluded = (front < 0) | (z >= front_depth - tolerance)
    return (facing * unoccluded).astype(np.float32)


_WINDING: dict[int, float] = {}


def _winding(canonical: CanonicalFace) -> float:
    """+1 when the canonical triangles wind counter-clockwise seen from the front (normals towards +z)."""
    key = id(canonical)
    if key not in _WINDING:
        v, tri = canonical.vertices.astype(np.float64), canonical.triangles
        n = np.cross(v[tri[:, 1]] - v[tri[:, 0]], v[tri[:, 2]] - v[tri[:, 0]])
        _WINDING[key] = 1.0 if (n[:, 2] > 0).sum() >= len(tri) / 2 else -1.0
    return _WINDING[key]


def render_view(image: np.ndarray, points: np.ndarray, dest: np.ndarray, depth: np.ndarray,
                shape: tuple[int, int], canonical: CanonicalFace, fill: int = 128,
                pixels: np.ndarray | None = None) -> Frontalized:
    """The face textured from ``image`` (where its mesh is ``points``) drawn where the same mesh lies at
    ``dest`` (N, 2 output pixels) with ``depth`` (larger = nearer), in an output of ``shape``."""
    h, w = shape
    tri, mirror = canonical.triangles, canonical.mirror
    if pixels is None:
        ys, xs = np.mgrid[0:h, 0:w]
        pixels = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
    ids = rasterize(dest, depth, tri, shape).ravel()
    inside = ids >= 0
    face_width = float(np.ptp(points[:, 0]))
    visible = vertex_visibility(points, canonical, image.shape[:2], tolerance=0.03 * max(face_width, 1.0))

    t = ids[inside]
    bary = barycentric(dest, tri, t, pixels[inside])
    corners = tri[t]  # (P, 3)
    src = points[:, :2].astype(np.float64)
    own_xy = np.einsum("pk,pkd->pd", bary, src[corners])
    mirror_xy = np.einsum("pk,pkd->pd", bary, src[mirror[corners]])
    v_own = np.clip((bary * visible[corners]).sum(1), 0.0, 1.0)
    v_mirror = np.clip((bary * visible[mirror[corners]]).sum(1), 0.0, 1.0)

    maps = np.full((2, h * w, 2), -1.0, np.float32)  # own and mirrored samples in one remap
    maps[0, inside], maps[1, inside] = own_xy, mirror_xy
    maps = maps.reshape(2 * h, w, 2)
    sampled = cv2.remap(image, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    sampled = sampled.reshape(2, h * w, 3)
    own_rgb, mirror_rgb = sampled[0, inside].astype(np.float32), sampled[1, inside].astype(np.float32)

    # a small floor on the own side: where neither side was seen well (the face's rim, foreshortened in any
    # view) the photo's own pixel is still the best guess; the map says how little was seen there
    a = v_own + OWN_FLOOR
    b = (1.0 - v_own) * v_mirror
    total = v_own + b
    blend = (a[:, None] * own_rgb + b[:, None] * mirror_rgb) / (a + b)[:, None]
    out = np.full((h * w, 3), fill, np.uint8)
    out[inside] = np.clip(blend + 0.5, 0, 255).astype(np.uint8)
    vis = np.zeros(h * w, np.float32)
    vis[inside] = np.clip(total, 0.0, 1.0)
    source = np.full((h * w, 2), -1.0, np.float32)
    source[inside] = own_xy
    return Frontalized(out.reshape(h, w, 3), vis.reshape(h, w), inside.reshape(h, w), source.reshape(h, w, 2))


class FrontalRenderer:
    """Frontalizes faces into the ``size`` x ``size`` mugshot frame of ``edge.vision.align``."""

    def __init__(self, canonical: CanonicalFace, size: int = 128, face_scale: float = MUGSHOT_FACE_SCALE,
                 fill: int = 128):
        if size < 16:
            raise ValueError(f"renderer size must be at least 16, got {size}")
        self.canonical, self.size, self.face_scale, self.fill = canonical, size, face_scale, fill
        self.template = canonical_points(size, face_scale)
        ys, xs = np.mgrid[0:size, 0:size]
        self._pixels = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)  # (P, 2)

    def frontal_points(self, points: np.ndarray, pose: HeadPose) -> tuple[np.ndarray, np.ndarray]:
        """The face's own mesh turned frontal, in output pixels, and its depth (larger = nearer)."""
        own = (to_camera_frame(points) - pose.translation) @ pose.rotation / pose.scale  # R^T (p - t) / s
        flat = own[:, :2] * np.array([1.0, -1.0])  # image axes: y down
        matrix = similarity_transform(self.canonical.five_points(flat), self.template).astype(np.float64)
        return flat @ matrix[:, :2].T + matrix[:, 2], own[:, 2]

    def render(self, image: np.ndarray, points: np.ndarray, pose: HeadPose) -> Frontalized:
        """``points`` (468, 3): the mesh in ``image`` pixels (z towards the camera), as from ``FaceMesher``."""
        dest, depth = self.frontal_points(points, pose)
        return render_view(image, points, dest, depth, (self.size, self.size), self.canonical, self.fill,
                           self._pixels)

    def composite(self, crop: np.ndarray, frontal: Frontalized, feather: float = 0.06) -> np.ndarray:
        """The frontalized face pasted onto the aligned crop (same frame), feathered at the mesh's edge and
        where little was seen, so hair, ears and outline stay the crop's."""
        if crop.shape[:2] != (self.size, self.size):
            crop = cv2.resize(crop, (self.size, self.size), interpolation=cv2.INTER_AREA)
        k = max(3, int(self.size * feather) | 1)
        inner = cv2.erode(frontal.inside.astype(np.uint8), np.ones((k, k), np.uint8)).astype(np.float32)
        alpha = cv2.GaussianBlur(inner * np.minimum(1.0, frontal.visibility * 2.0), (k, k), 0)[..., None]
        return np.clip(alpha * frontal.image + (1.0 - alpha) * crop + 0.5, 0, 255).astype(np.uint8)
