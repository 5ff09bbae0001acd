"""The refiner's training wiring on real faces: prepare --geometry makes what the box feeds, Rotate-and-Render
pairs of training people only, a 7-channel teacher and student (FaceNet term where converted), export, and
the exported student on the box through OnnxGenerator with a real mesh."""
import json
import shutil

import cv2
import numpy as np
import pytest
import torch

from edge.vision.align import ModelInputSpec, stack_inputs
from trainer.config import TrainConfigError, load_train_config
from trainer.data import PairCache, PairTensors
from trainer.fit import fit
from trainer.geometry import RERENDERED, ROTATED
from trainer.identity_prior.facenet import DEFAULT_CACHE, ONNX_NAME
from trainer.prepare import folder_source, frmdb_source, prepare

REFINER = ["inputs=crop,frontal,visibility", "width=4", "steps=4", "batch_size=4", "sample_every=4",
           "checkpoint_every=4", "log_every=1", "threads=2"]
FACENET_CONVERTED = (DEFAULT_CACHE / ONNX_NAME).is_file()  # `mugshot-train facenet` ran on this machine


@pytest.fixture(scope="module")
def mesher():
    from edge.vision.face3d import make_mesher
    return make_mesher()


@pytest.fixture(scope="module")
def refiner_cache(tmp_path_factory, shared_data, mesher):
    """64 px pairs with geometry from three FRMDB people (001 held out by trainer/split.toml), two turns."""
    out = tmp_path_factory.mktemp("refiner") / "pairs.npz"
    result = prepare([frmdb_source(shared_data / "frmdb", {"001", "002", "003"})], ModelInputSpec(size=64), out,
                     geometry=True, rotate_yaws=(-30.0, 30.0), mesher=mesher)
    return out, result


def test_prepare_geometry_is_what_the_box_feeds(shared_data, tmp_path, mesher, yunet):
    """Each cached view's 7 channels equal edge.vision.generate.ModelInput's for the same photo and mesh; a profile
    without an accepted mesh has empty frontal channels and a zero map; rotated pairs only of training people."""
    from edge.vision.generate import ModelInput

    frmdb = shared_data / "frmdb" / "original"
    ds = tmp_path / "ds"
    for person, subject, views in (("p1", "002", ("Img_43", "Img_13")), ("p2", "003", ("Img_23",))):
        (ds / person).mkdir(parents=True)
        shutil.copy(frmdb / subject / f"{subject}_Mugshots" / "Img_33.JPG", ds / f"{person}.jpg")
        for view in views:
            shutil.copy(frmdb / subject / f"{subject}_Mugshots" / f"{view}.JPG", ds / person / f"{view}.jpg")
    spec = ModelInputSpec(size=64)
    result = prepare([folder_source(ds)], spec, tmp_path / "p.npz", test_identities={"ds:p2"}, geometry=True,
                     rotate_yaws=(30.0,), mesher=mesher)
    cache = PairCache.load(tmp_path / "p.npz")
    assert cache.kinds[:3].tolist() == ["studio"] * 3 and result["missing"] == []
    refiner = ModelInputSpec(size=64, inputs=("crop", "frontal", "visibility"))
    box = ModelInput(refiner)
    for row, path in enumerate([ds / "p1" / "Img_13.jpg", ds / "p1" / "Img_43.jpg", ds / "p2" / "Img_23.jpg"]):
        image = cv2.imread(str(path))
        face = max(yunet.detect(image), key=lambda f: f.box[2] * f.box[3])
        mesh = mesher.run(image, face.box, face.landmarks)
        expected = box(image, face.landmarks, mesh if mesh.accepted else None)
        assert bool(cache.has_mesh[row]) == mesh.accepted
        got = stack_inputs(refiner, cache.inputs[row], cache.view_frontals[row] if cache.has_mesh[row] else None,
                           cache.view_visibility[row].astype(np.float32) if cache.has_mesh[row] else None)
        assert got.shape == expected.shape == (1, 7, 64, 64)
        assert np.abs(got - expected).max() < 1e-3, path.name  # the map is stored as float16
    assert cache.has_mesh[1] and cache.has_mesh[2], "the yaw 45 views have a mesh"
    assert cache.view_visibility[1].max() > 0.5
    # Rotate-and-Render: from the training person's frontal (and near-frontal views), never the held-out one's
    made = np.isin(cache.kinds, [ROTATED, RERENDERED])
    assert made.sum() == result["rotated"] >= 2 and set(cache.identities[made]) == {"ds:p1"}
    assert np.all(cache.turns[made] == 30.0) and np.isnan(cache.turns[~made]).all()
    assert (cache.frontal_ids[cache.targets[made]] == "ds:p1").all()
    turned = np.flatnonzero(cache.kinds == ROTATED)[0]
    assert not np.array_equal(cache.inputs[turned], cache.frontals[cache.targets[turned]]), "a turned face, not a copy"


def test_refiner_fits_exports_and_runs_on_the_box_with_a_mesh(refiner_cache, tmp_path, astronaut, mesher, yunet,
                                                              gap):
    """Teacher and student with 7 input channels, a few steps (FaceNet identity term on where
    `mugshot-train facenet` converted the model on this machine, off otherwise), exported, and the
    student run by the box's OnnxGenerator with and without the astronaut's real mesh."""
    import onnx

    from edge.vision.generate import OnnxGenerator
    from trainer.export import export

    cache, result = refiner_cache
    assert result["rotated"] > 0 and result["meshes"] > 0
    facenet = ["facenet=0.5"] if FACENET_CONVERTED else []
    if not FACENET_CONVERTED:
        gap(f"the refiner trained without the FaceNet identity term ({DEFAULT_CACHE / ONNX_NAME} not converted; "
            "run: mugshot-train facenet, then this test again)")
    teacher = fit(load_train_config(None, [f"cache={cache}", f"out={tmp_path / 't'}", *REFINER, *facenet]),
                  progress=False)
    header, *rows = (tmp_path / "t" / "log.csv").read_text().splitlines()
    column = header.split(",").index("facenet")
    assert all((float(r.split(",")[column]) > 0) == FACENET_CONVERTED for r in rows)
    state = torch.load(teacher, weights_only=False)
    assert state["spec"]["inputs"] == ("crop", "frontal", "visibility")
    assert state["generator"]["downs.0.0.weight"].shape[1] == 7
    grid = cv2.imread(str(tmp_path / "t" / "samples_000004.png"))
    assert grid.shape[1] == 4 * 64 * 2, "input | frontalized | output | target"
    student = fit(load_train_config(None, [f"cache={cache}", f"out={tmp_path / 's'}", *REFINER, "model=student",
                                           "width=8", f"teacher={teacher}"]), progress=False)
    path = tmp_path / "refiner.onnx"
    exported = export(student, path, name="refiner-student")
    assert exported["max_abs_diff"] < 1e-3
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(meta[ModelInputSpec.METADATA_KEY])["inputs"] == ["crop", "frontal", "visibility"]

    generator = OnnxGenerator(path)
    assert generator.spec.channels == 7 and generator.describe()["inputs"] == "crop+frontal+visibility"
    face = yunet.detect(astronaut)[0]
    mesh = mesher.mesh(astronaut, face.box, face.landmarks)
    assert mesh is not None, "the astronaut's frontal face has a mesh"
    with_mesh = generator.generate(astronaut, face.landmarks, mesh)
    without = generator.generate(astronaut, face.landmarks)
    assert with_mesh.shape == without.shape == (64, 64, 3) and with_mesh.dtype == np.uint8
    assert np.abs(with_mesh.astype(int) - without).max() > 0, "the frontal channels reach the network"

    from trainer.evaluate import evaluate  # eval feeds the refiners the cache's frontal channels too
    report = evaluate(cache, [teacher, path], tmp_path / "eval", identity=False)
    assert {"raw input", "teacher", "refiner-student (onnx)"} <= set(report["summary"])
    pairs = PairCache.load(cache)  # the raw input's L1 against an independent computation from the cache
    held = pairs.select(pairs.held_out(), test=True)
    studio = held[pairs.kinds[held] == "studio"]
    raw_l1 = np.mean(np.abs(pairs.inputs[studio].astype(np.float32)
                            - pairs.frontals[pairs.targets[studio]].astype(np.float32))) / 255.0
    assert report["summary"]["raw input"]["L1"] == pytest.approx(raw_l1, rel=1e-5)
    assert report["summary"]["teacher"]["L1"] != report["summary"]["raw input"]["L1"], "the teacher changed them"
    geometry = report["geometry"]["rows"]  # their outputs measured by the box's detector and mesh as well
    assert {"teacher", "refiner-student (onnx)"} <= set(geometry)
    assert all(0 <= cell["re-find"] <= 1 for row in geometry.values() for cell in row.values())
    assert (tmp_path / "eval" / "grid_refiner_student_onnx.png").is_file()


def test_refiner_config_errors_name_what_is_missing(tiny_cache, refiner_cache, tmp_path):
    cache, _ = tiny_cache  # an older cache: no geometry
    assert PairCache.load(cache).view_frontals is None
    with pytest.raises(TrainConfigError, match=r"^inputs: .*has no frontalized faces: prepare it with "
                                               r"mugshot-train prepare --geometry"):
        fit(load_train_config(None, [f"cache={cache}", f"out={tmp_path / 'a'}", *REFINER]), progress=False)
    missing = tmp_path / "no-facenet"
    with pytest.raises(TrainConfigError, match=f"^facenet: {missing / ONNX_NAME}: not converted yet "
                                               r"\(run: mugshot-train facenet"):
        fit(load_train_config(None, [f"cache={refiner_cache[0]}", f"out={tmp_path / 'b'}", *REFINER, "facenet=1",
                                     f"facenet_cache={missing}"]), progress=False)
    with pytest.raises(TrainConfigError, match="^inputs: "):
        load_train_config(None, ["inputs=crop,frontal"])
    for name in ("teacher_refiner", "student_refiner"):  # the shipped configs: 128 px pairs, 7 channels, FaceNet
        cfg = load_train_config(f"trainer/configs/{name}.toml")
        assert cfg.inputs == ("crop", "frontal", "visibility") and cfg.facenet > 0 and "128" in cfg.cache


def test_refiner_batches_stack_like_the_box_and_flip_all_channels(refiner_cache):
    cache = PairCache.load(refiner_cache[0])
    idx = cache.select(cache.held_out(), test=False)
    pairs = PairTensors(cache, idx, flip=False, inputs=("crop", "frontal", "visibility"))
    views, targets = pairs.batch(6, torch.Generator().manual_seed(0))
    assert views.shape == (6, 7, 64, 64) and targets.shape == (6, 3, 64, 64)
    assert 0 <= views[:, 6].min() and views[:, 6].max() <= 1
    kinds = set(cache.kinds[idx[np.isin(cache.kinds[idx], ["studio", ROTATED, RERENDERED])]])
    assert len(pairs) == int(np.isin(cache.kinds[idx], list(kinds)).sum()) and {ROTATED, RERENDERED} <= kinds
    degraded = PairTensors(cache, idx, flip=True, degrade=1.0, inputs=("crop", "frontal", "visibility"))
    views, _ = degraded.batch(16, torch.Generator().manual_seed(1))
    empty = views[:, 6].amax((1, 2)) == 0
    assert empty.any() and (views[empty, 3:6] == 0).all(), "no mesh: the frontal channels stay empty"


def test_the_blend_head_starts_from_the_mean_of_crop_and_frontalized_face_and_needs_their_channels():
    """``head = "blend"`` (trainer/nets/blend.py): its last convolution starts at zero, so an untrained refiner
    outputs the mean of the two pictures; a config without the frontal channels is refused by name."""
    from trainer.nets import build_generator

    for name, width in (("teacher", 16), ("student", 8)):
        model = build_generator(name, 64, width, head="blend", in_channels=7).eval()
        x = torch.rand(2, 7, 64, 64) * 2 - 1
        with torch.no_grad():
            out = model(x)
        assert torch.allclose(out, (x[:, :3] + x[:, 3:6]) / 2, atol=1e-6), name
    with pytest.raises(TrainConfigError, match="^head: \"blend\" mixes the crop"):
        load_train_config(None, ["head=blend"])
    with pytest.raises(TrainConfigError, match="^facenet_batch: must be >= 0"):
        load_train_config(None, ["facenet_batch=-1"])
