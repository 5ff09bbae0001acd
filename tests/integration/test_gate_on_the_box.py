"""The quality gate on the box: a mugshot the gate refuses is replaced by the aligned crop, the event says why,
and the log says it once; the shipped generator's mugshot of a clean real face passes.  Real photos
(FRMDB held-out people), the real detector, mesh and generator, through ``mugshot-edge mugshot``."""
import json

import cv2
import numpy as np
import pytest

from edge.cli import EXIT_OK, main
from edge.vision.generate import make_generator
from models import MODELS_DIR
from tools.generator.broken_models import broken_model

pytestmark = pytest.mark.integration

PHOTOS = ("frmdb/original/001/001_Mugshots/Img_33.JPG", "frmdb/cropped/mugshots/041/Img_33.jpg")


def run(shared_data, tmp_path, model: str, capfd) -> tuple[list[dict], str]:
    config = tmp_path / f"{abs(hash(model))}.toml"
    config.write_text(f'[generator]\nmodel = "{model}"\n')
    out = tmp_path / f"out-{abs(hash(model))}"
    photos = [shared_data / p for p in PHOTOS]
    for i, photo in enumerate(photos):  # distinct names: each photo's own files
        (tmp_path / f"p{i}.jpg").write_bytes(photo.read_bytes())
    capfd.readouterr()
    code = main(["--log-level", "warning", "mugshot", *[str(tmp_path / f"p{i}.jpg") for i in range(len(photos))],
                 "--out", str(out), "--config", str(config)])
    assert code == EXIT_OK
    log = capfd.readouterr().err
    metas = []
    for i in range(len(photos)):
        meta = json.loads((out / f"p{i}.json").read_text())
        meta["_mugshot"] = cv2.imread(str(out / f"p{i}_mugshot.jpg"))
        metas.append(meta)
    return metas, log


def test_a_broken_model_publishes_the_crop_with_the_reason(shared_data, tmp_path, capfd):
    shipped = make_generator("auto", 1, MODELS_DIR)
    checkerboard = broken_model(shipped.path, "checkerboard", tmp_path / "checkerboard.onnx")
    metas, log = run(shared_data, tmp_path, str(checkerboard), capfd)
    for meta in metas:
        made = meta["models"]["generator"]
        assert made["name"] == "none" and made["rejected"], made
        assert made["reason"].startswith("quality gate: ") and meta["generator"] == "none", made
        mugshot = meta["_mugshot"].astype(np.float32)
        assert mugshot.std() > 20, "the published picture is the real crop, not the model's"
    assert log.count("failed the quality gate") == len(PHOTOS), f"one warning per refused mugshot: {log}"


def test_the_shipped_generator_passes_on_clean_frontal_faces(shared_data, tmp_path, capfd):
    metas, log = run(shared_data, tmp_path, "auto", capfd)
    for meta in metas:
        made = meta["models"]["generator"]
        assert made.get("gate") == "passed" and made["name"] != "none", made
    assert "failed the quality gate" not in log
