"""The frame loop before and after issue 15, side by side in one run (interleaved rounds, one thread):

    .venv/bin/python -m tests.bench_frame_loop [--rounds 5]

- ``yunet_input`` on a 1280x720 frame: INTER_AREA with a new buffer (before) against
  INTER_LINEAR_EXACT into the detector's reused buffer (after), and INTER_LINEAR;
- the FP32 detector's recall and precision on the quantizer's fidelity set (annotated FRMDB and
  Pointing'04 head boxes, IoU 0.5) with each interpolation, and its agreement with INTER_AREA
  on frames of four real clips;
- ``mugshot-edge bench`` (motion gate against always-detect, 640x480 and 1280x720) with the
  detector as before and after;
- replay fps of the demo clip through the whole pipeline (directory sink; before: fsync on the
  frame thread, INTER_AREA, a new buffer per frame), and the publish stage's mean ms;
- QoS 0 event latency over a real Mosquitto with Nagle on (before) and TCP_NODELAY (after).

Needs ../shared/data (the fidelity set) and mosquitto; it is a benchmark, not a test.
"""
from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from edge.tools.bench import bench_motion_vs_detector, load_frames
from edge.config import DetectorConfig
from edge.vision.detect import make_detector
from edge.vision.detect.yunet import yunet_input


INTERPOLATIONS = (("INTER_AREA", cv2.INTER_AREA), ("INTER_LINEAR", cv2.INTER_LINEAR),
                  ("INTER_LINEAR_EXACT", cv2.INTER_LINEAR_EXACT))


def video_agreement(shared: Path, every: int = 4) -> dict:
    """No ground truth on the clips: how many of INTER_AREA's faces each interpolation also finds
    (IoU 0.5), on frames downscaled 2-3x (640x360 and 960x540 clips)."""
    from edge.vision.detect.base import iou

    detector = make_detector(DetectorConfig(precision="fp32", score_threshold=0.6))
    found = {name: [] for name, _ in INTERPOLATIONS}
    for clip in ("WolfgangLanger_Pexels.mp4", "face_noface.mov", "noface_face.mov", "single_face.mp4"):
        capture = cv2.VideoCapture(str(shared / "video" / clip))
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index % every == 0:
                for name, interpolation in INTERPOLATIONS:
                    detector.interpolation = interpolation
                    found[name].append(detector.detect(frame))
            index += 1
    reference = found["INTER_AREA"]
    total = sum(len(f) for f in reference)
    result = {}
    for name, frames in found.items():
        matched = sum(sum(any(iou(a.box, b.box) >= 0.5 for b in mine) for a in ref) for ref, mine in zip(reference, frames))
        result[name] = {"frames": len(frames), "faces": sum(len(f) for f in frames), "area_faces": total,
                        "agree": matched / max(total, 1)}
    return result


def before(detector):
    detector.interpolation, detector._tensor = cv2.INTER_AREA, None
    return detector


def resize_cost(rounds: int) -> dict:
    image = load_frames(None, count=1, size=(1280, 720))[0]
    buffer = np.zeros((1, 3, 320, 320), np.float32)
    cases = {"before (INTER_AREA, new buffer)": lambda: yunet_input(image, 320, 320, None, cv2.INTER_AREA),
             "after (INTER_LINEAR_EXACT, reused buffer)": lambda: yunet_input(image, 320, 320, buffer),
             "INTER_AREA, reused buffer": lambda: yunet_input(image, 320, 320, buffer, cv2.INTER_AREA),
             "INTER_LINEAR_EXACT, new buffer": lambda: yunet_input(image, 320, 320, None),
             "INTER_LINEAR, reused buffer": lambda: yunet_input(image, 320, 320, buffer, cv2.INTER_LINEAR)}
    times = {name: [] for name in cases}
    for _ in range(rounds):
        for name, run in cases.items():
            start = time.perf_counter()
            for _ in range(100):
                run()
            times[name].append(10 * (time.perf_counter() - start))
    return {name: statistics.median(t) for name, t in times.items()}


def fidelity_recall() -> dict:
    from edge.vision.detect.base import iou
    from quantize.calibrate import annotated_frames
    from quantize.fidelity import head_box

    frames = annotated_frames()
    detector = make_detector(DetectorConfig(precision="fp32", score_threshold=0.6))
    result = {}
    for name, interpolation in INTERPOLATIONS:
        detector.interpolation = interpolation
        hits = detections = 0
        for path, truth in frames:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            faces = detector.detect(image)
            detections += len(faces)
            hits += int(any(iou(head_box(f.box), truth) >= 0.5 for f in faces))
        result[name] = {"frames": len(frames), "recall": hits / len(frames), "precision": hits / max(detections, 1)}
    return result


def bench_before_after(size: tuple[int, int], rounds: int) -> dict:
    frames = load_frames(None, count=120, size=size)
    old = before(make_detector(DetectorConfig(threads=1, precision="fp32")))
    new = make_detector(DetectorConfig(threads=1, precision="fp32"))
    results = {"before": [], "after": []}
    for _ in range(rounds):
        results["before"].append(bench_motion_vs_detector(frames, rounds=1, detector=old))
        results["after"].append(bench_motion_vs_detector(frames, rounds=1, detector=new))
    return {k: {"always_detect_ms": statistics.median(r["always_detect_ms"] for r in v),
                "motion_gate_ms": statistics.median(r["motion_gate_ms"] for r in v)} for k, v in results.items()}


def scaled_clip(clip: Path, size: tuple[int, int]) -> Path:
    capture = cv2.VideoCapture(str(clip))
    out = clip.with_name(f"{clip.stem}_{size[0]}x{size[1]}.mp4")
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), capture.get(cv2.CAP_PROP_FPS) or 15, size)
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR))
    writer.release()
    return out


def replay_fps(rounds: int, size: tuple[int, int] | None) -> dict:
    from edge.config import config_from_dict
    from edge.tools.demo import write_demo_clip
    from edge.daemon.pipeline import build_pipeline

    folder = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    clip = write_demo_clip(folder / "clip.mp4", seconds=20.0)
    if size:
        clip = scaled_clip(clip, size)
    results = {"before": [], "after": []}
    for i in range(rounds):
        for label in ("before", "after"):
            out = folder / f"{label}-{i}"
            cfg = config_from_dict({"camera": {"type": "opencv", "uri": str(clip), "on_end": "stop"},
                                    "detector": {"precision": "fp32"}, "generator": {"precision": "fp32"},
                                    "publishers": [{"type": "directory", "path": str(out)}]})
            pipeline = build_pipeline(cfg, threading.Event())
            pipeline.sequence = None  # leave this box's event numbers alone
            if label == "before":
                before(pipeline.detector)
                pipeline.publishers[0].synchronous = True
            stats = pipeline.run()
            pipeline.close()
            results[label].append((stats.fps(), stats.mean_ms("publish"), stats.events, stats.mean_ms("detect")))
    return {k: {"fps": statistics.median(r[0] for r in v), "publish_ms": statistics.median(r[1] for r in v),
                "events": v[0][2], "detect_ms": statistics.median(r[3] for r in v)} for k, v in results.items()}


def qos0_latency(events: int = 20) -> dict:
    from edge.config import MqttPublisherConfig
    from edge.tools.local_broker import Broker
    from edge.publish.mqtt import MqttPublisher
    from tests.helpers import Recorder, make_event

    folder = Path(tempfile.mkdtemp(prefix="bench-mqtt-"))
    broker = Broker(folder / "broker").start()
    recorder = Recorder(broker.port, topics=["mugshot/+/+/event"])
    result = {}
    try:
        for label, nodelay in (("before (Nagle)", False), ("after (TCP_NODELAY)", True)):
            cfg = MqttPublisherConfig(host="127.0.0.1", port=broker.port, qos=0, discovery=False,
                                      spool_path=str(folder / f"{nodelay}.sqlite"), client_id=f"bench-{nodelay}")
            publisher = MqttPublisher(cfg, device_id="bench", cameras=["door"])
            assert publisher.connection.connected.wait(10)
            if not nodelay:  # Nagle back on, as before the fix (the publisher sets TCP_NODELAY for QoS 0)
                publisher.connection.client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
            sent = {}
            for i in range(events):
                event = make_event(i, camera="door", device="bench")
                sent[event.event_id] = time.time()
                publisher.publish(event)
                time.sleep(0.15)
            recorder.wait_for(lambda r: len({e["event_id"] for e in r.events()} & set(sent)) >= events, 20)
            got = {e["event_id"]: e["_received"] for e in recorder.events() if e["event_id"] in sent}
            latencies = sorted(1000 * (got[k] - sent[k]) for k in got)
            result[label] = {"events": len(latencies), "median_ms": statistics.median(latencies),
                             "p95_ms": latencies[int(0.95 * (len(latencies) - 1))]}
            publisher.close()
    finally:
        recorder.stop()
        broker.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    print("yunet_input, 1280x720 -> 320x320, ms per call (median of interleaved rounds):")
    for name, ms in resize_cost(args.rounds).items():
        print(f"  {name:44s} {ms:.3f} ms")
    print("FP32 YuNet on the fidelity set (IoU 0.5 to the annotated head box):")
    for name, r in fidelity_recall().items():
        print(f"  {name:18s} recall {r['recall']:.3f} precision {r['precision']:.3f} over {r['frames']} frames")
    print("the same on frames of four clips (every 4th frame), against INTER_AREA's faces:")
    from tests.conftest import SHARED_DATA
    for name, r in video_agreement(SHARED_DATA).items():
        print(f"  {name:18s} {r['faces']} faces in {r['frames']} frames, finds {r['agree']:.3f} of INTER_AREA's "
              f"{r['area_faces']}")
    for size in ((640, 480), (1280, 720)):
        r = bench_before_after(size, args.rounds)
        old, new = r["before"], r["after"]
        print(f"mugshot-edge bench, {size[0]}x{size[1]}: always-detect {old['always_detect_ms']:.2f} ms before, "
              f"{new['always_detect_ms']:.2f} ms after ({old['always_detect_ms'] / new['always_detect_ms']:.2f}x); "
              f"motion gate {old['motion_gate_ms']:.3f} / {new['motion_gate_ms']:.3f} ms")
    for size in (None, (1280, 720)):
        r = replay_fps(args.rounds, size)
        print(f"replay of the demo clip {'at 640x480' if size is None else 'scaled to %dx%d' % size} "
              f"({r['after']['events']} events): {r['before']['fps']:.1f} fps before, {r['after']['fps']:.1f} fps "
              f"after ({r['after']['fps'] / r['before']['fps']:.2f}x); detect stage {r['before']['detect_ms']:.2f} / "
              f"{r['after']['detect_ms']:.2f} ms, publish stage {r['before']['publish_ms']:.2f} / "
              f"{r['after']['publish_ms']:.2f} ms per event (before / after)")
    for label, q in qos0_latency().items():
        print(f"QoS 0 event latency, {label}: median {q['median_ms']:.1f} ms, p95 {q['p95_ms']:.1f} ms "
              f"over {q['events']} events")


if __name__ == "__main__":
    main()
