"""The hybrid loss: alpha * L_GAN + beta * L1 + gamma * L2, plus optional symmetry and total variation."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def adversarial(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """Binary cross-entropy on the discriminator's logits."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def symmetry(x: torch.Tensor) -> torch.Tensor:
    """A frontal face is nearly mirror-symmetric."""
    return (x - x.flip(-1)).abs().mean()


def generator_loss(fake: torch.Tensor, target: torch.Tensor, fake_logits: torch.Tensor | None, cfg) -> dict:
    terms = {"l1": F.l1_loss(fake, target), "l2": F.mse_loss(fake, target)}
    total = cfg.beta * terms["l1"] + cfg.gamma * terms["l2"]
    if fake_logits is not None and cfg.alpha > 0:
        terms["gan"] = adversarial(fake_logits, True)
        total = total + cfg.alpha * terms["gan"]
    if cfg.symmetry > 0:
        terms["sym"] = symmetry(fake)
        total = total + cfg.symmetry * terms["sym"]
    if cfg.tv > 0:
        terms["tv"] = total_variation(fake)
        total = total + cfg.tv * terms["tv"]
    terms["total"] = total
    return terms


def fields_l1(student: tuple[torch.Tensor, ...], teacher: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Distillation of a warp head: L1 between a student's fields (remaps, flows, blend weights:
    ``run()`` of the heads in ``nets/``) and its teacher's, the teacher's averaged to the student's cells."""
    total = torch.zeros((), device=student[0].device)
    for s, t in zip(student, teacher):
        if t.shape != s.shape:
            t = F.adaptive_avg_pool1d(t, s.shape[-1]) if t.dim() == 3 else F.adaptive_avg_pool2d(t, s.shape[-2:])
        total = total + F.l1_loss(s, t)
    return total
