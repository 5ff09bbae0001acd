"""A generated sample clip for the demo: a real face (scikit-image's public-domain
'astronaut' photograph, Eileen Collins, NASA) walks twice across a synthetic room."""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

WIDTH, HEIGHT, FPS = 640, 480, 15


def _room(rng: np.random.Generator) -> np.ndarray:
    y = np.linspace(0, 1, HEIGHT, dtype=np.float32)[:, None, None]
    room = (np.float32([90, 110, 120]) * (1 - y) + np.float32([50, 60, 70]) * y) * np.ones((1, WIDTH, 1), np.float32)
    cv2.rectangle(room, (40, 60), (160, 300), (70, 90, 140), -1)  # a door
    cv2.rectangle(room, (460, 80), (600, 200), (160, 170, 170), -1)  # a window
    room += rng.normal(0, 2.0, room.shape).astype(np.float32)
    return np.clip(room, 0, 255).astype(np.uint8)


def _head() -> tuple[np.ndarray, np.ndarray]:
    try:
        from skimage import data  # the 'demo' extra; the photo ships inside the wheel
    except ImportError:
        raise RuntimeError("the demo needs scikit-image: pip install -e '.[demo]'") from None

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


EVENT_FILES = ("*.json", "*_mugshot.jpg", "*_crop.jpg")


def clear_previous_run(out: Path) -> int:
    """Remove what an earlier demo wrote into ``out`` (events, received events, spool, broker
    state), so a rerun shows only its own events; returns how many files went."""
    import shutil

    removed = []
    for pattern in EVENT_FILES:
        removed += [p for p in (out / "events").glob(pattern) if p.is_file()]
    removed += [p for p in (out / "contact_sheet.jpg", out / "spool.discovery.json") if p.is_file()]
    removed += list(out.glob("spool.sqlite*"))
    for path in removed:
        path.unlink()
    for folder in (out / "broker", out / "received"):  # the demo's own broker state and receiver folder
        if folder.is_dir():
            removed += [p for p in folder.rglob("*") if p.is_file()]
            shutil.rmtree(folder)
    return len(removed)


def run_demo(out: Path) -> None:
    """The README's first command: clip -> pipeline -> folder and MQTT -> receiver gallery.  The broker and
    the receiver it starts are stopped on every way out (success, an error, Ctrl-C)."""
    with contextlib.ExitStack() as cleanup:
        _run_demo(out, cleanup)


def _run_demo(out: Path, cleanup: contextlib.ExitStack) -> None:
    from ..config import Config, DirectoryPublisherConfig, MqttPublisherConfig
    from .contact_sheet import make_contact_sheet
    from .local_broker import start_local_broker
    from ..daemon.pipeline import build_pipeline
    from ..publish.mqtt_connection import ConnectionSettings
    from ..receiver import start_receiving, stop_receiving

    out.mkdir(parents=True, exist_ok=True)
    if removed := clear_previous_run(out):
        print(f"removed {removed} files of an earlier demo run in {out}")
    clip = write_demo_clip(out / "demo_clip.mp4")
    print(f"generated sample clip {clip}")
    try:
        broker = start_local_broker(out / "broker")
        cleanup.callback(broker.stop)
    except RuntimeError as exc:
        log.warning("demo without MQTT: %s", exc)
        broker = None
    publishers: tuple = (DirectoryPublisherConfig(path=str(out / "events")),)
    receiver = connection = None
    stopped: list[bool] = []

    def stop_receiver() -> None:  # once: after the run, or on the way out of an error
        if receiver is not None and connection is not None and not stopped:
            stopped.append(True)
            stop_receiving(receiver, connection)

    if broker is not None:
        print(f"started a local MQTT broker ({type(broker).__name__}, MQTT {broker.protocol}) on 127.0.0.1:{broker.port}")
        settings = ConnectionSettings(host="127.0.0.1", port=broker.port, protocol=broker.protocol,
                                      client_id="mugshot-demo-receiver", reconnect_max=2.0)
        receiver, connection = start_receiving(settings, out / "received")
        cleanup.callback(stop_receiver)
        receiver.subscribed.wait(10)
        publishers += (MqttPublisherConfig(host="127.0.0.1", port=broker.port, protocol=broker.protocol,
                                           spool_path=str(out / "spool.sqlite"), reconnect_max=2.0),)
    base = Config()
    cfg = Config(device=base.device, camera=base.camera.__class__(name="demo", type="opencv", uri=str(clip),
                                                                 pace="fast", on_end="stop"),
                 publishers=publishers)
    pipeline = build_pipeline(cfg, threading.Event())
    try:
        stats = pipeline.run()
    finally:
        pipeline.close()
    shown = make_contact_sheet(out / "events", out / "contact_sheet.jpg")
    events = {p.stem for p in (out / "events").glob("*.json")}  # one file per person; revisions replace it
    print(f"replay: {stats.summary()}")
    print(f"{len(events)} events ({stats.events} publications with their better-shot revisions) in "
          f"{out / 'events'}; contact sheet with {shown}: {out / 'contact_sheet.jpg'}")
    if receiver is not None and connection is not None and broker is not None:
        deadline = time.monotonic() + 15
        while receiver.stored < stats.events and time.monotonic() < deadline:
            time.sleep(0.05)
        stop_receiver()  # draws the gallery a last time
        broker.stop()
        arrived = events & {p.stem for p in (out / "received").glob("*/*.json")}  # <device>/<event_id>.json
        print(f"{len(arrived)} of {len(events)} events arrived over MQTT in {out / 'received'} "
              f"(open {out / 'received' / 'index.html'})")
