"""Sanity measurement of the FaceNet prior (not a test; needs ``mugshot-train facenet`` first):

    python -m trainer.identity_prior.measure [--data ../shared/data] [--size 128] [--threads 2]

1. Rank-1 of FRMDB pitch-0 views at camera yaw -45/+45/-90/+90 against each person's frontal
   ``Img_33``, faces found by YuNet as ``mugshot-train restore-prepare`` finds them (the largest): first a sweep of
   FaceNet framings (face scale and vertical shift, crops straight to 160x160, onnxruntime) on
   the *training* people, which chose ``FACENET_FACE_SCALE`` and ``FACENET_SHIFT``; then, at the
   chosen framing, on all people through ``FaceNetLoss`` on ``--size`` trainer crops aligned by
   ``edge.vision.align`` at face scale 0.7 (the torch interpreter), and straight to 160 (onnxruntime).
2. Max |torch - onnxruntime| of the embeddings of the same real faces.
3. Forward + backward time of ``FaceNetLoss`` for a batch of 8 at ``--threads`` threads.
"""
from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from edge.vision.align import ModelInputSpec, align_face, to_tensor
from edge.vision.metrics import rank1

YAWS = ("-45", "45", "-90", "90")  # FRMDB camera yaw; the face's yaw is minus it


def frmdb_faces(root: Path):
    """Per pitch-0 image: identity, camera yaw ("0": the gallery's Img_33), picture, YuNet's five points."""
    from edge.vision.detect.yunet import YuNetDetector
    from trainer.restore_data import find_face

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
                missing.append((f"frmdb:{row['subject']}", yaw))
                continue
            rows.append((f"frmdb:{row['subject']}", yaw, image, face.landmarks))
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
    parser.add_argument("--scales", type=float, nargs="*", default=[0.75, 0.85, 0.9, 0.95, 1.05],
                        help="FaceNet framings to try, as edge.vision.align face scales (none: no sweep)")
    parser.add_argument("--shifts", type=float, nargs="+", default=[0.0, 0.05, 0.1],
                        help="and vertical shifts of its centre (share of its side, down)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=11, help="timing runs (the first warms up)")
    args = parser.parse_args(argv)
    import onnxruntime as ort

    from trainer.identity_prior.facenet import prewhiten, read_record
    from trainer.identity_prior.loss import FACENET_FACE_SCALE, FACENET_SHIFT, FaceNetLoss, facenet_crop, load_facenet
    from trainer.split_notice import load_split

    torch.set_num_threads(args.threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(read_record(args.cache)["path"], options, providers=["CPUExecutionProvider"])
    rows, missing = frmdb_faces(args.data / "frmdb")
    ids = np.array([r[0] for r in rows])
    yaws = np.array([r[1] for r in rows])
    everyone = {r[0] for r in rows} | {m[0] for m in missing}
    train_people = everyone - load_split()
    print(f"{len(rows)} faces found, {len(missing)} not found: " + ", ".join(f"{s} camera yaw {y}" for s, y in missing))

    def totals(people):
        return {y: sum(1 for r in rows if r[1] == y and r[0] in people)
                + sum(1 for s, y2 in missing if y2 == y and s in people) for y in YAWS}

    def direct(scale, shift):
        faces = np.stack([cv2.cvtColor(facenet_crop(r[2], r[3], scale, shift), cv2.COLOR_BGR2RGB) for r in rows])
        return prewhiten(faces.transpose(0, 3, 1, 2))

    def ort_embed(faces):
        return np.concatenate([session.run(None, {"input": faces[k:k + 32]})[0] for k in range(0, len(faces), 32)])

    def line(r):
        return " | ".join(f"{100 * r[y][0]:.0f} %" for y in YAWS)

    print(f"\nFaceNet framing sweep on the {len(train_people)} training people (onnxruntime, crops straight to "
          "160x160; camera yaw; undetected probes count as misses):")
    print("| face scale | shift | -45 | +45 | -90 | +90 |\n|---|---|---|---|---|---|")
    for scale in args.scales:
        for shift in args.shifts:
            chosen = " (chosen)" if (scale, shift) == (FACENET_FACE_SCALE, FACENET_SHIFT) else ""
            r = rank1_by_yaw(ort_embed(direct(scale, shift)), ids, yaws, train_people, totals(train_people))
            print(f"| {scale:.2f}{chosen} | {shift:.2f} | {line(r)} |")

    spec = ModelInputSpec(size=args.size, face_scale=0.7)
    crops = np.stack([align_face(r[2], r[3], args.size, 0.7)[0] for r in rows])  # as prepare stores them
    loss = FaceNetLoss(spec, load_facenet(args.cache))
    torch_emb = np.concatenate([loss.embed_bgr(crops[k:k + 32]) for k in range(0, len(crops), 32)])
    faces = direct(FACENET_FACE_SCALE, FACENET_SHIFT)
    ort_direct = ort_embed(faces)
    with torch.no_grad():
        torch_direct = np.concatenate([loss.net(torch.from_numpy(faces[k:k + 32])).numpy()
                                       for k in range(0, len(faces), 32)])
    print(f"\nAll {len(everyone)} FRMDB people at face scale {FACENET_FACE_SCALE}, shift {FACENET_SHIFT} "
          "(probes found / probes):")
    print("| path | -45 | +45 | -90 | +90 |\n|---|---|---|---|---|")
    for name, emb in ((f"FaceNetLoss on {args.size}px trainer crops (torch)", torch_emb),
                      ("crops straight to 160x160 (onnxruntime)", ort_direct)):
        print(f"| {name} | {line(rank1_by_yaw(emb, ids, yaws, everyone, totals(everyone)))} |")
    found = rank1_by_yaw(ort_direct, ids, yaws, everyone, totals(everyone))
    print("probes found: " + ", ".join(f"{int(y):+d}: {found[y][1]}/{totals(everyone)[y]}" for y in YAWS))
    print(f"max |torch - onnxruntime| over {len(faces)} real faces x 512: {np.abs(torch_direct - ort_direct).max():.2e}")

    batch = torch.from_numpy(to_tensor(crops[:8], spec))
    target = torch.from_numpy(to_tensor(crops[8:16], spec))
    train_s, ort_s = [], []
    for _ in range(args.repeats):  # interleaved, so both see the same load on the machine
        fake = batch.clone().requires_grad_(True)
        started = time.perf_counter()
        loss(fake, target).backward()
        train_s.append(time.perf_counter() - started)
        assert fake.grad is not None and fake.grad.abs().sum() > 0
        started = time.perf_counter()
        session.run(None, {"input": faces[:8]})
        ort_s.append(time.perf_counter() - started)
    train_s, ort_s = np.array(train_s[1:]), np.array(ort_s[1:])  # the first run warms up
    print(f"\nFaceNetLoss forward + backward (target embeddings included), batch 8 of {args.size}px, "
          f"{args.threads} threads, {len(train_s)} runs: median {np.median(train_s):.3f} s, fastest {train_s.min():.3f} s; "
          f"onnxruntime forward of 8 faces beside it: median {np.median(ort_s):.3f} s "
          f"(ratio {np.median(train_s / ort_s):.1f}x); load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
