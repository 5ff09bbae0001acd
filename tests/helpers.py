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


def make_event(i: int, camera: str = "door", device: str = "box1") -> Event:
    image, face = real_face()
    shifted = np.roll(image, i * 3, axis=1)  # every event a slightly different picture
    det = face.shifted(i * 3, 0)
    crop, _ = align_face(shifted, det.landmarks, 256, 0.7)
    quality = measure(shifted, det.box, det.landmarks, det.score)
    now = time.time()
    return Event(event_id=f"{i:04d}{uuid.uuid4().hex[:12]}", revision=1, final=True, camera=camera, device=device,
                 first_seen=now - 1, best_seen=now - 0.5, last_seen=now, box=det.box, frame_size=(512, 512),
                 quality=quality, shot_score=0.5, mugshot=crop, crop=crop, models={"generator": {"name": "none"}})


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
