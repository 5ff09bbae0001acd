"""The restoration generator: degraded real faces in, the clean crop as target; a teacher and a distilled
student of about 1% of its parameters, fully convolutional, exported with a one-input spec the box runs."""
from __future__ import annotations

import json
import re

import numpy as np
import onnx
import pytest
import torch

from edge.vision.align import ModelInputSpec
from trainer.config import TrainConfigError
from trainer.nets import parameters
from trainer.nets.restore import RestoreStudent, RestoreTeacher
from trainer.restore_data import RESTORE_SPEC, collect, degrade_one, prepare_crops
from trainer.restore_fit import CropCache, fit_restore, load_restore_config

# two validation people of trainer/split.toml (frmdb:001, p04:12) and three training people
PEOPLE = {"frmdb:001", "frmdb:002", "frmdb:003", "p04:12", "p04:1"}


@pytest.fixture(scope="module")
def crops(shared_data, tmp_path_factory):
    items = [i for i in collect(shared_data) if i[0] in PEOPLE][:40]
    out = tmp_path_factory.mktemp("restore") / "crops.npz"
    result = prepare_crops(items, out)
    assert result["crops"] >= 20 and not result["missing"], result
    return out


def test_near_frontal_sources_and_the_box_framing(shared_data, crops):
    items = collect(shared_data)
    p04 = [p for i, s, p in items if s == "pointing04"]
    angles = [re.search(r"([+-]\d+)([+-]\d+)$", p.stem).groups() for p in p04]  # personNNSNN<tilt><pan>
    assert len(p04) == 234 and all(abs(int(v)) <= 15 for pair in angles for v in pair)
    assert {s for _, s, _ in items} == {"frmdb", "pointing04", "att"}
    cache = CropCache(crops)
    assert cache.spec == RESTORE_SPEC and (cache.spec.size, cache.spec.face_scale, cache.spec.inputs) == (256, 0.6, ("crop",))
    assert cache.crops.shape[1:] == (256, 256, 3) and cache.masks.shape == cache.crops.shape[:3]
    assert set(cache.identities[cache.val]) == {"frmdb:001", "p04:12"}, "validation: trainer/split.toml's people"
    assert not set(cache.identities[cache.train]) & set(cache.validation_ids)


def test_degradation_keeps_size_and_strength_zero_is_the_clean_crop(crops):
    cache = CropCache(crops)
    rng = np.random.default_rng(0)
    crop = cache.crops[0]
    assert np.array_equal(degrade_one(crop, rng, 200.0, 0.0), crop)
    worse = [degrade_one(crop, rng, 200.0, 1.0) for _ in range(6)]
    assert all(w.shape == crop.shape and w.dtype == np.uint8 for w in worse)
    assert np.mean([np.abs(w.astype(float) - crop).mean() for w in worse]) > 5
    grey = np.repeat(crop[..., 1:2], 3, axis=2)
    casts = [np.ptp(g.reshape(-1, 3).mean(0)) for g in (degrade_one(grey, rng, 200.0, 1.0) for _ in range(8))]
    assert max(casts) < 3, f"no colour cast on a grey photo (chroma noise only): {casts}"


def test_student_is_about_one_percent_and_both_run_at_any_multiple_of_32():
    teacher, student = RestoreTeacher(16), RestoreStudent(16)
    assert parameters(student) <= 0.011 * parameters(teacher)
    for net in (teacher.eval(), student.eval()):
        for side in (96, 256, 512):
            x = torch.rand(1, 3, side, side) * 2 - 1
            with torch.no_grad():
                y = net(x)
            assert y.shape == x.shape
            assert torch.equal(y, x), "untrained: the global residual passes the input through"


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(TrainConfigError, match="^patch: a positive multiple of 32"):
        load_restore_config(None, ["patch=100"])
    with pytest.raises(TrainConfigError, match="^teacher: a student is distilled"):
        load_restore_config(None, ["model=student"])
    with pytest.raises(TrainConfigError, match="^lerning_rate: unknown key"):
        load_restore_config(None, ["lerning_rate=1"])
    for name in ("restore_teacher", "restore_student", "first_run"):  # the shipped recipes parse
        load_restore_config(f"trainer/configs/{name}.toml")


def test_fit_resumes_exactly_distils_exports_and_runs_on_the_box(crops, tmp_path, astronaut):
    from edge.vision.detect.yunet import YuNetDetector
    from edge.vision.generate import make_generator
    from trainer.cli import main as train_main

    common = [f"cache={crops}", "width=2", "patch=64", "batch_size=2", "threads=1", "sample_every=4",
              "checkpoint_every=2", "lr=0.002"]
    whole = fit_restore(load_restore_config(None, common + [f"out={tmp_path / 'a'}", "steps=4"]), progress=False)
    fit_restore(load_restore_config(None, common + [f"out={tmp_path / 'b'}", "steps=2"]), progress=False)
    resumed = fit_restore(load_restore_config(None, common + [f"out={tmp_path / 'b'}", "steps=4"]), progress=False)
    a, b = (torch.load(p, weights_only=False) for p in (whole, resumed))
    assert a["step"] == b["step"] == 4 and a["validation"] == ["frmdb:001", "p04:12"]
    assert all(torch.equal(a["generator"][k], b["generator"][k]) for k in a["generator"]), "resume is exact"
    assert (tmp_path / "a" / "samples_000004.png").is_file() and (tmp_path / "a" / "log.csv").is_file()
    student = fit_restore(load_restore_config(None, common + [f"out={tmp_path / 's'}", "steps=2", "model=student",
                                                              "width=4", f"teacher={whole}", "alpha=0"]),
                          progress=False)
    out = tmp_path / "student.onnx"
    card = tmp_path / "student.md"
    assert train_main(["--log-level", "warning", "restore-export", str(student), "--out", str(out),
                       "--card", str(card)]) == 0
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    spec = json.loads(meta[ModelInputSpec.METADATA_KEY])
    assert spec["inputs"] == ["crop"] and spec["size"] == 256 and spec["face_scale"] == 0.6
    assert meta["mugshot.validation_identities"] == "frmdb:001,p04:12"
    assert json.loads(out.with_suffix(".json").read_text()) == spec
    assert "frmdb:001, p04:12" in card.read_text()
    generator = make_generator(str(out), 1, tmp_path)  # the box's own loader and input path
    assert generator.spec.inputs == ("crop",) and generator.spec.face_scale == 0.6
    face = YuNetDetector().detect(astronaut)[0]
    mugshot = generator.generate(astronaut, face.landmarks)
    assert mugshot.shape == (256, 256, 3) and mugshot.std() > 10
    assert train_main(["--log-level", "warning", "restore-check", "--cache", str(crops), "--model",
                       f"student={out}", "--count", "2", "--grid", str(tmp_path / "grid.png"),
                       "--json", str(tmp_path / "check.json")]) == 0
    check = json.loads((tmp_path / "check.json").read_text())
    assert check["student"]["clean_ssim"] > 0.9 and (tmp_path / "grid.png").stat().st_size > 1000


def test_restore_prepare_folder_keeps_frontal_faces_and_holds_people_out(shared_data, tmp_path, caplog):
    """Your own folder (DIR/NAME.jpg + DIR/NAME/*.jpg, real FRMDB faces copied into tmp): the faces the box calls
    frontal are kept, turned ones listed, every N-th person held out for validation and stored in the cache."""
    from tests.trainer.own_folder import make_own_folder
    from trainer.cli import main as train_main

    folder = make_own_folder(shared_data, tmp_path / "mine", people=6, frames=False)
    out = tmp_path / "crops.npz"
    assert train_main(["restore-prepare", "--folder", str(folder), "--test-every", "3", "--out", str(out)]) == 0
    assert "2 of 6 people held out for validation" in caplog.text
    cache = CropCache(out)
    assert cache.validation_ids == ["mine:002", "mine:005"], "every 3rd person in name order"
    assert set(cache.identities[cache.train].tolist()) == {"mine:001", "mine:003", "mine:004", "mine:006"}
    paths = [str(p) for p in cache.paths]
    turned = sum("Img_23" in p or "Img_43" in p for p in paths)  # FRMDB camera yaw -45 and +45
    assert turned <= 1, f"the box's pose calls (almost) none of the 12 turned views frontal: {paths}"
    assert sum(p.endswith(f"{n}.jpg") for p in paths for n in ("001", "002", "003", "004", "005", "006")) >= 5, \
        "(almost) every studio frontal photo kept"


def test_restore_prepare_refuses_too_few_people_naming_the_folder(shared_data, tmp_path, capsys):
    from tests.trainer.own_folder import make_own_folder
    from trainer.cli import main as train_main

    folder = make_own_folder(shared_data, tmp_path / "few", people=3, frames=False)
    out = tmp_path / "crops.npz"
    assert train_main(["restore-prepare", "--folder", str(folder), "--out", str(out)]) == 65
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"--folder {folder}: 3 people") and "fewer than 3" in err
    assert not out.exists()
    assert train_main(["restore-prepare", "--folder", str(tmp_path / "absent"), "--out", str(out)]) == 2
    assert f"--folder {tmp_path / 'absent'}: not a folder" in capsys.readouterr().err


def test_restore_prepare_folder_with_shared_adds_the_shared_people(shared_data, tmp_path):
    """``--with-shared``: your folder plus the shared datasets found under --data (here three AT&T people, real
    faces copied into tmp); the shared people keep split.toml's hold-out (none of these), yours the folder's."""
    import shutil

    from tests.trainer.own_folder import make_own_folder
    from trainer.cli import main as train_main

    folder = make_own_folder(shared_data, tmp_path / "mine", people=6, frames=False)
    data = tmp_path / "data"
    for person in ("s1", "s2", "s3"):
        shutil.copytree(shared_data / "att_orl" / person, data / "att_orl" / person)
    out = tmp_path / "crops.npz"
    assert train_main(["restore-prepare", "--folder", str(folder), "--with-shared", "--data", str(data),
                       "--test-every", "3", "--out", str(out)]) == 0
    cache = CropCache(out)
    people = set(cache.identities.tolist())
    assert {"att:s1", "att:s2", "att:s3"} <= people and {"mine:001", "mine:003"} <= people
    assert cache.validation_ids == ["mine:002", "mine:005"]
    assert train_main(["restore-prepare", "--with-shared", "--folder", str(folder), "--data", str(tmp_path / "none"),
                       "--out", str(tmp_path / "other.npz")]) == 2


def test_the_facenet_identity_term_trains(tmp_path, request, gap):
    """``facenet`` > 0 in a restore-fit, with the converted FaceNet where ``mugshot-train facenet`` put it
    (``MUGSHOT_FACENET_CACHE``, default ~/.cache/mugshot-edge/facenet): two steps on whole 256 px crops log the
    term.  Without the converted FaceNet (a ~1.6 GB download and TensorFlow venv) the run names the path."""
    import csv
    import os
    from pathlib import Path

    from trainer.identity_prior.facenet import DEFAULT_CACHE, FaceNetError, read_record

    cache = Path(os.environ.get("MUGSHOT_FACENET_CACHE", DEFAULT_CACHE)).expanduser()
    try:
        read_record(cache)
    except FaceNetError as exc:
        gap(f"the restoration trainer's FaceNet identity term (trainer/restore_fit.py, facenet > 0) was not "
            f"trained ({exc}): mugshot-train facenet --cache {cache}, then pytest tests/trainer/test_restore.py "
            "-k facenet")
        return
    crops = request.getfixturevalue("crops")
    common = [f"cache={crops}", "width=2", "patch=256", "batch_size=2", "threads=1", "steps=2", "sample_every=2",
              "checkpoint_every=2", "facenet=0.1", f"facenet_cache={cache}"]
    checkpoint = fit_restore(load_restore_config(None, common + [f"out={tmp_path / 't'}"]), progress=False)
    assert torch.load(checkpoint, weights_only=False)["step"] == 2
    rows = list(csv.DictReader(open(tmp_path / "t" / "log.csv")))
    values = [float(r["facenet"]) for r in rows]  # "0" where the term is not computed
    assert values and all(0 < v < 2 for v in values), rows  # 1 - cos of real embeddings
    # and on real pairs (a surveillance frame against the same person's studio view), fine-tuning from the run
    from trainer.real_pairs import prepare_real_pairs
    from trainer.split_notice import load_split

    prepare_real_pairs(request.getfixturevalue("shared_data"), tmp_path / "pairs.npz", load_split())
    fit_restore(load_restore_config(None, common + [f"out={tmp_path / 'r'}", f"init={checkpoint}",
                                                    f"real_pairs={tmp_path / 'pairs.npz'}"]), progress=False)
    rows = list(csv.DictReader(open(tmp_path / "r" / "log.csv")))
    assert rows and all(0 < float(r["real_facenet"]) < 2 for r in rows), rows
