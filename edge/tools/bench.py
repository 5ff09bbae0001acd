"""Side-by-side cost of the motion gate and of always running the detector, in one run.

Both are timed on the same 640x480 frames, on one core, interleaved round by round so
that a noisy machine affects both alike; the ratio is what matters.
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from ..config import DetectorConfig, MotionConfig
from ..vision.detect import make_detector
from ..vision.motion import MotionDetector
from ..sources.base import ArrayFrame


def load_frames(clip: str | Path | None, count: int = 120, size: tuple[int, int] = (640, 480)) -> list[np.ndarray]:
    if clip is None:
        import tempfile

        from .demo import write_demo_clip
        clip = write_demo_clip(Path(tempfile.mkdtemp()) / "bench.mp4", seconds=count / 15 + 1)
    capture = cv2.VideoCapture(str(clip))
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    capture.release()
    if not frames:
        raise RuntimeError(f"no frames in {clip}")
    return frames


def bench_motion_vs_detector(frames: list[np.ndarray], rounds: int = 7,
                             motion_cfg: MotionConfig | None = None,
                             detector_cfg: DetectorConfig | None = None, detector=None) -> dict:
    cv2.setNumThreads(1)
    motion_cfg = motion_cfg or MotionConfig()
    detector = detector or make_detector(detector_cfg or DetectorConfig(threads=1))
    gate_ms, detect_ms = [], []
    for _ in range(rounds):
        gate = MotionDetector(motion_cfg)
        start = time.perf_counter()
        for i, image in enumerate(frames):
            gate.detect(ArrayFrame(image, index=i).small_gray(motion_cfg.width))
        gate_ms.append(1000 * (time.perf_counter() - start) / len(frames))
        start = time.perf_counter()
        for image in frames:
            detector.detect(image)
        detect_ms.append(1000 * (time.perf_counter() - start) / len(frames))
    gate, detect = statistics.median(gate_ms), statistics.median(detect_ms)
    per_round = [d / g for g, d in zip(gate_ms, detect_ms)]  # each round times both back to back
    return {"frames": len(frames), "rounds": rounds, "frame_size": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
            "motion_gate_ms": gate, "always_detect_ms": detect, "ratio": detect / gate,
            "ratio_min": min(per_round), "ratio_max": max(per_round)}


def onnx_latency(models: list, threads: int = 1, rounds: int = 15, runs: int = 20, feeds: list | None = None
                 ) -> list[dict]:
    """Median milliseconds per run of each ONNX model (path or bytes), interleaved round by round."""
    from ..vision.model_files import onnx_session

    sessions = [onnx_session(m, threads) for m in models]
    if feeds is None:
        feeds = []
        for s in sessions:
            spec = json.loads(s.get_modelmeta().custom_metadata_map.get("mugshot.input_spec", "{}"))
            side = int(spec.get("size", 1))  # a free height and width: the size the model is made for
            shape = [d if isinstance(d, int) else (1 if i == 0 else side) for i, d in enumerate(s.get_inputs()[0].shape)]
            feeds.append({s.get_inputs()[0].name: np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)})
    for s, f in zip(sessions, feeds):
        s.run(None, f)  # warm-up
    times: list[list[float]] = [[] for _ in sessions]
    for _ in range(rounds):
        for i, (s, f) in enumerate(zip(sessions, feeds)):
            start = time.perf_counter()
            for _ in range(runs):
                s.run(None, f)
            times[i].append(1000 * (time.perf_counter() - start) / runs)
    medians = [statistics.median(t) for t in times]
    return [{"threads": threads, "median_ms": ms, "ratio_to_first": medians[0] / ms} for ms in medians]


def format_report(result: dict) -> str:
    return (f"{result['frames']} frames of {result['frame_size']}, {result['rounds']} interleaved rounds, 1 thread\n"
            f"motion gate per frame:    {result['motion_gate_ms']:.3f} ms (target < 2 ms)\n"
            f"always-detect per frame:  {result['always_detect_ms']:.3f} ms\n"
            f"ratio always-detect / motion gate: {result['ratio']:.1f}x (target >= 10x; "
            f"per round {result['ratio_min']:.1f}x to {result['ratio_max']:.1f}x)")


def precision_report(int8_detector: str | None = None) -> str:
    """FP32 against INT8 on this box, at 1 and 2 threads, for the detector and the shipped generator."""
    from models import MODELS_DIR

    from ..vision.model_files import cache_dir, locate_yunet, manifest_model, with_free_spatial_dims

    pairs = []
    int8 = Path(int8_detector) if int8_detector else cache_dir() / "yunet_int8.onnx"
    if int8.is_file():
        pairs.append(("detector (320x320)", with_free_spatial_dims(locate_yunet()), int8,
                      [1, 3, 320, 320]))
    else:
        pairs.append(("detector", None, int8, None))
    student = manifest_model(MODELS_DIR, "student", "generator")
    student_int8 = manifest_model(MODELS_DIR, "student_int8", "generator")
    if student and student_int8:
        pairs.append(("generator (student)", student, student_int8, None))
    lines = ["FP32 against INT8 on this box (median per run, interleaved):"]
    for name, fp32, quantized, shape in pairs:
        if fp32 is None:
            lines.append(f"  {name}: no INT8 model at {quantized} (make one: mugshot-quantize detector --out {quantized})")
            continue
        feeds = None
        if shape:
            feeds = [{"input": np.zeros(shape, np.float32)}] * 2
        for threads in (1, 2):
            fp, q = onnx_latency([fp32, quantized], threads=threads, feeds=feeds)
            lines.append(f"  {name}, {threads} thread(s): fp32 {fp['median_ms']:.2f} ms, int8 {q['median_ms']:.2f} ms "
                         f"-> {'int8' if q['median_ms'] < fp['median_ms'] else 'fp32'} is faster")
    return "\n".join(lines)
