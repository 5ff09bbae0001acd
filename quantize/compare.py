"""Which parts of a generator to keep in float: INT8 variants side by side in one run.

    python -m quantize.compare --model models/student.onnx [--calib DIR] [--eval DIR] [--threads 1 2]
                               [--tflite models/student.tflite models/student_int8.tflite]

Every variant is calibrated on the same inputs (``generator_inputs``: the box's path, the aligned crop)
and measured against the FP32 model on the same held-out inputs: PSNR/SSIM of the output, the largest and
mean error of a blend head's weight ``sigmoid(w)`` (read as an extra graph output), and the median
latency of every model interleaved round by round (``edge.tools.bench.onnx_latency``: fixed threads, no
spinning), as the FP32/INT8 ratio.  Variants: per-channel or per-tensor weights, the head after the
convolutional network in float (default) or in INT8 too, and additionally the last convolution (the blend
logit and residual) in float.  ``--tflite``: the TFLite exports (``python -m quantize.tflite``) beside the
FP32 ONNX model, PSNR and latency at one thread.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx

from edge.vision.align import ModelInputSpec, from_tensor
from edge.tools.bench import onnx_latency
from edge.vision.metrics import psnr, ssim
from edge.vision.model_files import onnx_session

from .calibrate import GeneratorInputs, generator_inputs, images_in
from .onnx_int8 import quantize_model


def convolutions(path: Path) -> list[str]:
    return [n.name for n in onnx.load(str(path)).graph.node if n.op_type == "Conv"]


def variants(fp32: Path) -> dict[str, dict]:
    convs = convolutions(fp32)
    return {"per-channel, head float": {"per_channel": True, "float_head": True},
            "per-tensor, head float": {"per_channel": False, "float_head": True},
            "per-channel, head INT8 too": {"per_channel": True, "float_head": False},
            "per-channel, head + last conv float": {"per_channel": True, "float_head": True,
                                                    "exclude_nodes": convs[-1:]}}


def with_probes(path: Path) -> tuple[bytes, list[str]]:
    """The model with each Sigmoid's output (a blend head's weight) added as a graph output; where the
    weight is quantized (QuantizeLinear -> DequantizeLinear after it), the dequantized value the head uses."""
    proto = onnx.load(str(path))
    consumers: dict[str, list] = {}
    for node in proto.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    probes = []
    for node in proto.graph.node:
        if node.op_type != "Sigmoid":
            continue
        name = node.output[0]
        quantized = [c for c in consumers.get(name, []) if c.op_type == "QuantizeLinear"]
        dequantized = [c for q in quantized for c in consumers.get(q.output[0], []) if c.op_type == "DequantizeLinear"]
        probes.append(dequantized[0].output[0] if dequantized else name)
    outputs = {o.name for o in proto.graph.output}
    for name in probes:
        if name not in outputs:
            proto.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    return proto.SerializeToString(), probes


def outputs_of(model: bytes, inputs: GeneratorInputs, spec: ModelInputSpec) -> tuple[list[np.ndarray], list]:
    session = onnx_session(model, threads=2)
    name = session.get_inputs()[0].name
    images, probes = [], []
    for x in inputs.tensors:
        out, *extra = session.run(None, {name: x})
        images.append(from_tensor(out, spec)[0])
        probes.append(extra)
    return images, probes


def measure(int8: Path, evaluation: GeneratorInputs, spec: ModelInputSpec, reference) -> dict:
    """The INT8 model's outputs against the FP32 ones (``reference``: ``outputs_of`` the probed FP32 model)."""
    ref_images, ref_probes = reference
    int8_bytes, probes = with_probes(int8)
    images, got_probes = outputs_of(int8_bytes, evaluation, spec)
    row = {"psnr": float(np.mean([psnr(a, b) for a, b in zip(ref_images, images)])),
           "ssim": float(np.mean([ssim(a, b) for a, b in zip(ref_images, images)]))}
    if probes:
        diffs = np.concatenate([np.abs(a[0] - b[0]).ravel() for a, b in zip(ref_probes, got_probes)])
        row["blend weight err mean"], row["blend weight err max"] = float(diffs.mean()), float(diffs.max())
    return row


def compare(fp32: Path, calib: GeneratorInputs, evaluation: GeneratorInputs, spec: ModelInputSpec,
            threads: tuple[int, ...] = (1,), method: str = "minmax", rounds: int = 15) -> dict:
    reference = outputs_of(with_probes(fp32)[0], evaluation, spec)
    rows, paths = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, options) in enumerate(variants(fp32).items()):
            out = Path(tmp) / f"variant{i}.onnx"
            nodes = quantize_model(fp32.read_bytes(), out, calib.tensors, method=method, **options)
            rows[label] = {"int8 nodes": len(nodes["quantized"])} | measure(out, evaluation, spec, reference)
            paths.append(out)
        name = onnx_session(fp32).get_inputs()[0].name
        feeds = [{name: evaluation.tensors[0]}] * (len(paths) + 1)
        fp32_ms = {}
        for t in threads:
            timed = onnx_latency([fp32, *paths], threads=t, rounds=rounds, feeds=feeds)
            fp32_ms[t] = timed[0]["median_ms"]
            for label, result in zip(rows, timed[1:]):
                rows[label][f"ms {t}t"] = result["median_ms"]
                rows[label][f"fp32/int8 {t}t"] = fp32_ms[t] / result["median_ms"]
    convs = convolutions(fp32)
    return {"rows": rows, "fp32_ms": fp32_ms, "calibration": calib.describe(), "evaluation": evaluation.describe(),
            "first_conv": convs[0] if convs else "", "last_conv": convs[-1] if convs else ""}


def compare_tflite(fp32: Path, models: list[Path], evaluation: GeneratorInputs, spec: ModelInputSpec,
                   rounds: int = 15, runs: int = 10) -> dict:
    """TFLite exports (``python -m quantize.tflite``) against the FP32 ONNX model: PSNR of their outputs on
    the same inputs, and the median latency at one thread, ONNX FP32 and each model interleaved round by round."""
    import statistics
    import time

    from edge.vision.generate import run_tflite, tflite_interpreter

    session = onnx_session(fp32, threads=1)
    name = session.get_inputs()[0].name
    reference = [from_tensor(session.run(None, {name: x})[0], spec)[0] for x in evaluation.tensors]
    runners = {path.name: tflite_interpreter(path, threads=1).get_signature_runner() for path in models}
    rows = {}
    for label, runner in runners.items():
        out = [from_tensor(run_tflite(runner, x), spec)[0] for x in evaluation.tensors]
        rows[label] = {"psnr vs onnx fp32": float(np.mean([psnr(a, b) for a, b in zip(reference, out)]))}
    x = evaluation.tensors[0]
    calls = {"onnx fp32": lambda: session.run(None, {name: x})} | {
        label: (lambda r=runner: run_tflite(r, x)) for label, runner in runners.items()}
    times: dict[str, list[float]] = {label: [] for label in calls}
    for call in calls.values():
        call()  # warm-up
    for _ in range(rounds):
        for label, call in calls.items():
            start = time.perf_counter()
            for _ in range(runs):
                call()
            times[label].append(1000 * (time.perf_counter() - start) / runs)
    fp32_ms = statistics.median(times["onnx fp32"])
    for label in runners:
        ms = statistics.median(times[label])
        rows[label].update({"ms 1t": ms, "onnx fp32/this 1t": fp32_ms / ms})
    return {"rows": rows, "onnx_fp32_ms": fp32_ms}


def format_table(result: dict) -> str:
    rows = result["rows"]
    columns = list(next(iter(rows.values())))
    lines = [f"calibration {result['calibration']}, evaluation {result['evaluation']}; FP32 "
             + ", ".join(f"{ms:.3f} ms at {t} thread{'s' if t > 1 else ''}" for t, ms in result["fp32_ms"].items()),
             f"(mugshot-quantize --exclude-nodes: first conv {result['first_conv']}, last conv {result['last_conv']})",
             "", "| variant | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for label, row in rows.items():
        lines.append(f"| {label} | " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v)
                                                  for v in row.values()) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quantize.compare", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="FP32 generator ONNX (mugshot-train restore-export)")
    parser.add_argument("--calib", help="calibration pictures (default: held-in FRMDB views)")
    parser.add_argument("--eval", dest="eval_dir", help="evaluation pictures (default: held-out FRMDB views)")
    parser.add_argument("--limit", type=int, default=64)
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--method", choices=["minmax", "entropy", "percentile"], default="minmax")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved latency rounds (of 20 runs each)")
    parser.add_argument("--tflite", nargs="*", default=[], help="TFLite exports of the same model to put beside it")
    args = parser.parse_args(argv)
    from .run import held_in_faces, held_out_faces

    model = Path(args.model)
    spec = ModelInputSpec.from_metadata(onnx_session(model).get_modelmeta().custom_metadata_map, str(model))
    calib = generator_inputs(images_in(Path(args.calib), args.limit) if args.calib else held_in_faces(args.limit), spec)
    evaluation = generator_inputs(images_in(Path(args.eval_dir), 200) if args.eval_dir else held_out_faces(), spec)
    if not len(calib) or not len(evaluation):
        print("no faces found in the calibration or evaluation pictures", file=sys.stderr)
        return 2
    print(format_table(compare(model, calib, evaluation, spec, tuple(args.threads), args.method, args.rounds)))
    if args.tflite:
        result = compare_tflite(model, [Path(p) for p in args.tflite], evaluation, spec, rounds=args.rounds)
        print(f"\nTFLite, 1 thread, interleaved with the ONNX FP32 model ({result['onnx_fp32_ms']:.3f} ms)\n")
        print("| model | psnr vs onnx fp32 | ms 1t | onnx fp32/this 1t |\n|---|---|---|---|")
        for label, row in result["rows"].items():
            print(f"| {label} | " + " | ".join(f"{v:.4g}" for v in row.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
