"""A generated sample clip for the demo: a real face (scikit-image's public-domain
'astronaut' photograph, Eileen Collins, NASA) walks twice across a synthetic room."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT, FPS = 640, 480, 15


def _room(rng: np.random.Generator) -> np.ndarray:
    y = np.linspace(0, 1, HEIGHT, dtype=np.float32)[:, None, None]
    room = (np.float32([90, 110, 120]) * (1 - y) + np.float32([50, 60, 70]) * y) * np.ones((1, WIDTH, 1), np.float32)
    cv2.rectangle(room, (40, 60), (160, 300), (70, 90, 140), -1)  # a door
    cv2.rectangle(room, (460, 80), (600, 200), (160, 170, 170), -1)  # a window
    room += rng.normal(0, 2.0, room.shape).astype(np.float32)
    return np.clip(room, 0, 255).astype(np.uint8)


def _head() -> tuple[np.ndarray, np.ndarray]:
    from skimage import data  # the 'demo' extra; the photo ships inside the wheel

    photo = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    head = photo[20:260, 130:330].copy()  # face with hair and collar
    mask = np.zeros(head.shape[:2], np.float32)
    cv2.ellipse(mask, (100, 115), (88, 112), 0, 0, 360, 1.0, -1)
    return head, cv2.GaussianBlur(mask, (21, 21), 0)[..., None]


def write_demo_clip(path: str | Path, seconds: float = 10.0, seed: int = 0) -> Path:
    """Two passes of the face across the room, with empty stretches before, between and after."""
    rng = np.random.default_rng(seed)
    room = _room(rng)
    head, mask = _head()
    path = Path(path)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write {path}")
    total = int(seconds * FPS)
    passes = [(0.12, 0.45), (0.58, 0.9)]  # fractions of the clip when a face crosses
    for i in range(total):
        t = i / total
        frame = room.copy()
        for start, end in passes:
            if start <= t < end:
                progress = (t - start) / (end - start)
                scale = 0.6 + 0.25 * progress  # walks towards the camera
                h, w = int(head.shape[0] * scale), int(head.shape[1] * scale)
                x = int(-w + progress * (WIDTH + w))
                y = 120 + int(10 * np.sin(progress * 12))  # gait bob
                face = cv2.resize(head, (w, h)).astype(np.float32)
                alpha = cv2.resize(mask, (w, h))[..., None]
                x0, x1 = max(0, x), min(WIDTH, x + w)
                if x1 > x0:
                    sub = frame[y:y + h, x0:x1].astype(np.float32)
                    a = alpha[:, x0 - x:x1 - x]
                    frame[y:y + h, x0:x1] = (sub * (1 - a) + face[:, x0 - x:x1 - x] * a).astype(np.uint8)
        noise = rng.normal(0, 1.5, frame.shape).astype(np.float32)
        writer.write(np.clip(frame + noise, 0, 255).astype(np.uint8))
    writer.release()
    return path
