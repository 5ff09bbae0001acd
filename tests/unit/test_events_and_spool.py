import hashlib
import json

import cv2
import numpy as np

from edge.publish.directory import DirectoryPublisher
from edge.publish.spool import Spool
from tests.helpers import make_event


def test_encoded_images_are_bounded_and_described_exactly():
    encoded = make_event(3).encode(jpeg_quality=70, max_side=128)
    for name, data in encoded.images.items():
        meta = encoded.metadata["images"][name]
        assert meta["sha256"] == hashlib.sha256(data).hexdigest() and meta["bytes"] == len(data)
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert max(image.shape[:2]) == 128 == meta["width"]
        assert len(data) < 20_000
    json.dumps(encoded.metadata)  # JSON-ready
    assert encoded.metadata["best_seen"].endswith("Z")


def test_spool_is_durable_ordered_and_bounded(tmp_path):
    path = tmp_path / "spool.sqlite"
    spool = Spool(path, max_events=5, max_bytes=10**9)
    events = [make_event(i).encode() for i in range(12)]
    for e in events:
        spool.put(e, "door")
    assert spool.depth()[0] == 5 and spool.dropped == 7
    spool.close()
    reopened = Spool(path, max_events=5, max_bytes=10**9)  # survives a restart, counter too
    assert reopened.dropped == 7
    oldest = reopened.oldest()
    assert oldest.encoded.event_id == events[7].event_id
    assert oldest.encoded.images == events[7].images and oldest.encoded.metadata == events[7].metadata
    reopened.remove(oldest.seq)
    assert reopened.oldest().encoded.event_id == events[8].event_id


def test_spool_byte_bound_and_disk_stays_bounded(tmp_path):
    path = tmp_path / "spool.sqlite"
    one = make_event(0).encode()
    size = sum(len(b) for b in one.images.values())
    spool = Spool(path, max_events=10**6, max_bytes=int(size * 4.5))
    for i in range(60):
        spool.put(make_event(i).encode(), "door")
    count, used = spool.depth()
    assert count <= 4 and used <= size * 4.5
    disk = sum(p.stat().st_size for p in tmp_path.iterdir())
    # the database reuses freed pages; the write-ahead log is checkpointed every 64 pages
    assert disk < 3 * used + 600_000, f"spool files use {disk} bytes for {used} bytes of events"


def test_directory_publisher_writes_atomically_and_replaces_revisions(tmp_path):
    publisher = DirectoryPublisher(tmp_path)
    event = make_event(1)
    publisher.publish(event)
    from dataclasses import replace
    publisher.publish(replace(event, revision=2))
    publisher.flush()
    assert json.loads((tmp_path / f"{event.event_id}.json").read_text())["revision"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{event.event_id}.json", f"{event.event_id}_mugshot.jpg", f"{event.event_id}_crop.jpg"])
