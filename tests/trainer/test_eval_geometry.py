"""`mugshot-train eval`'s frontality and YuNet re-find, measured with the box's detector and mesh on real faces:
the true frontals read frontal, the raw ±45 crops do not, noise holds no face, and the crop-without-mesh rule
takes the crop's measurement exactly where the cache has no mesh."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.vision.align import ModelInputSpec
from trainer.config import TrainConfigError
from trainer.eval_geometry import REFERENCE, TARGET_GROUP, OutputGeometry
from trainer.evaluate import evaluate
from trainer.prepare import frmdb_source, prepare


@pytest.fixture(scope="module")
def frontal_cache(tmp_path_factory, shared_data):
    """64 px pairs with geometry (no Rotate-and-Render) from FRMDB 006 and 021, held out by trainer/split.toml,
    whose true frontals the mesh reads within a few degrees of 0, and 002 for training."""
    from edge.vision.face3d import make_mesher

    out = tmp_path_factory.mktemp("frontality") / "pairs.npz"
    prepare([frmdb_source(shared_data / "frmdb", {"006", "021", "002"})], ModelInputSpec(size=64), out,
            geometry=True, rotate_yaws=(), mesher=make_mesher())
    return out


def test_eval_scores_frontality_and_refind_of_outputs_and_of_what_the_box_publishes(frontal_cache, tmp_path):
    out = tmp_path / "eval"
    report = evaluate(frontal_cache, [Path("frontalize")], out, identity=False, crop_without_mesh=True)
    geometry = report["geometry"]
    rows, groups = geometry["rows"], geometry["groups"]
    assert groups[TARGET_GROUP]["sources"] == {"frmdb": 16}, "2 people: yaw 0 at pitch ±30, ±45 at every pitch"
    reference, raw = rows[REFERENCE], rows["raw input"]
    assert reference[TARGET_GROUP]["frontal"] >= 0.9 and reference[TARGET_GROUP]["no face"] == 0
    assert reference[TARGET_GROUP]["frontal to own"] == 1.0
    assert raw["yaw ±45"]["frontal"] <= 0.2, "a face turned 45° is not frontal"
    assert raw["yaw ±45"]["re-find"] >= 0.9 and raw["yaw ±90"]["re-find"] <= raw["yaw ±45"]["re-find"]
    assert raw["yaw ±45"]["median |yaw|"] > 25 and reference[TARGET_GROUP]["median |yaw|"] < 10

    model = "frontalize (renderer on the crop)"
    gated = next(name for name in rows if name.startswith(f"{model}, crop without mesh"))  # "(edge default)" where so
    assert gated in report["summary"]
    probes = geometry["probes"]
    from trainer.data import PairCache
    has_mesh = PairCache.load(frontal_cache).has_mesh[probes["rows"]]
    assert has_mesh.any() and not has_mesh.all()
    for key in ("found", "yaw"):
        expected = [m if mesh else c for m, c, mesh in zip(probes[model][key], probes["raw input"][key], has_mesh)]
        assert probes[gated][key] == expected, key
    n = groups[TARGET_GROUP]["probes"]
    for row in geometry["paired"]:  # McNemar against the raw crop on the same probes
        change = rows[row["model"]][TARGET_GROUP]["frontal"] - raw[TARGET_GROUP]["frontal"]
        assert row["reference"] == "raw input"
        assert row[TARGET_GROUP]["wins"] - row[TARGET_GROUP]["losses"] == round(change * n)

    text = (out / "report.md").read_text()
    assert "## Frontality and YuNet re-find" in text and f"| {REFERENCE} |" in text
    grid = cv2.imread(str(out / "grid_frontalize_renderer_on_the_crop.png"))
    assert grid.shape[1] == 4 * 128, "input | frontalized | output | true frontal, 64 px scaled to 128"
    assert (grid.shape[0] - 22) % 128 == 0 and grid.shape[0] > 22 + 4 * 128


def test_noise_holds_no_face_and_a_real_face_is_found_and_meshed(frontal_cache):
    from trainer.data import PairCache

    meter = OutputGeometry()
    noise = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    measured = meter.measure(np.concatenate([noise, np.full((1, 64, 64, 3), 128, np.uint8)]))
    assert not measured["found"].any() and not measured["meshed"].any() and np.isnan(measured["yaw"]).all()
    frontals = PairCache.load(frontal_cache).frontals
    measured = meter.measure(frontals)
    assert measured["found"].all() and measured["meshed"].mean() >= 0.9


def test_crop_without_mesh_needs_a_geometry_cache(frontal_cache, tmp_path):
    data = dict(np.load(frontal_cache))
    bare = tmp_path / "bare.npz"
    np.savez(bare, **{k: v for k, v in data.items() if k not in ("view_frontals", "view_visibility", "has_mesh",
                                                                   "mesh_yaws", "turns", "geometry")})
    with pytest.raises(TrainConfigError, match=rf"cache: {bare} has no mesh flags"):
        evaluate(bare, [Path("frontalize")], tmp_path / "eval", identity=False, crop_without_mesh=True)
    assert not (tmp_path / "eval").exists()
