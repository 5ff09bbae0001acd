"""Real events (from a real face photo) and a recording MQTT subscriber for the tests."""
from __future__ import annotations

import json
import threading
import time
import uuid

import cv2
import numpy as np

from edge.vision.align import align_face
from edge.events import Event
from edge.publish.mqtt_connection import ConnectionSettings, MqttConnection
from edge.vision.quality import measure

_FACE: tuple | None = None


def real_face():
    global _FACE
    if _FACE is None:
        from skimage import data

        from edge.vision.detect.yunet import YuNetDetector

        image = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
        face = YuNetDetector().detect(image)[0]
        _FACE = (image, face)
    return _FACE


_PROFILE: tuple | None = None


def real_profile():
    """A real side view (FRMDB person 001 from the studio's +90° camera, tests/conftest.SHARED_DATA): the
    aligned profile image as the box frames it, and its quality (the box's own 5-point pose)."""
    global _PROFILE
    if _PROFILE is None:
        from edge.vision.detect.yunet import YuNetDetector
        from edge.vision.views import framing_landmarks
        from tests.conftest import SHARED_DATA

        path = SHARED_DATA / "frmdb" / "original" / "001" / "001_Mugshots" / "Img_53.JPG"
        image = cv2.imread(str(path))
        if image is None:
            raise FileNotFoundError(f"{path}: the real profile photo the tests use is missing")
        face = YuNetDetector(score_threshold=0.6).detect(image)[0]
        quality = measure(image, face.box, face.landmarks, face.score)
        crop, _ = align_face(image, framing_landmarks(face.landmarks, quality.yaw), 256, 0.7)
        _PROFILE = (crop, quality)
    return _PROFILE


# FRMDB's studio rig, pitch 0 (files Img_X3): camera yaw -> file stem; the head turning from one side to the other
STUDIO_TURN = (("-90", "Img_13"), ("-45", "Img_23"), ("0", "Img_33"), ("+45", "Img_43"), ("+90", "Img_53"))


def studio_turn(shared_data, person: str, folder, repeat: int = 3) -> list[str]:
    """A folder of frames in which one FRMDB person's head turns from one profile through frontal to the
    other (each studio view ``repeat`` frames in a row, linked, never copied); the camera yaw of each frame."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    source = Path(shared_data) / "frmdb" / "original" / person / f"{person}_Mugshots"
    yaws = []
    for yaw, stem in STUDIO_TURN:
        for _ in range(repeat):
            (folder / f"{len(yaws):03d}_{stem}.jpg").symlink_to(source / f"{stem}.JPG")
            yaws.append(yaw)
    return yaws


def make_event(i: int, camera: str = "door", device: str = "box1", profile: bool = False) -> Event:
    """A real event of the astronaut photo; ``profile``: with a real profile view (``real_profile``)."""
    side, side_quality = real_profile() if profile else (None, None)
    image, face = real_face()
    shifted = np.roll(image, i * 3, axis=1)  # every event a slightly different picture
    det = face.shifted(i * 3, 0)
    crop, _ = align_face(shifted, det.landmarks, 256, 0.7)
    quality = measure(shifted, det.box, det.landmarks, det.score)
    now = time.time()
    return Event(event_id=f"{i:04d}{uuid.uuid4().hex[:12]}", revision=1, final=True, camera=camera, device=device,
                 first_seen=now - 1, best_seen=now - 0.5, last_seen=now, box=det.box, frame_size=(512, 512),
                 quality=quality, shot_score=0.5, mugshot=crop, crop=crop, models={"generator": {"name": "none"}},
                 profile=side, profile_quality=side_quality, profile_score=0.4 if profile else 0.0,
                 profile_seen=now - 0.7 if profile else 0.0)


class Recorder:
    """Subscribes (persistent session, QoS 1) and records what arrives, with arrival times."""

    def __init__(self, port: int, topics=("#",), client_id: str | None = None, **settings):
        settings.setdefault("reconnect_max", 1.0)
        self.messages: list[tuple[str, bytes, float, bool]] = []
        self.lock = threading.Lock()
        self.connection = MqttConnection(
            ConnectionSettings(host="127.0.0.1", port=port, client_id=client_id or f"rec-{uuid.uuid4().hex[:8]}",
                               persistent_session=True, **settings),
            on_connected=lambda client: [client.subscribe(t, qos=1) for t in topics],
            on_message=self._record)
        self.connection.start()
        assert self.connection.connected.wait(10), self.connection.last_error

    def _record(self, message) -> None:
        with self.lock:
            self.messages.append((message.topic, message.payload, time.time(), bool(message.retain)))

    def events(self) -> list[dict]:
        with self.lock:
            return [json.loads(p) | {"_received": t} for topic, p, t, retained in self.messages
                    if topic.endswith("/event") and not retained and "/latest/" not in topic]

    def payloads(self, topic: str) -> list[bytes]:
        with self.lock:
            return [p for t, p, _, _ in self.messages if t == topic]

    def wait_for(self, predicate, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.05)
        return predicate(self)

    def stop(self) -> None:
        self.connection.stop()


def wait(predicate, timeout: float = 20.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
