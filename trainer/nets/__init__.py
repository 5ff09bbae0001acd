"""The network factory: every generator and the discriminator by name."""
from __future__ import annotations

import math

from torch import nn

from .blocks import UNet
from .flow import CHANNELS as FLOW_CHANNELS
from .flow import AppearanceFlow, CoarseWarp
from .local import LocalPathways
from .separable import CHANNELS as SEPARABLE_CHANNELS
from .separable import SeparableWarp


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN: (input view, candidate frontal) -> a map of real/fake logits."""

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(6, w, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(4 * w, 1, 3, 1, 1))

    def forward(self, view, frontal):
        import torch
        return self.net(torch.cat([view, frontal], 1))


class ScalewayAutoencoder(nn.Module):
    """The earlier baseline: stride-2 convolutions down to a 512-d code, transposed convolutions back."""

    def __init__(self, size: int = 64, width: int = 32):
        super().__init__()
        depth = int(math.log2(size))
        chans = [min(512, width * 2 ** i) for i in range(depth - 1)] + [512]
        enc, cin = [], 3
        for i, c in enumerate(chans):
            enc += [nn.Conv2d(cin, c, 4, 2, 1, bias=i == 0)] + ([nn.BatchNorm2d(c)] if i else []) + \
                   [nn.LeakyReLU(0.2, inplace=True)]
            cin = c
        dec = []
        for c in chans[::-1][1:]:
            dec += [nn.ConvTranspose2d(cin, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            cin = c
        dec += [nn.ConvTranspose2d(cin, 3, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*enc, *dec)

    def forward(self, x):
        return self.net(x)


def teacher(width: int = 32, **head) -> UNet:
    return UNet([width, 2 * width, 4 * width, 8 * width, 8 * width], **head)


def student(width: int = 8, **head) -> UNet:
    """About 1% of the teacher: four levels, 3x3 strided convolutions, convolution before each
    resize, a sub-pixel output.  Channel counts stay multiples of 8 at width 8: onnxruntime's
    kernels are slower otherwise."""
    return UNet([width, 2 * width, 4 * width, 3 * width], down_kernel=3, light=True, **head)


def pix2pix_unet(size: int = 64, width: int = 32) -> UNet:
    depth = int(math.log2(size))
    return UNet([min(8 * width, width * 2 ** i) for i in range(depth)])


def build_generator(name: str, size: int, width: int, head: str = "image", remaps: bool = True,
                    cell: int = 4, local_pathways: bool = False, face_scale: float = 1.0,
                    in_channels: int = 3) -> nn.Module:
    """``head = "flow" | "warp"``: the U-Net predicts appearance flows and blend weights (``flow.py``);
    ``"separable"``: a horizontal and a vertical remap of the view and its mirror (``separable.py``);
    ``remaps=False``: the separable head only blends the crop with its mirror image; ``cell``: the
    separable student's fields per 4x4 pixels (its decoder stops at 16x16) or per pixel;
    ``local_pathways``: the image-head teacher gets TP-GAN's part pathways (``local.py``), placed
    by the alignment template at ``face_scale``; ``in_channels``: 3, the aligned crop (the 7-channel refiner
    and its blend head are retired; the restoration networks are in ``restore.py``)."""
    if in_channels != 3:
        raise ValueError(f"in_channels: 3 (the aligned crop), got {in_channels}: the 7-channel refiner is retired")
    if local_pathways:
        if name != "teacher" or head != "image":
            raise ValueError("local_pathways: only for the teacher with the image head")
        return LocalPathways(teacher(width), size, face_scale)
    if not remaps and head != "separable":
        raise ValueError("remaps: only the separable head has remaps to switch off")
    if head == "separable":
        if name == "teacher":
            return SeparableWarp(teacher(width, out_channels=SEPARABLE_CHANNELS, tanh=False), size, remaps=remaps)
        if name == "student":  # cell 4: fields per 4-pixel cell, straight from a shorter decoder
            unet = student(width, out_channels=SEPARABLE_CHANNELS, tanh=False, stop=1 if cell == 4 else 0)
            return SeparableWarp(unet, size, cell=cell, remaps=remaps)
        raise ValueError(f"head: 'separable' is for the teacher and the student, not {name!r}")
    if head in FLOW_CHANNELS:
        if name not in ("teacher", "student"):
            raise ValueError(f"head: {head!r} is for the teacher and the student, not {name!r}")
        if name == "student" and head == "warp":  # flows per 4x4 cell straight from a shorter decoder
            return CoarseWarp(student(width, out_channels=5, tanh=False, stop=1), size, flow_cell=4)
        unet = (teacher if name == "teacher" else student)(width, out_channels=FLOW_CHANNELS[head], tanh=False)
        return AppearanceFlow(unet, size, head)
    if head != "image":
        raise ValueError(f"head: unknown generator head {head!r}")
    if name == "teacher":
        return teacher(width)
    if name == "student":
        return student(width)
    if name == "autoencoder":
        return ScalewayAutoencoder(size, width)
    if name == "unet":
        return pix2pix_unet(size, width)
    raise ValueError(f"model: unknown generator {name!r}")


def parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def macs(model: nn.Module, size: int) -> int:
    """Multiply-accumulates of one forward pass at size x size (convolutions, which dominate)."""
    import torch

    total = 0

    def count(module, _inputs, output):
        nonlocal total
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            kernel = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            positions = output.shape[2] * output.shape[3] if isinstance(module, nn.Conv2d) else \
                _inputs[0].shape[2] * _inputs[0].shape[3]
            total += kernel * module.out_channels * positions

    channels = next(m.in_channels for m in model.modules() if isinstance(m, nn.Conv2d))
    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, channels, size, size))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return total
