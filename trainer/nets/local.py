"""TP-GAN's local pathways: the eyes, the nose and the mouth each get a small encoder-decoder.

Huang et al. (2017) pair the global encoder-decoder with one pathway per facial part that
sees only that part, so fine detail there is not averaged away by the whole-face network.
The crops here are aligned to a fixed five-point template (``edge.vision.align``), so each part
sits in a fixed window of the input: no landmark input is needed, and the exported model
keeps the single ``face`` input the camera box feeds it.  Each pathway's output features are
placed back in their window of an otherwise empty canvas, and a small fusion network turns
the global output, that canvas and the input into the mugshot.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edge.vision.align import canonical_points

from .blocks import UNet

# part -> (centre: the mean of these template landmarks, window height and width as a share of the crop)
PARTS = {"left_eye": ((0,), (0.31, 0.31)), "right_eye": ((1,), (0.31, 0.31)),
         "nose": ((2,), (0.25, 0.31)), "mouth": ((3, 4), (0.25, 0.38))}


def part_windows(size: int, face_scale: float) -> dict[str, tuple[int, int, int, int]]:
    """part -> (top, left, height, width) in a size x size aligned crop; sides are multiples of 4
    (two stride-2 levels in each pathway) and windows stay inside the crop."""
    points = canonical_points(size, face_scale)
    windows = {}
    for name, (landmarks, (h_share, w_share)) in PARTS.items():
        cx, cy = points[list(landmarks)].mean(0)
        h, w = (max(8, round(share * size * face_scale / 4) * 4) for share in (h_share, w_share))
        top = int(min(max(round(cy - h / 2), 0), size - h))
        left = int(min(max(round(cx - w / 2), 0), size - w))
        windows[name] = (top, left, h, w)
    return windows


class LocalPathways(nn.Module):
    """A global generator (any image-head U-Net) plus TP-GAN's four part pathways and a fusion."""

    def __init__(self, global_net: UNet, size: int, face_scale: float, width: int = 16, features: int = 16):
        super().__init__()
        self.unet, self.head, self.features = global_net, "image", features
        self.bottleneck_channels = global_net.bottleneck_channels
        self.windows = part_windows(size, face_scale)
        self.parts = nn.ModuleDict({name: UNet([width, 2 * width], out_channels=features, tanh=False)
                                    for name in self.windows})
        self.fuse = nn.Sequential(nn.Conv2d(3 + features + 3, 2 * width, 3, padding=1), nn.LeakyReLU(0.2, True),
                                  nn.Conv2d(2 * width, 3, 3, padding=1), nn.Tanh())

    def forward(self, x: torch.Tensor, return_features: bool = False):
        global_out, features = self.unet(x, return_features=True)
        size = x.shape[-1]
        canvas = sum(F.pad(self.parts[name](x[:, :, top:top + h, left:left + w]),
                           (left, size - left - w, top, size - top - h))
                     for name, (top, left, h, w) in self.windows.items())
        out = self.fuse(torch.cat([global_out, canvas, x], 1))
        return (out, features) if return_features else out
