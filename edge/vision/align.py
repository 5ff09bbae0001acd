"""Face alignment and model preprocessing: the one path shared by edge, trainer and quantizer.

A face is aligned by the similarity transform (rotation, uniform scale, translation)
that maps its 5 landmarks closest, in least squares, to a canonical template.  The
template is the widely used 112x112 five-point layout, scaled by ``face_scale`` about
the crop centre (below 1 shows more of the head and hair, as a mugshot should).

How a model wants its input (size, colour order, normalisation, framing) is a
:class:`ModelInputSpec` read from the model's own metadata, never a constant here.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

# Right eye, left eye, nose tip, right and left mouth corner (the person's right is the
# image's left) in a 112x112 crop, divided by 112.
TEMPLATE = np.float32([
    [38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041],
]) / 112.0

MUGSHOT_FACE_SCALE = 0.6  # the box's mugshot framing: head and shoulders, eyes at a fixed height (the restoration
# model is trained at it, so the published crop and the mugshot frame the face alike)


def canonical_points(size: int, face_scale: float = 1.0) -> np.ndarray:
    """Where the 5 landmarks land in a size x size aligned crop."""
    return ((TEMPLATE - 0.5) * face_scale + 0.5) * size


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 matrix of the least-squares similarity transform taking src points to dst (Umeyama)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1, 1] = -1
    rotation = u @ d @ vt
    variance = (src_c ** 2).sum() / len(src)
    scale = (s * np.diag(d)).sum() / variance if variance > 0 else 1.0
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]]).astype(np.float32)


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int, face_scale: float = 1.0,
               soft_edges: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The aligned size x size crop and the 2x3 matrix used (image -> crop).  Where the framing reaches past
    the picture (a face near its edge, a tightly cropped photo) the crop invents no detail: the edge's colours
    fade within a few pixels into an out-of-focus wash of themselves (``fill_outside``) instead of the long
    streaks of repeated edge pixels.  ``soft_edges=False``: the repeated pixels (measuring, not publishing)."""
    matrix = similarity_transform(landmarks, canonical_points(size, face_scale))
    crop = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if soft_edges:
        inside = inside_picture(matrix, size, image.shape[:2])
        if not inside.all():
            crop = fill_outside(crop, inside)
    return crop, matrix


def inside_picture(matrix: np.ndarray, size: int, shape: tuple[int, int]) -> np.ndarray:
    """(size, size) bool: which crop pixels map inside a picture of ``shape`` (h, w) under ``matrix``."""
    inverse = cv2.invertAffineTransform(matrix)
    grid = np.arange(size, dtype=np.float32)
    x = inverse[0, 0] * grid[None, :] + inverse[0, 1] * grid[:, None] + inverse[0, 2]
    y = inverse[1, 0] * grid[None, :] + inverse[1, 1] * grid[:, None] + inverse[1, 2]
    return (x >= -0.5) & (x <= shape[1] - 0.5) & (y >= -0.5) & (y <= shape[0] - 0.5)


def fill_outside(crop: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """``crop`` with its pixels outside the picture (``inside`` false) replaced: the repeated edge pixel right at
    the edge, fading (over about 1/32 of the crop) into those repeated pixels blurred to 1/16 of the crop's size,
    so an edge colour continues as a soft wash instead of a streak.  Pixels inside the picture are untouched."""
    size = crop.shape[0]
    coarse = max(2, size // 16)
    wash = cv2.resize(cv2.resize(crop, (coarse, coarse), interpolation=cv2.INTER_AREA), (size, size),
                      interpolation=cv2.INTER_LINEAR).astype(np.float32)
    outside = ~inside
    near = np.exp(-cv2.distanceTransform(outside.astype(np.uint8), cv2.DIST_L2, 3) / max(1.0, size / 32))
    if crop.ndim == 3:
        near = near[..., None]
    filled = near * crop.astype(np.float32) + (1 - near) * wash
    out = crop.copy()
    out[outside] = np.clip(filled[outside] + 0.5, 0, 255).astype(crop.dtype)
    return out


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    points = np.asarray(points, np.float32)
    return points @ matrix[:, :2].T + matrix[:, 2]


INPUT_PARTS = {"crop": 3}  # a generator's input: the aligned crop alone, 3 channels
RETIRED_INPUTS = ("frontal", "visibility")  # the 7-channel refiner's extra groups (retired: docs/results.md)


@dataclass(frozen=True)
class ModelInputSpec:
    """How an image model wants its input and gives its output; travels with the model."""

    size: int = 128
    face_scale: float = MUGSHOT_FACE_SCALE
    color: str = "rgb"  # channel order of the tensor: "rgb" or "bgr"
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)  # on 0..1 values
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    # the model's input (INPUT_PARTS): the aligned crop.  Metadata naming more (the retired 7-channel refiner's
    # frontalized face and visibility map) is refused by from_metadata
    inputs: tuple[str, ...] = ("crop",)

    METADATA_KEY = "mugshot.input_spec"

    @property
    def channels(self) -> int:
        return sum(INPUT_PARTS[part] for part in self.inputs)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_metadata(cls, metadata: dict[str, str], source: str) -> "ModelInputSpec":
        """Read the spec from a model's metadata map; a clear error when missing or malformed."""
        raw = metadata.get(cls.METADATA_KEY)
        if raw is None:
            raise ValueError(f"{source}: no '{cls.METADATA_KEY}' metadata: export the model with mugshot-train restore-export")
        try:
            data: dict[str, Any] = json.loads(raw)
            spec = cls(size=int(data["size"]), face_scale=float(data["face_scale"]), color=str(data["color"]),
                       mean=tuple(float(v) for v in data["mean"]), std=tuple(float(v) for v in data["std"]),
                       inputs=tuple(str(v) for v in data.get("inputs", ["crop"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{source}: malformed '{cls.METADATA_KEY}' metadata: {exc}") from None
        if spec.color not in ("rgb", "bgr") or len(spec.mean) != 3 or len(spec.std) != 3:
            raise ValueError(f"{source}: '{cls.METADATA_KEY}' needs color rgb|bgr and 3 mean/std values")
        if spec.inputs != ("crop",):
            retired = any(part in RETIRED_INPUTS for part in spec.inputs)
            raise ValueError(f"{source}: '{cls.METADATA_KEY}' asks for inputs {'+'.join(spec.inputs)}: "
                             + ("the 7-channel refiner (crop + frontalized face + visibility map) was retired in "
                                "favour of the 3-channel restoration generator (docs/results.md); use "
                                "generator.model = \"auto\" or a restoration model" if retired
                                else "a generator takes the aligned crop alone ('crop')"))
        return spec


def to_tensor(crops: np.ndarray | list[np.ndarray], spec: ModelInputSpec) -> np.ndarray:
    """BGR uint8 aligned crops (N, H, W, 3) -> normalised float32 NCHW tensor."""
    batch = np.asarray(crops)
    if batch.ndim == 3:
        batch = batch[None]
    if batch.shape[1:3] != (spec.size, spec.size):
        batch = np.stack([cv2.resize(c, (spec.size, spec.size), interpolation=cv2.INTER_AREA)
                          for c in batch.astype(np.float32)])
    if spec.color == "rgb":
        batch = batch[..., ::-1]
    # one float32 NCHW copy, then the same float32 operations as (x / 255 - mean) / std, in place
    tensor = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)
    tensor /= 255.0
    tensor -= np.float32(spec.mean)[:, None, None]
    tensor /= np.float32(spec.std)[:, None, None]
    return tensor


def from_tensor(tensor: np.ndarray, spec: ModelInputSpec) -> np.ndarray:
    """Model output NCHW (normalised like the input) -> BGR uint8 images (N, H, W, 3)."""
    images = tensor.transpose(0, 2, 3, 1) * np.float32(spec.std) + np.float32(spec.mean)
    if spec.color == "rgb":
        images = images[..., ::-1]
    return np.clip(images * 255.0 + 0.5, 0, 255).astype(np.uint8)
