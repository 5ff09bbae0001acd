"""FP32 or INT8: chosen per model by config, or measured on the box itself.

INT8 is not always faster: on CPUs without 8-bit dot-product instructions (Raspberry Pi 4,
many x86 without VNNI) it can be slower, while a Pi 5 or a VNNI CPU gains.  ``auto`` times
both variants for about a second at start-up and keeps the faster one, provided the INT8
model passed its fidelity gate (its ``.report.json`` from ``mugshot-quantize``, whose
sha256 must match the file).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .models import ModelError, sha256_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Choice:
    model: str | Path | bytes  # what to load
    precision: str  # "fp32" | "int8"
    reason: str


def int8_report(int8: Path, key: str) -> dict:
    """The quantizer's report beside an INT8 model; refuses a model that does not match it."""
    report_path = int8.with_suffix(".report.json")
    if not report_path.is_file():
        raise ModelError(f"{key}: {int8} has no {report_path.name}: make it with mugshot-quantize")
    report = json.loads(report_path.read_text())
    actual = sha256_file(int8)
    if report.get("int8_sha256") != actual:
        raise ModelError(f"{key}: {int8} has sha256 {actual}, its report names {report.get('int8_sha256')}; "
                         "refusing it")
    return report


def time_model(model, feed_shape: tuple[int, ...], seconds: float, threads: int) -> float:
    """Median milliseconds per run within a time budget."""
    import time

    from .models import onnx_session

    session = onnx_session(model, threads)
    feed = {session.get_inputs()[0].name: np.random.default_rng(0).uniform(-1, 1, feed_shape).astype(np.float32)}
    session.run(None, feed)
    times, deadline = [], time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 3:
        start = time.perf_counter()
        session.run(None, feed)
        times.append(1000 * (time.perf_counter() - start))
    return float(np.median(times))


def choose(precision: str, fp32, int8: Path | None, feed_shape: tuple[int, ...], key: str, threads: int = 1,
           seconds: float = 1.0) -> Choice:
    if precision == "fp32":
        return Choice(fp32, "fp32", "configured")
    if precision == "int8":
        if int8 is None or not int8.is_file():
            raise ModelError(f"{key}: precision = 'int8' but no INT8 model at {int8} (run mugshot-quantize)")
        report = int8_report(int8, key)
        if not report["gate"]["passed"]:
            raise ModelError(f"{key}: {int8} failed its fidelity gate ({report['gate']['reason']})")
        return Choice(int8, "int8", "configured")
    if int8 is None or not int8.is_file():
        return Choice(fp32, "fp32", "auto: no INT8 model")
    report = int8_report(int8, key)
    if not report["gate"]["passed"]:
        return Choice(fp32, "fp32", "auto: the INT8 model failed its fidelity gate")
    fp32_ms = time_model(fp32, feed_shape, seconds / 2, threads)
    int8_ms = time_model(int8, feed_shape, seconds / 2, threads)
    faster = "int8" if int8_ms < fp32_ms else "fp32"
    reason = f"auto: fp32 {fp32_ms:.2f} ms, int8 {int8_ms:.2f} ms on this box"
    log.info("%s: %s -> %s", key, reason, faster)
    return Choice(int8 if faster == "int8" else fp32, faster, reason)
