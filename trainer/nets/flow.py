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

The student's warp head (``CoarseWarp``) predicts the per-cell fields directly: its decoder
stops at the cell grid, and one resize brings flows and blend weights to full size.  It can be
distilled from a warp teacher's fields (``fields()``), not only from its output image.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import UNet

CHANNELS = {"flow": 10, "warp": 6}  # flows of view and mirror (4), blend logits (3 or 2), colour (3 or 0)


def _grid(size: int, dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(positions, sign): every pixel's (x, y, x, y) and the factors that turn flows of the view
    and of its mirror into positions on the view (the mirror's x runs the other way)."""
    ys = torch.arange(size, dtype=dtype, device=device).view(size, 1).expand(size, size)
    xs = torch.arange(size, dtype=dtype, device=device).view(1, size).expand(size, size)
    positions = torch.stack([xs, ys, (size - 1) - xs, ys]).unsqueeze(0)
    return positions, torch.tensor([1.0, 1.0, -1.0, 1.0], dtype=dtype, device=device).view(1, 4, 1, 1)


def _tap_layers(size: int, dtype, device) -> tuple[torch.Tensor, ...]:
    """Two fixed grouped 1x1 convolutions: integer corners (x, y) of each source -> the flat
    indices of its four taps (y * size + x, + 1, + size, + size + 1); and fractions
    (fx, fy, fx * fy) -> the four bilinear weights ((1-fx)(1-fy), fx(1-fy), (1-fx)fy, fx fy)."""
    index_w = torch.tensor([[1.0, size]] * 4, dtype=dtype, device=device).repeat(2, 1).view(8, 2, 1, 1)
    index_b = torch.tensor([0.0, 1.0, size, size + 1.0], dtype=dtype, device=device).repeat(2)
    bilinear_w = torch.tensor([[-1.0, -1.0, 1.0], [1.0, 0.0, -1.0], [0.0, 1.0, -1.0], [0.0, 0.0, 1.0]],
                              dtype=dtype, device=device).repeat(2, 1).view(8, 3, 1, 1)
    bilinear_b = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=dtype, device=device).repeat(2)
    return index_w, index_b, bilinear_w, bilinear_b


def sample_points(x: torch.Tensor, points: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``x`` at two points per pixel, (points[:, 0], points[:, 1]) and
    (points[:, 2], points[:, 3]) in pixels, weighted by ``weights[:, 0]`` and ``weights[:, 1]``
    and summed; border padding.

    Written for few, cheap ONNX nodes (onnxruntime's cost here is per node, not per pixel):
    index and bilinear arithmetic are two fixed 1x1 convolutions, and all eight taps come from
    one GatherElements.  A Gather along the pixel axis, or of rows of channels, measured several
    times slower."""
    n, c, h, w = x.shape
    assert h == w, "square inputs only"
    index_w, index_b, bilinear_w, bilinear_b = _tap_layers(w, x.dtype, x.device)
    points = points.clamp(0.0, w - 1.001)
    corner = points.floor()
    index = F.conv2d(corner, index_w, index_b, groups=2).long().reshape(n, 1, 8 * h * w)
    frac = (points - corner).reshape(n, 2, 2, h, w)  # [first, second][x, y]
    terms = torch.cat([frac, frac[:, :, :1] * frac[:, :, 1:]], 2).reshape(n, 6, h, w)  # x, y, xy
    bilinear = F.conv2d(terms, bilinear_w, bilinear_b, groups=2).reshape(n, 2, 4, h, w)
    blend = (bilinear * weights.unsqueeze(2)).reshape(n, 1, 8 * h * w)
    sampled = x.reshape(n, c, h * w).gather(2, index.expand(n, c, 8 * h * w)) * blend
    return sampled.reshape(n, c, 8, h * w).sum(2).reshape(n, c, h, w)


def sample_view_and_mirror(x: torch.Tensor, flows: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``x`` at (pixel + flows[:, 0:2]) and of its mirror image at
    (pixel + flows[:, 2:4]), weighted by ``weights[:, 0]`` and ``weights[:, 1]`` and summed.
    A point of the mirror is a point of the view with x reflected: no flipped copy is made."""
    positions, sign = _grid(x.shape[-1], x.dtype, x.device)
    return sample_points(x, positions + flows * sign, weights)


def upsample_matrix(size: int, scale: int) -> torch.Tensor:
    """(size * scale, size): bilinear upsampling of one axis as a matrix (align_corners=False),
    so that a small field is resized by two MatMuls, cheaper in onnxruntime than one Resize."""
    eye = torch.eye(size).unsqueeze(1)  # (size, 1, size): one basis vector per row
    return F.interpolate(eye, scale_factor=scale, mode="linear").squeeze(1).T.contiguous()


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

    def _weights(self, raw: torch.Tensor) -> torch.Tensor:
        if self.head == "flow":
            return torch.softmax(raw[:, 4:7], dim=1)
        view = torch.sigmoid(raw[:, 4:5] - raw[:, 5:6])  # = softmax over the two logits, far cheaper in ORT
        return torch.cat([view, 1 - view], 1)

    def run(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(output, bottleneck features, per-cell fields: tanh of flows and the view's weight)."""
        raw, features = self.unet(x, return_features=True)
        coarse = F.avg_pool2d(raw[:, :4], self.flow_cell)
        flows = torch.tanh(F.interpolate(coarse, scale_factor=self.flow_cell, mode="bilinear")) * self.max_shift
        weights = self._weights(raw)
        out = sample_view_and_mirror(x, flows, weights[:, :2])
        if self.head == "flow":
            out = out + weights[:, 2:3] * torch.tanh(raw[:, 7:10])
        fields = torch.cat([torch.tanh(coarse), F.avg_pool2d(weights[:, :1], self.flow_cell)], 1)
        return out, features, (fields,)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        out, features, _ = self.run(x)
        return (out, features) if return_features else out


class CoarseWarp(nn.Module):
    """The student's warp head: its U-Net ends at the cell grid (``stop``) with the two flows and
    one view-weight logit per cell; one bilinear resize brings them to full size."""

    def __init__(self, unet: UNet, size: int, max_shift: float = 0.3, flow_cell: int = 4):
        super().__init__()
        self.unet, self.head, self.flow_cell = unet, "warp", flow_cell
        self.max_shift = max_shift * size
        self.bottleneck_channels = unet.bottleneck_channels
        self.register_buffer("upsample", upsample_matrix(size // flow_cell, flow_cell), persistent=False)
        with torch.no_grad():
            unet.out[0].weight[:4].zero_()
            unet.out[0].bias[:4].zero_()

    def run(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raw, features = self.unet(x, return_features=True)
        flows, logit = raw[:, :4], raw[:, 4:5]
        fields = torch.cat([torch.tanh(flows), torch.sigmoid(logit)], 1)
        positions, sign = _grid(x.shape[-1], x.dtype, x.device)
        coarse = torch.cat([torch.tanh(flows) * (sign * self.max_shift), torch.sigmoid(torch.cat([logit, -logit], 1))], 1)
        full = self.upsample @ coarse @ self.upsample.T  # bilinear, as F.interpolate
        out = sample_points(x, positions + full[:, :4], full[:, 4:])
        return out, features, (fields,)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        out, features, _ = self.run(x)
        return (out, features) if return_features else out
