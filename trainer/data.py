"""The pair cache as tensors, split by identity, with mirrored pairs, synthetic yaw
rotations of the frontals and surveillance-like degradation of the input views as
augmentation."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from edge.vision.align import ModelInputSpec, canonical_points, to_tensor

from .geometry import RERENDERED, ROTATED


@dataclass
class PairCache:
    inputs: np.ndarray  # (N, S, S, 3) uint8 BGR aligned views
    targets: np.ndarray  # (N,) index into frontals
    frontals: np.ndarray  # (K, S, S, 3)
    frontal_ids: np.ndarray  # (K,) identity of each frontal
    identities: np.ndarray
    yaws: np.ndarray
    pitches: np.ndarray
    kinds: np.ndarray
    sources: np.ndarray
    spec: ModelInputSpec
    pose_yaws: np.ndarray | None = None  # yaw estimated from the landmarks, as the edge does (newer caches)
    scores: np.ndarray | None = None  # the detector's score of each input face (newer caches)
    face_sizes: np.ndarray | None = None  # the shorter side of its box in the source image, pixels
    test_identities: np.ndarray | None = None  # the people held out, chosen by prepare (newer caches)
    # prepare --geometry (trainer/geometry.py): per input view, the box's frontalized face and visibility
    view_frontals: np.ndarray | None = None  # (N, S, S, 3) uint8, 0 where has_mesh is false
    view_visibility: np.ndarray | None = None  # (N, S, S) float16 0..1
    has_mesh: np.ndarray | None = None  # (N,) the box's mesher accepted a mesh
    mesh_yaws: np.ndarray | None = None  # (N,) yaw of that mesh (nan without one)
    turns: np.ndarray | None = None  # (N,) Rotate-and-Render turn of a rendered input, degrees (nan: a photo)
    geometry: np.ndarray | None = None  # JSON: how the geometry was made (mesher, gates)

    OPTIONAL = ("pose_yaws", "scores", "face_sizes", "test_identities", "view_frontals", "view_visibility",
                "has_mesh", "mesh_yaws", "turns", "geometry")

    @classmethod
    def load(cls, path: str | Path) -> "PairCache":
        data = np.load(path, allow_pickle=False)
        spec = ModelInputSpec.from_metadata({ModelInputSpec.METADATA_KEY: str(data["spec"])}, str(path))
        return cls(*(data[k] for k in ("inputs", "targets", "frontals", "frontal_ids", "identities", "yaws",
                                       "pitches", "kinds", "sources")), spec,
                   *(data[k] if k in data else None for k in cls.OPTIONAL))

    def held_out(self) -> set[str]:
        """The identities never trained on: the split prepare stored, or trainer/split.toml for
        an older cache."""
        if self.test_identities is not None:
            return {str(i) for i in self.test_identities}
        from .prepare import load_split
        return load_split()

    def select(self, test_identities: set[str], test: bool) -> np.ndarray:
        held_out = np.isin(self.identities, sorted(test_identities))
        return np.flatnonzero(held_out if test else ~held_out)


TRAINING_KINDS = ("studio", ROTATED, RERENDERED)  # surveillance frames are for evaluation


class PairTensors:
    """Training pairs as normalised tensors in memory (small data: a few MB)."""

    def __init__(self, cache: PairCache, indices: np.ndarray, flip: bool, degrade: float = 0.0,
                 rotations: float = 0.0, inputs: tuple[str, ...] = ("crop",), kinds: tuple[str, ...] = TRAINING_KINDS):
        studio = indices[np.isin(cache.kinds[indices], kinds)]
        self.spec = dataclasses.replace(cache.spec, inputs=tuple(inputs))
        if self.spec.inputs != ("crop",):
            raise ValueError(f"inputs: only the aligned crop, got {list(self.spec.inputs)} (the refiner is retired)")
        self.views = torch.from_numpy(to_tensor(cache.inputs[studio], cache.spec))
        self.targets = torch.from_numpy(to_tensor(cache.frontals[cache.targets[studio]], cache.spec))
        self.flip = flip
        self.degrade = degrade
        self.rotations = rotations
        self.head = HeadCylinder.of(cache.spec)

    def __len__(self) -> int:
        return len(self.views)

    def batch(self, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(len(self.views), (size,), generator=generator)
        views, targets = self.views[idx], self.targets[idx]
        extra = views.shape[1] > 3
        if self.flip:  # a mirrored view pairs with the mirrored frontal
            mirror = torch.rand(size, generator=generator) < 0.5
            views = torch.where(mirror[:, None, None, None], views.flip(-1), views)
            targets = torch.where(mirror[:, None, None, None], targets.flip(-1), targets)
        if self.rotations > 0:  # Rotate-and-Render style: the frontal, turned, is one more input view
            chosen = torch.rand(size, generator=generator) < self.rotations
            yaws = (2 * torch.rand(size, generator=generator) - 1) * MAX_SYNTHETIC_YAW
            turned = self.head.turn(targets, yaws)
            if extra:  # no mesh was fitted to the turned picture: empty frontal channels, zero map
                turned = torch.cat([turned, torch.zeros_like(views[:, 3:])], 1)
            views = torch.where(chosen[:, None, None, None], turned, views)
        if not extra:
            return degrade(views, self.degrade, generator), targets
        # the box frontalizes the degraded picture: degrade crop and frontal alike, keep empty channels empty
        meshed = (views[:, 6:7].amax((2, 3), keepdim=True) > 0).to(views.dtype)
        worse = degrade(views[:, :6], self.degrade, generator)
        return torch.cat([worse[:, :3], worse[:, 3:6] * meshed, views[:, 6:]], 1), targets


MAX_SYNTHETIC_YAW = 45.0  # degrees; beyond it the far half folds over (see HeadCylinder)


@dataclass
class HeadCylinder:
    """The head in an aligned crop as a vertical cylinder (pixels): axis column, radius, and
    the eyes' half distance.  Turning it by a yaw moves every column along the cylinder, so the
    near half is stretched and the far half squeezed, as in a turned head; what turns out of
    sight comes back from the other side of the cylinder, and beyond it the background shifts
    with the cylinder's edge.  No nose occludes a cheek and no ear appears: a 2-D stand-in for
    Rotate-and-Render's 3-D fit."""
    centre: float
    radius: float
    eye_half: float

    @classmethod
    def of(cls, spec: ModelInputSpec) -> "HeadCylinder":
        points = canonical_points(spec.size, spec.face_scale)
        eyes = abs(float(points[1, 0] - points[0, 0]))
        # a head with its hair is about 3.4 eye distances wide; the nose column is the axis
        return cls(float(points[2, 0]), 1.7 * eyes, eyes / 2)

    def turn(self, frontal: torch.Tensor, yaw_deg: torch.Tensor) -> torch.Tensor:
        """(n, c, s, s) frontal faces turned by ``yaw_deg`` (n,) degrees (positive: the nose moves
        to larger x), then shifted so that the eyes' midpoint stays where alignment puts it."""
        n, _, _, size = frontal.shape
        yaw = torch.deg2rad(yaw_deg.to(frontal.dtype))[:, None]  # (n, 1)
        eyes = torch.tensor([-self.eye_half, self.eye_half], dtype=frontal.dtype) / self.radius
        midpoint = torch.sin(torch.asin(eyes)[None] + yaw).mean(1, keepdim=True)  # in radii
        u = (torch.arange(size, dtype=frontal.dtype)[None] - self.centre) / self.radius + midpoint  # turned view
        inside = torch.sin(torch.asin(u.clamp(-1, 1)) - yaw)  # on the frontal; past 90 degrees sin folds back
        outside = u - torch.sign(u) * (1 - torch.cos(yaw))  # the background follows the cylinder's edge
        source = self.centre + self.radius * torch.where(u.abs() < 1, inside, outside)
        x = (2 * source + 1) / size - 1  # grid_sample's coordinates (align_corners=False)
        y = (2 * torch.arange(size, dtype=frontal.dtype) + 1) / size - 1
        grid = torch.stack([x[:, None, :].expand(n, size, size), y[None, :, None].expand(n, size, size)], -1)
        return F.grid_sample(frontal, grid, mode="bilinear", padding_mode="border", align_corners=False)


def degrade(batch: torch.Tensor, share: float, generator: torch.Generator) -> torch.Tensor:
    """Make a random ``share`` of a normalised batch look like surveillance frames: lower
    resolution (one factor per call, 1/4 to 1), sensor noise, other exposure and contrast."""
    if share <= 0:
        return batch
    n, size = batch.shape[0], batch.shape[-1]
    chosen = (torch.rand(n, generator=generator) < share)[:, None, None, None]
    factor = 0.25 + 0.75 * torch.rand((), generator=generator).item()
    small = max(8, round(size * factor))
    worse = F.interpolate(F.interpolate(batch, size=small, mode="area"), size=size, mode="bilinear",
                          align_corners=False)
    contrast = 0.7 + 0.5 * torch.rand(n, 1, 1, 1, generator=generator)
    brightness = 0.4 * torch.rand(n, 1, 1, 1, generator=generator) - 0.2
    noise = torch.randn(batch.shape, generator=generator) * 0.06 * torch.rand(n, 1, 1, 1, generator=generator)
    worse = (worse * contrast + brightness + noise).clamp(-1, 1)
    return torch.where(chosen, worse, batch)
