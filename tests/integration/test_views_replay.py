"""One person's head turning from one profile through frontal to the other, replayed through the daemon
(FRMDB's studio views of held-out people, the real detector, mesh and generator, real files): one event, its
mugshot from the most frontal frame, its profile from a true side view; the contact sheet shows all three."""
import json
from datetime import datetime

import cv2
import pytest

from edge.cli import EXIT_OK, main
from edge.vision.quality import PROFILE_MIN_YAW
from tests.helpers import studio_turn

pytestmark = pytest.mark.integration
FPS = 10  # the image-folder source's frame rate


def seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("person", ["001", "006"])
def test_a_head_turning_is_one_event_with_the_frontal_mugshot_and_a_true_profile(person, shared_data, tmp_path,
                                                                                yunet):
    frames = studio_turn(shared_data, person, tmp_path / "turn")
    config = tmp_path / "config.toml"
    config.write_text("[motion]\nenabled = false\n")  # a studio: nothing moves but the head
    out = tmp_path / "events"
    assert main(["--log-level", "warning", "replay", str(tmp_path / "turn"), "--out", str(out),
                 "--config", str(config)]) == EXIT_OK
    (meta,) = [json.loads(p.read_text()) for p in out.glob("*.json")]  # ONE event for the whole turn
    start = seconds(meta["first_seen"])
    best = round((seconds(meta["best_seen"]) - start) * FPS)
    side = round((seconds(meta["profile_pose"]["seen"]) - start) * FPS)
    print(person, "mugshot from frame", best, frames[best], meta["view"], meta["pose"]["yaw"],
          "| profile from frame", side, frames[side], meta["profile_pose"])
    assert frames[best] == "0" and meta["view"] == "frontal", "the mugshot is the most frontal frame"
    assert frames[side] in ("-90", "+90") and abs(meta["profile_pose"]["yaw"]) >= PROFILE_MIN_YAW
    assert meta["profile_pose"]["view"] == "profile"
    for name in ("mugshot", "crop", "profile"):
        image = cv2.imread(str(out / f"{meta['event_id']}_{name}.jpg"))
        assert image.shape[:2] == (meta["images"][name]["height"], meta["images"][name]["width"]) == (256, 256)
    profile = cv2.imread(str(out / f"{meta['event_id']}_profile.jpg"))
    faces = yunet.detect(profile)
    assert faces, "the published profile shows the face"
    x, _, w, _ = faces[0].box
    assert 0.15 < (x + w / 2) / 256 < 0.85, "framed like the mugshot: the head inside the picture"
    sheet = cv2.imread(str(out / "contact_sheet.jpg"))
    assert sheet.shape[1] == 3 * 160, "the contact sheet shows crop, mugshot and profile"
