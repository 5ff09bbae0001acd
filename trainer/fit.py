"""`mugshot-train fit`: train a teacher, a baseline, or distil the student from a teacher.

Read it top to bottom: load data, build models, resume if a checkpoint exists, then the
loop (discriminator step, generator step), logging, samples and checkpoints.  A
checkpoint describes itself: models, optimisers, step, config, input spec, data split and
RNG state, written atomically, so an interrupted run resumes exactly where it stopped.
"""
from __future__ import annotations

import csv
import dataclasses
import logging
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from edge.vision.align import INPUT_PARTS, from_tensor

from .config import TrainConfig, TrainConfigError
from .data import PairCache, PairTensors
from .identity import IdentityLoss
from .losses import adversarial, fields_l1, generator_loss, total_variation
from .nets import PatchDiscriminator, build_generator, parameters
from .progress import ProgressLine
from .split_notice import announce_fit_split

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"  # the step with the lowest validation L1 (config ``validation``)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def save_atomic(obj: dict, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_generator(checkpoint: str | Path, device: torch.device | str = "cpu") -> tuple[torch.nn.Module, dict]:
    """A trained generator and its checkpoint (config, spec, metrics) from a checkpoint file."""
    state = torch.load(checkpoint, map_location=device, weights_only=False)
    unknown = sorted(set(state["config"]) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:  # written by a version with options this one does not have
        raise TrainConfigError(f"{checkpoint}: config key {unknown[0]!r} is unknown to this version of the trainer")
    cfg = TrainConfig(**state["config"])
    model = make_generator(cfg, state["spec"]).to(device)
    model.load_state_dict(state["generator"])
    model.eval()
    return model, state


def make_generator(cfg: TrainConfig, spec: dict) -> torch.nn.Module:
    """The generator a config describes, for a cache's input spec (``size``, ``face_scale``)."""
    return build_generator(cfg.model, spec["size"], cfg.width, cfg.head, remaps=cfg.remaps, cell=cfg.cell,
                           local_pathways=cfg.local_pathways, face_scale=spec["face_scale"],
                           in_channels=sum(INPUT_PARTS[part] for part in cfg.inputs))


def init_from(generator: torch.nn.Module, weights: dict, source: str) -> None:
    """Copy every tensor whose name and shape match; an image-head generator can seed a flow-head
    one or a local-pathway teacher (their U-Net sits under ``unet.``), all but their own layers."""
    own = generator.state_dict()
    copied = {}
    for key, value in own.items():
        for name in (key, key.removeprefix("unet."), f"unet.{key}"):
            if name in weights and weights[name].shape == value.shape:
                copied[key] = weights[name]
                break
    if not copied:
        raise TrainConfigError(f"init: no tensor of {source} fits this generator")
    generator.load_state_dict(copied, strict=False)
    log.info("generator initialised from %s (%d of %d tensors; the rest start fresh)", source, len(copied), len(own))


def fit(cfg: TrainConfig, progress: bool = True) -> Path:
    torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)

    # --- data: split by identity, test identities never seen here
    cache = PairCache.load(cfg.cache)
    test_ids = cache.held_out()
    val_ids = validation_identities(cache, test_ids, cfg.validation)
    try:
        train = PairTensors(cache, cache.select(test_ids | val_ids, test=False), flip=cfg.flip, degrade=cfg.degrade,
                            rotations=cfg.rotations, inputs=cfg.inputs)
    except ValueError as exc:
        raise TrainConfigError(f"inputs: {list(cfg.inputs)}: {cfg.cache}: {exc}") from None
    val = PairTensors(cache, cache.select(val_ids, test=True), flip=False, inputs=cfg.inputs,
                      kinds=("studio",)) if val_ids else None  # scored on real photos only
    spec = train.spec  # the cache's framing with the config's input channels: what the export carries
    announce_fit_split(cache, cfg.cache, test_ids, val_ids, len(train))  # a WARNING naming them; too few: refused
    log.info("training pairs: %d (from %s), held-out identities: %d, validation: %d identities, %d pairs",
             len(train), cfg.cache, len(test_ids), len(val_ids), len(val) if val else 0)

    # --- models (seeded first: the same config gives the same initial weights)
    torch.manual_seed(cfg.seed)
    generator = make_generator(cfg, dataclasses.asdict(spec)).to(device)
    discriminator = PatchDiscriminator().to(device)
    for key in ("init", "teacher"):
        if getattr(cfg, key) and not Path(getattr(cfg, key)).is_file():
            raise TrainConfigError(f"{key}: checkpoint {getattr(cfg, key)} not found")
    if cfg.init:  # fine-tuning: the generator starts from a trained one (optimisers start afresh)
        init_from(generator, torch.load(cfg.init, map_location=device, weights_only=False)["generator"], cfg.init)
    identity = IdentityLoss(cfg.recognizer, device, test_ids) if cfg.identity > 0 else None
    facenet = facenet_loss(cfg, cache.spec, device) if cfg.facenet > 0 else None
    teacher = None
    if cfg.model == "student":
        teacher, teacher_state = load_generator(cfg.teacher, device)
        if tuple(teacher_state["config"].get("inputs", ("crop",))) != cfg.inputs:
            raise TrainConfigError(f"inputs: the student's {list(cfg.inputs)} differ from the teacher's "
                                   f"{list(teacher_state['config'].get('inputs', ['crop']))} ({cfg.teacher})")
        for p in teacher.parameters():
            p.requires_grad_(False)
    if cfg.distill_fields > 0 and not (teacher is not None and getattr(teacher, "head", None) == cfg.head
                                       and hasattr(generator, "run")):
        raise TrainConfigError(f"distill_fields: needs a teacher with the student's head ({cfg.head!r})")
    project = None  # maps the student's bottleneck to the teacher's for feature distillation
    if teacher is not None and cfg.distill_features > 0:
        project = torch.nn.Conv2d(generator.bottleneck_channels, teacher.bottleneck_channels, 1).to(device)
    g_params = list(generator.parameters()) + (list(project.parameters()) if project else [])
    opt_g = torch.optim.Adam(g_params, lr=cfg.lr, betas=(cfg.beta1, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    rng = torch.Generator().manual_seed(cfg.seed)
    step, best = 0, float("inf")  # best: the lowest validation L1 so far

    # --- resume
    ckpt_path = out / CHECKPOINT
    if ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        if state["config"] != dataclasses.asdict(cfg) | {"steps": state["config"]["steps"]}:
            log.warning("resuming %s with a changed config (only 'steps' should differ)", ckpt_path)
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        if project is not None and state.get("project"):
            project.load_state_dict(state["project"])
        rng.set_state(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        step, best = state["step"], state.get("best_validation_l1", best)
        log.info("resumed from %s at step %d", ckpt_path, step)

    def checkpoint(path: Path = ckpt_path) -> None:
        save_atomic({"generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
                     "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                     "project": project.state_dict() if project else None, "step": step,
                     "config": dataclasses.asdict(cfg), "spec": dataclasses.asdict(spec),
                     "split": sorted(test_ids), "validation": sorted(val_ids), "best_validation_l1": best,
                     "parameters": parameters(generator),
                     "rng": rng.get_state(), "torch_rng": torch.get_rng_state()}, path)

    # --- the loop
    log_path = out / "log.csv"
    new_log = not log_path.exists() or step == 0
    log_file = open(log_path, "w" if new_log else "a", newline="")
    writer = csv.writer(log_file)
    if new_log:
        for stale in (out / "validation.csv", out / BEST):  # from an earlier run in this folder
            stale.unlink(missing_ok=True)
        writer.writerow(["step", "g_total", "l1", "l2", "gan", "distill", "identity", "d_loss", "seconds", "facenet"])
    fixed_views, fixed_targets = train.batch(8, torch.Generator().manual_seed(1234))
    started, first_step = time.monotonic(), step
    bar = ProgressLine(progress)  # one line; log records are written above it, never into it
    generator.train()
    while step < cfg.steps:
        views, targets = (t.to(device) for t in train.batch(cfg.batch_size, rng))
        features = fields = None
        if cfg.distill_fields > 0 or cfg.field_tv > 0:
            fake, features, fields = generator.run(views)
        elif project is not None:
            fake, features = generator(views, return_features=True)
        else:
            fake = generator(views)

        d_loss = torch.zeros(())
        condition = views[:, :3]  # the discriminator judges (aligned crop, frontal) pairs
        if cfg.alpha > 0:  # discriminator: real pairs vs generated ones
            d_loss = 0.5 * (adversarial(discriminator(condition, targets), True)
                            + adversarial(discriminator(condition, fake.detach()), False))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()

        fake_logits = discriminator(condition, fake) if cfg.alpha > 0 else None
        terms = generator_loss(fake, targets, fake_logits, cfg)
        loss = terms["total"]
        if cfg.field_tv > 0:  # smooth maps: fewer seams, and a small student can follow them
            terms["field_tv"] = sum(total_variation(f) for f in fields if f.dim() == 4)
            loss = loss + cfg.field_tv * terms["field_tv"]
        if identity is not None:
            terms["identity"] = identity(fake, targets)
            loss = loss + cfg.identity * terms["identity"]
        if facenet is not None:  # the pretrained identity prior: still the same person?
            few = cfg.facenet_batch or len(fake)  # a random batch is a random sample: score its first few
            terms["facenet"] = facenet(fake[:few], targets[:few])
            loss = loss + cfg.facenet * terms["facenet"]
        if teacher is not None:  # distillation: follow the teacher's output (and features)
            with torch.no_grad():
                teacher_out, teacher_features, teacher_fields = teacher.run(views) if cfg.distill_fields > 0 else \
                    (*teacher(views, return_features=True), None)
            terms["distill"] = F.l1_loss(fake, teacher_out)
            loss = loss + cfg.distill * terms["distill"]
            if project is not None and features is not None:
                projected = F.adaptive_avg_pool2d(project(features), teacher_features.shape[-2:])
                assert projected.shape == teacher_features.shape, "feature distillation: shapes differ"
                terms["features"] = F.mse_loss(projected, teacher_features)
                loss = loss + cfg.distill_features * terms["features"]
            if cfg.distill_fields > 0:  # the same head: follow the teacher's flows and blend weights too
                terms["fields"] = fields_l1(fields, teacher_fields)
                loss = loss + cfg.distill_fields * terms["fields"]
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        step += 1

        if step % cfg.log_every == 0 or step == cfg.steps:
            elapsed = time.monotonic() - started
            writer.writerow([step, f"{loss.item():.5f}", f"{terms['l1'].item():.5f}", f"{terms['l2'].item():.5f}",
                             f"{terms.get('gan', torch.zeros(())).item():.5f}",
                             f"{terms.get('distill', torch.zeros(())).item():.5f}",
                             f"{terms.get('identity', torch.zeros(())).item():.5f}", f"{d_loss.item():.5f}",
                             f"{elapsed:.1f}", f"{terms.get('facenet', torch.zeros(())).item():.5f}"])
            log_file.flush()
            if progress:
                rate = (step - first_step) / max(elapsed, 1e-6)
                eta = (cfg.steps - step) / max(rate, 1e-6)
                bar.update(f"{cfg.model} step {step}/{cfg.steps} loss {loss.item():.4f} l1 {terms['l1'].item():.4f} "
                           f"id {terms.get('identity', terms.get('facenet', torch.zeros(()))).item():.3f} "
                           f"d {d_loss.item():.3f} | {rate:.1f} it/s ETA {eta / 60:.1f} min", final=step == cfg.steps)
        if step % cfg.sample_every == 0 or step == cfg.steps:
            write_samples(generator, fixed_views.to(device), fixed_targets.to(device), spec,
                          out / f"samples_{step:06d}.png")
            if val is not None:
                scores = validate(generator, val, device)
                append_row(out / "validation.csv", ["step", "l1", "psnr"], [step, *scores])
                log.info("step %d: validation L1 %.4f, PSNR %.2f dB (best L1 so far %.4f)", step, *scores,
                         min(best, scores[0]))
                if scores[0] < best:
                    best = scores[0]
                    checkpoint(out / BEST)
            plot_losses(log_path, out / "loss.png")
            generator.train()
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            checkpoint()
    bar.close()
    log_file.close()
    return ckpt_path


def facenet_loss(cfg: TrainConfig, spec, device: torch.device) -> torch.nn.Module:
    """The FaceNet identity term's frozen network, or a one-line error naming the missing cache."""
    from .identity_prior import FaceNetLoss
    from .identity_prior.facenet import DEFAULT_CACHE, FaceNetError

    try:
        return FaceNetLoss(spec, cache=Path(cfg.facenet_cache).expanduser() if cfg.facenet_cache else DEFAULT_CACHE
                           ).to(device)
    except (FaceNetError, OSError) as exc:
        raise TrainConfigError(f"facenet: {exc}") from None


def validation_identities(cache: PairCache, test_ids: set[str], count: int) -> set[str]:
    """``count`` training identities with studio pairs, evenly spaced in name order (so every
    source contributes), held out of training to score it."""
    if count == 0:
        return set()
    studio = cache.select(test_ids, test=False)
    names = sorted(set(cache.identities[studio[cache.kinds[studio] == "studio"]]))
    if count >= len(names):
        raise TrainConfigError(f"validation: {count} identities would leave none of the {len(names)} "
                               f"training identities of {cache.spec.size}px pairs to train on")
    return {str(names[int((i + 0.5) * len(names) / count)]) for i in range(count)}


@torch.no_grad()
def validate(generator, val: PairTensors, device: torch.device, batch: int = 64) -> tuple[float, float]:
    """(L1, PSNR in dB) of the generator on the validation pairs, on 0..1 pixel values."""
    generator.eval()
    errors, squared = [], []
    for start in range(0, len(val), batch):
        diff = (generator(val.views[start:start + batch].to(device)) - val.targets[start:start + batch].to(device)) / 2
        errors.append(diff.abs().mean((1, 2, 3)))
        squared.append(diff.pow(2).mean((1, 2, 3)))
    psnr = 10 * torch.log10(1 / torch.cat(squared).clamp_min(1e-10))
    return torch.cat(errors).mean().item(), psnr.mean().item()


def append_row(path: Path, header: list[str], row: list) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(header)
        writer.writerow([f"{v:.5f}" if isinstance(v, float) else v for v in row])


@torch.no_grad()
def write_samples(generator, views, targets, spec, path: Path) -> None:
    """A grid: one row per sample, input | output | target, with the frontalized face after the input
    for a generator that takes it (spec.inputs)."""
    generator.eval()
    fake = generator(views)
    shown = [views[:, :3]]
    if "frontal" in spec.inputs:
        at = sum(INPUT_PARTS[part] for part in spec.inputs[:spec.inputs.index("frontal")])
        shown.append(views[:, at:at + 3])
    rows = [np.hstack([from_tensor(t[i:i + 1].cpu().numpy(), spec)[0] for t in (*shown, fake, targets)])
            for i in range(len(views))]
    cv2.imwrite(str(path), cv2.resize(np.vstack(rows), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST))


def plot_losses(log_path: Path, out: Path, width: int = 640, height: int = 320) -> None:
    """The loss curves as a small PNG (OpenCV only: no plotting library needed), with the
    validation L1 (thick, black) when the run has a validation set."""
    with open(log_path, newline="") as f:
        rows = list(csv.DictReader(f))
    if len(rows) < 2:
        return
    canvas = np.full((height, width, 3), 255, np.uint8)
    steps = np.array([float(r["step"]) for r in rows])

    def curve(at: np.ndarray, values: np.ndarray, colour: tuple, thickness: int = 1) -> None:
        v = (values - values.min()) / max(values.max() - values.min(), 1e-9)
        pts = np.stack([(at - steps[0]) / max(steps[-1] - steps[0], 1) * (width - 20) + 10,
                        height - 30 - v * (height - 60)], 1).astype(np.int32)
        cv2.polylines(canvas, [pts], False, colour, thickness, cv2.LINE_AA)

    colours = {"l1": (200, 80, 0), "l2": (0, 150, 0), "gan": (0, 0, 200), "d_loss": (120, 120, 120),
               "distill": (150, 0, 150), "identity": (0, 140, 200),
               "facenet": (0, 90, 120)}
    for i, (name, colour) in enumerate(colours.items()):
        values = np.array([float(r.get(name) or 0) for r in rows])
        if not values.any():
            continue
        curve(steps, values, colour)
        cv2.putText(canvas, f"{name} {values[-1]:.3f}", (10 + 90 * i, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    colour, 1, cv2.LINE_AA)
    validation = log_path.with_name("validation.csv")
    if validation.exists():
        with open(validation, newline="") as f:
            points = np.array([(float(r["step"]), float(r["l1"])) for r in csv.DictReader(f)])
        if len(points) > 1:
            curve(points[:, 0], points[:, 1], (0, 0, 0), 2)
            cv2.putText(canvas, f"validation l1 {points[-1, 1]:.3f} (best {points[:, 1].min():.3f})", (10, 36),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(canvas, f"step {int(steps[-1])} (each curve scaled to its own range)", (10, height - 8),
                cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(out), canvas)
