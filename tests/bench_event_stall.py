"""The frame loop's worst stall while events are made: events made on the frame thread (before) against
the event worker (after, ``edge/daemon/worker.py``), side by side in one run (interleaved rounds):

    .venv/bin/python -m tests.bench_event_stall [--rounds 3] [--generator auto]

Each round replays the demo clip (made by ``edge.tools.demo``, 20 s, people walking by) through the whole
pipeline with the box's default config and a directory sink, and times every ``Pipeline.process`` call:
the worst frame, the 99th percentile, and the frames slower than one frame at 25 fps.  "before" puts the
event's work back on the frame thread for the benchmark only (an inline stand-in for the worker).
It is a benchmark, not a test.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


class InlineWorker:
    """The old way, for the benchmark only: the event is made inside ``process`` on the frame thread."""

    def __init__(self, make_event, max_pending: int = 32):
        self._make_event = make_event

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def submit(self, due) -> None:
        self._make_event(due)


def replay(clip: Path, out: Path, generator: str, inline: bool) -> dict:
    import edge.daemon.pipeline as pipeline_module
    from edge.config import config_from_dict
    from edge.daemon.pipeline import build_pipeline

    cfg = config_from_dict({"camera": {"type": "opencv", "uri": str(clip), "on_end": "stop"},
                            "generator": {"model": generator},
                            "publishers": [{"type": "directory", "path": str(out)}]})
    pipeline = build_pipeline(cfg, threading.Event())
    pipeline.sequence = None  # leave this box's event numbers alone
    times: list[float] = []
    event_frames: list[bool] = []  # a best shot fell due on this frame
    process, update = pipeline.process, pipeline.tracker.update

    def timed(frame):
        event_frames.append(False)
        started = time.perf_counter()
        process(frame)
        times.append(time.perf_counter() - started)

    def noted(*args, **kwargs):
        due = update(*args, **kwargs)
        event_frames[-1] = event_frames[-1] or bool(due)
        return due

    pipeline.process, pipeline.tracker.update = timed, noted
    original = pipeline_module.EventWorker
    if inline:
        pipeline_module.EventWorker = InlineWorker
    try:
        stats = pipeline.run()
    finally:
        pipeline_module.EventWorker = original
        pipeline.close()
    ms = np.float64(times) * 1000
    at_event = ms[np.array(event_frames)]
    return {"event_worst_ms": float(at_event.max()) if len(at_event) else 0.0,
            "event_frames": len(at_event), "worst_ms": float(ms.max()), "p99_ms": float(np.percentile(ms, 99)),
            "over_40ms": int((ms > 40).sum()), "frames": len(ms), "events": stats.events,
            "generate_ms": stats.mean_ms("generate")}


def main() -> None:
    from edge.tools.demo import write_demo_clip

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--generator", default="auto", help="generator.model (default: the box's default)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-stall-"))
    clip = write_demo_clip(folder / "clip.mp4", seconds=20.0)
    results: dict[str, list[dict]] = {"before": [], "after": []}
    for i in range(args.rounds):
        for label in ("before", "after"):
            results[label].append(replay(clip, folder / f"{label}-{i}", args.generator, label == "before"))
    print(f"frame-loop stalls while events are made, {args.rounds} interleaved rounds, generator={args.generator}")
    print(f"{'':8} {'worst at event ms':>18} {'worst ms':>9} {'p99 ms':>7} {'>40 ms':>7} {'frames':>7} "
          f"{'events':>7} {'generate ms':>12}")
    for label, rows in results.items():
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print(f"{label:8} {med['event_worst_ms']:18.1f} {med['worst_ms']:9.1f} {med['p99_ms']:7.1f} "
              f"{med['over_40ms']:7.0f} {med['frames']:7.0f} {med['events']:7.0f} {med['generate_ms']:12.1f}")
    for key in ("event_worst_ms", "worst_ms"):
        before = statistics.median(r[key] for r in results["before"])
        after = statistics.median(r[key] for r in results["after"])
        print(f"{key} after/before: {after / before:.2f}")


if __name__ == "__main__":
    main()
