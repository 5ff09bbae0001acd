"""The refiner's blend head: the network chooses, per pixel, between the two pictures it was given
and paints only a correction on top.

Input (7 channels, ``edge.vision.align.stack_inputs``): the aligned crop, the frontalized face and its
visibility map.  The U-Net predicts a blend logit and a residual; the output is
``w * frontal + (1 - w) * crop + residual`` with ``w = sigmoid(logit)``, clipped to the image range.
Every pixel the photo really shows reaches the output at full detail, which is what keeps the person:
a network that paints the whole face from ~90 training people paints an average face.  Without a mesh
the frontal channels are empty (0) and the network learns to keep the crop and correct it.

The last convolution starts at zero (``w = 0.5``, no residual), so training begins from the average
of the two pictures, not from noise.  Only convolutions, a sigmoid, products and sums: it exports to
ONNX and quantizes like the image head.
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import UNet

CHANNELS = 4  # blend logit + 3 residual channels


class BlendRefiner(nn.Module):
    def __init__(self, unet: UNet, residual_scale: float = 0.5):
        super().__init__()
        self.unet = unet
        self.residual_scale = residual_scale
        self.bottleneck_channels = unet.bottleneck_channels
        last = [m for m in unet.out.modules() if isinstance(m, nn.Conv2d)][-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        fields, features = self.unet(x, return_features=True)
        crop, frontal = x[:, :3], x[:, 3:6]
        weight = torch.sigmoid(fields[:, :1])
        residual = self.residual_scale * torch.tanh(fields[:, 1:4])
        out = torch.clamp(crop + weight * (frontal - crop) + residual, -1.0, 1.0)
        return (out, features) if return_features else out
