"""The network factory: every generator and the discriminator by name."""
from __future__ import annotations

import math

from torch import nn

from .blocks import UNet


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN: (input view, candidate frontal) -> a map of real/fake logits."""

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(6, w, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(4 * w, 1, 3, 1, 1))

    def forward(self, view, frontal):
        import torch
        return self.net(torch.cat([view, frontal], 1))


class ScalewayAutoencoder(nn.Module):
    """The earlier baseline: stride-2 convolutions down to a 512-d code, transposed convolutions back."""

    def __init__(self, size: int = 64, width: int = 32):
        super().__init__()
        depth = int(math.log2(size))
        chans = [min(512, width * 2 ** i) for i in range(depth - 1)] + [512]
        enc, cin = [], 3
        for i, c in enumerate(chans):
            enc += [nn.Conv2d(cin, c, 4, 2, 1, bias=i == 0)] + ([nn.BatchNorm2d(c)] if i else []) + \
                   [nn.LeakyReLU(0.2, inplace=True)]
            cin = c
        dec = []
        for c in chans[::-1][1:]:
            dec += [nn.ConvTranspose2d(cin, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            cin = c
        dec += [nn.ConvTranspose2d(cin, 3, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*enc, *dec)

    def forward(self, x):
        return self.net(x)


def teacher(width: int = 32) -> UNet:
    return UNet([width, 2 * width, 4 * width, 8 * width, 8 * width])


def student(width: int = 8) -> UNet:
    """About 1% of the teacher: four levels, 3x3 strided convolutions."""
    return UNet([width, 2 * width, 4 * width, 3 * width], down_kernel=3)


def pix2pix_unet(size: int = 64, width: int = 32) -> UNet:
    depth = int(math.log2(size))
    return UNet([min(8 * width, width * 2 ** i) for i in range(depth)])


def build_generator(name: str, size: int, width: int) -> nn.Module:
    if name == "teacher":
        return teacher(width)
    if name == "student":
        return student(width)
    if name == "autoencoder":
        return ScalewayAutoencoder(size, width)
    if name == "unet":
        return pix2pix_unet(size, width)
    raise ValueError(f"model: unknown generator {name!r}")


def parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
