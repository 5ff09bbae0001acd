"""The adversarial term of the hybrid loss alpha * L_GAN + beta * L1 + gamma * L2 (``restore_fit.py`` adds the
L1 and L2 terms, weighted by where the crop lies inside its source photo)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def adversarial(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """Binary cross-entropy on the discriminator's logits."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)
