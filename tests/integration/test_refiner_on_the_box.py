"""A 7-channel refiner on the box, end to end: the blend-head student network (``trainer/nets/blend.py``,
width 8) exported by ``mugshot-train export --untrained``, named by ``generator.model``, run by
``mugshot-edge mugshot`` on real photos with the real detector and mesh; its 128 px output is published at
``generator.output_size`` (256), and a face without a mesh gets the crop, or the model with empty frontal
channels under ``generator.crop_without_mesh = false``."""
import json
import os

import cv2
import numpy as np
import pytest

from edge.cli import EXIT_OK, main
from tests.conftest import ROOT

pytestmark = pytest.mark.integration

REFINER_INPUTS = "crop+frontal+visibility"  # one string: event model entries are flat


@pytest.fixture(scope="module")
def refiner(tmp_path_factory):
    from trainer.cli import main as train_main

    path = tmp_path_factory.mktemp("refiner") / "student_refiner.onnx"
    assert train_main(["--log-level", "warning", "export", "--untrained",
                       str(ROOT / "trainer" / "configs" / "student_refiner.toml"), "--out", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut, shared_data):
    folder = tmp_path_factory.mktemp("photos")
    cv2.imwrite(str(folder / "astronaut.png"), astronaut)
    return [folder / "astronaut.png",
            shared_data / "frmdb/cropped/mugshots/041/Img_23.jpg",  # camera yaw -45: a mesh
            shared_data / "frmdb/cropped/mugshots/041/Img_13.jpg"]  # camera yaw -90: beyond the mesh's range


def run_mugshot(photos, out, config_text: str) -> dict:
    config = out.parent / f"{out.name}.toml"
    config.write_text(config_text)
    assert main(["--log-level", "warning", "mugshot", *map(str, photos), "--out", str(out),
                 "--config", str(config)]) == EXIT_OK
    return {p.stem: json.loads((out / f"{p.stem}.json").read_text()) for p in photos}


def test_the_refiner_runs_where_the_face_has_a_mesh_and_is_published_at_256(refiner, photos, tmp_path):
    from edge.config import load_config
    from edge.vision.generate import OnnxGenerator, publish_at
    from edge.daemon.pipeline import Pipeline, build_models
    from edge.receiver.schema import parse_event

    text = f'[generator]\nmodel = "{refiner}"\nprecision = "fp32"\n'
    events = run_mugshot(photos, tmp_path / "out", text)
    for stem in ("astronaut", "Img_23"):
        meta = events[stem]
        generator = meta["models"]["generator"]
        assert meta["mesh"]["present"] and meta["generator"] == "student_refiner-untrained", stem
        assert generator["inputs"] == REFINER_INPUTS
        assert (generator["output_size"], generator["published_size"], generator["upsampling"]) == (128, 256, "bicubic")
        mugshot = cv2.imread(str(tmp_path / "out" / f"{stem}_mugshot.jpg"))
        assert mugshot.shape == (256, 256, 3) and meta["images"]["mugshot"]["width"] == 256
    for stem in events:  # the receiver takes these events (it refuses a list among a model's entries)
        assert parse_event((tmp_path / "out" / f"{stem}.json").read_bytes())["event_id"] == events[stem]["event_id"]
    side = events["Img_13"]
    assert not side["mesh"]["present"] and side["generator"] == "none"
    assert "generator.crop_without_mesh" in side["models"]["generator"]["reason"]
    assert side["models"]["generator"]["skipped"] == "student_refiner-untrained"
    assert side["images"]["mugshot"]["width"] == 256

    # what was published is the network's own output for the face, mesh channels included, upsampled
    cfg = load_config(tmp_path / "out.toml")
    detector, generator, mesher = build_models(cfg)
    assert isinstance(generator, OnnxGenerator) and generator.spec.channels == 7 and generator.spec.size == 128
    image = cv2.imread(str(photos[0]))
    shot = Pipeline(cfg, None, detector, generator, [], None, mesher).best_shot(image, 0.0).shot
    expected, _ = publish_at(generator.generate(shot.patch, shot.landmarks, shot.mesh), 256)
    published = cv2.imread(str(tmp_path / "out" / "astronaut_mugshot.jpg")).astype(int)
    assert np.abs(published - expected).mean() < 3, "the published JPEG is the model's output, upsampled"
    without_mesh, _ = publish_at(generator.generate(shot.patch, shot.landmarks, None), 256)
    assert np.abs(published - without_mesh).mean() > 3 * np.abs(published - expected).mean(), \
        "the frontalized channels reached the network"


def test_with_crop_without_mesh_false_the_refiner_runs_on_a_face_without_a_mesh(refiner, photos, tmp_path):
    text = f'[generator]\nmodel = "{refiner}"\nprecision = "fp32"\ncrop_without_mesh = false\n'
    side = run_mugshot(photos[2:], tmp_path / "out", text)["Img_13"]
    generator = side["models"]["generator"]
    assert not side["mesh"]["present"] and side["generator"] == "student_refiner-untrained"
    assert "reason" not in generator and generator["output_size"] == 128
    assert side["images"]["mugshot"]["width"] == generator["published_size"] == 256


def test_bench_face_times_the_refiner_in_the_mugshot_path(refiner, shared_data):
    """`mugshot-edge bench-face --generator`: the rows exist and add up (a benchmark, not a timed test)."""
    from edge.tools.bench import load_frames
    from edge.vision.face3d.bench import bench_face, format_face_report

    cores, threads = os.sched_getaffinity(0), cv2.getNumThreads()
    try:  # the bench pins the process to one core and OpenCV to one thread: give them back to the test run
        report = bench_face(load_frames(str(shared_data / "video" / "single_face.mp4"), count=3), rounds=1,
                            generator=str(refiner))
    finally:
        os.sched_setaffinity(0, cores)
        cv2.setNumThreads(threads)
    ms = report["ms"]
    network = ms["generator network per face (student_refiner-untrained, 7 channels, 128 px)"]
    total = ms["mugshot path per face, sum of the rows (mesh + pose + renderer + network + upsample)"]
    assert 0 < network < total and ms["upsample 128 -> 256 (bicubic)"] > 0
    # the rows, timed apart, account for the whole path timed as one call (an independent measurement): a row
    # left out of the sum, or counted twice, moves the sum well away from it
    whole = ms["mugshot path per face, one call (mesh + pose + input + renderer + network + upsample)"]
    assert whole > network and 0.5 * whole <= total <= 2.0 * whole, (total, whole)
    assert "7 channels, 128 px" in format_face_report(report)
