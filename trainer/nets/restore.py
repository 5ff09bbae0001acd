"""The restoration networks: the aligned face in, the same face cleaned up out, at the input's own size.

Both are fully convolutional with a global residual (``output = input + correction``, clamped to the
normalised range), so an input that is already clean comes out almost unchanged, the output is native at
whatever size the box runs them (any multiple of 32; 256 by default, 512 where the source has the pixels),
and nothing is upsampled from a smaller picture.

- ``RestoreTeacher``: an encoder-decoder (U-Net) with a full-resolution first level, five stride-2 levels and
  skip connections; the discriminator of ``nets.PatchDiscriminator`` judges its (input, output) pairs.
- ``RestoreStudent``: about 1% of the teacher's parameters.  A pixel-unshuffle by 4 turns the 256x256x3 face
  into 64x64x48 (no pixel is dropped), a two-level U-Net works there, and a pixel-shuffle by 4 puts the
  detail of the correction back at full resolution: every output pixel has its own value, at a sixteenth of
  the work.  A 3x3 convolution at full resolution blends across the 4x4 cells' borders, and the smooth part of
  the correction (exposure, colour, light) comes bilinearly from 64x64: without both, the first student
  showed 4x4 blocks on flat backgrounds.  A global branch (the mean of the bottleneck, a 1x1 convolution, added
  everywhere) gives every cell the whole face's exposure and colour: without it the student, trained on windows,
  corrected exposure patch by patch and left halos around the head.
No normalisation layers: nothing to differ between training and inference, and plain convolutions quantize
to INT8 cleanly.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ALIGN = 32  # input sides must be multiples of this (the teacher halves five times)


def conv(cin: int, cout: int, stride: int = 1, act: bool = True, kernel: int = 3) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2)]
    if act:
        layers.append(nn.LeakyReLU(0.1, inplace=True))
    return nn.Sequential(*layers)


def upsample(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class RestoreTeacher(nn.Module):
    def __init__(self, width: int = 16, levels: tuple[int, ...] = (1, 2, 4, 8, 16, 24)):
        super().__init__()
        chans = [width * m for m in levels]
        self.stem = nn.Sequential(conv(3, chans[0]), conv(chans[0], chans[0]))
        self.downs = nn.ModuleList(nn.Sequential(conv(a, b, stride=2), conv(b, b)) for a, b in zip(chans, chans[1:]))
        self.ups = nn.ModuleList(nn.Sequential(conv(b + a, a), conv(a, a))
                                 for a, b in zip(chans[:-1][::-1], chans[1:][::-1]))
        self.out = conv(chans[0], 3, act=False)
        nn.init.zeros_(self.out[0].weight)  # starts as the identity: the input passes through
        nn.init.zeros_(self.out[0].bias)
        self.bottleneck_channels = chans[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(x)]
        for layer in self.downs:
            skips.append(layer(skips[-1]))
        y = skips.pop()
        for layer in self.ups:
            skip = skips.pop()
            y = layer(torch.cat([upsample(y, skip), skip], 1))
        return (x + self.out(y)).clamp(-1, 1)


class RestoreStudent(nn.Module):
    def __init__(self, width: int = 16, shuffle: int = 4):
        super().__init__()
        c = 3 * shuffle * shuffle
        self.shuffle = shuffle
        self.enc = conv(c, width)
        self.down = nn.Sequential(conv(width, 2 * width, stride=2), conv(2 * width, 2 * width))
        self.dec = conv(3 * width, width)
        self.glob = conv(2 * width, width, kernel=1)  # the whole face's mean features: one exposure, one colour
        self.out = conv(width, c, act=False)  # the detail: every pixel of each 4x4 cell
        self.coarse = conv(width, 3, act=False)  # the smooth part (exposure, colour, light): bilinear to full size
        self.smooth = nn.Conv2d(3, 3, 3, padding=1)  # full resolution, across the cells' borders
        for layer in (self.out[0], self.coarse[0]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        with torch.no_grad():  # starts as the identity
            self.smooth.weight.zero_()
            self.smooth.bias.zero_()
            for i in range(3):
                self.smooth.weight[i, i, 1, 1] = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.pixel_unshuffle(x, self.shuffle)
        e = self.enc(s)
        d = self.down(e)
        y = self.dec(torch.cat([upsample(d, e), e], 1)) + self.glob(d.mean((2, 3), keepdim=True))
        correction = self.smooth(F.pixel_shuffle(self.out(y), self.shuffle)) + upsample(self.coarse(y), x)
        return (x + correction).clamp(-1, 1)


def build_restorer(model: str, width: int) -> nn.Module:
    if model == "teacher":
        return RestoreTeacher(width)
    if model == "student":
        return RestoreStudent(width)
    raise ValueError(f"model: 'teacher' or 'student', got {model!r}")
