"""The arm64/x86 comparison of tools/arm64/e2e.py passes identical runs and catches each kind of difference."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from tools.arm64 import compare
from tools.arm64.e2e import PHOTO_CONFIG, PHOTOS, PINNED


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


def _run_edge(tmp_path, *args):
    subprocess.run([sys.executable, "-m", "edge", *map(str, args)], check=True, capture_output=True, cwd=tmp_path)


def _starting(rows, prefix):
    return [r for r in rows if r.what.startswith(prefix)]


def test_mugshot_stills_compare_pose_source_mesh_pose_and_runtime(tmp_path, shared_data):
    photos = [shared_data / name for name in PHOTOS[:2]]  # frontal, and turned 45 degrees: both get a mesh
    (tmp_path / "pinned.toml").write_text(PINNED)  # the default generator, FP32
    x86, arm = tmp_path / "x86", tmp_path / "arm"
    _run_edge(tmp_path, "mugshot", *photos, "--out", x86, "--config", tmp_path / "pinned.toml")
    shutil.copytree(x86, arm)
    rows = compare.compare_stills("mugshot", x86, arm, "litert")
    assert _failed(rows) == []
    turned = json.loads((arm / "Img_43.json").read_text())
    assert turned["pose"]["source"] == "mesh" and turned["generator"] == "restore-student"
    assert [r.ok for r in _starting(rows, "mesh yaw/pitch/roll")] == [True, True]
    assert set(_failed(compare.compare_stills("mugshot", x86, arm, "onnxruntime"))) == {
        "models, generator decision, mesh runtime onnxruntime"}  # both ran the mesh on LiteRT

    turned["quality"]["yaw"] += 0.6  # beyond the mesh pose's 0.5 degrees on the same photo
    (arm / "Img_43.json").write_text(json.dumps(turned))
    failed = _failed(compare.compare_stills("mugshot", x86, arm, "litert"))
    assert len(failed) == 1 and failed[0].startswith("mesh yaw/pitch/roll")

    turned["quality"]["pose_source"], turned["mesh"]["presence"] = "landmarks", 0.2
    (arm / "Img_43.json").write_text(json.dumps(turned))
    failed = _failed(compare.compare_stills("mugshot", x86, arm, "litert"))
    assert "pose source, mesh presence" in failed

    (arm / "Img_33.json").unlink()
    assert _failed(compare.compare_stills("mugshot", x86, arm, "litert"))[0] == "photos with a mugshot"


def test_probe_compare_mesh_runtimes_and_generators(tmp_path, shared_data):
    probe = Path(compare.__file__).with_name("probe.py")
    photos = [str(shared_data / PHOTOS[0]), str(shared_data / PHOTOS[4])]
    common = ["--clip", str(shared_data / "video" / "single_face.mp4"), "--photos", *photos]
    x86, arm = tmp_path / "x86", tmp_path / "arm"
    subprocess.run([sys.executable, str(probe), *common, "--out", str(x86)], check=True, capture_output=True)
    subprocess.run([sys.executable, str(probe), *common, "--reference", str(x86), "--out", str(arm)], check=True,
                   capture_output=True)
    rows = compare.compare_probes(x86, arm)
    assert _failed(rows) == []
    assert len(_starting(rows, "litert: 468 mesh points")) == 1
    # the pose comparison ran on faces that had a mesh (a count, not pinned: a better detector finds more faces)
    poses = [re.match(r"pose source per face \((\d+) of (\d+) mesh", r.what) for r in rows
             if r.what.startswith("pose source per face")]
    assert poses and all(0 < int(p.group(1)) <= int(p.group(2)) for p in poses), [p.group(0) for p in poses]

    with np.load(arm / "probe.npz") as f:
        arrays = dict(f)
    name = Path(photos[1]).name
    arrays[f"{name}/mesh_raw_onnxruntime"][17] += 0.2
    mugshot = arrays[f"{name}/onnx_fp32"]
    mugshot[:8] = np.clip(mugshot[:8].astype(np.int16) + 2, 0, 255).astype(np.uint8)  # 2 levels, beyond FP32's 1
    np.savez(arm / "probe.npz", **arrays)
    failed = _failed(compare.compare_probes(x86, arm))
    assert "onnxruntime: 468 mesh points, max |diff| px of the input" in failed
    assert [f for f in failed if f.startswith("onnx_fp32 pixels")] and len(failed) == 2


def test_event_times_written_to_the_millisecond_still_count_as_the_same_frame(tmp_path, shared_data):
    """Both times of an event are truncated to milliseconds: the same frame's best-seen offset may read
    1 ms apart on the two machines (0.866 s against 0.867 s in a real run), and must still be compared."""
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(shared_data / PHOTOS[0], photos / "0.jpg")
    (tmp_path / "photos.toml").write_text(PHOTO_CONFIG)
    x86, arm = tmp_path / "x86", tmp_path / "arm"
    _run_edge(tmp_path, "replay", photos, "--out", x86, "--config", tmp_path / "photos.toml")
    shutil.copytree(x86, arm)
    event = compare.load_events(arm)[0]
    first = compare.datetime.fromisoformat(event["first_seen"].replace("Z", "+00:00"))
    event["first_seen"] = (first - compare.timedelta(milliseconds=1)).isoformat(timespec="milliseconds")
    (arm / f"{event['event_id']}.json").write_text(json.dumps(event))
    rows = compare.compare_events("photos", x86, arm)
    assert _failed(rows) == []
    assert any(r.what == "box, max |diff| px" for r in rows)  # compared, not "other frame"
    assert compare.SAME_FRAME_S < 1 / 60  # still well under a frame at 30 fps
