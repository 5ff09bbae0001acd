"""The pair cache as tensors, split by identity, with mirrored pairs and surveillance-like
degradation of the input views as augmentation."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from edge.align import ModelInputSpec, to_tensor


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

    @classmethod
    def load(cls, path: str | Path) -> "PairCache":
        data = np.load(path, allow_pickle=False)
        spec = ModelInputSpec.from_metadata({ModelInputSpec.METADATA_KEY: str(data["spec"])}, str(path))
        return cls(*(data[k] for k in ("inputs", "targets", "frontals", "frontal_ids", "identities", "yaws",
                                       "pitches", "kinds", "sources")), spec,
                   *(data[k] if k in data else None for k in ("pose_yaws", "scores", "face_sizes")))

    def select(self, test_identities: set[str], test: bool) -> np.ndarray:
        held_out = np.isin(self.identities, sorted(test_identities))
        return np.flatnonzero(held_out if test else ~held_out)


class PairTensors:
    """Training pairs as normalised tensors in memory (small data: a few MB)."""

    def __init__(self, cache: PairCache, indices: np.ndarray, flip: bool, degrade: float = 0.0):
        studio = indices[cache.kinds[indices] == "studio"]  # surveillance frames are for evaluation
        self.views = torch.from_numpy(to_tensor(cache.inputs[studio], cache.spec))
        self.targets = torch.from_numpy(to_tensor(cache.frontals[cache.targets[studio]], cache.spec))
        self.flip = flip
        self.degrade = degrade

    def __len__(self) -> int:
        return len(self.views)

    def batch(self, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(len(self.views), (size,), generator=generator)
        views, targets = self.views[idx], self.targets[idx]
        if self.flip:  # a mirrored view pairs with the mirrored frontal
            mirror = torch.rand(size, generator=generator) < 0.5
            views = torch.where(mirror[:, None, None, None], views.flip(-1), views)
            targets = torch.where(mirror[:, None, None, None], targets.flip(-1), targets)
        return degrade(views, self.degrade, generator), targets


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
