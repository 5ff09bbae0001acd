"""``FaceNetLoss``: 1 - cosine similarity of FaceNet embeddings of the generator's output and
its target, through frozen FaceNet weights run by ``onnx_torch`` (gradients reach the output).

The trainer's faces are aligned by ``edge.vision.align`` (five points to the template, scaled by the
spec's ``face_scale``, 0.7 for mugshots: face plus hair and chin).  FaceNet was trained on
MTCNN boxes with a margin, a tighter framing; ``FACENET_FACE_SCALE`` and ``FACENET_SHIFT`` are
that framing as an ``edge.vision.align`` face scale and a downward shift of its centre, chosen by
``python -m trainer.identity_prior.measure`` (best mean rank-1 over yaw +-45 and +-90 of
15 framings on the 39 FRMDB training people; +-45 is near 100 % for most of them, +-90 moves
by one person = 2.6 points, so neighbouring framings are about as good).  A crop at the spec's
face scale holds the FaceNet window inside it, ``face_scale / FACENET_FACE_SCALE`` of its side,
so the loss cuts that window out, resizes it to 160x160 (differentiably), turns the
normalised tensor back into RGB 0..255 and prewhitens each face, as FaceNet expects.
"""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn

from edge.vision.align import ModelInputSpec, canonical_points, similarity_transform, to_tensor

from .facenet import DEFAULT_CACHE, INPUT_SIZE, read_record
from .onnx_torch import OnnxModule

log = logging.getLogger(__name__)

FACENET_FACE_SCALE = 0.95  # FaceNet's framing as an edge.vision.align face_scale (see the module docstring)
FACENET_SHIFT = 0.05  # and how far its centre sits below the template's, as a share of its side


def facenet_crop(image: np.ndarray, landmarks: np.ndarray, face_scale: float = FACENET_FACE_SCALE,
                 shift: float = FACENET_SHIFT) -> np.ndarray:
    """A BGR 160x160 crop of a face straight from the picture at FaceNet's framing: what
    ``FaceNetLoss`` cuts out of a trainer crop, with no resampling in between."""
    points = canonical_points(INPUT_SIZE, face_scale) - np.float32([0, shift * INPUT_SIZE])
    matrix = similarity_transform(landmarks, points)
    return cv2.warpAffine(image, matrix, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def load_facenet(cache: str | Path = DEFAULT_CACHE) -> onnx.ModelProto:
    """The converted FaceNet from ``mugshot-train facenet``'s cache, its sha256 checked."""
    return onnx.load(read_record(Path(cache))["path"])


class FaceNetLoss(nn.Module):
    """``loss(fake, target)``: mean of 1 - cos(FaceNet(fake), FaceNet(target)) over the batch.

    ``fake`` and ``target`` are (N, 3, S, S) tensors normalised by ``spec`` (``to_tensor``'s
    convention, the trainer's), aligned at ``spec.face_scale``.  The weights are frozen and
    stay in eval mode whatever ``train()`` is called with.  ``model`` is the ONNX graph (default:
    the cached FaceNet); any graph with FaceNet's input (N x 3 x 160 x 160) and an embedding
    output works.
    """

    def __init__(self, spec: ModelInputSpec, model: onnx.ModelProto | None = None,
                 cache: str | Path = DEFAULT_CACHE, face_scale: float = FACENET_FACE_SCALE,
                 shift: float = FACENET_SHIFT):
        super().__init__()
        self.net = OnnxModule(load_facenet(cache) if model is None else model)
        self.net.requires_grad_(False)
        self.spec = spec
        self.face_scale, self.shift = face_scale, shift
        if spec.face_scale / face_scale + 2 * abs(shift) * spec.face_scale / face_scale > 1:
            log.warning("FaceNetLoss: crops at face scale %.2f do not hold FaceNet's framing (face scale %.2f, "
                        "shift %.2f); its border is filled by repeating the crop's edge", spec.face_scale,
                        face_scale, shift)
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        super().train(False)

    def train(self, mode: bool = True) -> "FaceNetLoss":
        return super().train(False)

    def facenet_input(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised aligned faces -> FaceNet's prewhitened RGB 160x160 input."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"FaceNetLoss: expected (N, 3, S, S) faces, got {tuple(x.shape)}")
        rgb = (x * self.std + self.mean) * 255.0
        if self.spec.color == "bgr":
            rgb = rgb.flip(1)
        ratio = self.spec.face_scale / self.face_scale  # the FaceNet window's share of the crop's side
        window = x.shape[-1] * ratio
        if window > 1.5 * INPUT_SIZE:  # shrink first, so the crop's resampling does not alias
            size = max(INPUT_SIZE, round(x.shape[-1] * INPUT_SIZE / window))
            rgb = F.interpolate(rgb, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        theta = torch.zeros(len(x), 2, 3, dtype=rgb.dtype, device=rgb.device)
        theta[:, 0, 0] = theta[:, 1, 1] = ratio
        theta[:, 1, 2] = 2 * self.shift * ratio  # grid coordinates span 2 per side
        grid = F.affine_grid(theta, [len(x), 3, INPUT_SIZE, INPUT_SIZE], align_corners=False)
        faces = F.grid_sample(rgb, grid, mode="bilinear", padding_mode="border", align_corners=False)
        flat = faces.flatten(1)
        std = flat.std(1, unbiased=False).clamp_min(1.0 / flat.shape[1] ** 0.5)
        return (faces - flat.mean(1).view(-1, 1, 1, 1)) / std.view(-1, 1, 1, 1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(N, D) unit-length embeddings of normalised aligned faces."""
        return F.normalize(self.net(self.facenet_input(x)), dim=1)

    @torch.no_grad()
    def embed_bgr(self, crops: np.ndarray) -> np.ndarray:
        """Embeddings of BGR uint8 crops (N, S, S, 3) aligned at ``spec.face_scale``."""
        return self.embed(torch.from_numpy(to_tensor(crops, self.spec)).to(self.mean.device)).cpu().numpy()

    def forward(self, fake: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``target``: the target faces, or their embeddings (N, D) from ``embed`` (the frontals of a
        pair cache do not change, so a training loop may embed them once)."""
        if target.dim() == 2:
            reference = target.detach()
        else:
            with torch.no_grad():
                reference = self.embed(target)
        return (1 - (self.embed(fake) * reference).sum(1)).mean()
