"""The arm64/x86 comparison of tools/arm64/e2e.py passes identical runs and catches each kind of difference."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import cv2
import numpy as np

from tools.arm64 import compare
from tools.arm64.e2e import PHOTO_CONFIG, PHOTOS


def _failed(rows):
    return [r.what for r in rows if not r.ok]


def test_identical_runs_agree_and_a_changed_mugshot_box_or_count_does_not(tmp_path, shared_data):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, name in enumerate(PHOTOS[:2]):
        shutil.copy(shared_data / name, photos / f"{i}.jpg")
    (tmp_path / "photos.toml").write_text(PHOTO_CONFIG)
    x86, arm = tmp_path / "x86", tmp_path / "arm"
    subprocess.run([sys.executable, "-m", "edge", "replay", str(photos), "--out", str(x86),
                    "--config", str(tmp_path / "photos.toml")], check=True, capture_output=True, cwd=tmp_path)
    shutil.copytree(x86, arm)
    rows = compare.compare_events("photos", x86, arm)
    assert len(compare.load_events(x86)) == 2
    assert _failed(rows) == []

    first = compare.load_events(arm)[0]
    mugshot = arm / f"{first['event_id']}_mugshot.jpg"
    image = cv2.imread(str(mugshot)).astype(np.int16)
    cv2.imwrite(str(mugshot), np.clip(image + 12, 0, 255).astype(np.uint8))
    assert _failed(compare.compare_events("photos", x86, arm)) == ["mugshot JPEG pixels, mean |diff| levels"]

    first["box"]["x"] += 2.0
    (arm / f"{first['event_id']}.json").write_text(json.dumps(first))
    assert "box, max |diff| px" in _failed(compare.compare_events("photos", x86, arm))

    (arm / f"{first['event_id']}.json").unlink()
    assert _failed(compare.compare_events("photos", x86, arm))[0] == "events"
