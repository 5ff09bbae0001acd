"""The receiver takes, stores and shows an event's profile picture (the track's side view), on real events
(a real studio profile, tests/helpers.real_profile) and a real store."""
import json
import logging

from starlette.testclient import TestClient

from edge.receiver.intake import Receiver
from edge.receiver.web import create_app
from tests.helpers import make_event
from tests.unit.test_receiver_intake import send


def test_an_event_with_a_profile_is_stored_only_with_its_profile(tmp_path):
    receiver = Receiver(tmp_path)
    event = make_event(1, profile=True).encode()
    for name in ("mugshot", "crop"):  # the profile has not arrived yet: the event waits for it
        receiver.handle(f"mugshot/box1/door/images/{event.event_id}/{name}", event.images[name])
    receiver.handle("mugshot/box1/door/event", json.dumps(event.metadata).encode())
    assert receiver.stored == 0
    receiver.handle(f"mugshot/box1/door/images/{event.event_id}/profile", event.images["profile"])
    assert receiver.stored == 1
    folder = tmp_path / "box1"
    assert (folder / f"{event.event_id}_profile.jpg").read_bytes() == event.images["profile"]
    stored = json.loads((folder / f"{event.event_id}.json").read_text())
    assert stored["view"] == event.metadata["view"] and stored["profile_pose"] == event.metadata["profile_pose"]
    # a later revision with the same profile (sent again, as the box does) moves the first one aside
    send(receiver, event, meta=event.metadata | {"revision": 2})
    assert (folder / "revisions" / f"{event.event_id}.r1_profile.jpg").read_bytes() == event.images["profile"]
    plain = make_event(2).encode()  # an event without a profile is complete without one
    send(receiver, plain)
    assert receiver.stored == 3 and not (folder / f"{plain.event_id}_profile.jpg").exists()


def test_a_profile_that_does_not_match_its_sha256_is_not_stored(tmp_path, caplog):
    receiver = Receiver(tmp_path)
    event = make_event(1, profile=True).encode()
    other = make_event(2, profile=True).encode()
    with caplog.at_level(logging.WARNING):
        for name in ("mugshot", "crop"):
            receiver.handle(f"mugshot/box1/door/images/{event.event_id}/{name}", event.images[name])
        receiver.handle(f"mugshot/box1/door/images/{event.event_id}/profile", other.images["crop"])
        receiver.handle("mugshot/box1/door/event", json.dumps(event.metadata).encode())
    assert receiver.stored == 0 and "profile sha256" in caplog.text


def test_a_bad_view_or_profile_pose_is_named(tmp_path, caplog):
    receiver = Receiver(tmp_path)
    event = make_event(1, profile=True).encode()
    with caplog.at_level(logging.WARNING):
        send(receiver, event, meta=event.metadata | {"view": "<b>"})
        send(receiver, event, meta=event.metadata | {"profile_pose": {"yaw": "left", "pitch": 0, "roll": 0}})
    assert 'view: expected one of frontal, three-quarter, profile, got "<b>"' in caplog.text
    assert "profile_pose.yaw: expected a number" in caplog.text
    assert receiver.stored == 0


def test_the_gallery_and_the_event_page_show_the_three_pictures_labelled(tmp_path):
    receiver = Receiver(tmp_path)
    event = make_event(1, profile=True).encode()
    plain = make_event(2).encode()
    send(receiver, event)
    send(receiver, plain)
    client = TestClient(create_app(receiver))
    listing = {e["event_id"]: e for e in client.get("/api/events").json()["events"]}
    assert listing[event.event_id]["profile"] == f"/files/box1/{event.event_id}_profile.jpg"
    assert listing[plain.event_id]["profile"] is None
    gallery = client.get("/").text
    assert gallery.count('alt="profile view"') == 1 and '<span class="label">Profile</span>' in gallery
    page = client.get(f"/events/box1/{event.event_id}").text
    assert 'id="profile"' in page and "Profile: the camera's best side view" in page
    assert f"yaw {event.metadata['profile_pose']['yaw']})" in page
    image = client.get(f"/files/box1/{event.event_id}_profile.jpg")
    assert image.content == event.images["profile"] and image.headers["content-type"] == "image/jpeg"
    assert 'id="profile"' not in client.get(f"/events/box1/{plain.event_id}").text
