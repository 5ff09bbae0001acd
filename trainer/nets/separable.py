"""The separable warp head: frontalize with one horizontal and one vertical remap.

A free 2-D appearance flow (``flow.py``) can bend a face, and a bent face loses its identity
to a recogniser.  Turning a head mostly moves columns: the near half of a face is squeezed,
the far half stretched, and the hidden half is about the mirror of the visible one (the
cylinder model behind Hassner et al.'s soft symmetry).  This head predicts exactly that:

* for every output column, where to sample the view and where to sample its mirror image
  (two x-remaps, each a function of x only);
* for every output row, where to sample (one y-remap, the same for view and mirror);
* for every pixel, how much of the view and how much of the mirror to take.

Straight lines of the input stay straight, the face cannot tear, and only the blend is 2-D.
Each remap is a bilinear interpolation matrix (a "hat" of width 1 around each position), so
the whole warp is two MatMuls: ``rows = Y @ x`` then ``rows @ [X_view | X_mirror]^T``.  No
gather: it runs in onnxruntime in a fraction of the time of a per-pixel sampler.

The U-Net's output is read as 4 maps: x shift of the view, x shift of the mirror, y shift,
and the view's blend logit.  The remaps are their column and row means, so a teacher (fields
at full size) and a student (fields per 4x4 cell, ``stop=1``) share the same head, and the
student can be distilled from the teacher's fields (``run()`` returns them).

``remaps=False`` keeps every remap at the identity: the output is the crop and its mirror
image blended per pixel, a learned soft symmetry.  Until the fix in ``interpolation_matrix``
the remaps could not leave the identity, so the shipped separable models were trained, and
are, exactly this; with working remaps the held-out identity scores fell (README,
"Heads"), so their configs keep ``remaps = false``.
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import UNet
from .flow import upsample_matrix

CHANNELS = 4  # x shift of view, x shift of mirror, y shift, view-vs-mirror logit


class SeparableWarp(nn.Module):
    def __init__(self, unet: UNet, size: int, cell: int = 1, max_shift: float = 0.3, remaps: bool = True):
        super().__init__()
        self.unet, self.head, self.size, self.cell, self.remaps = unet, "separable", size, cell, remaps
        self.max_shift = max_shift * size  # in pixels
        self.bottleneck_channels = unet.bottleneck_channels
        last = [m for m in unet.out.modules() if isinstance(m, nn.Conv2d)][-1]
        with torch.no_grad():  # zero shifts at the start: the identity remap
            last.weight[:3].zero_()
            last.bias[:3].zero_()
        if cell > 1:
            self.register_buffer("upsample", upsample_matrix(size // cell, cell), persistent=False)
        pixels = torch.arange(size, dtype=torch.float32)
        # positions with zero shift, and the sign of each shift: the mirror's x runs the other way
        self.register_buffer("base", torch.stack([pixels, (size - 1) - pixels, pixels]).unsqueeze(0),
                             persistent=False)
        self.register_buffer("sign", torch.tensor([1.0, -1.0, 1.0]).view(1, 3, 1) * self.max_shift,
                             persistent=False)

    def run(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """(output, bottleneck features, fields: tanh of the three shift profiles, blend weight)."""
        raw, features = self.unet(x, return_features=True)
        if not self.remaps:  # the crop and its mirror image, blended per pixel (the shift channels go unused)
            logit = raw[:, 3:4]
            weight = torch.sigmoid(self.upsample @ logit @ self.upsample.T if self.cell > 1 else logit)
            mirror = x.flip(-1)
            return mirror + weight * (x - mirror), features, (torch.sigmoid(logit),)
        profiles = torch.tanh(torch.cat([raw[:, 0:2].mean(2), raw[:, 2:3].mean(3)], 1))  # (n, 3, cells)
        logit = raw[:, 3:4]
        if self.cell > 1:
            shifts, logit_full = profiles @ self.upsample.T, self.upsample @ logit @ self.upsample.T
        else:
            shifts, logit_full = profiles, logit
        positions = self.base + shifts * self.sign  # (n, 3, size): x of view, x of mirror, y; on the view
        out = separable_remap(x, positions, torch.sigmoid(logit_full))
        return out, features, (profiles, torch.sigmoid(logit))

    def forward(self, x: torch.Tensor, return_features: bool = False):
        out, features, _ = self.run(x)
        return (out, features) if return_features else out


def separable_remap(x: torch.Tensor, positions: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Output pixel (row i, column j) = ``weight`` x the view at (positions[:, 0, j], positions[:, 2, i])
    + (1 - ``weight``) x the view at (positions[:, 1, j], positions[:, 2, i]), bilinear, border
    padding.  (positions[:, 1] are the mirror's columns already reflected onto the view.)"""
    n, _, size, _ = x.shape
    pixels = torch.arange(size, dtype=x.dtype, device=x.device)
    hat = interpolation_matrix(positions.clamp(0.0, size - 1.0), pixels)  # (n, 3, out, source)
    rows = hat[:, 2:3] @ x  # (n, c, size, size): the y-remap
    both = rows @ hat[:, 0:2].reshape(n, 1, 2 * size, size).transpose(-1, -2)  # view | mirror columns
    view, mirror = both[..., :size], both[..., size:]
    return mirror + weight * (view - mirror)


def interpolation_matrix(positions: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """(..., out) positions -> (..., out, source) bilinear weights: 1 - frac on the pixel at or left
    of each position, frac on the next.  This equals the "hat" relu(1 - |position - pixel|), but
    its gradient is not zero where a position falls exactly on a pixel, as every position of
    the identity remap that the head starts from does (the hat's is zero there: the
    remaps would never leave the identity)."""
    left = positions.detach().floor()
    frac = (positions - left).unsqueeze(-1)
    offset = pixels - left.unsqueeze(-1)
    return (offset == 0).to(positions.dtype) * (1 - frac) + (offset == 1).to(positions.dtype) * frac
