"""`mugshot-train prepare`: datasets -> detected, aligned (input view, frontal target) pairs.

Every face is found by the edge detector and aligned by ``edge.vision.align`` with the same
``ModelInputSpec`` the exported model will carry, so training sees exactly what the
camera box feeds the model.  Sources:

- a folder in the layout ``dataset/001.jpg`` (frontal) + ``dataset/001/*.jpg`` (other views);
- FRMDB (``frmdb/manifest.csv``): ``Img_33`` (yaw 0, pitch 0) is the target; studio views at
  yaw 0/+-45/+-90 and pitch -30/0/+30 (but the target itself) are inputs; surveillance frames
  are inputs for evaluation;
- Pointing'04 (``pointing04/manifest.csv``): pan 0 / tilt 0 of each series is the target;
- AT&T faces (``att_orl/sN/*.pgm``): ``1.pgm`` is the target, the other nine are inputs.

The cache is one ``.npz``: inputs, the index of each input's target, identity, yaw, pitch,
source and kind.  Faces not found are counted and listed.  With ``geometry`` (``prepare --geometry``)
it also holds each view's frontalized face and visibility map as the box renders them, and
Rotate-and-Render pairs of training people (``trainer/geometry.py``); older caches still load.
"""
from __future__ import annotations

import csv
import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge.vision.align import ModelInputSpec, align_face
from edge.vision.detect.yunet import YuNetDetector
from edge.vision.quality import head_pose

from .geometry import ROTATE_YAWS, BoxGeometry, GeometryColumns, is_rotation_source, rotated_views

log = logging.getLogger(__name__)

SPLIT_FILE = Path(__file__).with_name("split.toml")
FRMDB_INPUT_YAWS = {-90, -45, 0, 45, 90}  # yaw 0 at pitch +-30: faces the box's yaw gate lets through
FRMDB_INPUT_PITCHES = {-30, 0, 30}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".pgm"}


@dataclass
class View:
    identity: str
    path: Path
    yaw: float = float("nan")
    pitch: float = float("nan")
    kind: str = "studio"  # studio | surveillance
    hint_box: tuple[float, float, float, float] | None = None  # where the face should be (surveillance)


@dataclass
class Source:
    name: str
    frontals: dict[str, Path] = field(default_factory=dict)  # target key -> frontal image
    views: list[tuple[str, View]] = field(default_factory=list)  # (target key, view)


def frmdb_source(root: Path, subjects: set[str] | None = None) -> Source:
    rows = [r for r in csv.DictReader(open(root / "manifest.csv", newline=""))
            if subjects is None or r["subject"] in subjects]
    source = Source("frmdb")
    for r in rows:
        if r["kind"] == "mugshot" and r["camera_yaw_deg"] == "0" and r["camera_pitch_deg"] == "0":
            source.frontals[f"frmdb:{r['subject']}"] = root / r["path"]
    for r in rows:
        key = f"frmdb:{r['subject']}"
        if r["kind"] == "mugshot" and r["camera_yaw_deg"]:
            yaw, pitch = int(r["camera_yaw_deg"]), int(r["camera_pitch_deg"])
            if yaw in FRMDB_INPUT_YAWS and pitch in FRMDB_INPUT_PITCHES and (yaw, pitch) != (0, 0):
                source.views.append((key, View(key, root / r["path"], yaw, pitch)))
        elif r["kind"] == "surveillance_frame":
            box = tuple(float(r[k]) for k in "xywh") if r["x"] else None
            source.views.append((key, View(key, root / r["path"], kind="surveillance", hint_box=box)))
    return source


def pointing04_source(root: Path) -> Source:
    rows = list(csv.DictReader(open(root / "manifest.csv", newline="")))
    source = Source("pointing04")
    for r in rows:
        if r["pan_deg"] == "0" and r["tilt_deg"] == "0":
            source.frontals[f"p04:{r['person']}:{r['series']}"] = root / r["path"]
    for r in rows:
        pan, tilt = int(r["pan_deg"]), int(r["tilt_deg"])
        if (pan, tilt) != (0, 0) and abs(pan) <= 90 and abs(tilt) <= 30:
            key = f"p04:{r['person']}:{r['series']}"
            source.views.append((key, View(f"p04:{r['person']}", root / r["path"], pan, tilt)))
    return source


def att_source(root: Path) -> Source:
    """AT&T (ORL) faces: ``sN/1.pgm`` is the target, ``sN/2..10.pgm`` (small pose and expression
    changes, grey) the inputs.  40 more identities, all for training: near-frontal pairs teach
    the generator to carry a face's identity through rather than paint an average one."""
    source = Source("att")
    for person in sorted(p for p in root.iterdir() if p.is_dir() and (p / "1.pgm").exists()):
        key = f"att:{person.name}"
        source.frontals[key] = person / "1.pgm"
        for view in sorted(person.glob("*.pgm")):
            if view.name != "1.pgm":
                source.views.append((key, View(key, view)))
    return source


def folder_source(root: Path) -> Source:
    """``dataset/001.jpg`` is the frontal of person 001; ``dataset/001/*.jpg`` are other views."""
    source = Source(f"folder:{root.name}")
    for frontal in sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        key = f"{root.name}:{frontal.stem}"
        source.frontals[key] = frontal
        views = root / frontal.stem
        if views.is_dir():
            for view in sorted(p for p in views.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
                source.views.append((key, View(key, view)))
    return source


def load_split(path: Path = SPLIT_FILE) -> set[str]:
    """Identities held out for evaluation (never trained on)."""
    data = tomllib.loads(path.read_text())
    return set(data["test_identities"])


def find_face(detector: YuNetDetector, image: np.ndarray, hint: tuple | None = None):
    faces = detector.detect(image)
    if not faces:
        return None
    if hint is not None:  # the face nearest the annotated box
        hx, hy = hint[0] + hint[2] / 2, hint[1] + hint[3] / 2
        return min(faces, key=lambda f: (f.box[0] + f.box[2] / 2 - hx) ** 2 + (f.box[1] + f.box[3] / 2 - hy) ** 2)
    return max(faces, key=lambda f: f.box[2] * f.box[3])


def held_out_identities(sources: list[Source], split: set[str], every: int = 5) -> set[str]:
    """The people to hold out: trainer/split.toml's for the shared datasets, and every
    ``every``-th person in name order (the 3rd, 8th, ...) of your own folders, at least one of
    each folder with two or more people."""
    held = set()
    for source in sources:
        people = sorted(source.frontals)
        if not source.name.startswith("folder:"):
            held |= {p.rsplit(":", 1)[0] if p.startswith("p04:") else p for p in people} & split
        elif len(people) >= 2:
            held |= set(people[min(every, len(people)) // 2::every])
    return held


def prepare(sources: list[Source], spec: ModelInputSpec, out: Path, detector: YuNetDetector | None = None,
            test_identities: set[str] | None = None, geometry: bool = False,
            rotate_yaws: tuple[float, ...] = ROTATE_YAWS, rotate_surveillance: bool = False, mesher=None) -> dict:
    """Detect, align and store every pair; ``test_identities`` (default: held_out_identities())
    go into the cache, and fit and eval keep to that split.

    ``geometry``: also store each view's frontalized face and visibility map as the box renders
    them (``trainer/geometry.py``), and add Rotate-and-Render pairs (``rotate_yaws``; none when
    empty) made from the near-frontal photos of training people (studio photos; surveillance
    frames too with ``rotate_surveillance``)."""
    test_identities = held_out_identities(sources, load_split()) if test_identities is None else test_identities
    detector = detector or YuNetDetector(input_width=320, input_height=320, score_threshold=0.5)
    box = BoxGeometry(spec, mesher) if geometry else None
    columns = GeometryColumns(spec.size)
    frontal_index: dict[str, int] = {}
    frontals: list[np.ndarray] = []
    frontal_ids: list[str] = []
    missing: list[str] = []
    rotation_sources: list[tuple] = []  # (image, face, its geometry, target index, identity, source name, kind)
    frontal_poses: dict[str, object] = {}  # target key -> the frontal's mesh pose (False: no mesh)
    for source in sources:
        for key, path in source.frontals.items():
            image = cv2.imread(str(path))
            face = find_face(detector, image) if image is not None else None
            if face is None:
                missing.append(str(path))
                continue
            frontal_index[key] = len(frontals)
            identity = key.rsplit(":", 1)[0] if key.startswith("p04:") else key
            if box is not None and rotate_yaws and identity not in test_identities:
                view = box.of(image, face)
                frontal_poses[key] = view.pose if view.pose is not None else False
                if is_rotation_source(view):
                    rotation_sources.append((image, face, view, len(frontals), identity, source.name, "studio"))
            frontals.append(align_face(image, face.landmarks, spec.size, spec.face_scale)[0])
            frontal_ids.append(identity)
    inputs, targets, identities, yaws, pitches, kinds, names = [], [], [], [], [], [], []
    pose_yaws, scores, face_sizes = [], [], []  # how the edge would see each face

    def add(image, face, crop, target, identity, yaw, pitch, kind, name) -> None:
        inputs.append(crop)
        targets.append(target)
        identities.append(identity)
        yaws.append(yaw)
        pitches.append(pitch)
        kinds.append(kind)
        names.append(name)
        pose_yaws.append(head_pose(face.landmarks, (image.shape[1], image.shape[0]))[0])  # as the edge sees it
        scores.append(face.score)  # the edge drops faces below detector.score_threshold
        face_sizes.append(min(face.box[2], face.box[3]))  # and below detector.min_face

    for source in sources:
        for key, view in source.views:
            if key not in frontal_index:
                continue
            image = cv2.imread(str(view.path))
            face = find_face(detector, image, view.hint_box) if image is not None else None
            if face is None:
                missing.append(str(view.path))
                continue
            if box is None:
                crop = align_face(image, face.landmarks, spec.size, spec.face_scale)[0]
            else:
                geo = box.of(image, face)
                crop = geo.crop
                columns.add(geo)
                if rotate_yaws and view.identity not in test_identities and \
                        is_rotation_source(geo, frontal_poses.get(key, False)) and \
                        (view.kind == "studio" or rotate_surveillance):
                    rotation_sources.append((image, face, geo, None, view.identity, source.name, view.kind))
            add(image, face, crop, frontal_index[key], view.identity, view.yaw, view.pitch, view.kind, source.name)
    rotated = 0
    for image, face, geo, target, identity, name, kind in rotation_sources:
        if target is None:  # a near-frontal view: its own aligned crop is the target
            target = len(frontals)
            frontals.append(geo.crop)
            frontal_ids.append(identity)
        for made_kind, turn, picture, found, made in rotated_views(box, detector, image, face, geo, tuple(rotate_yaws)):
            add(picture, found, made.crop, target, identity, float("nan"), float("nan"), made_kind, name)
            columns.add(made, turn)
            rotated += 1
    out.parent.mkdir(parents=True, exist_ok=True)
    extra = columns.arrays(box.describe()) if box is not None else {}
    np.savez_compressed(out, inputs=np.asarray(inputs, np.uint8), targets=np.asarray(targets, np.int32),
                        frontals=np.asarray(frontals, np.uint8), frontal_ids=np.asarray(frontal_ids),
                        identities=np.asarray(identities), yaws=np.asarray(yaws, np.float32),
                        pitches=np.asarray(pitches, np.float32), kinds=np.asarray(kinds),
                        sources=np.asarray(names), pose_yaws=np.asarray(pose_yaws, np.float32),
                        scores=np.asarray(scores, np.float32), face_sizes=np.asarray(face_sizes, np.float32),
                        test_identities=np.asarray(sorted(test_identities), dtype=str), spec=np.asarray(spec.to_json()),
                        **extra)
    return {"pairs": len(inputs), "frontals": len(frontals), "missing": missing, "held_out": sorted(test_identities),
            "rotated": rotated, "rotation_sources": len(rotation_sources),
            "meshes": int(sum(columns.has_mesh)) if box is not None else None}
