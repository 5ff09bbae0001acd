"""``mugshot-edge mugshot PHOTO...``: the daemon's stages on still photos, real detector and mesh, real files."""
import json

import cv2
import pytest

from edge.cli import EXIT_FAILURE, EXIT_OK, main

pytestmark = pytest.mark.integration


def test_photos_get_mugshot_crop_and_metadata_and_a_faceless_one_a_message(astronaut, shared_data, tmp_path,
                                                                             capsys):
    from skimage import data

    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "astronaut.jpg"), astronaut)
    cv2.imwrite(str(photos / "bricks.png"), data.brick())
    turned = shared_data / "frmdb/cropped/mugshots/041/Img_23.jpg"  # camera yaw -45
    profile = shared_data / "frmdb/cropped/mugshots/041/Img_13.jpg"  # camera yaw -90: beyond the mesh's range
    config = tmp_path / "box.toml"
    config.write_text('[generator]\nmodel = "auto"\n')  # the shipped restoration student
    out = tmp_path / "out"
    code = main(["--log-level", "warning", "mugshot", str(photos / "astronaut.jpg"), str(photos / "bricks.png"),
                 str(turned), str(profile), "--out", str(out), "--config", str(config)])
    assert code == EXIT_OK
    printed = capsys.readouterr().out
    assert f"{photos / 'bricks.png'}: no face found" in printed and "3 of 4 photos" in printed
    assert not list(out.glob("bricks*"))
    for stem in ("astronaut", "Img_23", "Img_13"):
        meta = json.loads((out / f"{stem}.json").read_text())
        mugshot = cv2.imread(str(out / f"{stem}_mugshot.jpg"))
        crop = cv2.imread(str(out / f"{stem}_crop.jpg"))
        assert mugshot is not None and crop is not None
        assert meta["images"]["mugshot"]["width"] == mugshot.shape[1]
    front = json.loads((out / "astronaut.json").read_text())
    assert front["pose"]["source"] == "mesh" and front["mesh"]["present"] and front["generator"] == "restore-student"
    assert front["models"]["generator"]["gate"] == "passed"
    assert abs(front["pose"]["yaw"]) < 15
    turned_meta = json.loads((out / "Img_23.json").read_text())
    assert turned_meta["pose"]["source"] == "mesh" and 25 < turned_meta["pose"]["yaw"] < 60
    assert turned_meta["generator"] == "restore-student" and turned_meta["models"]["mesh"]["sha256"]
    made = turned_meta["models"]["generator"]  # natively 256 px: published at generator.output_size as it is
    assert (made["output_size"], made["published_size"], made["upsampling"]) == (256, 256, "none")
    assert turned_meta["images"]["mugshot"]["width"] == 256
    side = json.loads((out / "Img_13.json").read_text())
    assert side["pose"]["source"] == "landmarks" and not side["mesh"]["present"]
    assert side["generator"] == "none" and "no face mesh" in side["models"]["generator"]["reason"]
    # the views: a profile photo also gets <stem>_profile.jpg, framed by its visible landmarks
    assert (front["view"], turned_meta["view"], side["view"]) == ("frontal", "three-quarter", "profile")
    assert abs(side["profile_pose"]["yaw"]) >= 60 and side["profile_generator"]["name"] == "none"
    profile_image = cv2.imread(str(out / "Img_13_profile.jpg"))
    assert profile_image.shape[1] == side["images"]["profile"]["width"] == 256
    assert not (out / "astronaut_profile.jpg").exists() and not (out / "Img_23_profile.jpg").exists()


def test_no_face_in_any_photo_is_a_failure_with_one_line_each(tmp_path, capsys):
    from skimage import data

    bricks = tmp_path / "bricks.png"
    cv2.imwrite(str(bricks), data.brick())
    assert main(["mugshot", str(bricks), "--out", str(tmp_path / "out")]) == EXIT_FAILURE
    assert main(["mugshot", str(bricks), str(tmp_path / "missing.jpg"), "--out", str(tmp_path / "out")]) == 66
    printed = capsys.readouterr().out.splitlines()
    assert f"{bricks}: no face found" in printed and f"{tmp_path / 'missing.jpg'}: no such file" in printed


def test_daemon_events_carry_the_mesh_pose(shared_data, tmp_path):
    out = tmp_path / "events"
    assert main(["--log-level", "warning", "replay", str(shared_data / "video/single_face.mp4"),
                 "--out", str(out)]) == EXIT_OK
    events = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert events and all(e["pose"]["source"] == "mesh" and e["mesh"]["presence"] > 0.5 for e in events)
    assert all(e["models"]["mesh"]["name"] == "mediapipe-face-landmark" for e in events)
