"""The restoration networks: the aligned face in, the same face cleaned up out, at the input's own size.

Both are fully convolutional with a global residual (``output = input + correction``, clamped to the
normalised range), so an input that is already clean comes out almost unchanged, the output is native at
whatever size the box runs them (any multiple of 32; 256 by default, 512 where the source has the pixels),
and nothing is upsampled from a smaller picture.

- ``RestoreTeacher``: an encoder-decoder (U-Net) with a full-resolution first level, five stride-2 levels and
  skip connections; the discriminator of ``nets.PatchDiscriminator`` judges its (input, output) pairs.
- ``RestoreStudent``: about 0.5% of the teacher's parameters, 30x faster.  An 8x8 convolution of stride 4
  turns the 256x256x3 face into 64x64 features (overlapping windows: no pixel is dropped and no 4x4 cell
  ends at a hard border), a two-level U-Net works there, and an 8x8 transposed convolution of stride 4 puts
  the correction back at full resolution: every output pixel has its own value, blended from the 2x2 cells
  around it (a kernel twice the stride overlaps evenly: no checkerboard), so flat backgrounds show no blocks
  and the smooth part (exposure, colour, light) is interpolated for free.  A global branch (the mean of the
  bottleneck, a 1x1 convolution, added everywhere) gives every cell the whole face's exposure and colour:
  without it a student trained on windows corrected exposure patch by patch and left halos around the head.
  It replaced a pixel-unshuffle/pixel-shuffle student (same U-Net, 35,751 parameters, 15.7x) whose
  full-resolution shuffles, blend convolution and bilinear resize cost more on one core than its convolutions.
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
    def __init__(self, width: int = 16, stride: int = 4):
        super().__init__()
        k = 2 * stride
        self.enc = nn.Sequential(nn.Conv2d(3, width, k, stride, (k - stride) // 2), nn.LeakyReLU(0.1, inplace=True),
                                 conv(width, width))
        self.down = nn.Sequential(conv(width, 2 * width, stride=2), conv(2 * width, 2 * width))
        self.dec = conv(3 * width, width)
        self.glob = conv(2 * width, width, kernel=1)  # the whole face's mean features: one exposure, one colour
        self.out = nn.ConvTranspose2d(width, 3, k, stride, (k - stride) // 2)  # the correction, full resolution
        nn.init.zeros_(self.out.weight)  # starts as the identity: the input passes through
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.enc(x)
        d = self.down(e)
        y = self.dec(torch.cat([upsample(d, e), e], 1)) + self.glob(d.mean((2, 3), keepdim=True))
        return (x + self.out(y)).clamp(-1, 1)


def build_restorer(model: str, width: int) -> nn.Module:
    if model == "teacher":
        return RestoreTeacher(width)
    if model == "student":
        return RestoreStudent(width)
    raise ValueError(f"model: 'teacher' or 'student', got {model!r}")
