"""The README's "Train on your own photos" commands, literally, on a generated folder of ten people: the
restoration path (restore-prepare --folder, restore-fit, restore-export), then the box on the user's photos.

The folder is made from FRMDB in the seed's layout (``dataset/001.jpg`` frontal, ``dataset/001/*.jpg`` other
views and camera frames) inside tmp_path; the commands run from a folder that looks like the project's root to them (``trainer``
linked to this checkout's, ``.venv`` to the interpreter running the tests, whose install is the README's
``pip install`` line, so that line is the one not run).  Every file they write lands under runs/ there."""
import os
import subprocess
import sys
import time
from pathlib import Path

import json

import cv2
import pytest

from tests.docs.readme_blocks import ROOT, bash_blocks
from tests.trainer.own_folder import make_own_folder

pytestmark = pytest.mark.integration


def test_readme_training_commands_make_a_first_model_of_ten_people(shared_data, tmp_path):
    train, quantize = bash_blocks("Train on your own photos")
    assert train[0].startswith(".venv/bin/pip install"), "the block starts with its install line"
    work = tmp_path / "project"
    work.mkdir()
    make_own_folder(shared_data, work / "dataset", people=10)
    (work / "trainer").symlink_to(ROOT / "trainer")
    (work / ".venv").symlink_to(Path(sys.prefix))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    outputs, seconds = {}, {}
    for command in train[1:] + quantize:
        started = time.monotonic()
        run = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=1800)
        seconds[command.split()[1]] = time.monotonic() - started
        outputs[command] = run.stdout + run.stderr
        assert run.returncode == 0, f"{command}\n{outputs[command][-3000:]}"
    print("README training commands, seconds each:", {k: round(v) for k, v in seconds.items()})

    prepare = next(o for c, o in outputs.items() if " restore-prepare " in c)
    assert "held out for validation, never trained on" in prepare and "8 left to train on" in prepare
    assert "clean crops of 10 people" in prepare and "not frontal, left out:" in prepare
    fit = next(o for c, o in outputs.items() if " restore-fit " in c)
    assert "training crops of 8 people" in fit and "dataset:003, dataset:008" in fit
    for line in fit.splitlines():  # one progress line at a time, never a log record run into it
        assert not ("ETA" in line and ("INFO" in line or "WARNING" in line)), line
    assert "step 200/200" in fit
    export = next(o for c, o in outputs.items() if " restore-export " in c)
    assert export.strip().startswith("exported runs/mine/mine.onnx") and len(export.strip().splitlines()) == 1, \
        "export says one line"
    events = [json.loads(p.read_text()) for p in sorted((work / "runs" / "mine" / "mugshots").glob("*.json"))]
    assert len(events) >= 5, "the box finds a face in most of person 001's photos"
    restored = [e for e in events if e["generator"] == "restore-teacher"]  # the user's model made the mugshot
    assert len(restored) >= 4, [(e["source_path"], e["generator"], e["view"]) for e in events]
    for event in restored:
        mugshot = cv2.imread(str(work / "runs" / "mine" / "mugshots" / f"{Path(event['source_path']).stem}_mugshot.jpg"))
        assert mugshot is not None and mugshot.shape[0] >= 256
    wrote = next(o for c, o in outputs.items() if "mugshot-quantize" in c)
    assert "wrote runs/mine/mine_int8.onnx" in wrote and (work / "runs/mine/mine_int8.onnx").is_file()
    written = {p.relative_to(work).parts[0] for p in work.rglob("*") if p.is_file() and "dataset" not in p.parts}
    assert written == {"runs"}, f"the README's commands write only under runs/, not {written}"


def test_a_folder_of_three_people_is_refused_in_one_line(shared_data, tmp_path):
    make_own_folder(shared_data, tmp_path / "dataset", people=3, frames=False)
    run = subprocess.run([sys.executable, "-m", "trainer.cli", "restore-prepare", "--folder", str(tmp_path / "dataset"),
                          "--out", str(tmp_path / "crops.npz")], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 65
    assert run.stderr.strip().count("\n") == 0 and "would leave 2 to train on" in run.stderr
    assert f"--folder {tmp_path / 'dataset'}:" in run.stderr, "the refusal names the folder"
    assert not (tmp_path / "crops.npz").exists()
