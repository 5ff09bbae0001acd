"""Real training pairs for the restoration generator (issue 22): `mugshot-train restore-prepare --real OUT`.

Each FRMDB person's real surveillance frames (352x288, five lab cameras), found and aligned the way the box
does it (YuNet, the person's detection inside the manifest's head box, ``align_face`` at the spec's framing),
paired with the same person's studio photo at the nearest head pose.  "Nearest" is measured with the box's own
pose (``quality.measure``: the face mesh's pose where the mesh is accepted, else the 5-point fit) on both the
frame and every studio view of yaw -90..+90, so no camera sign convention is assumed.

The two pictures of a pair are different photographs (another camera, light, expression and moment), so they
teach identity and colour, never pixel alignment: restore-fit scores a real pair only with the FaceNet identity
term and ``colour_term`` (the face region's colour statistics), never with L1, L2 or the GAN.  The people
held out for validation (``trainer/split.toml``) are stored with the cache and never trained on.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.vision.align import canonical_points

from .config import TrainConfigError
from .restore_data import RESTORE_SPEC, read_manifest

STUDIO_MAX_YAW = 45  # studio views considered as a partner (|camera yaw|): beyond, the face region is mostly hair


def box_models():
    from edge.config import DetectorConfig
    from edge.vision.detect import make_detector
    from edge.vision.face3d import make_mesher

    return make_detector(DetectorConfig(precision="fp32")), make_mesher()


def box_quality(image: np.ndarray, det, mesher):
    """A detection's ``FaceQuality`` as the box measures it: the face mesh's pose where the mesh is accepted,
    else the 5-point fit."""
    from edge.vision.face3d import procrustes_pose
    from edge.vision.quality import measure

    mesh = mesher.run(image, det.box, det.landmarks)
    pose = procrustes_pose(mesh.points, mesher.canonical) if mesh.accepted else None
    return measure(image, det.box, det.landmarks, det.score, (pose.yaw, pose.pitch, pose.roll) if pose else None,
                   mesh.presence)


def box_pose(image: np.ndarray, det, mesher) -> tuple[float, float]:
    q = box_quality(image, det, mesher)
    return q.yaw, q.pitch


def inside(det, box) -> bool:
    """The detection's centre lies in the manifest's head box (x, y, w, h)."""
    bx, by, bw, bh = box
    cx, cy = det.box[0] + det.box[2] / 2, det.box[1] + det.box[3] / 2
    return bx <= cx <= bx + bw and by <= cy <= by + bh


def prepare_real_pairs(data: Path, out: Path, validation: set[str], spec=RESTORE_SPEC) -> dict:
    """Write the pairs cache ``out`` (npz: inputs, targets, identities, frame and studio poses, paths, spec,
    validation); returns counts."""
    from edge.vision.align import align_face

    if out.suffix != ".npz":
        raise TrainConfigError(f"--real: {out} must end in .npz")
    manifest = data / "frmdb" / "manifest.csv"
    if not manifest.is_file():
        raise TrainConfigError(f"data: {manifest} not found (FRMDB's manifest; give --data)")
    rows = read_manifest(manifest)
    detector, mesher = box_models()
    inputs, targets, identities, frame_pose, studio_pose, paths, missing = [], [], [], [], [], [], []
    frontals, frontal_ids = [], []  # each person's frontal studio photo (yaw 0, pitch 0): check_real's gallery
    for subject in sorted({r["subject"] for r in rows if r["kind"] == "surveillance_frame"}):
        mine = [r for r in rows if r["subject"] == subject]
        studio = []
        for r in mine:
            if r["kind"] != "mugshot" or abs(int(r["camera_yaw_deg"])) > STUDIO_MAX_YAW:
                continue
            image = cv2.imread(str(data / "frmdb" / r["path"]))
            faces = detector.detect(image) if image is not None else []
            if faces:
                face = max(faces, key=lambda d: d.box[2] * d.box[3])
                studio.append((box_pose(image, face, mesher), align_face(image, face.landmarks, spec.size,
                                                                      spec.face_scale)[0], r["path"]))
                if (r["camera_yaw_deg"], r["camera_pitch_deg"]) == ("0", "0"):
                    frontals.append(studio[-1][1])
                    frontal_ids.append(f"frmdb:{subject}")
        for r in mine:
            if r["kind"] != "surveillance_frame" or not r["w"]:
                continue
            image = cv2.imread(str(data / "frmdb" / r["path"]))
            box = tuple(float(r[k]) for k in "xywh")
            faces = [d for d in (detector.detect(image) if image is not None else []) if inside(d, box)]
            if not faces or not studio:
                missing.append(r["path"])
                continue
            face = max(faces, key=lambda d: d.score)
            yaw, pitch = box_pose(image, face, mesher)
            (s_yaw, s_pitch), target, s_path = min(
                studio, key=lambda s: (s[0][0] - yaw) ** 2 + (s[0][1] - pitch) ** 2)
            inputs.append(align_face(image, face.landmarks, spec.size, spec.face_scale)[0])
            targets.append(target)
            identities.append(f"frmdb:{subject}")
            frame_pose.append((yaw, pitch))
            studio_pose.append((s_yaw, s_pitch))
            paths.append((r["path"], s_path))
    if not inputs:
        raise TrainConfigError(f"data: no surveillance frame with a face found under {data / 'frmdb'}")
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, inputs=np.asarray(inputs, np.uint8), targets=np.asarray(targets, np.uint8),
             identities=np.asarray(identities), frame_pose=np.float32(frame_pose), studio_pose=np.float32(studio_pose),
             paths=np.asarray(paths), spec=np.asarray(spec.to_json()), frontals=np.asarray(frontals, np.uint8),
             frontal_ids=np.asarray(frontal_ids),
             validation=np.asarray(sorted(validation & set(identities)), dtype=str))
    gap = np.abs(np.float32(frame_pose) - np.float32(studio_pose))
    return {"pairs": len(inputs), "people": len(set(identities)), "missing": missing,
            "validation": sorted(validation & set(identities)),
            "pose_gap_median": [round(float(v), 1) for v in np.median(gap, axis=0)]}


def face_region(spec) -> np.ndarray:
    """A (size, size) float32 mask of the inner face in a crop aligned like ``spec``: the ellipse through the
    template's eyes and mouth corners, widened to the cheeks, where skin colour is read."""
    size = spec.size
    points = canonical_points(size, spec.face_scale)
    centre = points.mean(axis=0)
    eye_span = float(np.linalg.norm(points[1] - points[0]))
    height = float(points[3:, 1].mean() - points[:2, 1].mean())
    mask = np.zeros((size, size), np.float32)
    cv2.ellipse(mask, (int(round(centre[0])), int(round(centre[1]))),
                (int(round(eye_span * 0.9)), int(round(height * 1.3))), 0, 0, 360, 1.0, -1)
    return mask


def load_pairs(path: str | Path, key: str = "real_pairs"):
    """The npz of ``restore-prepare --real``, or a one-line error naming ``key`` and the file."""
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise TrainConfigError(f"{key}: {path} not found (make it: mugshot-train restore-prepare --real PATH)"
                               ) from None
    except (OSError, ValueError):
        raise TrainConfigError(f"{key}: {path} is not a real pairs cache (restore-prepare --real)") from None
    missing = {"inputs", "targets", "identities", "validation", "spec", "frontals", "frontal_ids"} - set(data.files)
    if missing:
        raise TrainConfigError(f"{key}: {path} is not a real pairs cache of this trainer (no "
                               f"{', '.join(sorted(missing))}): make it again with mugshot-train restore-prepare --real")
    return data


class RealPairs:
    """The real pairs cache: training rows as tensors on demand.  People held out when the cache was made, or in
    ``held_out`` (the crop cache's validation people and ``trainer/split.toml``'s), are never trained on."""

    def __init__(self, path: str | Path, spec, held_out: set[str] = frozenset()):
        from edge.vision.align import ModelInputSpec

        data = load_pairs(path)
        own = ModelInputSpec.from_metadata({ModelInputSpec.METADATA_KEY: str(data["spec"])}, str(path))
        if (own.size, own.face_scale) != (spec.size, spec.face_scale):
            raise TrainConfigError(f"real_pairs: {path} is aligned at {own.size} px / face scale {own.face_scale}, "
                                   f"the crops at {spec.size} px / {spec.face_scale}")
        self.inputs, self.targets, self.identities = data["inputs"], data["targets"], data["identities"]
        held_out = set(data["validation"].tolist()) | set(held_out)
        self.train = np.flatnonzero([i not in held_out for i in self.identities.tolist()])
        if not len(self.train):
            raise TrainConfigError(f"real_pairs: {path} holds no pair of a training person")
        self.spec = spec

    def batch(self, rows: np.ndarray, rng: np.random.Generator):
        import torch

        from edge.vision.align import to_tensor

        flip = rng.random(len(rows)) < 0.5
        views = np.stack([self.inputs[r][:, ::-1] if f else self.inputs[r] for r, f in zip(rows, flip)])
        targets = np.stack([self.targets[r][:, ::-1] if f else self.targets[r] for r, f in zip(rows, flip)])
        return torch.from_numpy(to_tensor(views, self.spec)), torch.from_numpy(to_tensor(targets, self.spec))


def blur(x, sigma: float):
    """Gaussian blur per channel (sigma in pixels, edges replicated), differentiable."""
    import torch
    import torch.nn.functional as F

    radius = int(3 * sigma)
    taps = torch.exp(-torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device) ** 2 / (2 * sigma ** 2))
    taps = (taps / taps.sum()).repeat(x.shape[1], 1, 1)
    out = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    out = F.conv2d(out, taps[:, :, None, :], groups=x.shape[1])  # along rows
    return F.conv2d(out, taps[:, :, :, None], groups=x.shape[1])  # along columns


DETAIL_SIGMA = 8.0  # pixels at 256: light and colour vary more slowly than this, features and edges faster


def detail_term(fake, view, sigma: float = DETAIL_SIGMA):
    """How far the output is from the real frame it came from under a smooth gain: mean |out - g * view| with
    g = blur(out) / blur(view) per channel (on values 0.05..1.05 from the trainer's -1..1 tensors).  Exposure, white
    balance and uneven light (any gain field smoother than ``sigma``) cost nothing; new edges, blobs or
    features, anything the camera did not see, do."""
    out, seen = (fake + 1) / 2 + 0.05, (view + 1) / 2 + 0.05  # + 0.05: black stays finite
    gain = blur(out, sigma) / blur(seen, sigma)
    return (out - seen * gain).abs().mean()


def colour_term(fake, target, region):
    """Mean over the batch and the 3 channels of |mean difference| + |std difference| of the face region
    (``region``: (S, S) tensor of weights): the face's exposure, white balance and contrast, not its pixels."""
    w = region / region.sum()

    def stats(x):
        mean = (x * w).sum(dim=(2, 3))
        std = (((x - mean[..., None, None]) ** 2 * w).sum(dim=(2, 3)) + 1e-6).sqrt()
        return mean, std

    (fm, fs), (tm, ts) = stats(fake), stats(target)
    return (fm - tm).abs().mean() + (fs - ts).abs().mean()


def check_real(path: str | Path, models: dict[str, Path]) -> dict:
    """``restore-check --real PAIRS``: on the held-out people's real frames, for the frame itself and each model's
    output, the colour distance to the studio view (``colour_distance``) and the identity margin (dlib, the
    evaluator: nearest other person's frontal minus the own, over every person's frontal studio photo in the
    cache; positive = identified)."""
    from edge.vision.align import ModelInputSpec, from_tensor, to_tensor
    from edge.vision.metrics import DlibIdentity, identity_margin

    from .restore_export import onnx_run

    data = load_pairs(path, "--real")
    spec = ModelInputSpec.from_metadata({ModelInputSpec.METADATA_KEY: str(data["spec"])}, str(path))
    held = set(data["validation"].tolist())
    rows = [i for i, person in enumerate(data["identities"].tolist()) if person in held]
    if not rows:
        raise TrainConfigError(f"--real: {path} holds no pair of a held-out person")
    lacking = set(data["identities"][rows].tolist()) - set(data["frontal_ids"].tolist())
    if lacking:
        raise TrainConfigError(f"--real: {path} has no frontal studio photo of {', '.join(sorted(lacking))}")
    frames, studio, people = data["inputs"][rows], data["targets"][rows], data["identities"][rows]
    region = face_region(spec) > 0
    dlib = DlibIdentity(spec)
    gallery, gallery_ids = dlib.embed(data["frontals"]), data["frontal_ids"]

    def scores(pictures: np.ndarray) -> dict:
        margin = identity_margin(dlib.embed(pictures), people, gallery, gallery_ids)
        return {"colour_to_studio": float(np.mean([colour_distance(p, s, region) for p, s in zip(pictures, studio)])),
                "identity_margin": float(margin.mean()), "identified": f"{int((margin > 0).sum())}/{len(margin)}"}

    result = {"people": sorted(held & set(people.tolist())), "frames": len(rows), "frame (no model)": scores(frames)}
    for name, model in models.items():
        run = onnx_run(model)
        result[name] = scores(np.stack([from_tensor(run(to_tensor(f, spec)), spec)[0] for f in frames]))
    return result


def colour_distance(picture: np.ndarray, studio: np.ndarray, region: np.ndarray) -> float:
    """``colour_term`` of two uint8 BGR pictures on values 0..1 (``region``: the face region's mask)."""
    import torch

    a, b = (torch.from_numpy(np.ascontiguousarray(p.transpose(2, 0, 1)[None], np.float32) / 255)
            for p in (picture, studio))
    return float(colour_term(a, b, torch.from_numpy(region.astype(np.float32))))
