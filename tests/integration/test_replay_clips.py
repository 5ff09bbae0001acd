"""End to end on real clips: the whole pipeline, real detector, real files on disk."""
import json

import cv2
import pytest

from edge.cli import EXIT_CONFIG, EXIT_OK, EXIT_UNAVAILABLE, main
from edge.config import Config
from edge.vision.gate import MugshotGate
from tests.conftest import ROOT

pytestmark = pytest.mark.integration

# The daemon's default generator ("none", or "auto": the student shipped in models/).
MANIFEST = ROOT / "models" / "manifest.toml"
SHIPPED_GENERATOR = "restore-student" if Config().generator.model == "auto" and MANIFEST.exists() \
    and "[student]" in MANIFEST.read_text() else "none"


def replay(clip, out):
    assert main(["--log-level", "warning", "replay", str(clip), "--out", str(out)]) == EXIT_OK
    return [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]


@pytest.mark.parametrize("clip", ["single_face.mp4", "noface_face.mov"])
def test_clip_with_a_face_gives_an_event_showing_it(clip, shared_data, tmp_path, yunet, capsys):
    out = tmp_path / "events"
    events = replay(shared_data / "video" / clip, out)
    print(f"{clip}: {len(events)} events")
    assert 1 <= len(events) <= 3
    for meta in events:
        crop = cv2.imread(str(out / f"{meta['event_id']}_crop.jpg"))
        assert crop.shape[:2] == (meta["images"]["crop"]["height"], meta["images"]["crop"]["width"])
        faces = yunet.detect(crop)
        assert faces, f"no face in the published crop of {clip}"
        x, y, w, h = faces[0].box
        cx, cy = (x + w / 2) / crop.shape[1], (y + h / 2) / crop.shape[0]
        assert 0.35 < cx < 0.65 and 0.35 < cy < 0.7, "the face is centred in the aligned crop"
        assert meta["generator"] == SHIPPED_GENERATOR and meta["models"]["detector"]["name"] == "yunet"
        mugshot = cv2.imread(str(out / f"{meta['event_id']}_mugshot.jpg"))
        assert mugshot.shape[:2] == (meta["images"]["mugshot"]["height"], meta["images"]["mugshot"]["width"])
        # what it shows: a face, where the crop's is, and close to the crop (the generator's own output on
        # validation faces, and broken models, in test_model_content.py)
        result = MugshotGate().check(mugshot, crop)
        assert result.measures["faces"] == 1 and result.measures["ssim"] > 0.35, result
    assert (out / "contact_sheet.jpg").stat().st_size > 1000
    assert "replay" in capsys.readouterr().out


@pytest.mark.parametrize("clip, most", [("no_face.mp4", 0), ("vtest.avi", 2)])
def test_clip_without_close_faces_gives_few_events(clip, most, shared_data, tmp_path):
    events = replay(shared_data / "video" / clip, tmp_path / "events")
    print(f"{clip}: {len(events)} events")
    assert len(events) <= most


def replay_single_face(shared_data, tmp_path, generator_toml: str) -> dict:
    config = tmp_path / "config.toml"
    config.write_text(f'[generator]\nmodel = "auto"\nprecision = "fp32"\n{generator_toml}')
    out = tmp_path / "events"
    assert main(["--log-level", "warning", "replay", str(shared_data / "video" / "single_face.mp4"), "--out",
                 str(out), "--config", str(config)]) == EXIT_OK
    (meta,) = [json.loads(p.read_text()) for p in out.glob("*.json")]
    return meta


def test_replay_with_the_shipped_student(shared_data, tmp_path):
    meta = replay_single_face(shared_data, tmp_path, "")
    assert meta["generator"] == "restore-student" and meta["models"]["generator"]["precision"] == "fp32"
    assert meta["mesh"]["present"], "the face has a mesh: the student made this mugshot"
    generator = meta["models"]["generator"]
    assert (generator["output_size"], generator["published_size"], generator["upsampling"]) == (256, 256, "none")
    assert meta["images"]["mugshot"]["width"] == 256 and meta["images"]["crop"]["width"] == 256


@pytest.mark.parametrize("crop_without_mesh", [True, False])
def test_a_face_without_a_mesh_is_published_as_the_crop_unless_told_otherwise(shared_data, tmp_path,
                                                                              crop_without_mesh):
    # mesh.max_landmark_yaw = 0: no face gets a mesh (as a profile beyond the mesh's range)
    meta = replay_single_face(shared_data, tmp_path, f"crop_without_mesh = {str(crop_without_mesh).lower()}\n"
                                                     "[mesh]\nmax_landmark_yaw = 0.0\n")
    assert not meta["mesh"]["present"] and meta["pose"]["source"] == "landmarks"
    generator = meta["models"]["generator"]
    if crop_without_mesh:
        assert meta["generator"] == "none" and generator["skipped"] == "restore-student"
        assert "no face mesh" in generator["reason"] and "generator.crop_without_mesh" in generator["reason"]
        assert generator["output_size"] == 256 and generator["upsampling"] == "none", "the aligned crop itself"
    else:
        assert "skipped" not in generator, "the generator ran on the face without a mesh"
        # its picture, or (the quality gate refused it) the crop with the gate's reason
        assert meta["generator"] == "restore-student" or (generator["rejected"] == "restore-student"
                                                          and generator["reason"].startswith("quality gate: "))
        assert generator["output_size"] == 256 and generator["upsampling"] == "none", "natively 256 px"
    assert meta["images"]["mugshot"]["width"] == generator["published_size"] == 256


def test_demo_runs_the_whole_pipeline_and_a_rerun_shows_only_its_own_events(tmp_path, capsys):
    for run in (1, 2):  # the second run into the same folder must not mix in the first one's events
        assert main(["demo", "--out", str(tmp_path)]) == EXIT_OK
        out = capsys.readouterr().out
        events = [json.loads(p.read_text()) for p in (tmp_path / "events").glob("*.json")]
        assert len(events) == 2, f"run {run}: two passes of the face, two events"
        assert (tmp_path / "contact_sheet.jpg").is_file()
        received = sorted(p.name for p in (tmp_path / "received").glob("*/*.json"))  # <device>/<event_id>.json
        assert received == sorted(p.name for p in (tmp_path / "events").glob("*.json")), "all arrived over MQTT"
        gallery = (tmp_path / "received" / "index.html").read_text()
        assert all(name.removesuffix(".json") in gallery for name in received), "the gallery shows them"
        assert "2 events (" in out and "contact sheet with 2:" in out, out  # events, not publications
        assert "2 of 2 events arrived over MQTT" in out
        assert ("files of an earlier demo run" in out) == (run == 2)


def test_check_reports_a_missing_camera_with_69(tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text('[camera]\nuri = "/dev/video-missing"\n')
    assert main(["check", "--config", str(config)]) == EXIT_UNAVAILABLE
    assert "/dev/video-missing" in capsys.readouterr().err


def test_check_passes_on_a_replayable_clip(shared_data, tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text(f'[camera]\nuri = "{shared_data / "video" / "single_face.mp4"}"\n')
    assert main(["check", "--config", str(config)]) == EXIT_OK
    assert "first frame 640x360" in capsys.readouterr().out


def test_run_with_a_missing_model_file_is_a_config_error(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[detector]\nmodel = "gone.onnx"\n')
    assert main(["run", "--config", str(config)]) == EXIT_CONFIG


def test_opt_in_calibration_frames_are_saved_bounded_and_usable(shared_data, tmp_path, monkeypatch):
    from quantize.calibrate import images_in

    config = tmp_path / "config.toml"
    config.write_text('[calibration]\nsave_frames = true\npath = "calib"\nmax_frames = 3\nmin_interval_seconds = 0.2\n')
    clip = shared_data / "video" / "single_face.mp4"
    assert main(["--log-level", "warning", "replay", str(clip), "--out", str(tmp_path / "ev"),
                 "--config", str(config)]) == EXIT_OK
    frames = sorted((tmp_path / "calib").glob("frame_*.jpg"))
    assert len(frames) == 3, "bounded by max_frames"
    assert len(images_in(tmp_path / "calib", 64)) == 3, "mugshot-quantize --calib accepts them"
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    default = tmp_path / "default.toml"
    default.write_text("")
    assert main(["--log-level", "warning", "replay", str(clip), "--out", str(tmp_path / "ev2"),
                 "--config", str(default)]) == EXIT_OK
    assert not (tmp_path / "state").exists(), "off unless asked for"


def test_check_starts_no_publisher(shared_data, tmp_path, broker, capsys):
    from tests.helpers import Recorder

    recorder = Recorder(broker.port, topics=["mugshot/#"])
    config = tmp_path / "config.toml"
    config.write_text(f'[device]\nid = "box1"\n[camera]\nuri = "{shared_data / "video" / "single_face.mp4"}"\n'
                      f'[[publishers]]\ntype = "mqtt"\nhost = "127.0.0.1"\nport = {broker.port}\n'
                      f'spool_path = "spool.sqlite"\n')
    try:
        assert main(["check", "--config", str(config)]) == EXIT_OK
        # a marker published after check returned: once it arrived, anything check had published would have too
        marker = Recorder(broker.port, topics=[])
        marker.connection.publish("mugshot/test/marker", b"after check", qos=1)
        assert recorder.wait_for(lambda r: r.payloads("mugshot/test/marker"), timeout=20)
        marker.stop()
        assert [t for t, *_ in recorder.messages] == ["mugshot/test/marker"], "check must not connect as the daemon"
    finally:
        recorder.stop()
