import numpy as np
import pytest

from edge.config import TrackerConfig
from edge.vision.detect.base import Detection
from edge.vision.track import Tracker

FPS = 10


@pytest.fixture(scope="module")
def face(yunet, astronaut):
    return yunet.detect(astronaut)[0]


def frame_with_face(astronaut, face, x, shrink=1.0):
    """The astronaut photo pasted at x on a 1280x720 frame; returns frame and the moved detection."""
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[100:612, x:x + 512] = astronaut
    det = face.shifted(x, 100)
    if shrink != 1.0:  # same place, reported smaller and less sure: a worse shot
        bx, by, bw, bh = det.box
        det = Detection((bx, by, bw * shrink, bh * shrink), det.landmarks, det.score * shrink)
    return frame, det


def walk(tracker, astronaut, face, xs, t0=0.0, shrink=1.0):
    due = []
    for i, x in enumerate(xs):
        frame, det = frame_with_face(astronaut, face, x, shrink)
        due += tracker.update([det], frame, t0 + i / FPS)
    return due


def test_one_person_walking_past_is_one_event(astronaut, face):
    tracker = Tracker(TrackerConfig())
    due = walk(tracker, astronaut, face, range(0, 700, 20))
    due += tracker.update([], None, 100.0)  # long after: the track ends
    assert len(due) == 1 and due[0].final and due[0].revision == 1
    assert tracker.created == 1 and tracker.active == 0


def test_two_people_are_two_events(astronaut, face):
    tracker = Tracker(TrackerConfig())
    due = []
    for i in range(10):
        frame = np.zeros((720, 1400, 3), np.uint8)
        frame[100:612, 0:512] = astronaut
        frame[100:612, 800:1312] = astronaut
        dets = [face.shifted(0, 100), face.shifted(800, 100)]
        due += tracker.update(dets, frame, i / FPS)
    due += tracker.flush()
    assert len(due) == 2 and len({d.event_id for d in due}) == 2


def test_short_tracks_are_not_events(astronaut, face):
    tracker = Tracker(TrackerConfig(min_hits=3))
    due = walk(tracker, astronaut, face, [0, 10])
    due += tracker.update([], None, 50.0)
    assert due == []


def test_long_track_publishes_early_and_again_when_much_better(astronaut, face):
    cfg = TrackerConfig(publish_after_seconds=1.0, update_gain=1.3)
    tracker = Tracker(cfg)
    due = walk(tracker, astronaut, face, [100] * 15, shrink=0.5)  # 1.5 s of a poor shot
    assert [d.revision for d in due] == [1] and not due[0].final
    due2 = walk(tracker, astronaut, face, [100] * 5, t0=1.5)  # then a much better one
    assert [d.revision for d in due2] == [2] and due2[0].event_id == due[0].event_id
    assert due2[0].shot.score >= 1.3 * due[0].shot.score
    ended = tracker.update([], None, 10.0)  # it ends: its last revision says so, with the same best shot
    assert [(d.revision, d.final) for d in ended] == [(3, True)] and ended[0].event_id == due[0].event_id
    assert ended[0].shot is due2[0].shot


def test_the_last_revision_of_a_track_ended_by_shutdown_is_final(astronaut, face):
    tracker = Tracker(TrackerConfig(publish_after_seconds=0.5))
    due = walk(tracker, astronaut, face, [100] * 10)
    assert [(d.revision, d.final) for d in due] == [(1, False)]
    assert [(d.revision, d.final) for d in tracker.flush()] == [(2, True)]


def test_best_shot_is_the_best_scored(astronaut, face):
    tracker = Tracker(TrackerConfig())
    walk(tracker, astronaut, face, [100, 100, 100], shrink=0.6)
    walk(tracker, astronaut, face, [100, 100], t0=0.3)
    walk(tracker, astronaut, face, [100, 100], t0=0.5, shrink=0.7)
    (due,) = tracker.flush()
    assert due.shot.quality.score == pytest.approx(face.score, rel=1e-6)
    assert due.shot.patch.size > 0
