"""The receiver's intake on real events, real files and a real SQLite index (no broker needed:
these feed ``Receiver.handle`` exactly what the MQTT thread hands it)."""
import json
import logging
import os
import stat

import pytest

from edge.receiver.gallery import write_gallery
from edge.receiver.intake import PendingLimits, Receiver
from tests.helpers import make_event


def send(receiver, encoded, device="box1", camera="door", meta=None, images=True, now=None):
    if images:
        for name, data in encoded.images.items():
            receiver.handle(f"mugshot/{device}/{camera}/images/{encoded.event_id}/{name}", data, now=now)
    payload = meta if isinstance(meta, bytes) else json.dumps(meta or encoded.metadata).encode()
    receiver.handle(f"mugshot/{device}/{camera}/event", payload, now=now)


@pytest.fixture(scope="module")
def events():
    return [make_event(i).encode() for i in range(4)]


def test_event_is_stored_per_device_with_private_modes(tmp_path, events):
    receiver = Receiver(tmp_path / "out")
    send(receiver, events[0])
    folder = tmp_path / "out" / "box1"
    assert (folder / f"{events[0].event_id}_mugshot.jpg").read_bytes() == events[0].images["mugshot"]
    assert json.loads((folder / f"{events[0].event_id}.json").read_text()) == events[0].metadata
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path
    assert stat.S_IMODE((tmp_path / "out" / "index.sqlite").stat().st_mode) == 0o640
    assert receiver.stored == 1


def test_a_field_of_the_wrong_type_is_skipped_and_later_events_are_stored(tmp_path, events, caplog):
    receiver = Receiver(tmp_path)
    bad = events[0].metadata | {"pose": [1, 2, 3]}
    with caplog.at_level(logging.WARNING):
        send(receiver, events[0], meta=bad)
        send(receiver, events[1], meta=events[1].metadata | {"pose": {"yaw": "<script>alert(1)</script>",
                                                                      "pitch": 0, "roll": 0}})
    assert "pose: expected an object, got [1, 2, 3]" in caplog.text
    assert "pose.yaw: expected a number" in caplog.text
    send(receiver, events[2])
    receiver.close()
    again = Receiver(tmp_path)  # and it starts again on the same folder
    send(again, events[3])
    assert sorted(p.stem for p in (tmp_path / "box1").glob("*.json")) == sorted(
        [events[2].event_id, events[3].event_id])


@pytest.mark.parametrize("payload, says", [
    (b"[" * 100_000 + b"]" * 100_000, "nested too deep"),
    (b'{"a": ' + b"[" * 20 + b"1" + b"]" * 20 + b"}", "nested more than 16 deep"),
    (b'{"event_id": NaN}', "NaN is not a JSON number"),
    (b"\xff\xfe", "not UTF-8"),
    (b"[]", "expected an object, got list"),
])
def test_malformed_json_is_one_line_not_a_traceback(tmp_path, caplog, payload, says):
    receiver = Receiver(tmp_path)
    with caplog.at_level(logging.WARNING):
        receiver.handle("mugshot/box1/door/event", payload)
    assert says in caplog.text and "Traceback" not in caplog.text
    assert receiver.rejected == 1


def test_unknown_keys_and_the_new_pose_source_and_mesh_fields_are_accepted(tmp_path, events):
    receiver = Receiver(tmp_path)
    meta = events[0].metadata | {"pose": events[0].metadata["pose"] | {"source": "mesh"},
                                 "mesh": {"points": 478, "model": {"name": "facemesh"}}, "from_the_future": [1, "x"],
                                 "sequence": 1}
    send(receiver, events[0], meta=meta)
    assert json.loads((tmp_path / "box1" / f"{events[0].event_id}.json").read_text()) == meta


def test_a_part_under_another_devices_topic_cannot_replace_an_event(tmp_path, events, caplog):
    receiver = Receiver(tmp_path)
    send(receiver, events[0])
    eid = events[0].event_id
    forged = events[1].images
    # box2 sends images under box1's event id and an event JSON that claims to be box1's
    for name, data in forged.items():
        receiver.handle(f"mugshot/box2/door/images/{eid}/{name}", data)
    fake = events[0].metadata | {"revision": 5, "images": events[1].metadata["images"]}
    with caplog.at_level(logging.WARNING):
        receiver.handle("mugshot/box2/door/event", json.dumps(fake).encode())
    assert "the event says device 'box1'" in caplog.text
    # images sent on box1's topic by someone, then box2's own JSON for that id: box2's folder, not box1's
    receiver.handle("mugshot/box2/door/event", json.dumps(fake | {"device": "box2"}).encode())
    assert (tmp_path / "box1" / f"{eid}_mugshot.jpg").read_bytes() == events[0].images["mugshot"]
    assert json.loads((tmp_path / "box1" / f"{eid}.json").read_text())["revision"] == 1
    assert (tmp_path / "box2" / f"{eid}_mugshot.jpg").read_bytes() == forged["mugshot"]


def test_images_must_be_jpeg(tmp_path, events, caplog):
    receiver = Receiver(tmp_path)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    with caplog.at_level(logging.WARNING):
        receiver.handle(f"mugshot/box1/door/images/{events[0].event_id}/mugshot", png)
    assert "108 bytes that are not a JPEG" in caplog.text
    assert receiver.store.index.pending()[0] == 0


def test_incomplete_events_are_bounded_by_count_bytes_and_age(tmp_path, events, caplog):
    image = events[0].images["mugshot"]
    receiver = Receiver(tmp_path, pending=PendingLimits(events=10, bytes=20 * len(image), age=60))
    with caplog.at_level(logging.WARNING):
        for i in range(30):  # images whose event JSON never comes
            receiver.handle(f"mugshot/box1/door/images/e{i:03d}/mugshot", image, now=1000.0 + i)
            receiver.handle(f"mugshot/box1/door/images/e{i:03d}/crop", image, now=1000.0 + i)
    count, size, _ = receiver.store.index.pending()
    assert count == 10 and size <= 20 * len(image)
    assert "more than 10 incomplete events" in caplog.text
    receiver2 = Receiver(tmp_path / "b", pending=PendingLimits(events=100, bytes=5 * len(image), age=60))
    for i in range(30):
        receiver2.handle(f"mugshot/box1/door/images/e{i:03d}/mugshot", image, now=1000.0 + i)
    assert receiver2.store.index.pending()[1] <= 5 * len(image)
    receiver2.maintain(now=1000.0 + 29 + 61)
    assert receiver2.store.index.pending()[0] == 0, "parts older than the age limit expire"
    assert receiver2.counts.total("incomplete_dropped") == 30


def test_parts_survive_a_restart(tmp_path, events):
    receiver = Receiver(tmp_path)
    for name, data in events[0].images.items():
        receiver.handle(f"mugshot/box1/door/images/{events[0].event_id}/{name}", data)
    receiver.close()
    again = Receiver(tmp_path)
    again.handle("mugshot/box1/door/event", json.dumps(events[0].metadata).encode())
    assert (tmp_path / "box1" / f"{events[0].event_id}.json").is_file()


def test_no_write_follows_a_planted_link(tmp_path, events, caplog):
    out, victim_dir = tmp_path / "out", tmp_path / "victim"
    victim_dir.mkdir()
    victim = victim_dir / "precious.txt"
    victim.write_text("keep me")
    out.mkdir()
    (out / "box1").mkdir()
    eid = events[0].event_id
    os.symlink(victim, out / "box1" / f"{eid}_mugshot.jpg")  # a link where an image goes
    os.symlink(victim_dir, out / "box2")  # a link as a device folder
    os.symlink(victim, out / "index.sqlite-wal")  # a link where SQLite would write its journal
    receiver = Receiver(out)
    send(receiver, events[0])
    assert victim.read_text() == "keep me"
    image = out / "box1" / f"{eid}_mugshot.jpg"
    assert not image.is_symlink() and image.read_bytes() == events[0].images["mugshot"]
    meta = events[1].metadata | {"device": "box2"}
    with caplog.at_level(logging.WARNING):
        send(receiver, events[1], device="box2", meta=meta)
    assert "box2 in" in caplog.text and "is a link or not a folder" in caplog.text
    assert sorted(p.name for p in victim_dir.iterdir()) == ["precious.txt"]
    send(receiver, events[2])  # and it goes on
    assert (out / "box1" / f"{events[2].event_id}.json").is_file()


def test_revisions_are_kept_and_duplicates_dropped(tmp_path, events):
    receiver = Receiver(tmp_path)
    send(receiver, events[0])
    send(receiver, events[0])  # QoS 1 redelivery
    better = events[0].metadata | {"revision": 2, "final": True}  # same pictures, new revision
    send(receiver, events[0], meta=better, images=False)
    eid = events[0].event_id
    assert json.loads((tmp_path / "box1" / f"{eid}.json").read_text())["revision"] == 2
    assert json.loads((tmp_path / "box1" / "revisions" / f"{eid}.r1.json").read_text())["revision"] == 1
    assert (tmp_path / "box1" / "revisions" / f"{eid}.r1_crop.jpg").read_bytes() == events[0].images["crop"]
    assert receiver.stored == 2 and receiver.duplicates == 1
    assert receiver.store.index.totals()[0] == 1


def test_a_gap_in_a_boxs_sequence_numbers_is_logged(tmp_path, events, caplog):
    receiver = Receiver(tmp_path)
    with caplog.at_level(logging.INFO):
        for event, sequence in zip(events, (7, 8, 11, 9)):
            send(receiver, event, meta=event.metadata | {"sequence": sequence})
    assert "box1: sequence jumped from 8 to 11: 2 events lost between the box and this receiver" in caplog.text
    assert "box1: sequence 9 arrived late" in caplog.text
    assert receiver.counts.snapshot()["box1"]["sequence_missing"] == 2
    receiver.close()
    again = Receiver(tmp_path)  # the last number per box survives a restart
    with caplog.at_level(logging.INFO):
        send(again, make_event(9).encode(), meta=make_event(9).encode().metadata | {"sequence": 13})
    assert "from 11 to 13: 1 event lost" in caplog.text


def test_gallery_shows_every_field_as_text(tmp_path, events):
    receiver = Receiver(tmp_path)
    hostile = "<script>document.title='owned'</script>"
    meta = events[0].metadata | {"generator": hostile, "pose": events[0].metadata["pose"] | {"source": hostile}}
    send(receiver, events[0], meta=meta)
    write_gallery(receiver.store)
    page = (tmp_path / "index.html").read_text()
    assert "<script" not in page and "&lt;script&gt;document.title=&#39;owned&#39;&lt;/script&gt;" in page


def test_retention_by_count_bytes_and_age_deletes_oldest_and_logs_it(tmp_path, events, caplog):
    from edge.receiver.retention import RetentionPolicy

    caplog.set_level(logging.INFO)
    receiver = Receiver(tmp_path, retention=RetentionPolicy(max_events=3))
    for i, event in enumerate(events):
        send(receiver, event, now=1000.0 + i)
    assert sorted(p.stem for p in (tmp_path / "box1").glob("*.json")) == sorted(e.event_id for e in events[1:])
    assert not list((tmp_path / "box1").glob(f"{events[0].event_id}*")), "its images went too"
    assert "retention: deleted 1 event (1 by count)" in caplog.text
    size = receiver.store.index.totals()[1]
    assert size == sum(p.stat().st_size for p in (tmp_path / "box1").iterdir())
    receiver.retention = RetentionPolicy(max_bytes=size - 1)
    receiver.maintain(now=1010.0)
    assert receiver.store.index.totals()[0] == 2 and "1 by bytes" in caplog.text
    receiver.retention = RetentionPolicy(max_age_days=1)
    receiver.maintain(now=1002.5 + 86400)  # the event received at 1002 is over a day old, 1003 is not
    assert [e.event_id for e in receiver.store.index.listing()] == [events[3].event_id]
    assert "1 by age" in caplog.text
    assert receiver.counts.retention_deleted["count"] == 1


def test_made_up_device_names_do_not_grow_the_counters(tmp_path, events):
    receiver = Receiver(tmp_path)
    send(receiver, events[0])
    for i in range(200):
        receiver.handle(f"mugshot/fake{i}/door/event", b"{}")
        receiver.handle(f"mugshot/fake{i}/door/images/e{i}/mugshot", b"not a jpeg")
    receiver.handle("mugshot/box1/door/event", b"{}")
    counts = receiver.counts.snapshot()
    assert sorted(counts) == ["-", "box1"] and counts["-"]["rejected"] == 400 and counts["box1"]["rejected"] == 1


def test_a_sequence_too_large_to_be_real_is_refused_logged_and_not_counted_as_loss(tmp_path, events, caplog):
    receiver = Receiver(tmp_path)
    with caplog.at_level(logging.INFO):
        send(receiver, events[0], meta=events[0].metadata | {"sequence": 5})
        send(receiver, events[1], meta=events[1].metadata | {"sequence": 9 * 10**18})  # beyond JSON's exact ints
        send(receiver, events[2], meta=events[2].metadata | {"sequence": 5 + 200_000})  # a jump no box makes
        send(receiver, events[3], meta=events[3].metadata | {"sequence": 6})
    assert "sequence: expected 0 to 9007199254740991" in caplog.text
    assert "box1: sequence jumped from 5 to 200005, more than 100000 at once: not a real number" in caplog.text
    counts = receiver.counts.snapshot()["box1"]
    assert counts["sequence_missing"] == 0 and counts["stored"] == 2 and counts["rejected"] == 2
    assert receiver.missing() == {}
    # the jump's images are dropped with it; those of the event refused by its schema wait to expire (counted)
    assert receiver.store.index.pending()[0] == 1
