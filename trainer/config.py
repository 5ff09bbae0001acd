"""Training configuration: a typed dataclass read from TOML, with ``--set key=value`` overrides.

An unknown key, in the file or on the command line, is an error that names it.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODELS = ("teacher", "student", "autoencoder", "unet")
HEADS = ("image", "flow", "warp", "separable")


class TrainConfigError(ValueError):
    pass


@dataclass(frozen=True)
class TrainConfig:
    model: str = "teacher"  # teacher | student | autoencoder (scaleway-style) | unet (pix2pix)
    cache: str = "runs/pairs.npz"  # written by `mugshot-train prepare`
    out: str = "runs/teacher"  # checkpoint, CSV log, loss curve and samples go here
    width: int = 32  # base channel count of the generator
    head: str = "image"  # image (paint the frontal) | flow | warp | separable (move the input's pixels): trainer/nets/
    remaps: bool = True  # separable head: false keeps the remaps at the identity (crop and mirror, blended)
    local_pathways: bool = False  # image-head teacher: TP-GAN's eye, nose and mouth pathways (trainer/nets/local.py)
    cell: int = 4  # separable student: remaps and blend per 4x4 pixels (decoder stops at 16x16) or per pixel (1)
    steps: int = 3000
    batch_size: int = 16
    lr: float = 2e-4
    beta1: float = 0.5
    alpha: float = 0.01  # L_GAN weight (binary cross-entropy)
    beta: float = 1.0  # L1 weight
    gamma: float = 1.0  # L2 weight
    symmetry: float = 0.0  # L1 between the output and its mirror image
    tv: float = 0.0  # total variation
    teacher: str = ""  # student only: the teacher checkpoint to distil from
    distill: float = 1.0  # student only: L1 to the teacher's output
    distill_features: float = 0.0  # student only: L2 between projected bottleneck features
    distill_fields: float = 0.0  # student only: L1 to the teacher's flows and blend weights (same head)
    field_tv: float = 0.0  # flow/warp/separable: total variation of the predicted maps (blend weights, flows)
    # the generator's input channel groups (edge.vision.align.INPUT_PARTS), written into the ONNX metadata: ["crop"]
    # (the 7-channel refiner's crop + frontalized face + visibility is retired; git history keeps it)
    inputs: tuple[str, ...] = ("crop",)
    facenet: float = 0.0  # weight of 1 - cos(FaceNet(output), FaceNet(true frontal)) (trainer/identity_prior)
    facenet_batch: int = 0  # how many of each batch's outputs FaceNet scores (0: all; it costs ~4x a refiner step on CPU)
    facenet_cache: str = ""  # where `mugshot-train facenet` put the converted FaceNet; empty: ~/.cache/mugshot-edge/facenet
    identity: float = 0.0  # weight of 1 - cos(recogniser(output), recogniser(target))
    recognizer: str = ""  # checkpoint from `mugshot-train recognizer` (trained on the training identities)
    degrade: float = 0.0  # share of input views degraded like surveillance frames (blur, noise, light)
    rotations: float = 0.0  # share of pairs whose input is the frontal itself, turned by a synthetic yaw
    validation: int = 0  # training identities held out to score L1/PSNR at every sample: validation.csv, best.pt
    init: str = ""  # start the generator from this checkpoint's weights (fine-tuning); empty: from scratch
    flip: bool = True  # augment with mirrored pairs (a left profile maps to the mirrored frontal)
    sample_every: int = 250
    checkpoint_every: int = 250
    log_every: int = 10
    seed: int = 0
    threads: int = 2
    device: str = "auto"  # auto | cpu | cuda

    def validate(self) -> "TrainConfig":
        if self.model not in MODELS:
            raise TrainConfigError(f"model: must be one of {', '.join(MODELS)}, got {self.model!r}")
        if self.head not in HEADS or (self.head != "image" and self.model not in ("teacher", "student")):
            raise TrainConfigError(f"head: must be image, or flow/warp/separable for the teacher and student, "
                                   f"got {self.head!r}")
        if self.cell not in (1, 4) or (self.cell != 4 and not (self.model == "student" and self.head == "separable")):
            raise TrainConfigError(f"cell: 4 or 1, and only the separable student has a choice, got {self.cell}")
        if self.field_tv and self.head == "image":
            raise TrainConfigError("field_tv: only for the flow, warp and separable heads (they predict maps)")
        if self.local_pathways and not (self.model == "teacher" and self.head == "image"):
            raise TrainConfigError(f"local_pathways: only for model = \"teacher\" with head = \"image\", "
                                   f"got {self.model!r} with {self.head!r}")
        if not self.remaps and self.head != "separable":
            raise TrainConfigError(f"remaps: only head = \"separable\" has remaps to switch off, not {self.head!r}")
        if self.inputs != ("crop",):
            raise TrainConfigError(f"inputs: only [\"crop\"]; the 7-channel refiner (crop, frontalized face, "
                                   f"visibility) is retired, got {list(self.inputs)}")
        if self.model == "student" and not self.teacher:
            raise TrainConfigError("teacher: a student is distilled from a teacher checkpoint; set teacher = PATH")
        if self.identity > 0 and not self.recognizer:
            raise TrainConfigError("recognizer: identity > 0 needs a recogniser checkpoint (mugshot-train recognizer)")
        for key in ("degrade", "rotations"):
            if not 0 <= getattr(self, key) <= 1:
                raise TrainConfigError(f"{key}: must be within 0..1, got {getattr(self, key)}")
        for key in ("width", "steps", "batch_size", "sample_every", "checkpoint_every", "log_every", "threads"):
            if getattr(self, key) <= 0:
                raise TrainConfigError(f"{key}: must be > 0, got {getattr(self, key)}")
        if self.facenet_batch < 0:
            raise TrainConfigError(f"facenet_batch: must be >= 0 (0: the whole batch), got {self.facenet_batch}")
        if self.validation < 0:
            raise TrainConfigError(f"validation: must be >= 0 identities, got {self.validation}")
        for key in ("lr", "alpha", "beta", "gamma", "symmetry", "tv", "distill", "distill_features", "distill_fields",
                    "identity", "facenet"):
            if getattr(self, key) < 0:
                raise TrainConfigError(f"{key}: must be >= 0, got {getattr(self, key)}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise TrainConfigError(f"device: must be auto, cpu or cuda, got {self.device!r}")
        return self


def _coerce(key: str, value: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(value, str):
            if value.lower() in ("true", "1", "yes"):
                return True
            if value.lower() in ("false", "0", "no"):
                return False
        if isinstance(value, bool):
            return value
    elif kind is int and not isinstance(value, bool):
        try:
            return int(value)
        except (TypeError, ValueError):
            pass
    elif kind is float and not isinstance(value, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    elif kind is str:
        return str(value)
    raise TrainConfigError(f"{key}: expected {kind.__name__}, got {value!r}")


def load_train_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    raw: dict[str, Any] = {}
    if path:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise TrainConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise TrainConfigError(f"{path}: not valid TOML: {exc}") from None
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise TrainConfigError(f"--set {item!r}: expected key=value")
        raw[key.strip()] = value.strip()
    return TrainConfig(**coerce_fields(TrainConfig, raw)).validate()


def coerce_fields(cls: type, raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` (TOML values or --set strings) as the dataclass ``cls``'s typed fields; an unknown key is an error."""
    kinds = {f.name: f.type for f in dataclasses.fields(cls)}
    values = {}
    for key, value in raw.items():
        if key not in kinds:
            raise TrainConfigError(f"{key}: unknown key (known: {', '.join(sorted(kinds))})")
        if kinds[key] == "tuple[str, ...]":  # a TOML list, or "a,b,c" on the command line
            parts = value.split(",") if isinstance(value, str) else value
            if not isinstance(parts, (list, tuple)) or not all(isinstance(v, str) for v in parts):
                raise TrainConfigError(f"{key}: expected a list of names, got {value!r}")
            values[key] = tuple(v.strip() for v in parts if v.strip())
            continue
        kind = {"str": str, "int": int, "float": float, "bool": bool}[kinds[key]]
        values[key] = _coerce(key, value, kind)
    return values
