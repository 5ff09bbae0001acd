"""Sanity measurement of the FaceNet prior (not a test; needs ``mugshot-train facenet`` first):

    python -m trainer.identity_prior.measure [--data ../shared/data] [--size 128] [--threads 2]

1. Rank-1 of FRMDB pitch-0 views at camera yaw -45/+45/-90/+90 against each person's frontal
   ``Img_33``, faces found by YuNet and aligned by ``edge.align`` exactly as ``mugshot-train
   prepare`` does (``--size``, face scale 0.7), then embedded by ``FaceNetLoss`` (its crop to
   FaceNet's framing, torch interpreter): for several FaceNet framings on the training people
   (which chooses ``FACENET_FACE_SCALE``), then at the chosen one on all people.
2. The same faces aligned straight to 160x160 at FaceNet's framing, embedded by onnxruntime
   and by the torch interpreter: max |torch - onnxruntime|.
3. Forward + backward time of ``FaceNetLoss`` for a batch of 8 at ``--threads`` threads.
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from edge.align import ModelInputSpec, align_face, to_tensor
from edge.metrics import rank1

YAWS = ("-45", "45", "-90", "90")  # FRMDB camera yaw; the face's yaw is minus it


def frmdb_faces(root: Path, size: int, fn_scale: float):
    """Per image: identity, camera yaw ("0" for the gallery), trainer crop, 160 crop at ``fn_scale``."""
    from edge.detect.yunet import YuNetDetector
    from trainer.prepare import find_face

    detector = YuNetDetector(input_width=320, input_height=320, score_threshold=0.5)
    rows, missing = [], []
    with open(root / "manifest.csv") as f:
        for row in csv.DictReader(f):
            yaw = row["camera_yaw_deg"]
            if row["kind"] != "mugshot" or row["camera_pitch_deg"] != "0" or yaw not in ("0",) + YAWS:
                continue
            image = cv2.imread(str(root / row["path"]))
            face = find_face(detector, image) if image is not None else None
            if face is None:
                missing.append((row["subject"], yaw))
                continue
            rows.append((f"frmdb:{row['subject']}", yaw, align_face(image, face.landmarks, size, 0.7)[0],
                         align_face(image, face.landmarks, 160, fn_scale)[0]))
    return rows, missing


def rank1_by_yaw(embeddings: np.ndarray, ids: np.ndarray, yaws: np.ndarray, people: set[str],
                 totals: dict[str, int]) -> dict[str, tuple[float, int]]:
    """Per yaw: (rank-1 counting undetected probes as misses, probes found)."""
    keep = np.isin(ids, sorted(people))
    gallery = keep & (yaws == "0")
    out = {}
    for yaw in YAWS:
        probes = keep & (yaws == yaw) & np.isin(ids, ids[gallery])
        hits = rank1(embeddings[probes], ids[probes], embeddings[gallery], ids[gallery]) * probes.sum() if probes.any() else 0
        out[yaw] = (hits / max(totals[yaw], 1), int(probes.sum()))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.identity_prior.measure", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data")
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "mugshot-edge" / "facenet"))
    parser.add_argument("--size", type=int, default=128, help="trainer crop size (prepare --size)")
    parser.add_argument("--scales", type=float, nargs="+", default=[0.7, 0.8, 0.85, 0.9, 1.0],
                        help="FaceNet framings to try, as edge.align face scales")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import onnxruntime as ort

    from trainer.identity_prior.facenet import prewhiten, read_record
    from trainer.identity_prior.loss import FACENET_FACE_SCALE, FaceNetLoss, load_facenet
    from trainer.prepare import load_split

    torch.set_num_threads(args.threads)
    spec = ModelInputSpec(size=args.size, face_scale=0.7)
    rows, missing = frmdb_faces(args.data / "frmdb", args.size, FACENET_FACE_SCALE)
    ids = np.array([r[0] for r in rows])
    yaws = np.array([r[1] for r in rows])
    crops = np.stack([r[2] for r in rows])
    everyone = set(ids[yaws == "0"].tolist())
    train_people = everyone - load_split()
    people_total = len({r[0] for r in rows} | {f"frmdb:{m[0]}" for m in missing})
    print(f"{len(rows)} faces found, {len(missing)} not found: "
          + ", ".join(f"{s} yaw {y}" for s, y in missing[:12]) + (" ..." if len(missing) > 12 else ""))

    def totals(people):
        return {y: sum(1 for r in rows if r[1] == y and r[0] in people) + sum(
            1 for s, y2 in missing if y2 == y and f"frmdb:{s}" in people) for y in YAWS}

    model = load_facenet(args.cache)
    print(f"\nFaceNet framing sweep on the {len(train_people)} training people, {args.size}px trainer crops "
          "(camera yaw; undetected probes count as misses):")
    print("| FaceNet face scale | -45 | +45 | -90 | +90 |\n|---|---|---|---|---|")
    for scale in args.scales:
        loss = FaceNetLoss(spec, model, face_scale=scale)
        emb = np.concatenate([loss.embed_bgr(crops[k:k + 32]) for k in range(0, len(crops), 32)])
        r = rank1_by_yaw(emb, ids, yaws, train_people, totals(train_people))
        print(f"| {scale:.2f}{' (chosen)' if scale == FACENET_FACE_SCALE else ''} | "
              + " | ".join(f"{100 * r[y][0]:.0f} %" for y in YAWS) + " |")

    loss = FaceNetLoss(spec, model, face_scale=FACENET_FACE_SCALE)
    emb = np.concatenate([loss.embed_bgr(crops[k:k + 32]) for k in range(0, len(crops), 32)])
    r = rank1_by_yaw(emb, ids, yaws, everyone, totals(everyone))
    print(f"\nAll {people_total} FRMDB people, face scale {FACENET_FACE_SCALE}, {args.size}px trainer crops via "
          "FaceNetLoss (torch):")
    for y in YAWS:
        print(f"  camera yaw {int(y):+d}: rank-1 {100 * r[y][0]:.1f} % ({r[y][1]}/{totals(everyone)[y]} probes found)")

    direct = prewhiten(np.stack([cv2.cvtColor(r[3], cv2.COLOR_BGR2RGB) for r in rows]).transpose(0, 3, 1, 2))
    session = ort.InferenceSession(read_record(args.cache)["path"], providers=["CPUExecutionProvider"])
    with torch.no_grad():
        torch_emb = np.concatenate([loss.net(torch.from_numpy(direct[k:k + 32])).numpy()
                                    for k in range(0, len(direct), 32)])
    ort_emb = np.concatenate([session.run(None, {"input": direct[k:k + 32]})[0] for k in range(0, len(direct), 32)])
    r = rank1_by_yaw(ort_emb, ids, yaws, everyone, totals(everyone))
    print(f"\nSame faces aligned straight to 160x160 at face scale {FACENET_FACE_SCALE}, onnxruntime:")
    for y in YAWS:
        print(f"  camera yaw {int(y):+d}: rank-1 {100 * r[y][0]:.1f} %")
    print(f"max |torch - onnxruntime| over {len(direct)} real faces x 512: {np.abs(torch_emb - ort_emb).max():.2e}")

    batch = torch.from_numpy(to_tensor(crops[:8], spec))
    target = torch.from_numpy(to_tensor(crops[8:16], spec))
    times = []
    for _ in range(6):
        fake = batch.clone().requires_grad_(True)
        started = time.perf_counter()
        loss(fake, target).backward()
        times.append(time.perf_counter() - started)
        assert fake.grad is not None and fake.grad.abs().sum() > 0
    print(f"\nFaceNetLoss forward + backward, batch 8 of {args.size}px, {args.threads} threads: "
          f"median {np.median(times[1:]):.3f} s (5 runs after a warm-up; target embeddings included)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
