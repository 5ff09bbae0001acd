"""A face recogniser trained on the training identities, for the generator's identity loss.

The evaluation measures identity with dlib's ResNet; no training loss may use that network.
This small residual CNN (about 1 M parameters at 64x64) learns an embedding from the
*training* identities of the pair cache: every studio view and every frontal, with a
CosFace margin so that embeddings of one person cluster on the unit sphere whatever the
pose.  Views are degraded the way surveillance frames are (blur, downscale, noise, light),
so the embedding does not depend on sharpness.

``mugshot-train recognizer`` trains it and writes a self-describing checkpoint (weights,
identities, spec, split and its own rank-1 on the held-out identities, as a sanity check
only).  ``IdentityLoss`` loads it frozen: ``1 - cos(embed(output), embed(target))``.
"""
from __future__ import annotations

import dataclasses
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edge.vision.align import to_tensor
from edge.vision.metrics import rank1

from .config import TrainConfigError
from .data import PairCache, degrade
from .prepare import load_split
from .progress import ProgressLine

log = logging.getLogger(__name__)


def _block(cin: int, cout: int, stride: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.PReLU(cout),
                         nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))


class Residual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = _block(cin, cout, stride)
        self.skip = nn.Identity() if cin == cout and stride == 1 else \
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.skip(x))


class IdentityNet(nn.Module):
    """64x64 face -> unit-length embedding."""

    def __init__(self, width: int = 32, dim: int = 128, size: int = 64):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(3, w, 3, 2, 1, bias=False), nn.BatchNorm2d(w), nn.PReLU(w),
            Residual(w, 2 * w, 2), Residual(2 * w, 4 * w, 2), Residual(4 * w, 4 * w, 2))
        side = size // 16
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Flatten(), nn.Linear(4 * w * side * side, dim),
                                  nn.BatchNorm1d(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.features(x)), dim=1)


class CosFace(nn.Module):
    """Large-margin cosine classifier: s * (cos(theta) - m) for the true class."""

    def __init__(self, dim: int, classes: int, scale: float = 24.0, margin: float = 0.3):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(classes, dim) * 0.01)
        self.scale, self.margin = scale, margin

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cosine = embeddings @ F.normalize(self.weight, dim=1).T
        logits = self.scale * (cosine - self.margin * F.one_hot(labels, cosine.shape[1]))
        return F.cross_entropy(logits, labels)


@dataclass(frozen=True)
class RecognizerConfig:
    cache: str = "runs/pairs64.npz"
    out: str = "runs/recognizer.pt"
    width: int = 32
    dim: int = 128
    steps: int = 3000
    batch_size: int = 64
    lr: float = 2e-3
    degrade: float = 0.5  # share of training images degraded like surveillance frames
    seed: int = 0
    threads: int = 2


def identity_images(cache: PairCache, test: bool) -> tuple[np.ndarray, np.ndarray]:
    """(images, identity strings) of one side of the split: studio views and frontals."""
    held_out = cache.held_out()
    idx = cache.select(held_out, test=test)
    idx = idx[cache.kinds[idx] == "studio"]
    frontal = np.isin(cache.frontal_ids, sorted(held_out)) == test
    images = np.concatenate([cache.inputs[idx], cache.frontals[frontal]])
    labels = np.concatenate([cache.identities[idx], cache.frontal_ids[frontal]])
    return images, labels


def train_recognizer(cfg: RecognizerConfig, progress: bool = True) -> Path:
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    cache = PairCache.load(cfg.cache)
    images, names = identity_images(cache, test=False)
    classes = sorted(set(names.tolist()))
    labels = torch.from_numpy(np.searchsorted(classes, names)).long()
    x = torch.from_numpy(to_tensor(images, cache.spec))
    log.info("recogniser: %d images of %d training identities", len(x), len(classes))
    net = IdentityNet(cfg.width, cfg.dim, cache.spec.size)
    head = CosFace(cfg.dim, len(classes))
    opt = torch.optim.AdamW(list(net.parameters()) + list(head.parameters()), lr=cfg.lr, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    rng = torch.Generator().manual_seed(cfg.seed)
    started = time.monotonic()
    bar = ProgressLine(progress)  # one line; log records are written above it, never into it
    net.train()
    for step in range(1, cfg.steps + 1):
        idx = torch.randint(len(x), (cfg.batch_size,), generator=rng)
        batch = x[idx]
        mirror = torch.rand(cfg.batch_size, generator=rng) < 0.5
        batch = torch.where(mirror[:, None, None, None], batch.flip(-1), batch)
        batch = degrade(jitter(batch, rng), cfg.degrade, rng)
        loss = head(net(batch), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        if progress and (step % 20 == 0 or step == cfg.steps):
            rate = step / max(time.monotonic() - started, 1e-6)
            bar.update(f"recogniser step {step}/{cfg.steps} loss {loss.item():.3f} | {rate:.1f} it/s "
                       f"ETA {(cfg.steps - step) / rate / 60:.1f} min", final=step == cfg.steps)
    bar.close()
    net.eval()
    held_out = held_out_rank1(net, cache)
    log.info("recogniser rank-1 on held-out identities (views vs frontals): %.3f", held_out)
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"kind": "mugshot-recognizer", "net": net.state_dict(), "config": dataclasses.asdict(cfg),
                "identities": classes, "spec": dataclasses.asdict(cache.spec), "split": sorted(cache.held_out()),
                "held_out_rank1": held_out}, out)
    return out


def jitter(batch: torch.Tensor, rng: torch.Generator, shift: float = 0.06, scale: float = 0.06) -> torch.Tensor:
    """Small random shifts and zooms: alignment on the box is never exact."""
    n = batch.shape[0]
    s = 1 + (torch.rand(n, generator=rng) * 2 - 1) * scale
    t = (torch.rand(n, 2, generator=rng) * 2 - 1) * shift * 2
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = s
    theta[:, :, 2] = t
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    return F.grid_sample(batch, grid, padding_mode="border", align_corners=False)


@torch.no_grad()
def held_out_rank1(net: IdentityNet, cache: PairCache) -> float:
    """Rank-1 of held-out studio views against held-out frontals (a sanity check of generalisation)."""
    held_out = cache.held_out()
    idx = cache.select(held_out, test=True)
    idx = idx[(cache.kinds[idx] == "studio")]
    gallery = np.flatnonzero(np.isin(cache.frontal_ids, sorted(held_out)))
    if not len(gallery):
        return float("nan")
    probes = net(torch.from_numpy(to_tensor(cache.inputs[idx], cache.spec))).numpy()
    refs = net(torch.from_numpy(to_tensor(cache.frontals[gallery], cache.spec))).numpy()
    # unit embeddings: the nearest gallery face is also the most similar one
    return rank1(probes, cache.identities[idx], refs, cache.frontal_ids[gallery])


def load_recognizer(path: str | Path, device: torch.device | str = "cpu",
                    held_out: set[str] | None = None) -> IdentityNet:
    """The frozen recogniser; an error if it was trained on any of the ``held_out`` people
    (default: trainer/split.toml's)."""
    if not Path(path).is_file():
        raise TrainConfigError(f"recognizer: {path} not found (train one: mugshot-train recognizer)")
    state = torch.load(path, map_location=device, weights_only=False)
    if not isinstance(state, dict) or state.get("kind") != "mugshot-recognizer":
        raise TrainConfigError(f"recognizer: {path} is not a checkpoint written by `mugshot-train recognizer`")
    seen = sorted(set(state["identities"]) & (load_split() if held_out is None else held_out))
    if seen:
        raise TrainConfigError(f"recognizer: {path} was trained on held-out people ({', '.join(seen[:3])}"
                               f"{', ...' if len(seen) > 3 else ''}); retrain it on this cache's split")
    cfg = state["config"]
    net = IdentityNet(cfg["width"], cfg["dim"], state["spec"]["size"]).to(device)
    net.load_state_dict(state["net"])
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


class IdentityLoss(nn.Module):
    """1 - cosine similarity between the frozen recogniser's embeddings of output and target."""

    def __init__(self, path: str | Path, device: torch.device | str = "cpu", held_out: set[str] | None = None):
        super().__init__()
        self.net = load_recognizer(path, device, held_out)

    def train(self, mode: bool = True) -> "IdentityLoss":
        return super().train(False)  # BatchNorm statistics stay frozen

    def forward(self, fake: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            reference = self.net(target)
        return (1 - (self.net(fake) * reference).sum(1)).mean()
