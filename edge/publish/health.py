"""Box health: a JSON snapshot every ``log.summary_seconds``, handed to every publisher.

The MQTT publisher adds its own spool and broker figures and publishes it retained on
``<prefix>/stats``; Home Assistant reads the diagnostic sensors from there
(edge/publish/homeassistant.py).  A reporter thread takes the snapshots, so they keep
coming (with the frame rate at 0) while the camera is stalled.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger(__name__)

PROCESS_STARTED = time.time()  # the daemon's start; a configuration reload does not reset it
THERMAL_ROOT = Path("/sys/class/thermal")
# Zone types that are the CPU/SoC on the boxes we run on: Raspberry Pi (cpu-thermal), Jetson
# (CPU-therm, cpu-thermal), x86 (x86_pkg_temp), many Arm boards (soc_thermal, cpu_thermal).
CPU_ZONE_HINTS = ("cpu", "soc", "x86_pkg")


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def cpu_temperature(root: Path = THERMAL_ROOT) -> float | None:
    """The CPU temperature in °C from the kernel's thermal zones, or None where the box has none."""
    readings: list[tuple[bool, float]] = []
    for zone in sorted(root.glob("thermal_zone*")):
        try:
            kind = (zone / "type").read_text(encoding="ascii").strip().lower()
            millidegrees = int((zone / "temp").read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            continue  # a zone that cannot be read (sensor asleep, permission): try the next
        readings.append((any(hint in kind for hint in CPU_ZONE_HINTS), millidegrees / 1000.0))
    if not readings:
        return None
    cpu = [value for is_cpu, value in readings if is_cpu]
    return round((cpu or [readings[0][1]])[0], 1)


def publisher_fields(status: dict) -> dict:
    """A publisher's ``status()`` in the stats payload's names (the MQTT publisher's spool and broker)."""
    if "spool" not in status:
        return {}
    write_failed = status.get("spool_write_failed")
    return {"broker": status.get("broker"), "spool_depth": status.get("spool"),
            "spool_bytes": status.get("spool_bytes"), "dropped": status.get("dropped"),
            "write_failures": write_failed, "delivered": status.get("delivered"),
            "rejected": status.get("rejected"), "last_sequence": status.get("last_sequence")}


class HealthReporter:
    """Takes a snapshot now, then every ``interval`` seconds, and once more on ``stop()``."""

    def __init__(self, publishers, stats, *, device_id: str, camera: str, version: str, interval: float,
                 thermal_root: Path = THERMAL_ROOT):
        self.publishers = publishers
        self.stats = stats  # the pipeline's PipelineStats (read from another thread: plain counters)
        self.device_id, self.camera, self.version = device_id, camera, version
        self.interval = interval
        self.thermal_root = thermal_root
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: tuple[float, int] | None = None  # (monotonic time, frames) at the previous snapshot

    def snapshot(self) -> dict:
        now, frames = time.monotonic(), self.stats.frames
        if self._last is None:
            fps = self.stats.fps()
        else:
            elapsed = now - self._last[0]
            fps = (frames - self._last[1]) / elapsed if elapsed > 0 else 0.0
        self._last = (now, frames)
        s = self.stats
        return {"time": _iso(time.time()), "device": self.device_id, "camera": self.camera,
                "version": self.version, "started": _iso(PROCESS_STARTED),
                "uptime_s": round(time.time() - PROCESS_STARTED, 1), "fps": round(fps, 2), "frames": s.frames,
                "motion_frames": s.motion_frames, "detector_runs": s.detector_runs, "faces": s.faces,
                "tracks": s.tracks, "events": s.events, "corrupt_frames": s.corrupt_frames,
                "oversized_frames": s.oversized_frames,
                "cpu_temperature": cpu_temperature(self.thermal_root)}

    def report(self) -> dict:
        payload = self.snapshot()
        for publisher in self.publishers:
            try:
                publisher.health(payload)
            except Exception:  # health is best effort: it must never stop the camera
                log.exception("publisher %s failed to take the health report", publisher.name)
        return payload

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        self.report()  # the final counts, before the publishers close

    def _run(self) -> None:
        while True:
            self.report()
            if self._stop.wait(self.interval):
                return
