"""`mugshot-train eval --tracks`: a held-out person's head turn replayed as one track through the box."""
import numpy as np
import pytest

from edge.vision.align import MUGSHOT_FACE_SCALE, ModelInputSpec
from edge.vision.metrics import DlibIdentity
from trainer.cli import build_parser
from trainer.eval_tracks import (CROP, box_config, gallery_embeddings, replays, run_replay, score, summarise,
                                 table)
from trainer.split_notice import load_split


def test_replays_are_the_held_out_people_only(shared_data):
    split = load_split()
    todo, gallery = replays(shared_data, split)
    assert {r.person for r in todo} <= split and set(gallery) <= split
    surveillance = [r for r in todo if r.kind == "surveillance"]
    assert [r.person for r in surveillance] == [f"frmdb:{n:03d}" for n in (1, 6, 11, 16, 21, 26)]
    assert all(len(r.frames) == 5 for r in surveillance)
    for r in todo:  # the gallery photo is never one of the replayed frames
        assert gallery[r.person] not in {path for _, path, _ in r.frames}


def test_a_head_turn_is_one_event_with_the_most_frontal_shot(shared_data, tmp_path):
    from edge.daemon.pipeline import build_models

    todo, gallery = replays(shared_data, load_split())
    turn = next(r for r in todo if r.person == "p04:12" and r.kind == "turn")
    assert [label for label, _, _ in turn.frames][::6] == ["pan-90", "pan+0", "pan+90"]
    cfg = box_config("none", "fp32", tmp_path / "events")
    models = build_models(cfg)
    result = run_replay(turn, cfg, models, tmp_path / "events")
    assert len(list((tmp_path / "events").glob("*.json"))) == 1  # one track, one event
    assert abs(int(result["chosen_frame"][3:])) <= 15  # the most frontal frame of the turn
    assert abs(result["quality"]["yaw"]) < 20
    assert {"mugshot", "crop"} <= set(result["images"])
    identity = DlibIdentity(ModelInputSpec(size=CROP, face_scale=MUGSHOT_FACE_SCALE))
    vectors, ids = gallery_embeddings(identity, gallery, models[0])
    assert len(ids) == len(gallery) >= 10
    [row] = score([result], identity, vectors, ids)
    assert row["found"] == 13 and row["crop_rank1"] and row["oracle_rank1"]
    assert row["oracle_margin"] >= max(row["frame_margins"].values()) - 1e-4  # (stored rounded)
    assert row["regret"] >= 0
    # a turn through +-90 shows its side: the event has a profile part, scored against the same gallery
    assert ("profile" in result["images"]) == ("profile_margin" in row) and "profile" in result["images"]
    assert np.isfinite(row["mugshot_margin"])
    summary = summarise([row])["turn"]
    assert summary["crop_rank1"] == "1/1" and summary["chosen_is_oracle"] in ("0/1", "1/1")
    assert "p04:12" in table([row])


def test_eval_tracks_command_line():
    args = build_parser().parse_args(["eval", "--tracks", "--generator", "none", "--out", "x"])
    assert args.tracks and args.generator == "none" and args.precision == "fp32"


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


def test_a_generator_choice_carries_generator_settings(tmp_path):
    """``MODEL[,KEY=VALUE...]`` in eval --tracks --generator and rate --source: the settings reach the box's
    config, typed and checked by the box's own loader; a bad key or value names generator.KEY."""
    from trainer.config import TrainConfigError
    from trainer.rate import RateError, _pipeline, parse_sources

    cfg = box_config("auto,crop_without_mesh=false,output_size=320,backdrop=plain,backdrop_colour=#102030",
                     "int8", tmp_path).generator
    assert (cfg.model, cfg.crop_without_mesh, cfg.output_size, cfg.backdrop, cfg.backdrop_colour, cfg.precision) == (
        "auto", False, 320, "plain", "#102030", "int8")
    assert box_config("none,precision=fp32", "int8", tmp_path).generator.precision == "fp32"  # the choice wins
    assert box_config("none", "int8", tmp_path).generator.crop_without_mesh is True
    for bad, message in [("auto,nope=1", r"^generator\.nope: unknown key"),
                         ("auto,crop_without_mesh=maybe", r"^generator\.crop_without_mesh: expected true or false"),
                         ("auto,output_size=5", r"^generator\.output_size: must be between 64 and 1024, got 5"),
                         ("auto,backdrop=fog", r"^generator\.backdrop: must be one of"),
                         ("auto,threads", r"^generator option 'threads': expected KEY=VALUE")]:
        with pytest.raises(TrainConfigError, match=message):
            box_config(bad, "fp32", tmp_path)
    assert parse_sources(["every=auto,crop_without_mesh=false"]) == {"every": "auto,crop_without_mesh=false"}
    with pytest.raises(RateError, match=r"^--source every: generator\.threads: expected an integer"):
        parse_sources(["every=auto,threads=two"])
    with pytest.raises(RateError, match=r"^--source x: model file nowhere\.onnx not found"):
        parse_sources(["x=nowhere.onnx,threads=1"])
    pipeline, _ = _pipeline("none,output_size=320,crop_without_mesh=false")
    assert pipeline.cfg.generator.output_size == 320 and not pipeline.cfg.generator.crop_without_mesh
    pipeline.close()
