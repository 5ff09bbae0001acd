"""Real training pairs (issue 22): each FRMDB person's real surveillance frames, aligned like the box aligns
them, paired with the same person's studio view at the nearest pose; scored only by identity and colour."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from trainer.cli import main as train_main
from trainer.config import TrainConfigError
from trainer.real_pairs import STUDIO_MAX_YAW, RealPairs, colour_term, detail_term, face_region
from trainer.restore_data import RESTORE_SPEC, collect, prepare_crops
from trainer.restore_fit import fit_restore, load_restore_config
from trainer.split_notice import load_split


@pytest.fixture(scope="module")
def pairs(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("real") / "pairs.npz"
    assert train_main(["--log-level", "warning", "restore-prepare", "--data", str(shared_data), "--real", str(out)]) == 0
    return out


def test_every_pair_is_one_person_at_a_near_pose_and_held_out_people_are_marked(pairs, shared_data):
    data = np.load(pairs)
    rows = {r["path"]: r for r in csv.DictReader(open(shared_data / "frmdb" / "manifest.csv", newline=""))}
    assert len(data["inputs"]) >= 80 and data["inputs"].shape[1:] == (256, 256, 3) == data["targets"].shape[1:]
    for identity, (frame, studio) in zip(data["identities"].tolist(), data["paths"].tolist()):
        assert rows[frame]["kind"] == "surveillance_frame" and rows[studio]["kind"] == "mugshot"
        assert identity == f"frmdb:{rows[frame]['subject']}" == f"frmdb:{rows[studio]['subject']}"
        assert abs(int(rows[studio]["camera_yaw_deg"])) <= STUDIO_MAX_YAW
    gap = np.abs(data["frame_pose"] - data["studio_pose"])
    assert np.median(gap[:, 0]) < 20 and np.median(gap[:, 1]) < 20, np.median(gap, axis=0)
    held = set(data["validation"].tolist())
    assert held == {i for i in data["identities"].tolist() if i in load_split()} and len(held) == 6
    real = RealPairs(pairs, RESTORE_SPEC)
    assert not held & set(real.identities[real.train].tolist())  # never trained on
    views, targets = real.batch(real.train[:3], np.random.default_rng(0))
    assert views.shape == targets.shape == (3, 3, 256, 256) and views.abs().max() <= 1
    from edge.vision.align import to_tensor
    flips = np.random.default_rng(0).random(3) < 0.5  # the draws batch() makes: a frame and its view flip together
    assert flips.any() and not flips.all()
    for i, (row, flip) in enumerate(zip(real.train[:3], flips)):
        frame, view = (a[row][:, ::-1] if flip else a[row] for a in (real.inputs, real.targets))
        assert torch.equal(views[i], torch.from_numpy(to_tensor(frame.copy(), RESTORE_SPEC))[0])
        assert torch.equal(targets[i], torch.from_numpy(to_tensor(view.copy(), RESTORE_SPEC))[0])
    everyone = RealPairs(pairs, RESTORE_SPEC, held_out={"frmdb:002"})  # the crop cache's held-out people too
    assert "frmdb:002" not in set(everyone.identities[everyone.train].tolist()) and len(everyone.train) < len(real.train)


def test_colour_term_reads_the_face_region_only():
    region = torch.from_numpy(face_region(RESTORE_SPEC))
    assert 0.1 < float(region.mean()) < 0.5  # the inner face, not the backdrop
    rng = torch.Generator().manual_seed(0)
    face = torch.rand((2, 3, 256, 256), generator=rng) * 2 - 1
    assert float(colour_term(face, face, region)) < 1e-3
    elsewhere = face.clone()
    elsewhere[..., region == 0] = -1.0  # a different backdrop, the same face
    assert float(colour_term(elsewhere, face, region)) < 1e-3
    cast = face.clone()
    cast[:, 2] = cast[:, 2] * 0.5 + 0.3  # a colour cast on one channel
    assert float(colour_term(cast, face, region)) > 0.1


def test_detail_term_allows_light_and_colour_but_not_a_painted_patch(astronaut):
    from edge.vision.align import to_tensor

    view = torch.from_numpy(to_tensor(astronaut[None, 100:356, 150:406].copy(), RESTORE_SPEC))
    assert float(detail_term(view, view)) < 2e-3
    ramp = torch.linspace(0.6, 1.0, 256)[None, None, None, :]  # uneven light across the face, and a cast
    lighter = (view + 1) / 2 * ramp * torch.tensor([0.8, 0.9, 1.0])[None, :, None, None] * 2 - 1
    painted = view.clone()
    painted[..., 100:130, 90:170] = 1.0  # a white patch over the eyes
    assert float(detail_term(lighter, view)) < 0.2 * float(detail_term(painted, view)), (
        float(detail_term(lighter, view)), float(detail_term(painted, view)))


def test_fine_tuning_with_real_pairs_logs_the_colour_term(shared_data, pairs, tmp_path):
    items = [i for i in collect(shared_data) if i[0] in {"frmdb:001", "frmdb:002", "frmdb:003"}][:12]
    crops = tmp_path / "crops.npz"
    prepare_crops(items, crops)
    common = [f"cache={crops}", "width=2", "patch=256", "batch_size=2", "threads=1", "sample_every=2",
              "checkpoint_every=2", "alpha=0"]
    first = fit_restore(load_restore_config(None, common + [f"out={tmp_path / 'a'}", "steps=2"]), progress=False)
    tuned = fit_restore(load_restore_config(None, common + [
        f"out={tmp_path / 'b'}", "steps=2", f"init={first}", f"real_pairs={pairs}", "colour=0.1", "real_batch=2"]),
        progress=False)
    rows = list(csv.DictReader(open(tmp_path / "b" / "log.csv")))
    assert rows and all(float(r["real_colour"]) > 0 for r in rows) and all(r["real_facenet"] == "0" for r in rows)
    assert torch.load(tuned, weights_only=False)["config"]["init"] == str(first)
    student = [f"out={tmp_path / 's'}", "model=student", "width=4", f"teacher={tuned}", f"real_pairs={pairs}",
               "detail=1", "checkpoint_every=1", "log_every=1"]  # a student distils on the real frames as well
    fit_restore(load_restore_config(None, common + student + ["steps=1"]), progress=False)
    log = tmp_path / "s" / "log.csv"  # as an older trainer wrote it: fewer columns
    old = list(csv.DictReader(open(log)))
    with open(log, "w", newline="") as f:
        writer = csv.DictWriter(f, ["step", "g_total", "l1", "l2", "gan", "distill", "facenet", "d_loss", "seconds"],
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(old)
    checkpoint = fit_restore(load_restore_config(None, common + student + ["steps=2"]), progress=False)  # resumes
    rows = list(csv.DictReader(open(log)))
    assert [r["step"] for r in rows] == ["1", "2"] and rows[0]["real_detail"] == "0"  # the old row, padded
    assert rows[0]["d_loss"] == old[0]["d_loss"] and rows[0]["distill"] == old[0]["distill"]
    assert float(rows[1]["real_distill"]) > 0 and float(rows[1]["real_detail"]) > 0 and float(rows[1]["distill"]) > 0
    state = torch.load(checkpoint, weights_only=False)
    assert state["step"] == 2 and state["init_steps"] == 0
    assert torch.load(tuned, weights_only=False)["init_steps"] == 2  # the teacher it came from: 2 steps + 2 tuned
    with pytest.raises(TrainConfigError, match="^real_pairs: a teacher scores real pairs by the facenet, colour and "):
        load_restore_config(None, [f"real_pairs={pairs}"])
    with pytest.raises(TrainConfigError, match=r"^detail: a term of real pairs; set real_pairs = PATH"):
        load_restore_config(None, ["detail=1"])
    with pytest.raises(TrainConfigError, match=r"^init: .*crops.npz is not a restore-fit checkpoint"):
        fit_restore(load_restore_config(None, common + [f"out={tmp_path / 'f'}", f"init={crops}"]), progress=False)
    with pytest.raises(TrainConfigError, match=r"^real_pairs: .*crops.npz is not a real pairs cache"):
        fit_restore(load_restore_config(None, common + [f"out={tmp_path / 'g'}", f"real_pairs={crops}", "colour=1"]),
                    progress=False)
    with pytest.raises(TrainConfigError, match="^real_pairs: real pairs are whole crops: patch = 256"):
        fit_restore(load_restore_config(None, [f"cache={crops}", f"out={tmp_path / 'c'}", f"real_pairs={pairs}",
                                               "colour=0.1", "patch=96", "width=2", "steps=1"]), progress=False)
    with pytest.raises(TrainConfigError, match="^init: .* is a teacher of width 2, this run a teacher of width 3"):
        fit_restore(load_restore_config(None, common + [f"out={tmp_path / 'd'}", f"init={first}", "width=3"]),
                    progress=False)
    with pytest.raises(TrainConfigError, match="^real_pairs: .*nothing.npz not found"):
        fit_restore(load_restore_config(None, common + [f"out={tmp_path / 'e'}", f"real_pairs={tmp_path}/nothing.npz",
                                                        "colour=0.1", "steps=1"]), progress=False)


def test_restore_check_real_scores_the_held_out_frames(shared_data, pairs, tmp_path):
    import json

    from models import MODELS_DIR

    data = np.load(pairs)
    assert len(data["frontal_ids"]) == 29 and data["frontals"].shape[1:] == (256, 256, 3)
    crops = tmp_path / "crops.npz"  # restore-check's own validation crops
    prepare_crops([i for i in collect(shared_data) if i[0] in {"frmdb:001", "frmdb:002"}][:8], crops)
    out = tmp_path / "check.json"
    assert train_main(["--log-level", "warning", "restore-check", "--cache", str(crops), "--count", "2",
                       "--model", f"student={MODELS_DIR / 'student.onnx'}", "--real", str(pairs),
                       "--json", str(out)]) == 0
    real = json.loads(out.read_text())["real"]
    assert real["people"] == sorted(data["validation"].tolist()) and real["frames"] >= 15
    for name in ("frame (no model)", "student"):
        assert 0 < real[name]["colour_to_studio"] < 1 and -1 < real[name]["identity_margin"] < 1
        hits, total = map(int, real[name]["identified"].split("/"))
        assert total == real["frames"] and 0 <= hits <= total
    assert real["student"] != real["frame (no model)"]  # the model's output was scored, not the frame again
