"""Measure the mugshot quality gate (``edge.vision.gate``) on real validation faces.

``python -m tools.generator.gate_thresholds [--data ../shared/data] [--model models/student.onnx] [--quick]``

Faces of people held out of training (trainer/split.toml) go through the box's path: YuNet on the picture,
the face mesh, the aligned 256 px crop, the generator (on the aligned crop, as the box runs it),
the output published at 256 px.  The same faces go through deliberately broken copies of the model
(``tools.generator.broken_models``).  Prints, per model, each gate measure's spread and the share of faces the
gate passes with its current limits; the limits in ``GateLimits`` were set between the shipped model's worst
faces and the broken models' best ones.
"""
from __future__ import annotations

import argparse
import csv
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

VALIDATION_FRMDB = ("001", "006", "011", "016", "021", "026", "041", "046", "051", "056")
VALIDATION_P04 = ("12", "13")
# studio views: frontal, pitch +-30 at yaw 0, yaw +-45 at pitch 0
STUDIO_VIEWS = {"Img_33": "frontal", "Img_32": "pitch30", "Img_34": "pitch30", "Img_23": "yaw45", "Img_43": "yaw45"}


@dataclass
class Face:
    name: str
    kind: str  # frontal | pitch30 | yaw45 | hd | surveillance | p04
    subject: str
    image: np.ndarray
    landmarks: np.ndarray
    mesh: object  # the accepted face mesh, or None


def validation_faces(data: Path, kinds: tuple[str, ...] | None = None, people: tuple[str, ...] = VALIDATION_FRMDB,
                     detector=None, mesher=None) -> list[Face]:
    """Real faces of held-out people, each with its YuNet landmarks and accepted face mesh (or None)."""
    from edge.config import DetectorConfig
    from edge.vision.detect import make_detector
    from edge.vision.face3d import make_mesher

    detector = detector or make_detector(DetectorConfig(threads=1, precision="fp32"))
    mesher = mesher or make_mesher(threads=1)
    wanted = lambda kind: kinds is None or kind in kinds  # noqa: E731
    items: list[tuple[str, str, str, Path]] = []
    with open(data / "frmdb" / "manifest.csv") as handle:
        for row in csv.DictReader(handle):
            if row["subject"] not in people:
                continue
            path = data / "frmdb" / row["path"]
            if row["kind"] == "mugshot" and path.stem in STUDIO_VIEWS and wanted(STUDIO_VIEWS[path.stem]):
                items.append((f"frmdb/{row['subject']}/{path.stem}", STUDIO_VIEWS[path.stem], row["subject"], path))
            elif row["kind"] == "frontal_hd" and wanted("hd"):
                items.append((f"frmdb/{row['subject']}/hd", "hd", row["subject"], path))
            elif row["kind"] == "surveillance_frame" and row["w"] and wanted("surveillance"):
                items.append((f"frmdb/{row['subject']}/{path.stem}", "surveillance", row["subject"], path))
    if wanted("p04"):
        with open(data / "pointing04" / "manifest.csv") as handle:
            for row in csv.DictReader(handle):
                if row["person"] in VALIDATION_P04 and abs(int(row["pan_deg"])) <= 15 \
                        and abs(int(row["tilt_deg"])) <= 15:
                    items.append((f"p04/{row['person']}/{row['series']}/{row['tilt_deg']}_{row['pan_deg']}", "p04",
                                  f"p04:{row['person']}", data / "pointing04" / row["path"]))
    faces = []
    for name, kind, subject, path in items:
        image = cv2.imread(str(path))
        if image is None:
            continue
        scale = min(1.0, 1280 / max(image.shape[:2]))  # studio photos at a camera's resolution
        if scale < 1.0:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        found = detector.detect(image)
        if not found:
            continue
        face = max(found, key=lambda f: f.box[2] * f.box[3])
        mesh = mesher.run(image, face.box, face.landmarks)
        faces.append(Face(name, kind, subject, image, face.landmarks, mesh if mesh.accepted else None))
    return faces


def mugshots(generator, faces: list[Face], size: int = 256) -> list[tuple[np.ndarray, np.ndarray]]:
    """(published mugshot, the aligned crop it came from: the generator's framing) per face, as the box makes them."""
    from edge.vision.align import MUGSHOT_FACE_SCALE, align_face
    from edge.vision.generate import publish_at

    face_scale = getattr(getattr(generator, "spec", None), "face_scale", MUGSHOT_FACE_SCALE)
    pairs = []
    for face in faces:
        crop, _ = align_face(face.image, face.landmarks, size, face_scale)
        mugshot, _ = publish_at(generator.generate(face.image, face.landmarks), size)
        pairs.append((mugshot, crop))
    return pairs


def main(argv: list[str] | None = None) -> int:
    from edge.vision.gate import GateLimits, MugshotGate
    from edge.vision.generate import NoGenerator, OnnxGenerator
    from tools.generator.broken_models import KINDS, broken_model

    root = Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(root.parent / "shared" / "data"))
    parser.add_argument("--model", default=str(root / "models" / "student.onnx"))
    parser.add_argument("--quick", action="store_true", help="studio frontal faces only")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    faces = validation_faces(Path(args.data), ("frontal",) if args.quick else None)
    print(f"{len(faces)} faces of held-out people ({sum(f.mesh is not None for f in faces)} with an accepted mesh); "
          f"limits {GateLimits()}")
    generators = {"crop (generator none)": NoGenerator(), Path(args.model).name: OnnxGenerator(args.model)}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in KINDS:
            generators[f"broken: {kind}"] = OnnxGenerator(broken_model(args.model, kind, Path(tmp) / f"{kind}.onnx"))
        gate = MugshotGate(spec=generators[Path(args.model).name].spec)
        names = ("faces", "landmark_error", "contrast", "clipped", "colour_shift", "high_frequency", "ssim")
        print(f"{'model':24s} {'pass':>9s}  " + "  ".join(f"{n:>22s}" for n in names))
        for label, generator in generators.items():
            results = [gate.check(m, c) for m, c in mugshots(generator, faces)]
            cells = []
            for n in names:
                values = np.array([r.measures.get(n, np.nan) for r in results], np.float64)
                values = values[np.isfinite(values)]
                cells.append(f"{np.min(values):6.2f} {np.median(values):6.2f} {np.max(values):7.2f}"
                             if values.size else f"{'-':>22s}")
            passed = sum(r.ok for r in results)
            print(f"{label:24s} {passed:3d}/{len(results):<5d}  " + "  ".join(f"{c:>22s}" for c in cells))
            by_kind: dict[str, list[bool]] = {}
            for face, result in zip(faces, results):
                by_kind.setdefault(face.kind, []).append(result.ok)
            print(" " * 26 + ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in sorted(by_kind.items())))
            for face, result in zip(faces, results):
                if not result.ok and label.startswith(("crop", Path(args.model).name)):
                    print(f"    fails {face.name}: {result.reason}")
    print("cells: min median max over the faces; landmark_error only where exactly one face was found")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
