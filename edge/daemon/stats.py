"""Counters and per-stage timings, and the one-line summary the daemon logs."""
from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field

STAGES = ("motion", "detect", "mesh", "track", "generate", "publish")


@dataclass
class PipelineStats:
    frames: int = 0
    motion_frames: int = 0
    detector_runs: int = 0
    faces: int = 0
    tracks: int = 0
    events: int = 0
    corrupt_frames: int = 0
    oversized_frames: int = 0  # over camera.max_pixels: refused or decoded reduced
    stage_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    stage_calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    started: float = field(default_factory=time.monotonic)
    slowest_frame: float = 0.0  # seconds: the longest the frame loop spent on one frame (its worst stall)

    def frame_done(self, seconds: float) -> None:
        self.slowest_frame = max(self.slowest_frame, seconds)

    @contextmanager
    def timed(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stage_seconds[stage] += time.perf_counter() - start
            self.stage_calls[stage] += 1

    def mean_ms(self, stage: str) -> float:
        calls = self.stage_calls.get(stage, 0)
        return 1000.0 * self.stage_seconds.get(stage, 0.0) / calls if calls else 0.0

    def fps(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.frames / elapsed if elapsed > 0 else 0.0

    def summary(self) -> str:
        stages = " ".join(f"{s}={self.mean_ms(s):.2f}ms" for s in STAGES)
        return (f"frames={self.frames} motion={self.motion_frames} detector_runs={self.detector_runs} "
                f"faces={self.faces} tracks={self.tracks} events={self.events} corrupt={self.corrupt_frames} "
                f"oversized={self.oversized_frames} "
                f"fps={self.fps():.1f} slowest_frame={1000 * self.slowest_frame:.0f}ms | mean {stages}")
