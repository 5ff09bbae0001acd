"""Appearance-flow heads: frontalize by moving the input's own pixels.

A generator trained on a few dozen people that paints the frontal face from scratch paints
an average face.  These heads make the encoder-decoder predict, per output pixel, where to
sample the input view and where to sample its mirror image (the hidden half of a profile is
about the mirror of the visible half), with soft weights choosing between them; ``flow``
adds a synthesised colour as a third choice, ``warp`` has none, so every output pixel is a
pixel of the person.  Copied pixels carry the person's own skin, eyes and hair whatever the
training set covered (appearance flow, Zhou et al. 2016; soft symmetry as in Hassner et al.,
"Effective face frontalization", 2015).  Flows are predicted per 4x4 cell and interpolated,
so the face moves as a smooth sheet instead of tearing.  At initialisation the flows are zero.

Sampling is bilinear through one gather over the view and its mirror side by side: it exports
to plain ONNX ops (Gather, arithmetic) that run about twice as fast in onnxruntime as two
GridSample nodes, and training uses the same code, so export changes nothing.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import UNet

CHANNELS = {"flow": 10, "warp": 6}  # flows of view and mirror (4), blend logits (3 or 2), colour (3 or 0)


def sample_view_and_mirror(x: torch.Tensor, flows: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``x`` at (pixel + flows[:, 0:2]) and of its mirror at
    (pixel + flows[:, 2:4]), weighted by ``weights[:, 0]`` and ``weights[:, 1]`` and summed."""
    n, c, h, w = x.shape
    canvas = torch.cat([x, x.flip(-1)], -1).reshape(n, c, 2 * h * w)  # view | mirror, side by side
    ys = torch.arange(h, dtype=x.dtype, device=x.device).view(1, 1, h, 1).expand(1, 1, h, w)
    xs = torch.arange(w, dtype=x.dtype, device=x.device).view(1, 1, 1, w).expand(1, 1, h, w)
    limit = torch.tensor([w - 1.001, h - 1.001], dtype=x.dtype, device=x.device).repeat(2).view(1, 4, 1, 1)
    points = torch.minimum((torch.cat([xs, ys, xs, ys], 1) + flows).clamp(min=0), limit)  # border padding
    corner = points.floor()
    fx, fy = (points - corner)[:, 0::2], (points - corner)[:, 1::2]
    offset = torch.tensor([0.0, float(w)], dtype=x.dtype, device=x.device).view(1, 2, 1, 1)
    top_left = corner[:, 1::2] * (2 * w) + corner[:, 0::2] + offset
    index = torch.cat([top_left, top_left + 1, top_left + 2 * w, top_left + 2 * w + 1], 1).long()
    bilinear = torch.cat([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], 1)
    blend = bilinear * weights[:, :2].repeat(1, 4, 1, 1)
    taps = canvas.gather(2, index.reshape(n, 1, 8 * h * w).expand(n, c, 8 * h * w)).reshape(n, c, 8, h, w)
    return (taps * blend.unsqueeze(1)).sum(2)


class AppearanceFlow(nn.Module):
    def __init__(self, unet: UNet, size: int, head: str = "flow", max_shift: float = 0.3, flow_cell: int = 4):
        super().__init__()
        self.unet, self.head = unet, head
        self.max_shift = max_shift * size  # in pixels
        self.flow_cell = flow_cell  # flows are averaged over cells this wide, then interpolated: smooth by design
        self.bottleneck_channels = unet.bottleneck_channels
        last = [m for m in unet.out.modules() if isinstance(m, nn.Conv2d)][-1]
        with torch.no_grad():  # zero flow at the start: sample exactly where the pixel is
            per_output = last.out_channels // CHANNELS[head]  # 4 with a sub-pixel output (2x2 per channel)
            last.weight[:4 * per_output].zero_()  # output channels 0..3 are the two flows
            last.bias[:4 * per_output].zero_()

    def forward(self, x: torch.Tensor, return_features: bool = False):
        raw, features = self.unet(x, return_features=True)
        coarse = F.avg_pool2d(raw[:, :4], self.flow_cell)
        flows = torch.tanh(F.interpolate(coarse, scale_factor=self.flow_cell, mode="bilinear")) * self.max_shift
        if self.head == "flow":
            weights = torch.softmax(raw[:, 4:7], dim=1)
            out = sample_view_and_mirror(x, flows, weights) + weights[:, 2:3] * torch.tanh(raw[:, 7:10])
        else:
            out = sample_view_and_mirror(x, flows, torch.softmax(raw[:, 4:6], dim=1))
        return (out, features) if return_features else out
