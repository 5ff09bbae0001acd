"""Per-step training cost of the refiner, side by side in one run (interleaved rounds, medians):
``python -m trainer.bench_refiner CACHE [--rounds N] [--threads 2]``.

One step as ``fit`` does it (batch, discriminator step, generator step with the hybrid loss) for the
crop-only teacher, the 7-channel refiner teacher without and with the FaceNet term, and the refiner
student distilled from that teacher with FaceNet, plus the batch stacking alone; configs are
``trainer/configs/teacher_refiner.toml`` and ``student_refiner.toml`` at the cache's size.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch
import torch.nn.functional as F

from .config import load_train_config
from .data import PairCache, PairTensors
from .fit import facenet_loss, make_generator
from .losses import adversarial, generator_loss
from .nets import PatchDiscriminator


def variant(cache: PairCache, cfg, teacher=None, facenet=None):
    train = PairTensors(cache, cache.select(cache.held_out(), test=False), flip=cfg.flip, degrade=cfg.degrade,
                        inputs=cfg.inputs)
    generator = make_generator(cfg, dataclasses.asdict(train.spec))
    discriminator = PatchDiscriminator()
    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    rng = torch.Generator().manual_seed(0)

    def step() -> None:
        views, targets = train.batch(cfg.batch_size, rng)
        fake = generator(views)
        d_loss = 0.5 * (adversarial(discriminator(views[:, :3], targets), True)
                        + adversarial(discriminator(views[:, :3], fake.detach()), False))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        loss = generator_loss(fake, targets, discriminator(views[:, :3], fake), cfg)["total"]
        if facenet is not None:
            loss = loss + cfg.facenet * facenet(fake, targets)
        if teacher is not None:
            with torch.no_grad():
                teacher_out = teacher(views)
            loss = loss + cfg.distill * F.l1_loss(fake, teacher_out)
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
    return step, generator, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cache = PairCache.load(args.cache)
    teacher_cfg = load_train_config("trainer/configs/teacher_refiner.toml", [f"cache={args.cache}"])
    student_cfg = load_train_config("trainer/configs/student_refiner.toml", [f"cache={args.cache}"])
    facenet = facenet_loss(teacher_cfg, cache.spec, torch.device("cpu"))
    crop_only, _, _ = variant(cache, dataclasses.replace(teacher_cfg, inputs=("crop",), facenet=0.0))
    refiner, _, _ = variant(cache, dataclasses.replace(teacher_cfg, facenet=0.0))
    refiner_facenet, _, train = variant(cache, teacher_cfg, facenet=facenet)
    teacher = make_generator(teacher_cfg, dataclasses.asdict(train.spec)).eval()  # frozen, as fit loads it
    student, _, _ = variant(cache, student_cfg, teacher=teacher, facenet=facenet)
    stacking = lambda: train.batch(teacher_cfg.batch_size, torch.Generator().manual_seed(1))  # noqa: E731
    runs = {"batch stacking alone (7 ch)": stacking, "teacher, crop only (3 ch)": crop_only,
            "refiner teacher (7 ch)": refiner, "refiner teacher + FaceNet": refiner_facenet,
            "refiner student + FaceNet, distilled": student}
    times = {name: [] for name in runs}
    for name, run in runs.items():  # warm-up
        run()
    for _ in range(args.rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    base = statistics.median(times["teacher, crop only (3 ch)"])
    print(f"{cache.spec.size} px, batch {teacher_cfg.batch_size}, {args.threads} threads, {args.rounds} interleaved "
          f"rounds (median s/step, ratio to the crop-only teacher):")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:40s} {median:6.2f} s  x{median / base:.2f}  (min {min(values):.2f}, max {max(values):.2f})")


if __name__ == "__main__":
    main()
