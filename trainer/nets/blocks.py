"""Building blocks. Resize + convolution (or a sub-pixel shuffle) instead of transposed
convolution and BatchNorm instead of InstanceNorm: both quantize to INT8 cleanly and fold
into the convolutions."""
from __future__ import annotations

import torch
from torch import nn


def down(cin: int, cout: int, norm: bool = True, kernel: int = 4) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride=2, padding=(kernel - 1) // 2, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


def up(cin: int, cout: int, conv_first: bool = False) -> nn.Sequential:
    """Double the resolution: nearest resize then 3x3 convolution, or (``conv_first``, 4x fewer
    multiply-adds) the convolution at the lower resolution, then a bilinear resize (nearest
    would leave 2x2 blocks that no later layer smooths)."""
    conv = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    if conv_first:
        return nn.Sequential(*conv, nn.Upsample(scale_factor=2, mode="bilinear"))
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), *conv)


def to_image(cin: int, sub_pixel: bool = False, channels: int = 3, tanh: bool = True) -> nn.Sequential:
    if sub_pixel:  # a 1x1 convolution makes the 2x2 sub-pixels of every position: full detail, little work
        layers = [nn.Conv2d(cin, 4 * channels, 1), nn.PixelShuffle(2)]
    else:
        layers = [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, channels, 3, padding=1)]
    return nn.Sequential(*layers, *([nn.Tanh()] if tanh else []))


class UNet(nn.Module):
    """Encoder-decoder with skip connections; ``channels`` per level, input side first.

    ``light`` (the student): convolutions before each resize and a sub-pixel output, so the
    decoder does a quarter of the work; at these sizes onnxruntime is bound by per-op cost
    and small-channel convolutions, not by multiply-adds alone.

    ``stop``: the decoder ends that many levels early, with a 1x1 convolution at 1/2**(stop+1)
    of the input size (a coarse field, such as the student's appearance flow, needs no more).

    ``in_channels``: 3 for the aligned crop; 7 with the frontalized face and its visibility map
    stacked behind it (``edge.vision.align.stack_inputs``)."""

    def __init__(self, channels: list[int], down_kernel: int = 4, light: bool = False, out_channels: int = 3,
                 tanh: bool = True, stop: int = 0, in_channels: int = 3):
        super().__init__()
        self.downs = nn.ModuleList()
        cin = in_channels
        for i, c in enumerate(channels):
            self.downs.append(down(cin, c, norm=i > 0, kernel=down_kernel))
            cin = c
        self.ups = nn.ModuleList()
        rev = channels[::-1]
        ups = len(rev) - 1 - stop
        for i in range(ups):
            skip = rev[i] if i > 0 else 0
            self.ups.append(up(rev[i] + skip, rev[i + 1], conv_first=light))
        if stop:
            self.out = nn.Sequential(nn.Conv2d(rev[ups] * 2, out_channels, 1),
                                     *([nn.Tanh()] if tanh else []))
        else:
            self.out = to_image(rev[-1] * 2, sub_pixel=light, channels=out_channels, tanh=tanh)
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
        x = self.out(torch.cat([x, skips[-1 - len(self.ups)]], 1))
        return (x, features) if return_features else x
