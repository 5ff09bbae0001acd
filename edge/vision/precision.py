"""FP32 or INT8: chosen per model by config, or measured on the box itself.

INT8 is not always faster: on CPUs without 8-bit dot-product instructions (Raspberry Pi 4,
many x86 without VNNI) it can be slower, while a Pi 5 or a VNNI CPU gains.  ``auto`` times
both variants for about a second and keeps the faster one, provided the INT8 model passed
its fidelity gate (its ``.report.json`` from ``mugshot-quantize``, whose sha256 must match the
file).  The verdict is cached in the cache directory (``precision.json``) per pair of model
sha256s, input shape, threads, onnxruntime version and CPU, so later starts and reloads do not
time again; another model or another CPU is timed afresh.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .model_files import ModelError, sha256_file

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

    from .model_files import onnx_session

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
    verdict_key = _verdict_key(fp32, int8, feed_shape, threads)
    cached = _read_verdicts().get(verdict_key)
    if cached and cached.get("precision") in ("fp32", "int8"):
        faster, fp32_ms, int8_ms = cached["precision"], cached["fp32_ms"], cached["int8_ms"]
        reason = f"auto: fp32 {fp32_ms:.2f} ms, int8 {int8_ms:.2f} ms on this box (cached)"
    else:
        fp32_ms = time_model(fp32, feed_shape, seconds / 2, threads)
        int8_ms = time_model(int8, feed_shape, seconds / 2, threads)
        faster = "int8" if int8_ms < fp32_ms else "fp32"
        reason = f"auto: fp32 {fp32_ms:.2f} ms, int8 {int8_ms:.2f} ms on this box"
        _write_verdict(verdict_key, {"precision": faster, "fp32_ms": fp32_ms, "int8_ms": int8_ms,
                                     "cpu": cpu_identity(), "key": key})
    log.info("%s: %s -> %s", key, reason, faster)
    return Choice(int8 if faster == "int8" else fp32, faster, reason)


def cpu_identity() -> str:
    """What makes a timing verdict hold: the CPU model, its core count and the machine type."""
    model = ""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8", errors="replace"):
            name, _, value = line.partition(":")
            if name.strip() in ("model name", "Model", "Hardware", "CPU part", "CPU implementer"):
                model += value.strip() + ";"
                if name.strip() in ("model name", "Model"):
                    break
    except OSError:
        pass
    return f"{platform.machine()} {model or platform.processor()} x{os.cpu_count()}"


def _verdict_key(fp32, int8: Path, feed_shape: tuple[int, ...], threads: int) -> str:
    import onnxruntime

    fp32_sha = hashlib.sha256(fp32).hexdigest() if isinstance(fp32, (bytes, bytearray)) else sha256_file(Path(fp32))
    parts = [fp32_sha, sha256_file(int8), "x".join(map(str, feed_shape)), str(threads), onnxruntime.__version__,
             cpu_identity()]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _verdicts_path() -> Path:
    from .model_files import cache_dir

    return cache_dir() / "precision.json"


def _read_verdicts() -> dict:
    try:
        verdicts = json.loads(_verdicts_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return verdicts if isinstance(verdicts, dict) else {}


def _write_verdict(verdict_key: str, verdict: dict) -> None:
    from ..files import make_folder, write_atomic

    path = _verdicts_path()
    try:
        make_folder(path.parent)
        write_atomic(path, json.dumps(_read_verdicts() | {verdict_key: verdict}, indent=1).encode())
    except OSError as exc:  # a read-only cache only costs the timing at the next start
        log.warning("cannot cache the precision verdict in %s: %s", path, exc)
