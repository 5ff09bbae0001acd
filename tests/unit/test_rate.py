"""The blind-rating command: sheets from real validation faces through the box, then scores."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import cv2


def test_sheets_hide_the_source_and_scores_follow_the_ratings(tmp_path, shared_data):
    out = tmp_path / "rate"
    cmd = [sys.executable, "-m", "trainer.cli", "rate", "sheets", "--out", str(out), "--people", "001",
           "--source", "mugshot=none", "--data", str(shared_data)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    key = json.loads((out / "key.json").read_text())
    # one reference, and per input (5 studio views + the surveillance track) the crop and the mugshot
    sources = sorted(v["source"] for v in key.values())
    assert sources.count("reference") == 1 and sources.count("crop") == sources.count("mugshot") == 6
    sheets = sorted((out / "sheets").glob("sheet_*.png"))
    assert len(sheets) == -(-len(key) // 8)
    assert cv2.imread(str(sheets[0])).shape == (2 * (256 + 28), 4 * 256, 3)
    assert all(len(rid) == 4 and "mugshot" not in rid for rid in key)  # ids say nothing of the source

    # a rater who likes the reference: 5 natural / ID 5, everything else 2 / 3, frontal only on the reference
    rows = list(csv.DictReader((out / "ratings.csv").open()))
    assert sorted(r["id"] for r in rows) == sorted(key)
    with (out / "ratings.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "natural", "frontal", "id_fitness"])
        for rid, item in key.items():
            ref = item["source"] == "reference"
            writer.writerow([rid, 5 if ref else 2, "yes" if ref else "no", 5 if ref else 3])
    scored = subprocess.run([sys.executable, "-m", "trainer.cli", "rate", "score", "--out", str(out)],
                            capture_output=True, text=True, timeout=60)
    assert scored.returncode == 0, scored.stderr
    table = {(r["source"], r["input"]): r for r in json.loads((out / "scores.json").read_text())}
    assert table[("reference", "all")]["natural"] == 5 and table[("reference", "all")]["frontal"] == 1
    assert table[("crop", "all")]["natural"] == 2 and table[("crop", "all")]["n"] == 6
    assert table[("mugshot", "track")]["id_fitness"] == 3


def test_a_bad_rating_names_its_line(tmp_path):
    (tmp_path / "key.json").write_text(json.dumps({"1234": {"person": "p", "input": "frontal", "source": "crop"}}))
    (tmp_path / "ratings.csv").write_text("id,natural,frontal,id_fitness\n1234,7,yes,3\n")
    done = subprocess.run([sys.executable, "-m", "trainer.cli", "rate", "score", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"{tmp_path / 'ratings.csv'}:2: natural and id_fitness are 1-5, "
                                                "frontal is yes or no"]


def test_surveillance_frames_are_rated_one_by_one_with_generator_settings(tmp_path, shared_data):
    """--surveillance-frames adds each real surveillance frame as its own input ("frame"); a source can carry
    [generator] settings (here the generator on every face)."""
    out = tmp_path / "rate"
    cmd = [sys.executable, "-m", "trainer.cli", "rate", "sheets", "--out", str(out), "--people", "011",
           "--surveillance-frames", "--source", "every=auto,crop_without_mesh=false", "--data", str(shared_data)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    key = json.loads((out / "key.json").read_text())
    frames = [v for v in key.values() if v["input"] == "frame"]
    assert len([v for v in frames if v["source"] == "every"]) == len([v for v in frames if v["source"] == "crop"]) == 5
    bad = subprocess.run([sys.executable, "-m", "trainer.cli", "rate", "sheets", "--out", str(tmp_path / "x"),
                          "--source", "every=auto,output_size=5"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1] == (
        "--source every: generator.output_size: must be between 64 and 1024, got 5"), bad.stderr
