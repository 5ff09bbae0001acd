"""Building blocks. Resize + convolution instead of transposed convolution and BatchNorm
instead of InstanceNorm: both quantize to INT8 cleanly and fold into the convolutions."""
from __future__ import annotations

import torch
from torch import nn


def down(cin: int, cout: int, norm: bool = True, kernel: int = 4) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride=2, padding=(kernel - 1) // 2, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


def up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                         nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def to_image(cin: int, light: bool = False) -> nn.Sequential:
    if light:  # bilinear + 1x1: almost no work at full resolution (the student's latency is per-op bound)
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(cin, 3, 1), nn.Tanh())
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, 3, 3, padding=1), nn.Tanh())


class UNet(nn.Module):
    """Encoder-decoder with skip connections; ``channels`` per level, input side first."""

    def __init__(self, channels: list[int], down_kernel: int = 4, light_output: bool = False):
        super().__init__()
        self.downs = nn.ModuleList()
        cin = 3
        for i, c in enumerate(channels):
            self.downs.append(down(cin, c, norm=i > 0, kernel=down_kernel))
            cin = c
        self.ups = nn.ModuleList()
        rev = channels[::-1]
        for i in range(len(rev) - 1):
            skip = rev[i] if i > 0 else 0
            self.ups.append(up(rev[i] + skip, rev[i + 1]))
        self.out = to_image(rev[-1] * 2, light_output)
        self.bottleneck_channels = channels[-1]

    def forward(self, x: torch.Tensor, return_features: bool = False):
        skips = []
        for layer in self.downs:
            x = layer(x)
            skips.append(x)
        features = x
        for i, layer in enumerate(self.ups):
            if i > 0:
                x = torch.cat([x, skips[-1 - i]], 1)
            x = layer(x)
        x = self.out(torch.cat([x, skips[0]], 1))
        return (x, features) if return_features else x
