"""Restoration student against teacher: ONNX latency side by side at 256 px, one thread, no spinning.

``python -m trainer.bench_restore [--student models/student.onnx] [--teacher models/teacher.onnx] [--size 256]``
prints both medians and the ratio (targets: student <= ~10 ms, >= 20x faster than the teacher).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .restore_export import bench_restore

MODELS = Path(__file__).resolve().parents[1] / "models"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", default=str(MODELS / "student.onnx"))
    parser.add_argument("--teacher", default=str(MODELS / "teacher.onnx"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args(argv)
    result = bench_restore(Path(args.student), Path(args.teacher), args.size, args.rounds)
    print(f"{args.size} px, 1 thread, {args.rounds} interleaved rounds: teacher {result['teacher_ms']:.1f} ms, "
          f"student {result['student_ms']:.2f} ms, student {result['ratio']:.1f}x faster")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
