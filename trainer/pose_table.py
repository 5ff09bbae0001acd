"""``mugshot-train pose``: mean absolute yaw error of the box's two head-pose estimators per pose bin.

Ground truth: FRMDB studio views at camera yaw 0/±45/±90, pitch 0 (the face's yaw is minus the
camera's), and Pointing'04 pan -90..+90 at tilt 0 (annotated head pan; the face's yaw is
the pan, checked on the ±45 bins).  The estimators are the mesh pose (weighted Procrustes of the
dense mesh, ``edge.vision.face3d``) and the 5-point PnP fit (``edge.vision.quality.head_pose``); the box uses
the mesh where it is present and the 5-point fit otherwise (column "box").  No torch here.
"""
from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np


@dataclass
class Bin:
    images: int = 0
    detected: int = 0
    mesh: int = 0
    mesh_err: list = field(default_factory=list)  # on faces with a mesh
    five_on_mesh: list = field(default_factory=list)  # 5-point error on the same faces
    five_err: list = field(default_factory=list)  # 5-point error on every detected face
    box_err: list = field(default_factory=list)  # what the box reports: mesh, else 5-point


def frmdb_items(root: Path):
    with open(root / "manifest.csv") as f:
        for row in csv.DictReader(f):
            if row["kind"] == "mugshot" and row["camera_pitch_deg"] == "0" and \
                    row["camera_yaw_deg"] in ("0", "45", "-45", "90", "-90"):
                yaw = -float(row["camera_yaw_deg"])
                yield f"FRMDB yaw {yaw:+.0f}", root / row["path"], yaw, None


def pointing04_items(root: Path):
    with open(root / "manifest.csv") as f:
        for row in csv.DictReader(f):
            if row["tilt_deg"] == "0":
                yaw = float(row["pan_deg"])
                box = tuple(float(row[k]) for k in ("bbox_x", "bbox_y", "bbox_w", "bbox_h"))
                yield f"Pointing'04 pan {float(row['pan_deg']):+.0f}", root / row["path"], yaw, box


def nearest(detections, box):
    if box is None or not detections:
        return detections[0] if detections else None
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    best = min(detections, key=lambda d: (d.box[0] + d.box[2] / 2 - cx) ** 2 + (d.box[1] + d.box[3] / 2 - cy) ** 2)
    bx, by = best.box[0] + best.box[2] / 2, best.box[1] + best.box[3] / 2
    return best if abs(bx - cx) < max(box[2], box[3]) and abs(by - cy) < max(box[2], box[3]) else None


def measure(data: Path, limit: int = 0) -> dict[str, Bin]:
    from edge.config import DetectorConfig
    from edge.vision.detect import make_detector
    from edge.vision.face3d import make_mesher, procrustes_pose
    from edge.vision.quality import head_pose

    detector = make_detector(DetectorConfig(precision="fp32", score_threshold=0.5))
    mesher = make_mesher()
    bins: dict[str, Bin] = defaultdict(Bin)
    items = list(frmdb_items(data / "frmdb")) + list(pointing04_items(data / "pointing04"))
    if limit:
        items = items[::max(1, len(items) // limit)]
    for name, path, truth, box in items:
        b = bins[name]
        b.images += 1
        image = cv2.imread(str(path))
        if image is None:
            raise FileNotFoundError(f"{path}: not a readable image")
        det = nearest(detector.detect(image), box)
        if det is None:
            continue
        b.detected += 1
        five = abs(head_pose(det.landmarks, (image.shape[1], image.shape[0]))[0] - truth)
        b.five_err.append(five)
        mesh = mesher.mesh(image, det.box, det.landmarks)
        if mesh is None:
            b.box_err.append(five)
            continue
        b.mesh += 1
        err = abs(procrustes_pose(mesh.points, mesher.canonical).yaw - truth)
        b.mesh_err.append(err)
        b.five_on_mesh.append(five)
        b.box_err.append(err)
    return dict(bins)


def table(bins: dict[str, Bin]) -> str:
    def mean(values):
        return f"{np.mean(values):.1f}" if values else "-"

    def order(name):
        dataset, _, value = name.rpartition(" ")
        return dataset, float(value)

    lines = ["| bin | images | detected | mesh | mesh yaw MAE | 5-point MAE (same faces) | 5-point MAE (all detected) "
             "| box (mesh, else 5-point) |", "|---|---|---|---|---|---|---|---|"]
    for name in sorted(bins, key=order):
        b = bins[name]
        lines.append(f"| {name} | {b.images} | {b.detected} | {b.mesh} | {mean(b.mesh_err)} | "
                     f"{mean(b.five_on_mesh)} | {mean(b.five_err)} | {mean(b.box_err)} |")
    return "\n".join(lines)
