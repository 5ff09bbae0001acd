"""Trainer with tiny configs on real faces: data, nets, fit/resume, distillation, baselines, export, eval."""
import json

import numpy as np
import pytest
import torch

from trainer.config import TrainConfigError, load_train_config
from trainer.data import PairCache
from trainer.fit import fit, load_generator
from trainer.nets import build_generator, parameters
from trainer.prepare import folder_source, load_split, prepare

TINY = ["width=4", "steps=6", "batch_size=4", "sample_every=3", "checkpoint_every=3", "log_every=1", "threads=1"]


def tiny(cache, out, *extra):
    return load_train_config(None, [f"cache={cache}", f"out={out}", *TINY, *extra])


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(TrainConfigError, match="^lerning_rate: unknown key"):
        load_train_config(None, ["lerning_rate=1"])
    with pytest.raises(TrainConfigError, match="^steps: expected int"):
        load_train_config(None, ["steps=many"])
    with pytest.raises(TrainConfigError, match="^teacher: a student is distilled"):
        load_train_config(None, ["model=student"])
    path = tmp_path / "c.toml"
    path.write_text('model = "unet"\nalpha = 0.0\n')
    cfg = load_train_config(path, ["alpha=0.5"])
    assert cfg.model == "unet" and cfg.alpha == 0.5


def test_student_is_about_one_percent_of_the_teacher():
    teacher, student = build_generator("teacher", 64, 32), build_generator("student", 64, 8)
    ratio = parameters(student) / parameters(teacher)
    assert ratio <= 0.011, ratio
    separable_teacher = build_generator("teacher", 64, 32, "separable", remaps=False)
    for cell in (4, 1):  # the shipped student and the one with a blend weight per pixel
        ratio = parameters(build_generator("student", 64, 8, "separable", remaps=False, cell=cell)) / \
            parameters(separable_teacher)
        assert ratio <= 0.011, (cell, ratio)
    x = torch.randn(2, 3, 64, 64)
    for name in ("teacher", "student", "autoencoder", "unet"):
        y = build_generator(name, 64, 8).eval()(x)
        assert y.shape == x.shape and y.abs().max() <= 1.0


def test_prepare_pairs_split_and_missing_faces(tiny_cache, tmp_path, astronaut):
    path, result = tiny_cache
    cache = PairCache.load(path)
    assert cache.inputs.shape[1:] == (32, 32, 3) and len(cache.frontals) == 4
    assert set(cache.kinds) == {"studio", "surveillance"}
    test_ids = load_split()
    assert {"frmdb:001", "frmdb:006"} <= test_ids and not {"frmdb:002", "frmdb:003"} & test_ids
    train, test = cache.select(test_ids, False), cache.select(test_ids, True)
    assert set(cache.identities[train]) == {"frmdb:002", "frmdb:003"} and len(test) > 0
    # the generic folder layout, with a picture that has no face in it
    import cv2
    (tmp_path / "ds" / "007").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "ds" / "007.jpg"), astronaut)
    cv2.imwrite(str(tmp_path / "ds" / "007" / "flipped.jpg"), astronaut[:, ::-1])
    cv2.imwrite(str(tmp_path / "ds" / "007" / "blank.jpg"), np.zeros((64, 64, 3), np.uint8))
    from edge.vision.align import ModelInputSpec
    result = prepare([folder_source(tmp_path / "ds")], ModelInputSpec(size=32), tmp_path / "p.npz")
    assert result["pairs"] == 1 and result["missing"] == [str(tmp_path / "ds" / "007" / "blank.jpg")]


def test_fit_writes_artifacts_and_resumes_exactly(tiny_cache, tmp_path):
    cache, _ = tiny_cache
    straight = fit(tiny(cache, tmp_path / "a", "steps=6"), progress=False)
    fit(tiny(cache, tmp_path / "b", "steps=3"), progress=False)
    resumed = fit(tiny(cache, tmp_path / "b", "steps=6"), progress=False)  # picks up at step 3
    a, b = torch.load(straight, weights_only=False), torch.load(resumed, weights_only=False)
    assert a["step"] == b["step"] == 6
    for key in a["generator"]:
        assert torch.allclose(a["generator"][key].float(), b["generator"][key].float(), atol=1e-6), key
    out = tmp_path / "b"
    assert (out / "loss.png").is_file() and (out / "samples_000006.png").is_file()
    lines = (out / "log.csv").read_text().splitlines()
    assert lines[0].startswith("step,") and [int(l.split(",")[0]) for l in lines[1:]] == list(range(1, 7))
    assert b["split"] == ["frmdb:001", "frmdb:006"] and b["spec"]["size"] == 32  # split.toml's people in the cache
    b["config"]["retired_option"] = True  # a checkpoint from a version with another option
    torch.save(b, tmp_path / "other_version.pt")
    with pytest.raises(TrainConfigError, match="config key 'retired_option' is unknown"):
        load_generator(tmp_path / "other_version.pt")



def test_validation_identities_are_held_out_scored_and_the_best_step_kept(tiny_cache, tmp_path):
    from trainer.data import PairCache
    from trainer.fit import load_generator, validate
    from trainer.data import PairTensors
    cache, _ = tiny_cache
    path = fit(tiny(cache, tmp_path / "v", "validation=1"), progress=False)
    state = torch.load(path, weights_only=False)
    assert state["validation"] == ["frmdb:003"], "the middle one of the training people (002, 003) in name order"
    rows = (tmp_path / "v" / "validation.csv").read_text().splitlines()
    assert rows[0] == "step,l1,psnr" and [int(r.split(",")[0]) for r in rows[1:]] == [3, 6]
    scores = [float(r.split(",")[1]) for r in rows[1:]]
    best, _ = load_generator(tmp_path / "v" / "best.pt")
    pairs = PairCache.load(cache)
    val = PairTensors(pairs, pairs.select({"frmdb:003"}, test=True), flip=False)
    assert validate(best, val, torch.device("cpu"))[0] == pytest.approx(min(scores), abs=1e-4)
    assert torch.load(tmp_path / "v" / "best.pt", weights_only=False)["step"] == 3 * (1 + scores.index(min(scores)))
    with pytest.raises(TrainConfigError, match="^validation: 2 identities would leave none of the 2"):
        fit(tiny(cache, tmp_path / "w", "validation=2"), progress=False)

@pytest.mark.parametrize("model", ["autoencoder", "unet"])
def test_baselines_train_with_the_same_command(tiny_cache, tmp_path, model):
    cache, _ = tiny_cache
    path = fit(tiny(cache, tmp_path / model, f"model={model}", "steps=2"), progress=False)
    generator, state = load_generator(path)
    assert state["config"]["model"] == model and state["step"] == 2


def test_distill_export_and_use_on_the_edge(tiny_cache, tmp_path, astronaut):
    cache, _ = tiny_cache
    teacher = fit(tiny(cache, tmp_path / "teacher"), progress=False)
    student = fit(tiny(cache, tmp_path / "student", "model=student", "width=2", f"teacher={teacher}",
                       "distill_features=0.1"), progress=False)
    log = (tmp_path / "student" / "log.csv").read_text().splitlines()
    assert float(log[-1].split(",")[5]) > 0, "the distillation term is in the loss"
    from trainer.export import export
    onnx_path = tmp_path / "student.onnx"
    result = export(student, onnx_path, name="student")
    assert result["max_abs_diff"] < 1e-3
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("student.")) == ["student.onnx"]
    from edge.vision.detect.yunet import YuNetDetector
    from edge.vision.generate import OnnxGenerator
    generator = OnnxGenerator(onnx_path)
    assert generator.spec.size == 32 and generator.name == "student"
    face = YuNetDetector().detect(astronaut)[0]
    mugshot = generator.generate(astronaut, face.landmarks)
    assert mugshot.shape == (32, 32, 3) and mugshot.dtype == np.uint8


def test_eval_reports_raw_baseline_and_models(tiny_cache, tmp_path):
    cache, _ = tiny_cache
    teacher = fit(tiny(cache, tmp_path / "t", "steps=2"), progress=False)
    from trainer.evaluate import evaluate
    report = evaluate(cache, [teacher, teacher], tmp_path / "eval")
    rows = report["summary"]
    gated = ", crop beyond 30°"  # the retired generator.max_yaw's default, kept in eval for comparison
    assert set(rows) == {"raw input", "teacher", f"teacher [{teacher}]", f"teacher{gated}",
                         f"teacher [{teacher}]{gated}"}, "one name twice: both rows kept"
    # the raw input's L1 against an independent computation from the cache: held-out studio views vs their frontals
    pairs = PairCache.load(cache)
    held = pairs.select(pairs.held_out(), test=True)
    studio = held[pairs.kinds[held] == "studio"]
    raw_l1 = np.mean(np.abs(pairs.inputs[studio].astype(np.float32)
                            - pairs.frontals[pairs.targets[studio]].astype(np.float32))) / 255.0
    assert rows["raw input"]["L1"] == pytest.approx(raw_l1, rel=1e-5)
    assert rows["raw input"]["SSIM"] < 1.0, "the views are not their frontals"
    assert rows["teacher"] == rows[f"teacher [{teacher}]"], "one model, the same numbers in every column"
    assert report["counts"]["gallery"] == 2
    kept = report["counts"]["surveillance, score ≥ 0.6 probes"]  # what the edge's detector settings keep
    assert 0 < kept <= report["counts"]["surveillance probes"]
    twin = next(r for r in report["paired"] if r["model"] == f"teacher [{teacher}]" and r["reference"] == "teacher")
    assert all(twin[g] == {"wins": 0, "losses": 0, "p": 1.0} for g in ("yaw ±45", "surveillance")), "same model"
    for row in (r for r in report["paired"] if r["reference"] == "raw input"):
        for group, split in row.items():
            if group not in ("model", "reference"):
                n = report["counts"][f"{group} probes"]
                change = rows[row["model"]][f"rank-1 {group}"] - rows["raw input"][f"rank-1 {group}"]
                assert split["wins"] - split["losses"] == round(change * n), (row["model"], group)
    for row in report["paired_margin"]:  # the identity margin, compared on the same probes
        for group, split in row.items():
            if group not in ("model", "reference"):
                change = rows[row["model"]][f"margin {group}"] - rows[row["reference"]][f"margin {group}"]
                assert split["change"] == pytest.approx(change, abs=1e-6), (row["model"], group)
                assert split["better"] + split["worse"] <= report["counts"][f"{group} probes"]
    assert all(-2 < row["margin yaw ±45"] < 2 for row in rows.values())
    twin_margin = next(r for r in report["paired_margin"] if r["model"] == f"teacher [{teacher}]"
                       and r["reference"] == "teacher")
    assert twin_margin["yaw ±45"] == {"change": 0.0, "better": 0, "worse": 0, "p": 1.0}
    assert (tmp_path / "eval" / "grid.png").is_file()
    assert "| raw input |" in (tmp_path / "eval" / "report.md").read_text()
    assert "## Paired on the same probes" in (tmp_path / "eval" / "report.md").read_text()
    # the card of an exported model, rewritten from the report without exporting again
    from trainer.cli import main
    from trainer.export import export
    export(teacher, tmp_path / "teacher.onnx", name="teacher")
    made_up = report["paired"][0] | {"model": "teacher (made up)", "yaw ±45": {"wins": 0, "losses": 8, "p": 0.0078}}
    (tmp_path / "report.json").write_text(json.dumps(report | {"paired": report["paired"] + [made_up]}))
    assert main(["card", str(tmp_path / "teacher.onnx"), "--checkpoint", str(teacher), "--name", "teacher",
                 "--report", str(tmp_path / "report.json"), "--out", str(tmp_path / "teacher.md")]) == 0
    card = (tmp_path / "teacher.md").read_text()
    assert "| raw input |" in card and "Against the raw aligned crop on the same probes" in card
    assert "rank-1 yaw ±45 +0 -8 (p 0.008)" in card and "Worse than the raw aligned crop beyond noise" in card
    assert "| model | margin yaw 0, pitch ±30 | margin yaw ±45 |" in card and "more clearly the person" in card
    assert json.loads((tmp_path / "eval" / "report.json").read_text())["counts"]["studio pairs"] > 0


def test_mcnemar_exact_p_of_wins_and_losses():
    from trainer.eval_stats import mcnemar_exact
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(1, 1) == 1.0
    assert mcnemar_exact(6, 0) == mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_exact(4, 1) == pytest.approx(2 * (1 + 5) / 32)

def test_identity_loss_from_a_recogniser_of_the_training_identities(tiny_cache, tmp_path):
    cache, _ = tiny_cache
    from trainer.identity import IdentityLoss, RecognizerConfig, identity_images, train_recognizer
    pairs = PairCache.load(cache)
    _, names = identity_images(pairs, test=False)
    assert set(names) == {"frmdb:002", "frmdb:003"}, "the recogniser never sees a held-out identity"
    path = train_recognizer(RecognizerConfig(cache=str(cache), out=str(tmp_path / "rec.pt"), width=4, dim=16,
                                             steps=3, batch_size=8, threads=1), progress=False)
    state = torch.load(path, weights_only=False)
    assert state["identities"] == ["frmdb:002", "frmdb:003"]
    # the saved rank-1 is what the saved network does on the held-out people, recomputed here
    from edge.vision.align import to_tensor
    from trainer.identity import load_recognizer
    net = load_recognizer(path, held_out=pairs.held_out())
    held = pairs.select(pairs.held_out(), test=True)
    views = held[pairs.kinds[held] == "studio"]
    gallery = np.flatnonzero(np.isin(pairs.frontal_ids, sorted(pairs.held_out())))
    with torch.no_grad():
        probes = net(torch.from_numpy(to_tensor(pairs.inputs[views], pairs.spec))).numpy()
        refs = net(torch.from_numpy(to_tensor(pairs.frontals[gallery], pairs.spec))).numpy()
    nearest = pairs.frontal_ids[gallery][np.argmax(probes @ refs.T, axis=1)]
    assert state["held_out_rank1"] == pytest.approx(np.mean(nearest == pairs.identities[views]), abs=1e-6)
    loss = IdentityLoss(path)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert loss(x, x).abs().item() < 1e-5 and loss(x, x.flip(0)).item() > 0
    # fine-tune a teacher with the identity term and degraded inputs
    start = fit(tiny(cache, tmp_path / "t0", "steps=2"), progress=False)
    fit(tiny(cache, tmp_path / "t1", "steps=2", "identity=0.5", f"recognizer={path}", "degrade=0.5",
             f"init={start}"), progress=False)
    header, *rows = (tmp_path / "t1" / "log.csv").read_text().splitlines()
    column = header.split(",").index("identity")
    assert all(float(r.split(",")[column]) > 0 for r in rows)
    with pytest.raises(TrainConfigError, match="^recognizer: identity > 0 needs"):
        load_train_config(None, ["identity=1"])
    with pytest.raises(ValueError, match="^recognizer: .* is not a checkpoint"):
        IdentityLoss(start)
    with pytest.raises(TrainConfigError, match=r"trained on held-out people \(frmdb:002\); retrain"):
        IdentityLoss(path, held_out={"frmdb:002", "frmdb:099"})  # a cache that holds out one of its people
    with pytest.raises(TrainConfigError, match="^recognizer: .* not found"):
        IdentityLoss(tmp_path / "missing.pt")
    with pytest.raises(TrainConfigError, match="^init: checkpoint .* not found"):
        fit(tiny(cache, tmp_path / "t2", f"init={tmp_path / 'missing.pt'}"), progress=False)


def test_degrade_changes_only_the_chosen_share():
    from trainer.data import degrade
    x = torch.rand(64, 3, 32, 32) * 2 - 1
    assert torch.equal(degrade(x, 0.0, torch.Generator().manual_seed(0)), x)
    y = degrade(x, 0.5, torch.Generator().manual_seed(0))
    changed = (y - x).flatten(1).abs().amax(1) > 0
    assert 16 < int(changed.sum()) < 48 and y.abs().max() <= 1


def test_synthetic_yaw_turns_the_head_around_its_axis(tiny_cache):
    from edge.vision.align import ModelInputSpec
    from trainer.data import HeadCylinder, PairTensors
    head = HeadCylinder.of(ModelInputSpec(size=64, face_scale=0.7))

    def column(x: int, yaw: float) -> float:  # where a bright line down column x ends up
        face = torch.full((1, 1, 64, 64), -1.0)
        face[..., x] = 1.0
        weight = (head.turn(face, torch.tensor([yaw]))[0, 0, 0] + 1).clamp(min=0)
        return float((weight * torch.arange(64.0)).sum() / weight.sum())
    nose, eye = round(head.centre), round(head.centre - head.eye_half)
    assert column(nose, 0) == pytest.approx(nose) and column(eye, 0) == pytest.approx(eye)
    apart = {yaw: column(nose, yaw) - column(eye, yaw) for yaw in (0, 30, -30, 45, -45)}
    assert apart[0] > apart[30] > apart[-30] > apart[-45], "foreshortened, most on the far side"
    assert apart[30] > apart[45]
    assert abs(column(nose, 30) - nose) < 1.5, "alignment keeps the eyes in place, so the nose stays near"
    with pytest.raises(TrainConfigError, match="^rotations: must be within 0..1"):
        load_train_config(None, ["rotations=2"])
    cache = PairCache.load(tiny_cache[0])
    pairs = PairTensors(cache, np.arange(len(cache.inputs)), flip=False, rotations=1.0)
    views, targets = pairs.batch(8, torch.Generator().manual_seed(0))
    assert not any(torch.equal(v, t) for v, t in zip(views, targets)), "turned frontals, not the frontals"
    assert all(min((v - real).abs().mean() for real in pairs.views) > 0 for v in views), "not the real views"


def test_att_faces_are_near_frontal_training_pairs(shared_data, tmp_path):
    from edge.vision.align import ModelInputSpec
    from trainer.prepare import Source, att_source
    source = att_source(shared_data / "att_orl")
    assert len(source.frontals) == 40 and len(source.views) == 360
    assert all(key.startswith("att:s") and view.path.name != "1.pgm" for key, view in source.views)
    two = Source("att", {k: source.frontals[k] for k in ("att:s1", "att:s2")},
                 [(k, v) for k, v in source.views if k in ("att:s1", "att:s2")])
    result = prepare([two], ModelInputSpec(size=32), tmp_path / "att.npz")
    cache = PairCache.load(tmp_path / "att.npz")
    assert result["pairs"] == 18 and set(cache.identities) == {"att:s1", "att:s2"}
    assert not set(cache.identities) & load_split(), "AT&T people are all for training"


def test_separable_remap_is_the_per_pixel_sampler_with_row_and_column_shifts():
    from trainer.nets.flow import sample_view_and_mirror
    from trainer.losses import fields_l1
    from trainer.nets.separable import SeparableWarp, separable_remap
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    shifts = (torch.rand(2, 3, 32) * 2 - 1) * 6  # x of view, x of mirror (per column), y (per row)
    weight = torch.rand(2, 1, 32, 32)
    columns = torch.arange(32.0)
    positions = torch.stack([columns + shifts[:, 0], 31 - (columns + shifts[:, 1]), columns + shifts[:, 2]], 1)
    flows = torch.stack([shifts[:, 0, None, :].expand(2, 32, 32), shifts[:, 2, :, None].expand(2, 32, 32),
                         shifts[:, 1, None, :].expand(2, 32, 32), shifts[:, 2, :, None].expand(2, 32, 32)], 1)
    expected = sample_view_and_mirror(x, flows, torch.cat([weight, 1 - weight], 1))
    assert torch.allclose(separable_remap(x, positions, weight), expected, atol=5e-3)
    identity = torch.arange(32.0).expand(2, 32)
    identity = torch.stack([identity, 31 - identity, identity], 1).requires_grad_()
    (separable_remap(x, identity, weight) * x).sum().backward()
    assert identity.grad.abs().min() > 0, "every position of the identity remap has a gradient (no dead start)"
    model = build_generator("student", 32, 4, head="separable")
    assert isinstance(model, SeparableWarp) and model.cell == 4
    out, _, fields = model.run(x)
    assert out.shape == x.shape and [f.shape for f in fields] == [(2, 3, 8), (2, 1, 8, 8)]
    assert torch.allclose(fields[0], torch.zeros(2, 3, 8)), "shifts start at zero: the identity remap"
    teacher_fields = build_generator("teacher", 32, 4, head="separable").run(x)[2]
    assert fields_l1(fields, teacher_fields) > 0 and fields_l1(fields, fields) == 0
    # remaps off: the crop and its mirror blended, the same as remaps that stay at the identity
    blend_only = build_generator("student", 32, 4, head="separable", remaps=False).eval()
    blend_only.load_state_dict(model.state_dict())
    assert torch.allclose(blend_only(x), model.eval()(x), atol=1e-6) and len(blend_only.run(x)[2]) == 1
    with pytest.raises(TrainConfigError, match="^remaps: only head = \"separable\""):
        load_train_config(None, ["head=warp", "remaps=false"])
    per_pixel = build_generator("student", 32, 4, head="separable", remaps=False, cell=1)
    assert per_pixel.run(x)[2][0].shape == (2, 1, 32, 32), "cell 1: a blend weight per pixel, like the teacher's"
    for bad in (["model=student", "head=separable", "teacher=t.pt", "cell=2"], ["head=separable", "cell=1"]):
        with pytest.raises(TrainConfigError, match="^cell: 4 or 1, and only the separable student"):
            load_train_config(None, bad)



def test_flow_heads_move_pixels_export_and_run_on_the_edge(tiny_cache, tmp_path, astronaut):
    from trainer.nets.flow import AppearanceFlow, CoarseWarp, sample_view_and_mirror
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    flows = (torch.rand(2, 4, 32, 32) * 2 - 1) * 8
    weights = torch.softmax(torch.randn(2, 2, 32, 32), 1)

    def grid(dx, dy):  # pixel positions + offsets as grid_sample's normalised coordinates
        ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
        return torch.stack([(2 * (xs + dx) + 1) / 32 - 1, (2 * (ys + dy) + 1) / 32 - 1], -1)
    F = torch.nn.functional
    expected = (weights[:, :1] * F.grid_sample(x, grid(flows[:, 0], flows[:, 1]), padding_mode="border",
                                               align_corners=False)
                + weights[:, 1:] * F.grid_sample(x.flip(-1), grid(flows[:, 2], flows[:, 3]), padding_mode="border",
                                                 align_corners=False))
    assert torch.allclose(sample_view_and_mirror(x, flows, weights), expected, atol=5e-3)
    still = sample_view_and_mirror(x, torch.zeros_like(flows), torch.stack([torch.ones(2, 32, 32),
                                                                            torch.zeros(2, 32, 32)], 1))
    assert torch.allclose(still, x, atol=5e-3), "zero flow samples every pixel where it is (border: 0.1%)"
    assert isinstance(build_generator("student", 32, 4, head="warp"), CoarseWarp)
    assert isinstance(build_generator("teacher", 32, 4, head="warp"), AppearanceFlow)
    with pytest.raises(TrainConfigError, match="^head: must be image, or flow/warp/separable"):
        load_train_config(None, ["model=unet", "head=flow"])
    with pytest.raises(TrainConfigError, match="^field_tv: only for the flow, warp and separable heads"):
        load_train_config(None, ["field_tv=1"])
    cache, _ = tiny_cache
    image = fit(tiny(cache, tmp_path / "image", "steps=2"), progress=False)
    from edge.vision.detect.yunet import YuNetDetector
    from edge.vision.generate import OnnxGenerator
    from trainer.export import export
    face = YuNetDetector().detect(astronaut)[0]
    with pytest.raises(TrainConfigError, match="^distill_fields: needs a teacher with the student's head"):
        fit(tiny(cache, tmp_path / "mismatch", "steps=1", "model=student", "head=warp", "width=2",
                 f"teacher={image}", "distill_fields=1"), progress=False)
    for head in ("flow", "warp", "separable"):
        teacher = fit(tiny(cache, tmp_path / head, "steps=2", f"head={head}", f"init={image}", "field_tv=0.5"),
                      progress=False)  # with smoothness of the predicted maps
        last = [m for m in load_generator(teacher)[0].unet.out.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        assert last.weight[:3].abs().sum() > 0, f"{head}: the shifts start at zero and training must move them"
        student = fit(tiny(cache, tmp_path / f"student_{head}", "steps=2", "model=student", f"head={head}",
                           "width=2", f"teacher={teacher}", "distill_features=0.1", "distill_fields=1"),
                      progress=False)
        result = export(student, tmp_path / f"{head}.onnx", name="student")
        assert result["max_abs_diff"] < 1e-3
        mugshot = OnnxGenerator(tmp_path / f"{head}.onnx").generate(astronaut, face.landmarks)
        assert mugshot.shape == (32, 32, 3) and mugshot.std() > 5


def test_local_pathways_teacher_trains_exports_and_runs_on_the_edge(tiny_cache, tmp_path, astronaut):
    from edge.vision.detect.yunet import YuNetDetector
    from edge.vision.generate import OnnxGenerator
    from trainer.export import export
    from trainer.nets.local import LocalPathways, part_windows
    for size in (32, 64):
        for top, left, h, w in part_windows(size, 0.7).values():
            assert 0 <= top and top + h <= size and 0 <= left and left + w <= size and h % 4 == w % 4 == 0
    eyes = part_windows(64, 0.7)
    assert eyes["left_eye"][1] < eyes["right_eye"][1] and eyes["left_eye"][0] < eyes["mouth"][0]
    cache, _ = tiny_cache
    teacher = fit(tiny(cache, tmp_path / "local", "steps=2", "local_pathways=true"), progress=False)
    model, _ = load_generator(teacher)
    assert isinstance(model, LocalPathways) and set(model.parts) == {"left_eye", "right_eye", "nose", "mouth"}
    assert export(teacher, tmp_path / "local.onnx", name="teacher")["max_abs_diff"] < 1e-3
    face = YuNetDetector().detect(astronaut)[0]
    mugshot = OnnxGenerator(tmp_path / "local.onnx").generate(astronaut, face.landmarks)
    assert mugshot.shape == (32, 32, 3) and mugshot.std() > 5, "one face input, as the camera box feeds it"
    with pytest.raises(TrainConfigError, match="^local_pathways: only for model = \"teacher\" with head"):
        load_train_config(None, ["local_pathways=true", "head=warp"])


def test_identity_margin_is_the_nearest_other_minus_the_own_distance():
    from edge.vision.metrics import identified, identity_margin
    gallery = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0]])
    ids = np.array(["a", "b", "a"])
    probes = np.array([[0.2, 0.0], [4.0, 0.0], [0.9, 0.0]])
    margin = identity_margin(probes, np.array(["a", "a", "a"]), gallery, ids)
    assert margin == pytest.approx([0.6, 2.0, -0.8])  # own: the nearest of the person's two entries
    assert ((margin > 0) == identified(probes, np.array(["a", "a", "a"]), gallery, ids)).all()
    with pytest.raises(ValueError, match="own identity and another"):
        identity_margin(probes, np.array(["a", "c", "a"]), gallery, ids)


def test_your_own_folder_holds_people_out_and_eval_scores_only_them(shared_data, tmp_path, capsys, caplog):
    """A dataset of your own (DIR/person.jpg + DIR/person/*.jpg): prepare holds every N-th
    person out and stores that split in the cache; fit never trains on them; eval scores them
    against their own frontals."""
    import shutil

    from trainer.cli import main
    from trainer.evaluate import evaluate
    folder = tmp_path / "mine"
    for n in range(1, 7):  # six people, four views each (AT&T faces stand in for yours)
        (folder / f"p{n}").mkdir(parents=True)
        shutil.copy(shared_data / "att_orl" / f"s{n}" / "1.pgm", folder / f"p{n}.pgm")
        for view in (2, 3, 4, 5):
            shutil.copy(shared_data / "att_orl" / f"s{n}" / f"{view}.pgm", folder / f"p{n}" / f"{view}.pgm")
    out = tmp_path / "mine.npz"
    assert main(["prepare", "--folder", str(folder), "--test-every", "1", "--out", str(out)]) == 2
    assert "--test-every: must be 2 or more" in capsys.readouterr().err
    assert main(["prepare", "--folder", str(folder), "--test-every", "2", "--size", "32", "--out", str(out)]) == 0
    assert ("3 of 6 people held out for evaluation, never trained on (--test-every 2): mine:p2, mine:p4, mine:p6; "
            "3 left to train on: mine:p1, mine:p3, mine:p5") in caplog.text
    cache = PairCache.load(out)
    assert cache.held_out() == {"mine:p2", "mine:p4", "mine:p6"}
    run = torch.load(fit(tiny(out, tmp_path / "run", "steps=2"), progress=False), weights_only=False)
    assert run["split"] == ["mine:p2", "mine:p4", "mine:p6"]
    report = evaluate(out, [], tmp_path / "eval")
    assert report["counts"]["folder:mine views probes"] == 12 and report["counts"]["folder:mine views gallery"] == 3
    # rank-1 of the raw views among the held-out people's frontals, recomputed here from dlib's embeddings
    from edge.vision.metrics import DlibIdentity
    identity = DlibIdentity(cache.spec)
    held = cache.select(cache.held_out(), test=True)
    views = held[(cache.sources[held] == "folder:mine") & (cache.kinds[held] == "studio")]
    gallery = np.flatnonzero(np.isin(cache.frontal_ids, sorted(set(cache.identities[views].tolist()))))
    distances = np.linalg.norm(identity.embed(cache.inputs[views])[:, None]
                               - identity.embed(cache.frontals[gallery])[None], axis=2)
    expected = np.mean(cache.frontal_ids[gallery][distances.argmin(1)] == cache.identities[views])
    assert report["summary"]["raw input"]["rank-1 folder:mine views"] == pytest.approx(expected)
    assert report["counts"]["test identities"] == ["mine:p2", "mine:p4", "mine:p6"]
