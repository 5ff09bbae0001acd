"""The views of a track on real faces: FRMDB's studio rig photographs one person from several yaws, which
replayed in order are one head turning in front of the box (the detector, the face mesh and the box's pose)."""
import json
import sqlite3

import cv2
import numpy as np
import pytest

from edge.config import MeshConfig, TrackerConfig
from edge.publish.directory import DirectoryPublisher
from edge.publish.spool import Spool
from edge.vision.align import align_face, canonical_points
from edge.vision.quality import (FRONTAL_MAX_YAW, PROFILE_MIN_YAW, FaceQuality, frontality, profile_score,
                                 shot_score, view_of)
from edge.vision.track import Tracker
from edge.vision.views import framing_landmarks, profile_landmarks
from tests.helpers import make_event

# FRMDB's studio files Img_X3: X = camera yaw -135..+135 in 45° steps (X = 1: -90, 3: 0, 5: +90), pitch 0
STUDIO = {"-90": "Img_13", "-45": "Img_23", "0": "Img_33", "+45": "Img_43", "+90": "Img_53"}
PEOPLE = ("001", "006")  # held-out identities (trainer/split.toml)


@pytest.fixture(scope="module")
def mesher():
    from edge.vision.face3d import make_mesher
    from models import MODELS_DIR

    m = MeshConfig()
    return make_mesher(m.runtime, 1, MODELS_DIR, m.min_presence, m.max_disagreement, m.max_landmark_yaw)


@pytest.fixture(scope="module")
def views(shared_data, yunet, mesher):
    """person -> camera yaw -> (image, detection, (mesh, pose)) as the box sees it."""
    from edge.vision.face3d import procrustes_pose

    seen = {}
    for person in PEOPLE:
        folder = shared_data / "frmdb" / "original" / person / f"{person}_Mugshots"
        for yaw, stem in STUDIO.items():
            image = cv2.imread(str(folder / f"{stem}.JPG"))
            assert image is not None, folder / f"{stem}.JPG"
            faces = yunet.detect(image)
            assert len(faces) == 1, f"{person} {stem}: {len(faces)} faces"
            mesh = mesher.run(image, faces[0].box, faces[0].landmarks)
            pose = procrustes_pose(mesh.points, mesher.canonical) if mesh.accepted else None
            seen[person, yaw] = (image, faces[0], (mesh, pose))
    return seen


def turn(tracker, views, person, yaws, t0=0.0, repeat=3):
    """Each view ``repeat`` frames in a row at 10 fps; returns the due shots and the time reached."""
    due, t = [], t0
    for yaw in yaws:
        image, face, geometry = views[person, yaw]
        for _ in range(repeat):
            due += tracker.update([face], image, t, [geometry])
            t += 0.1
    return due, t


def quality(yaw, pitch=0.0, size=120.0, sharpness=300.0, at_edge=False):
    return FaceQuality(size, sharpness, 0.9, yaw, pitch, 0.0, at_edge)


def test_frontality_is_a_named_term_of_the_shot_score():
    assert frontality(0, 0) == 1.0 and frontality(45, 0) == pytest.approx(0.5)
    assert frontality(20, 0) == pytest.approx(np.cos(np.radians(20)) ** 2)
    assert frontality(0, 30) == pytest.approx(np.cos(np.radians(30)))
    q0, q30 = quality(0), quality(30)
    assert shot_score(q30) / shot_score(q0) == pytest.approx(frontality(30, 0))
    # sharper and larger, but turned 45°: the frontal shot still wins
    assert shot_score(quality(45, size=200, sharpness=800)) < shot_score(quality(5, size=100, sharpness=150))


def test_views_and_their_thresholds():
    assert [view_of(y) for y in (0, -19.9, 20, 45, -59.9, 60, -85)] == \
        ["frontal", "frontal", "three-quarter", "three-quarter", "three-quarter", "profile", "profile"]
    assert (FRONTAL_MAX_YAW, PROFILE_MIN_YAW) == (20.0, 60.0)
    assert profile_score(quality(45)) == 0.0 and profile_score(quality(75)) > 0
    assert profile_score(quality(75, at_edge=True)) == 0.0, "a side view cut by the frame is no profile"
    assert profile_score(quality(75, size=30)) == 0.0, "too small to show a profile"
    assert profile_score(quality(88)) > profile_score(quality(65)), "the truer side view wins"


@pytest.mark.parametrize("person", PEOPLE)
def test_the_box_reads_the_studio_views_as_the_views_they_are(views, person):
    yaws = {yaw: views[person, yaw][1] for yaw in STUDIO}
    poses = {}
    for yaw, (image, face, (mesh, pose)) in ((y, views[person, y]) for y in STUDIO):
        tracker = Tracker(TrackerConfig(min_hits=1))
        tracker.update([face], image, 0.0, [(mesh, pose)])
        (due,) = tracker.flush()
        poses[yaw] = due.shot.quality.yaw
    print(person, {k: round(v) for k, v in poses.items()})
    assert view_of(poses["0"]) == "frontal"
    assert {view_of(poses["-90"]), view_of(poses["+90"])} == {"profile"}
    assert {view_of(poses["-45"]), view_of(poses["+45"])} <= {"three-quarter"}
    assert np.sign(poses["-90"]) == -np.sign(poses["+90"]), "the two sides read as opposite turns"
    assert yaws


@pytest.mark.parametrize("person", PEOPLE)
def test_the_least_turned_sharp_shot_wins_and_a_later_more_frontal_one_is_a_revision(views, person):
    tracker = Tracker(TrackerConfig(publish_after_seconds=0.5))
    due, t = turn(tracker, views, person, ["-90", "-45"], repeat=4)  # a side view, then three-quarter
    assert [d.revision for d in due] == [1]
    first = due[0]
    assert view_of(first.shot.quality.yaw) == "three-quarter"
    assert first.profile is not None and view_of(first.profile.quality.yaw) == "profile"
    due, t = turn(tracker, views, person, ["0", "+45"], t0=t)  # the face turns frontal, then away again
    assert [d.revision for d in due] == [2] and due[0].event_id == first.event_id
    assert view_of(due[0].shot.quality.yaw) == "frontal"
    due += tracker.update([], None, t + 5.0)  # the track ends: the frontal shot stays its best
    best = due[-1].shot
    assert abs(best.quality.yaw) == min(abs(views[person, y][2][1].yaw) for y in ("-45", "0", "+45")
                                        if views[person, y][2][1] is not None)
    assert tracker.created == 1


@pytest.mark.parametrize("person", PEOPLE)
def test_a_better_profile_later_publishes_a_revision(views, person):
    tracker = Tracker(TrackerConfig(publish_after_seconds=0.3))
    due, t = turn(tracker, views, person, ["0"], repeat=5)
    assert [d.revision for d in due] == [1] and due[0].profile is None
    due, t = turn(tracker, views, person, ["+45", "+90"], t0=t)
    assert [d.revision for d in due] == [2] and due[0].profile is not None, "the first profile is news"
    assert view_of(due[0].shot.quality.yaw) == "frontal", "the mugshot stays the frontal shot"
    due, t = turn(tracker, views, person, ["+90"], t0=t)
    assert due == [], "the same profile again is no news"


def test_a_track_that_never_showed_its_face_publishes_its_best_view_and_says_so(views):
    tracker = Tracker(TrackerConfig())
    turn(tracker, views, "001", ["+90", "+45"])
    (due,) = tracker.flush()
    assert view_of(due.shot.quality.yaw) == "three-quarter" and due.profile is not None


@pytest.mark.parametrize("side", ["-90", "+90"])
def test_a_profile_is_framed_like_the_mugshot_by_its_visible_landmarks(views, yunet, side):
    image, face, _ = views["001", side]
    tracker = Tracker(TrackerConfig(min_hits=1))
    tracker.update([face], image, 0.0)
    (due,) = tracker.flush()
    yaw = due.profile.quality.yaw
    marks = framing_landmarks(face.landmarks, yaw)
    assert np.allclose(marks, profile_landmarks(face.landmarks, yaw))
    crop, matrix = align_face(image, marks, 256, 0.7)
    # the visible eye lands at the mugshot's eye height; the face has the mugshot's scale
    placed = (np.c_[face.landmarks, np.ones(5)] @ matrix.T)
    template = canonical_points(256, 0.7)
    eye = 1 if abs(face.landmarks[1, 0] - face.landmarks[2, 0]) > abs(face.landmarks[0, 0] - face.landmarks[2, 0]) else 0
    assert abs(placed[eye, 1] - template[eye, 1]) < 0.05 * 256
    eye_to_mouth = placed[eye + 3, 1] - placed[eye, 1]
    assert eye_to_mouth == pytest.approx(template[3, 1] - template[0, 1], rel=0.2)
    # the plain five-point alignment squeezes the side view: the profile framing shows the head whole
    found = yunet.detect(crop)
    assert found, "the framed profile still reads as a face"
    x, _, w, _ = found[0].box
    assert 0.15 * 256 < x + w / 2 < 0.85 * 256


def test_a_frontal_face_keeps_its_own_landmarks(views):
    _, face, _ = views["001", "0"]
    assert framing_landmarks(face.landmarks, 10.0) is face.landmarks


def test_the_profile_image_travels_through_spool_and_directory(tmp_path):
    event = make_event(1, profile=True)
    encoded = event.encode()
    assert set(encoded.images) == {"mugshot", "crop", "profile"}
    meta = encoded.metadata
    assert meta["view"] == view_of(event.quality.yaw) and meta["profile_pose"]["view"] == "profile"
    assert abs(meta["profile_pose"]["yaw"]) >= PROFILE_MIN_YAW and meta["images"]["profile"]["bytes"] > 1000
    spool = Spool(tmp_path / "spool.sqlite")
    spool.put(encoded, "door")
    spool.put(make_event(2).encode(), "door")
    first, = [spool.oldest()]
    assert first.encoded.images == encoded.images
    spool.remove(first.seq)
    assert set(spool.oldest().encoded.images) == {"mugshot", "crop"}
    spool.close()
    folder = DirectoryPublisher(tmp_path / "events")
    folder.publish(event)
    folder.close()
    written = tmp_path / "events" / f"{event.event_id}_profile.jpg"
    assert written.read_bytes() == encoded.images["profile"]
    assert "profile" in json.loads((tmp_path / "events" / f"{event.event_id}.json").read_text())["images"]


def test_a_spool_from_before_profiles_is_upgraded_and_keeps_its_events(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, "
                     "camera TEXT NOT NULL, spooled REAL NOT NULL, metadata TEXT NOT NULL, mugshot BLOB NOT NULL, "
                     "crop BLOB NOT NULL, size INTEGER NOT NULL);")
    old = make_event(3).encode()
    db.execute("INSERT INTO events (event_id, camera, spooled, metadata, mugshot, crop, size) VALUES (?,?,?,?,?,?,?)",
               (old.event_id, "door", 0.0, json.dumps(old.metadata), old.images["mugshot"], old.images["crop"], 1))
    db.commit()
    db.close()
    spool = Spool(path)
    assert spool.oldest().encoded.images == old.images
    spool.put(make_event(4, profile=True).encode(), "door")
    assert spool.depth()[0] == 2
    spool.close()
