"""A folder of your own people in the seed's layout, generated from FRMDB into a temporary folder.

``dataset/001.jpg`` is person 001's frontal photo (FRMDB camera yaw 0, pitch 0) and ``dataset/001/*.jpg`` other
views of the same person: turned (yaw ±45), tilted (pitch ±30 at yaw 0) and the camera's surveillance frames.
``restore-prepare --folder`` keeps the ones the box calls frontal.  The pictures are copied into the test's
tmp_path, never into the repository."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

VIEWS = {(-45, 0), (45, 0), (0, 30), (0, -30)}


def make_own_folder(shared_data: Path, dest: Path, people: int = 10, frames: bool = True) -> Path:
    rows = list(csv.DictReader(open(shared_data / "frmdb" / "manifest.csv")))
    subjects = sorted({r["subject"] for r in rows if r["kind"] == "mugshot"})[:people]
    dest.mkdir(parents=True, exist_ok=True)
    for subject in subjects:
        mine = [r for r in rows if r["subject"] == subject]
        frontal = next(r for r in mine if r["kind"] == "mugshot" and (int(r["camera_yaw_deg"]),
                                                                       int(r["camera_pitch_deg"])) == (0, 0))
        shutil.copy(shared_data / "frmdb" / frontal["path"], dest / f"{subject}.jpg")
        views = dest / subject
        views.mkdir(exist_ok=True)
        for r in mine:
            angle = (int(r["camera_yaw_deg"]), int(r["camera_pitch_deg"])) if r["camera_yaw_deg"] else None
            if (r["kind"] == "mugshot" and angle in VIEWS) or (frames and r["kind"] == "surveillance_frame"):
                shutil.copy(shared_data / "frmdb" / r["path"], views / f"{r['kind']}_{Path(r['path']).stem}.jpg")
    return dest
