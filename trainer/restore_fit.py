"""`mugshot-train restore-fit`: train the restoration teacher, or distil the student from it.

Pairs are made on the fly: a clean aligned crop (``restore-prepare``'s cache) is degraded like a surveillance
frame (``restore_data.degrade_one``), and the clean crop is the target; a share of inputs stays clean, so a
clean face learns to come out unchanged.  The networks are fully convolutional, so training uses random
``patch`` x ``patch`` windows of the 256 px crops (the same window of input and target) and the exported model
runs on the whole crop.  Validation: the trainer's held-out people (``trainer/split.toml``), never trained on.

Loss: alpha * L_GAN (conditional PatchGAN on (input, output)) + beta * L1 + gamma * L2, plus optionally the
FaceNet identity term (``facenet``, full crops only).  The student adds ``distill`` * L1 to the teacher's
output.  With ``real_pairs`` (``real_pairs.py``), ``real_batch`` real surveillance frames a step are scored by
identity and colour against the same person's studio view and by the detail term against the frame itself
(a student also distils on them), never pixel by pixel.  ``init`` fine-tunes from a checkpoint.  A checkpoint
describes itself (config, spec, split, models, optimisers, RNG, step) and is written atomically, so an
interrupted run resumes where it stopped.
"""
from __future__ import annotations

import csv
import dataclasses
import logging
import os
import pickle
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from edge.vision.align import ModelInputSpec, from_tensor, to_tensor

from .config import TrainConfigError, coerce_fields
from .losses import adversarial
from .nets import PatchDiscriminator, parameters
from .nets.restore import ALIGN, build_restorer
from .progress import ProgressLine
from .restore_data import degrade_one, split
from .split_notice import load_split

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
OUTSIDE_WEIGHT = 0.1  # loss weight where the aligned crop reaches past the source photo (repeated edge pixels)


@dataclass(frozen=True)
class RestoreConfig:
    model: str = "teacher"  # teacher | student
    cache: str = "/work/runs/restore/crops256.npz"  # written by `mugshot-train restore-prepare`
    out: str = "/work/runs/restore/teacher"
    width: int = 16  # teacher: base channels (x1, 2, 4, 8, 16, 24 over six levels); student: its channels
    steps: int = 1200
    batch_size: int = 8
    patch: int = 96  # training window (multiple of 32); the spec's size (256) trains on whole crops
    lr: float = 2e-4
    beta1: float = 0.5
    alpha: float = 0.01  # L_GAN weight
    beta: float = 1.0  # L1 weight
    gamma: float = 1.0  # L2 weight
    facenet: float = 0.0  # FaceNet identity term (1 - cos); needs `mugshot-train facenet` and patch = 256
    facenet_cache: str = ""  # where `mugshot-train facenet` put the converted FaceNet; empty: the default
    clean: float = 0.15  # share of inputs left clean (target = input)
    real_pairs: str = ""  # `restore-prepare --real` cache: real surveillance frames paired with studio views
    real_batch: int = 2  # real pairs per step: scored by facenet, colour and detail, never pixel by pixel; a
    #                      student also (or only) by distillation on the real frames
    colour: float = 0.0  # face-region colour term on real pairs (mean and spread of each channel)
    detail: float = 0.0  # real pairs: the output is the real frame under a smooth gain (detail_term): nothing painted
    teacher: str = ""  # student: the teacher checkpoint to distil from
    init: str = ""  # start from this checkpoint's generator (fine-tuning; same model and width), not at random
    distill: float = 1.0  # student: L1 to the teacher's output
    sample_every: int = 200
    checkpoint_every: int = 50
    log_every: int = 10
    seed: int = 0
    threads: int = 2

    def validate(self) -> "RestoreConfig":
        if self.model not in ("teacher", "student"):
            raise TrainConfigError(f"model: teacher or student, got {self.model!r}")
        if self.patch % ALIGN or self.patch <= 0:
            raise TrainConfigError(f"patch: a positive multiple of {ALIGN}, got {self.patch}")
        if self.model == "student" and not self.teacher:
            raise TrainConfigError("teacher: a student is distilled from a teacher checkpoint; set teacher = PATH")
        if not 0 <= self.clean <= 1:
            raise TrainConfigError(f"clean: within 0..1, got {self.clean}")
        if self.real_pairs and self.facenet + self.colour + self.detail <= 0 and self.model == "teacher":
            raise TrainConfigError("real_pairs: a teacher scores real pairs by the facenet, colour and detail terms; "
                                   "set one > 0")
        for key in ("colour", "detail"):
            if getattr(self, key) > 0 and not self.real_pairs:
                raise TrainConfigError(f"{key}: a term of real pairs; set real_pairs = PATH (restore-prepare --real)")
        for key in ("width", "steps", "batch_size", "real_batch", "sample_every", "checkpoint_every", "log_every",
                    "threads"):
            if getattr(self, key) <= 0:
                raise TrainConfigError(f"{key}: must be > 0, got {getattr(self, key)}")
        for key in ("lr", "alpha", "beta", "gamma", "facenet", "colour", "detail", "distill"):
            if getattr(self, key) < 0:
                raise TrainConfigError(f"{key}: must be >= 0, got {getattr(self, key)}")
        return self


def load_restore_config(path: str | Path | None, overrides: list[str] = ()) -> RestoreConfig:
    import tomllib

    raw = {}
    if path:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise TrainConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise TrainConfigError(f"{path}: not valid TOML: {exc}") from None
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise TrainConfigError(f"--set {item!r}: expected key=value")
        raw[key.strip()] = value.strip()
    return RestoreConfig(**coerce_fields(RestoreConfig, raw)).validate()


class CropCache:
    """The clean crops (uint8 BGR), their people and the split by identity."""

    def __init__(self, path: str | Path):
        data = np.load(path, allow_pickle=False)
        self.crops, self.identities = data["crops"], data["identities"]
        self.masks = data["masks"] if "masks" in data else np.full(self.crops.shape[:3], 255, np.uint8)
        self.face_px, self.paths = data["face_px"], data["paths"]
        self.spec = ModelInputSpec.from_metadata({ModelInputSpec.METADATA_KEY: str(data["spec"])}, str(path))
        held_out = set(data["validation"].tolist()) if "validation" in data else load_split()  # older caches: split.toml
        self.validation_ids = sorted(set(self.identities.tolist()) & held_out)
        self.train, self.val = split(self.identities, set(self.validation_ids))

    def pairs(self, rows: np.ndarray, rng: np.random.Generator, clean: float, patch: int, flip: bool = True
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(degraded, clean, weight) tensors for ``rows``, cut to the same random ``patch`` window; the
        weight is 1 inside the source photo and ``OUTSIDE_WEIGHT`` where the crop repeats its edge."""
        size = self.spec.size
        views, targets, weights = [], [], []
        for row in rows:
            crop, mask = self.crops[row], self.masks[row]
            if flip and rng.random() < 0.5:
                crop, mask = crop[:, ::-1], mask[:, ::-1]
            strength = 0.0 if rng.random() < clean else rng.uniform(0.3, 1.0)
            view = degrade_one(np.ascontiguousarray(crop), rng, float(self.face_px[row]), strength)
            y, x = (rng.integers(0, size - patch + 1, 2) if patch < size else (0, 0))
            views.append(view[y:y + patch, x:x + patch])
            targets.append(crop[y:y + patch, x:x + patch])
            weights.append(mask[y:y + patch, x:x + patch])
        spec = dataclasses.replace(self.spec, size=patch)
        weight = OUTSIDE_WEIGHT + (1 - OUTSIDE_WEIGHT) * torch.from_numpy(np.stack(weights)[:, None] / np.float32(255))
        return (torch.from_numpy(to_tensor(np.stack(views), spec)), torch.from_numpy(to_tensor(np.stack(targets), spec)),
                weight)


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def save_atomic(obj: dict, path: Path) -> None:
    """Write a checkpoint so that an interruption leaves the previous one intact."""
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def facenet_loss(cfg: RestoreConfig, spec, device: torch.device) -> torch.nn.Module:
    """The FaceNet identity term's frozen network, or a one-line error naming the missing cache."""
    from .identity_prior import FaceNetLoss
    from .identity_prior.facenet import DEFAULT_CACHE, FaceNetError

    try:
        return FaceNetLoss(spec, cache=Path(cfg.facenet_cache).expanduser() if cfg.facenet_cache else DEFAULT_CACHE
                           ).to(device)
    except (FaceNetError, OSError) as exc:
        raise TrainConfigError(f"facenet: {exc}") from None


LOG_COLUMNS = ["step", "g_total", "l1", "l2", "gan", "distill", "facenet", "real_facenet", "real_colour",
               "real_detail", "real_distill", "d_loss", "seconds"]


def open_log(path: Path, resume: bool):
    """The training log for appending; a resumed run's log from an older trainer (other columns) is rewritten
    with today's columns first, its missing values as 0."""
    if resume and path.exists():
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        if rows and list(rows[0]) != LOG_COLUMNS:
            with open(path, "w", newline="") as f:
                writer = csv.DictWriter(f, LOG_COLUMNS, restval="0", extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)
        return open(path, "a", newline="")
    log_file = open(path, "w", newline="")
    csv.writer(log_file).writerow(LOG_COLUMNS)
    return log_file


def initialise(cfg: RestoreConfig, spec, generator, discriminator, device) -> int:
    """``init``: the generator (and, where it has one and the GAN is on, the discriminator) from a checkpoint of
    the same model, width and framing; returns the steps that checkpoint had trained."""
    if not Path(cfg.init).is_file():
        raise TrainConfigError(f"init: checkpoint {cfg.init} not found")
    try:
        state = torch.load(cfg.init, map_location=device, weights_only=False)
    except (RuntimeError, ValueError, EOFError, pickle.UnpicklingError):
        state = None
    if not isinstance(state, dict) or "generator" not in state or "config" not in state:
        raise TrainConfigError(f"init: {cfg.init} is not a restore-fit checkpoint")
    if (state["config"]["model"], state["config"]["width"]) != (cfg.model, cfg.width):
        raise TrainConfigError(f"init: {cfg.init} is a {state['config']['model']} of width "
                               f"{state['config']['width']}, this run a {cfg.model} of width {cfg.width}")
    own = state.get("spec")
    if own is not None and (own["size"], own["face_scale"]) != (spec.size, spec.face_scale):
        raise TrainConfigError(f"init: {cfg.init} was trained on {own['size']} px crops at face scale "
                               f"{own['face_scale']}, the cache holds {spec.size} px at {spec.face_scale}")
    generator.load_state_dict(state["generator"])
    if cfg.alpha > 0 and "discriminator" in state:
        discriminator.load_state_dict(state["discriminator"])
    log.info("initialised from %s (%d steps)", cfg.init, state.get("step", 0))
    return int(state.get("step", 0)) + int(state.get("init_steps", 0))


def load_restorer(checkpoint: str | Path, device="cpu") -> tuple[torch.nn.Module, dict]:
    state = torch.load(checkpoint, map_location=device, weights_only=False)
    model = build_restorer(state["config"]["model"], state["config"]["width"]).to(device)
    model.load_state_dict(state["generator"])
    model.eval()
    return model, state


def fit_restore(cfg: RestoreConfig, progress: bool = True) -> Path:
    torch.set_num_threads(cfg.threads)
    device = pick_device("auto")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = CropCache(cfg.cache)
    log.info("%d training crops of %d people; validation: %d crops of %s", len(cache.train),
             len(set(cache.identities[cache.train])), len(cache.val), ", ".join(cache.validation_ids))
    if not len(cache.train) or not len(cache.val):
        raise TrainConfigError(f"cache: {cfg.cache} has {len(cache.train)} training and {len(cache.val)} validation "
                               "crops; it needs both (restore-prepare holds people out for validation)")
    torch.manual_seed(cfg.seed)
    generator = build_restorer(cfg.model, cfg.width).to(device)
    discriminator = PatchDiscriminator().to(device)
    teacher = None
    if cfg.model == "student":
        if not Path(cfg.teacher).is_file():
            raise TrainConfigError(f"teacher: checkpoint {cfg.teacher} not found")
        teacher, _ = load_restorer(cfg.teacher, device)
        teacher.requires_grad_(False)
    facenet = None
    if cfg.facenet > 0:
        if cfg.patch != cache.spec.size:
            raise TrainConfigError(f"facenet: the identity term needs whole crops: patch = {cache.spec.size}")
        facenet = facenet_loss(cfg, cache.spec, device)
    real = region = None
    if cfg.real_pairs:
        from .real_pairs import RealPairs, colour_term, detail_term, face_region

        if cfg.patch != cache.spec.size:
            raise TrainConfigError(f"real_pairs: real pairs are whole crops: patch = {cache.spec.size}")
        real = RealPairs(cfg.real_pairs, cache.spec, set(cache.validation_ids) | load_split())
        region = torch.from_numpy(face_region(cache.spec)).to(device)
        log.info("%d real pairs of %d training people", len(real.train), len(set(real.identities[real.train])))
    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    rng = np.random.default_rng(cfg.seed)
    step = init_steps = 0
    ckpt = out / CHECKPOINT
    if ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        for opt in (opt_g, opt_d):  # the config's learning rate wins (a resumed run may anneal it)
            for group in opt.param_groups:
                group["lr"] = cfg.lr
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        step, init_steps = state["step"], state.get("init_steps", 0)
        log.info("resumed from %s at step %d", ckpt, step)
    elif cfg.init:
        init_steps = initialise(cfg, cache.spec, generator, discriminator, device)

    def checkpoint() -> None:
        save_atomic({"generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
                     "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "step": step,
                     "init_steps": init_steps,  # steps of the checkpoint this run started from (init), if any
                     "config": dataclasses.asdict(cfg), "spec": dataclasses.asdict(cache.spec),
                     "task": "restore", "split": cache.validation_ids, "validation": cache.validation_ids,
                     "parameters": parameters(generator), "rng": rng.bit_generator.state,
                     "torch_rng": torch.get_rng_state()}, ckpt)

    log_file = open_log(out / "log.csv", resume=bool(step))
    writer = csv.writer(log_file)
    started, first = time.monotonic(), step
    bar = ProgressLine(progress)  # one line; log records are written above it, never into it
    while step < cfg.steps:
        rows = rng.choice(cache.train, cfg.batch_size)
        views, targets, weight = (t.to(device) for t in cache.pairs(rows, rng, cfg.clean, cfg.patch))
        fake = generator(views)
        d_loss = torch.zeros(())
        if cfg.alpha > 0:
            d_loss = 0.5 * (adversarial(discriminator(views, targets), True)
                            + adversarial(discriminator(views, fake.detach()), False))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
        error = fake - targets
        terms = {"l1": (error.abs() * weight).mean(), "l2": (error.square() * weight).mean()}
        loss = cfg.beta * terms["l1"] + cfg.gamma * terms["l2"]
        if cfg.alpha > 0:
            terms["gan"] = adversarial(discriminator(views, fake), True)
            loss = loss + cfg.alpha * terms["gan"]
        if facenet is not None:
            terms["facenet"] = facenet(fake, targets)
            loss = loss + cfg.facenet * terms["facenet"]
        if real is not None:  # different photographs: identity and colour only, never pixels
            real_views, real_targets = (t.to(device) for t in real.batch(rng.choice(real.train, cfg.real_batch), rng))
            real_fake = generator(real_views)
            if facenet is not None:
                terms["real_facenet"] = facenet(real_fake, real_targets)
                loss = loss + cfg.facenet * terms["real_facenet"]
            if cfg.colour > 0:
                terms["real_colour"] = colour_term(real_fake, real_targets, region)
                loss = loss + cfg.colour * terms["real_colour"]
            if cfg.detail > 0:
                terms["real_detail"] = detail_term(real_fake, real_views)
                loss = loss + cfg.detail * terms["real_detail"]
            if teacher is not None:  # the student learns what the teacher does to real frames too
                with torch.no_grad():
                    real_taught = teacher(real_views)
                terms["real_distill"] = (real_fake - real_taught).abs().mean()
                loss = loss + cfg.distill * terms["real_distill"]
        if teacher is not None:
            with torch.no_grad():
                taught = teacher(views)
            terms["distill"] = ((fake - taught).abs() * weight).mean()
            loss = loss + cfg.distill * terms["distill"]
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        step += 1
        if step % cfg.log_every == 0 or step == cfg.steps:
            elapsed = time.monotonic() - started
            value = lambda k: f"{terms[k].item():.5f}" if k in terms else "0"  # noqa: E731
            writer.writerow([step, f"{loss.item():.5f}", value("l1"), value("l2"), value("gan"), value("distill"),
                             value("facenet"), value("real_facenet"), value("real_colour"), value("real_detail"),
                             value("real_distill"), f"{d_loss.item():.5f}", f"{elapsed:.1f}"])
            log_file.flush()
            rate = (step - first) / max(elapsed, 1e-6)
            bar.update(f"{cfg.model} step {step}/{cfg.steps} loss {loss.item():.4f} l1 {terms['l1'].item():.4f} "
                       f"d {d_loss.item():.3f} | {rate:.2f} it/s ETA {(cfg.steps - step) / max(rate, 1e-6) / 60:.1f} min",
                       final=step == cfg.steps)
        if step % cfg.sample_every == 0 or step == cfg.steps:
            write_sample(generator, cache, out / f"samples_{step:06d}.png", device)
            generator.train()
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            checkpoint()
    bar.close()
    log_file.close()
    return ckpt


def write_sample(generator: torch.nn.Module, cache: CropCache, path: Path, device, count: int = 4) -> None:
    """Validation people, whole crops: degraded input | output | clean truth, one row each."""
    generator.eval()
    rng = np.random.default_rng(7)
    rows = cache.val[np.linspace(0, len(cache.val) - 1, count).astype(int)]
    views, targets, _ = cache.pairs(rows, rng, 0.0, cache.spec.size, flip=False)
    with torch.no_grad():
        fake = generator(views.to(device)).cpu()
    tiles = [np.hstack([from_tensor(t.numpy()[None], cache.spec)[0] for t in (v, f, g)])
             for v, f, g in zip(views, fake, targets)]
    cv2.imwrite(str(path), np.vstack(tiles))
