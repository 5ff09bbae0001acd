"""Appearance-flow head: frontalize by moving the input's own pixels, synthesise only the rest.

A generator trained on a few dozen people that paints the frontal face from scratch paints
an average face.  This head makes the encoder-decoder predict, per output pixel, where to
sample the input view, where to sample its mirror image (the hidden half of a profile is
about the mirror of the visible half), and a synthesised colour, with soft weights choosing
among the three.  Copied pixels carry the person's own skin, eyes and hair whatever the
training set covered (appearance flow, Zhou et al. 2016; soft symmetry as in Hassner et al.,
"Effective face frontalization", 2015).  At initialisation the flows are zero: the output is
an even blend of input, mirror and synthesis, and training moves from there.

Exports to ONNX GridSample (opset 16+); convolutions quantize to INT8, the sampling stays float.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import UNet

CHANNELS = 10  # flow of the view (2), flow of the mirror (2), blend logits (3), colour (3)


class AppearanceFlow(nn.Module):
    def __init__(self, unet: UNet, size: int, max_shift: float = 0.6):
        super().__init__()
        self.unet = unet
        self.max_shift = max_shift  # in normalised coordinates (-1..1 spans the crop)
        self.bottleneck_channels = unet.bottleneck_channels
        identity = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
        self.register_buffer("base_grid", F.affine_grid(identity, [1, 3, size, size], align_corners=False),
                             persistent=False)
        last = [m for m in unet.out.modules() if isinstance(m, nn.Conv2d)][-1]
        with torch.no_grad():  # zero flow at the start: sample exactly where the pixel is
            per_output = last.out_channels // CHANNELS  # 4 with a sub-pixel output (2x2 per channel), else 1
            last.weight[:4 * per_output].zero_()  # output channels 0..3 are the two flows
            last.bias[:4 * per_output].zero_()

    def forward(self, x: torch.Tensor, return_features: bool = False):
        raw, features = self.unet(x, return_features=True)
        flows = torch.tanh(raw[:, :4]) * self.max_shift
        view = F.grid_sample(x, self.base_grid + flows[:, :2].permute(0, 2, 3, 1), padding_mode="border",
                             align_corners=False)
        mirror = F.grid_sample(x.flip(-1), self.base_grid + flows[:, 2:4].permute(0, 2, 3, 1),
                               padding_mode="border", align_corners=False)
        weights = torch.softmax(raw[:, 4:7], dim=1)
        out = weights[:, 0:1] * view + weights[:, 1:2] * mirror + weights[:, 2:3] * torch.tanh(raw[:, 7:10])
        return (out, features) if return_features else out
