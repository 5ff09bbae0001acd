"""Latency of generator ONNX files side by side (edge.tools.bench.onnx_latency does the timing)."""
from __future__ import annotations

from pathlib import Path

from edge.tools.bench import onnx_latency


def bench(models: list[Path], threads: int = 1) -> list[dict]:
    return [row | {"model": str(m)} for m, row in zip(models, onnx_latency(models, threads))]
