"""The trainer's networks: the restoration teacher and student (``restore.py``) and the conditional PatchGAN
discriminator that judges the teacher's (input, output) pairs."""
from __future__ import annotations

from torch import nn


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN: (input, candidate output) -> a map of real/fake logits."""

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(6, w, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(4 * w, 1, 3, 1, 1))

    def forward(self, view, candidate):
        import torch
        return self.net(torch.cat([view, candidate], 1))


def parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
