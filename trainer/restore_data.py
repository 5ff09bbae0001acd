"""Restoration data: clean aligned crops of near-frontal faces, and surveillance-like degradations of them.

``collect`` lists the near-frontal photos of the shared datasets (FRMDB HD portraits and yaw-0/pitch-0 studio
frontals, Pointing'04 within +-15 degrees of pan and tilt, AT&T); ``prepare_crops`` finds each face with the
box's own YuNet detector and aligns it with ``edge.vision.align`` under the model's ``ModelInputSpec``, so
training sees what the box feeds the model, and caches the crops as uint8 (``.npz``, outside the repository).
``folder_items`` lists a folder of your own people (``DIR/001.jpg`` + ``DIR/001/*.jpg``); there the box's own
head pose (face mesh, else 5-point) keeps the photos the box would call frontal.  ``degrade`` turns a batch of clean crops into the camera's version of them: the face shrunk to 30-120 px and
brought back, motion and defocus blur, sensor noise, low light, gamma, colour casts and JPEG.  The target of
each degraded crop is the clean crop itself.
"""
from __future__ import annotations

import csv
import logging
from pathlib import Path

import cv2
import numpy as np

from edge.vision.align import ModelInputSpec, align_face
from edge.vision.quality import head_pose, view_of

log = logging.getLogger(__name__)

RESTORE_SPEC = ModelInputSpec(size=256, face_scale=0.6)  # head and shoulders, eyes at a fixed height
NEAR_FRONTAL_DEG = 15  # Pointing'04 pan and tilt kept
FACE_PX = (30, 120)  # surveillance face sizes (the detector's box, source pixels)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".pgm"}
FOLDER = "folder:"  # the source name of a folder of your own people: frontality is measured, not known


def read_manifest(path: Path) -> list[dict[str, str]]:
    """A dataset's manifest.csv as rows (the file closed again)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def collect(data: Path) -> list[tuple[str, str, Path]]:
    """(identity, source, path) of every near-frontal photo found under ``data``."""
    items: list[tuple[str, str, Path]] = []
    frmdb = data / "frmdb" / "manifest.csv"
    if frmdb.exists():
        for r in read_manifest(frmdb):
            frontal = r["kind"] in ("mugshot", "mugshot_smiling") and r["camera_yaw_deg"] == "0" \
                and r["camera_pitch_deg"] == "0"
            if frontal or r["kind"] == "frontal_hd":
                items.append((f"frmdb:{r['subject']}", "frmdb", frmdb.parent / r["path"]))
    p04 = data / "pointing04" / "manifest.csv"
    if p04.exists():
        for r in read_manifest(p04):
            if abs(int(r["pan_deg"])) <= NEAR_FRONTAL_DEG and abs(int(r["tilt_deg"])) <= NEAR_FRONTAL_DEG:
                items.append((f"p04:{r['person']}", "pointing04", p04.parent / r["path"]))
    att = data / "att_orl"
    if att.is_dir():
        for person in sorted(p for p in att.iterdir() if p.is_dir()):
            items += [(f"att:{person.name}", "att", view) for view in sorted(person.glob("*.pgm"))]
    return items


def folder_people(root: Path) -> dict[str, list[Path]]:
    """``DIR/001.jpg`` (the frontal photo) and ``DIR/001/*.jpg`` (other views) are person 001's pictures."""
    people: dict[str, list[Path]] = {}
    for path in sorted(root.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            people.setdefault(path.stem, []).insert(0, path)
        elif path.is_dir():
            people.setdefault(path.name, []).extend(
                sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
    return {person: paths for person, paths in people.items() if paths}


def folder_items(root: Path) -> list[tuple[str, str, Path]]:
    """(identity ``DIR:001``, source ``folder:DIR``, path) of every picture of a folder of your own people."""
    return [(f"{root.name}:{person}", f"{FOLDER}{root.name}", path)
            for person, paths in folder_people(root).items() for path in paths]


def held_out_of_folder(people: list[str], every: int) -> set[str]:
    """Every ``every``-th person in name order (the 3rd, 8th, ... of ten at 5), at least one where two or more."""
    people = sorted(people)
    return set(people[min(every, len(people)) // 2::every]) if len(people) >= 2 else set()


def is_frontal(face, image: np.ndarray, mesher=None, max_pitch: float = 2 * NEAR_FRONTAL_DEG) -> bool:
    """What the box would call a frontal view (``edge.vision.quality.view_of``) of the box's pose: the face mesh's
    where it accepts one, else the 5-point fit (which reads a turned face short), and not tipped far."""
    mesh = mesher.mesh(image, face.box, face.landmarks) if mesher is not None else None
    if mesh is not None:
        from edge.vision.face3d import procrustes_pose

        pose = procrustes_pose(mesh.points, mesher.canonical)
        yaw, pitch = pose.yaw, pose.pitch
    else:
        yaw, pitch, _ = head_pose(face.landmarks, (image.shape[1], image.shape[0]))
    return view_of(yaw) == "frontal" and abs(pitch) <= max_pitch


def find_face(detector, image: np.ndarray):
    """The largest face YuNet finds in ``image``, or None."""
    faces = detector.detect(image) if image is not None else []
    return max(faces, key=lambda f: f.box[2] * f.box[3]) if faces else None


def prepare_crops(items: list[tuple[str, str, Path]], out: Path, spec: ModelInputSpec = RESTORE_SPEC,
                  detector=None, validation: set[str] | None = None) -> dict:
    """Detect (YuNet, largest face), align and store every photo's clean crop; returns counts.

    Pictures of a folder of your own people (source ``folder:...``) are kept only where the box would call the
    face frontal (``is_frontal``); the others are listed under ``turned``.  ``validation``: the people held out
    (stored in the cache; restore-fit and restore-check validate on them, never train on them)."""
    from edge.vision.detect.yunet import YuNetDetector

    detector = detector or YuNetDetector(input_width=320, input_height=320, score_threshold=0.5)
    mesher = None
    if any(source.startswith(FOLDER) for _, source, _ in items):
        from edge.vision.face3d import make_mesher
        mesher = make_mesher()
    crops, masks, identities, sources, face_px, paths, missing, turned = [], [], [], [], [], [], [], []
    for identity, source, path in items:
        image = cv2.imread(str(path))
        face = find_face(detector, image)
        if face is None:
            missing.append(str(path))
            continue
        if source.startswith(FOLDER) and not is_frontal(face, image, mesher):
            turned.append(str(path))
            continue
        crop, matrix = align_face(image, face.landmarks, spec.size, spec.face_scale)
        crops.append(crop)  # where the crop reaches past the photo, the warp repeats its edge pixels:
        masks.append(cv2.warpAffine(np.full(image.shape[:2], 255, np.uint8), matrix, (spec.size, spec.size),
                                    flags=cv2.INTER_LINEAR, borderValue=0))  # 255 inside the photo
        identities.append(identity)
        sources.append(source)
        face_px.append(min(face.box[2], face.box[3]))
        paths.append(str(path))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, crops=np.asarray(crops, np.uint8), masks=np.asarray(masks, np.uint8), identities=np.asarray(identities), sources=np.asarray(sources),
             face_px=np.asarray(face_px, np.float32), paths=np.asarray(paths), spec=np.asarray(spec.to_json()),
             **({"validation": np.asarray(sorted(validation), dtype=str)} if validation is not None else {}))
    return {"crops": len(crops), "identities": len(set(identities)), "missing": missing, "turned": turned,
            "people": sorted(set(identities))}


def _motion_kernel(rng: np.random.Generator, length: int) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2] = 1
    rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1)
    kernel = cv2.warpAffine(kernel, rot, (length, length))
    return kernel / max(kernel.sum(), 1e-6)


def degrade_one(crop: np.ndarray, rng: np.random.Generator, source_face_px: float = 1e9,
                strength: float = 1.0) -> np.ndarray:
    """One BGR uint8 crop as a surveillance camera might have given it (same size).

    ``source_face_px``: the face's size in its source photo (a face never gets more pixels than it had);
    ``strength`` in 0..1 scales every degradation (0: untouched, the clean-input case)."""
    if strength <= 0:
        return crop.copy()
    size = crop.shape[0]
    img = crop.astype(np.float32) / 255
    face_in_crop = 0.43 * size  # YuNet's box side in a face_scale-0.6 crop, about
    face = rng.uniform(*FACE_PX)
    face = min(face + (1 - strength) * (face_in_crop - face), source_face_px, face_in_crop)
    small = max(16, int(round(size * face / face_in_crop)))
    if rng.random() < 0.5 * strength:  # defocus
        sigma = rng.uniform(0.3, 1.5) * strength * size / small
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    if rng.random() < 0.4 * strength:  # motion
        img = cv2.filter2D(img, -1, _motion_kernel(rng, int(rng.integers(3, 4 + int(10 * strength)))))
    if small < size:
        img = cv2.resize(img, (small, small), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.8 * strength:  # exposure, gamma, colour cast (white balance)
        gain = np.clip(np.exp(rng.normal(0, 0.35 * strength)), 0.5, 1.6)
        if rng.random() < 0.35:
            gain *= rng.uniform(0.3, 0.6)  # low light
        grey = bool(np.all(crop[..., 0] == crop[..., 1]) and np.all(crop[..., 1] == crop[..., 2]))
        # no colour cast on a grey photo (AT&T): its clean target is grey, which would teach taking colour out
        cast = np.float32(1) if grey else np.exp(rng.normal(0, 0.12 * strength, 3)).astype(np.float32)
        gamma = np.exp(rng.normal(0, 0.25 * strength))
        img = np.clip(img * gain * cast, 0, 1) ** gamma
        if rng.random() < 0.3:  # uneven light: a gradient across the face
            yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]].astype(np.float32) / img.shape[0] - 0.5
            angle = rng.uniform(0, 2 * np.pi)
            shade = 1 + rng.uniform(0.2, 0.7) * strength * (np.cos(angle) * xx + np.sin(angle) * yy)
            img = img * shade[..., None]
    if rng.random() < 0.8 * strength:  # sensor noise: shot (brightness dependent) + read, some of it chroma
        level = rng.uniform(0.005, 0.06) * strength
        noise = rng.normal(0, 1, img.shape).astype(np.float32) * level * np.sqrt(np.clip(img, 0.02, 1))
        if rng.random() < 0.5:
            noise = noise.mean(2, keepdims=True) + 0.3 * noise
        img = img + noise
    img = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.7 * strength:  # JPEG (the camera's stream, the recording)
        quality = int(rng.integers(int(30 + 60 * (1 - strength)), 95))
        img = cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)
    if img.shape[0] != size:  # the box aligns the small face up to the model's size (bilinear warp)
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)
    return img


def split(identities: np.ndarray, held_out: set[str]) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, validation): validation is the trainer's held-out people (trainer/split.toml)."""
    val = np.isin(identities, sorted(held_out))
    return np.flatnonzero(~val), np.flatnonzero(val)
