"""How well the box picks a track's best shot, measured on real surveillance frames.

``python -m tools.generator.selection [--data ../shared/data]``

Every FRMDB person with real surveillance frames (352x288, five lab cameras, 3-5 frames each) is one track.
Each frame goes through the box's own measurement (YuNet, the person's detection inside the manifest's head
box, the face mesh's pose, ``quality.measure``) and its aligned crop is identified by two recognizers against
the frontal studio photos of all these people: the receiver's faceres (MIT, ``edge.receiver.people``) and dlib
(the evaluator).  Identity margin: distance (dlib) or dissimilarity (faceres, 1 - cosine) to the nearest other
person minus that to the own photo; positive = identified.

Printed per rule that picks one frame per track, separately for training and held-out people: the mean margin
of the picked frame, how many picked frames are identified, and how often the pick is the frame that
recognizer likes best (the oracle).  Rules: the box's ``shot_score``, each of its terms alone, the first frame
(what a box without selection publishes), and the oracles.  Nothing is tuned here: a change to the score is
judged on the training people with faceres and confirmed on the held-out people with dlib.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def frames_of(data: Path) -> tuple[list[dict], dict[str, np.ndarray]]:
    from edge.vision.align import MUGSHOT_FACE_SCALE, align_face
    from trainer.real_pairs import box_models, box_quality, inside
    from trainer.restore_data import read_manifest
    from trainer.split_notice import load_split

    detector, mesher = box_models()
    rows = read_manifest(data / "frmdb" / "manifest.csv")
    held = load_split()
    frames, gallery = [], {}
    for subject in sorted({r["subject"] for r in rows if r["kind"] == "surveillance_frame"}):
        mine = [r for r in rows if r["subject"] == subject]
        front = [r for r in mine if r["kind"] == "mugshot" and (r["camera_yaw_deg"], r["camera_pitch_deg"]) == ("0", "0")]
        image = cv2.imread(str(data / "frmdb" / front[0]["path"]))
        face = max(detector.detect(image), key=lambda d: d.box[2] * d.box[3])
        gallery[subject] = align_face(image, face.landmarks, 256, MUGSHOT_FACE_SCALE)[0]
        for r in mine:
            if r["kind"] != "surveillance_frame" or not r["w"]:
                continue
            image = cv2.imread(str(data / "frmdb" / r["path"]))
            box = tuple(float(r[k]) for k in "xywh")
            faces = [d for d in detector.detect(image) if inside(d, box)]
            if not faces:
                continue
            det = max(faces, key=lambda d: d.score)
            quality = box_quality(image, det, mesher)
            frames.append({"subject": subject, "held_out": f"frmdb:{subject}" in held, "order": len(frames),
                           "quality": quality, "crop": align_face(image, det.landmarks, 256, MUGSHOT_FACE_SCALE)[0]})
    return frames, gallery


def margins(frames: list[dict], gallery: dict[str, np.ndarray]) -> None:
    from edge.receiver.people.embed import FaceEmbedder
    from edge.vision.align import MUGSHOT_FACE_SCALE, ModelInputSpec
    from edge.vision.metrics import DlibIdentity, identity_margin

    ids = np.array(sorted(gallery))
    own = np.array([f["subject"] for f in frames])
    faceres = FaceEmbedder()
    sim = faceres.embed_many([f["crop"] for f in frames]) @ faceres.embed_many([gallery[i] for i in ids]).T
    dlib = DlibIdentity(ModelInputSpec(size=256, face_scale=MUGSHOT_FACE_SCALE))
    dl = identity_margin(dlib.embed(np.stack([f["crop"] for f in frames])), own,
                         dlib.embed(np.stack([gallery[i] for i in ids])), ids)
    for i, f in enumerate(frames):
        mine = ids == own[i]
        f["faceres"] = float(sim[i, mine][0] - sim[i, ~mine].max())
        f["dlib"] = float(dl[i])


def rules() -> dict:
    from edge.vision.quality import frontality, shot_score

    return {
        "box (shot_score)": lambda f: shot_score(f["quality"]),
        "most frontal": lambda f: frontality(f["quality"].yaw, f["quality"].pitch),
        "sharpest": lambda f: f["quality"].sharpness,
        "largest": lambda f: f["quality"].size,
        "first frame": lambda f: -f["order"],
        "oracle faceres": lambda f: f["faceres"],
        "oracle dlib": lambda f: f["dlib"],
    }


def report(frames: list[dict]) -> str:
    lines = ["| rule | people | faceres margin | faceres identified | = faceres oracle | dlib margin | "
             "dlib identified | = dlib oracle |", "|---|---|---|---|---|---|---|---|"]
    for name, key in rules().items():
        for held in (False, True):
            mine = [t for t in _by(frames) if t[0]["held_out"] == held]
            picks = [max(t, key=key) for t in mine]
            best_fr = [max(t, key=lambda f: f["faceres"]) for t in mine]
            best_dl = [max(t, key=lambda f: f["dlib"]) for t in mine]
            n = len(mine)
            lines.append(
                f"| {name} | {'held out' if held else 'training'} ({n}) | "
                f"{np.mean([p['faceres'] for p in picks]):+.3f} | {sum(p['faceres'] > 0 for p in picks)}/{n} | "
                f"{sum(p is b for p, b in zip(picks, best_fr))}/{n} | {np.mean([p['dlib'] for p in picks]):+.3f} | "
                f"{sum(p['dlib'] > 0 for p in picks)}/{n} | {sum(p is b for p, b in zip(picks, best_dl))}/{n} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    args = parser.parse_args(argv)
    frames, gallery = frames_of(Path(args.data))
    margins(frames, gallery)
    print(f"{len(frames)} frames of {len(gallery)} people (tracks of {min(map(len, _by(frames)))}-"
          f"{max(map(len, _by(frames)))} frames)")
    print(report(frames))
    return 0


def _by(frames: list[dict]) -> list[list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in frames:
        out.setdefault(f["subject"], []).append(f)
    return list(out.values())


if __name__ == "__main__":
    raise SystemExit(main())
