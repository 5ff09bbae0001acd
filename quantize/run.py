"""The two quantization jobs and the report written next to the INT8 model."""
from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

from edge.vision.align import ModelInputSpec
from edge.vision.model_files import locate_yunet, onnx_session, sha256_file, with_free_spatial_dims

from .calibrate import (SHARED_DATA, annotated_frames, default_detector_images, detector_tensors, generator_inputs,
                        images_in)
from .fidelity import detector_fidelity, generator_fidelity
from .onnx_int8 import quantize_model


def quantize_detector(args: argparse.Namespace, out: Path) -> dict:
    source = Path(args.model) if args.model else locate_yunet()
    fp32 = with_free_spatial_dims(source)  # the INT8 detector runs at any multiple of 32, like the FP32 one
    width, height = args.size
    images = images_in(Path(args.calib), args.limit) if args.calib else default_detector_images(limit=args.limit)
    tensors = detector_tensors(images, width, height)
    nodes = quantize_model(fp32, out, tensors, method=args.method, exclude_nodes=args.exclude_nodes,
                           exclude_types=args.exclude_types or [])
    reference = out.with_suffix(".fp32.tmp.onnx")
    reference.write_bytes(fp32)
    try:
        fidelity = detector_fidelity(reference, out, annotated_frames(), width, height)
    finally:
        reference.unlink()
    drop = max(fidelity["recall_drop"], fidelity["precision_drop"], 1 - fidelity["int8_vs_fp32_recall"])
    gate = {"max_drop": args.max_drop, "passed": drop <= args.max_drop,
            "reason": f"largest drop (recall, precision, agreement with FP32) {drop:.3f} vs allowed {args.max_drop}"}
    return _report("detector", source, fp32, out, images, args, nodes, fidelity, gate,
                   feeds=[{"input": tensors[0]}] * 2)


def quantize_generator(args: argparse.Namespace, out: Path) -> dict:
    if not args.model:
        raise ValueError("--model: the generator's FP32 ONNX file is required")
    source = Path(args.model)
    session = onnx_session(source)
    spec = ModelInputSpec.from_metadata(session.get_modelmeta().custom_metadata_map, str(source))
    channels = session.get_inputs()[0].shape[1]
    if isinstance(channels, int) and channels != spec.channels:
        raise ValueError(f"--model {source}: takes {channels} input channels, but a generator takes the aligned "
                         f"crop alone ({spec.channels} channels; the 7-channel refiner was retired)")
    calib_images = images_in(Path(args.calib), args.limit) if args.calib else held_in_faces(args.limit)
    calib = generator_inputs(calib_images, spec)
    if not len(calib):
        raise ValueError(f"--calib: no faces found in {args.calib or 'the default data'}")
    nodes = quantize_model(source.read_bytes(), out, calib.tensors, method=args.method,
                           exclude_nodes=args.exclude_nodes, exclude_types=args.exclude_types or [],
                           float_head=args.exclude_types is None)
    eval_images = images_in(Path(args.eval_dir), 200) if args.eval_dir else held_out_faces()
    evaluation = generator_inputs(eval_images, spec)
    fidelity = generator_fidelity(source, out, evaluation, spec, identity=args.identity)
    gate = {"max_drop": args.max_drop, "passed": fidelity["ssim_drop"] <= args.max_drop,
            "reason": f"1 - SSIM(int8, fp32) = {fidelity['ssim_drop']:.3f} vs allowed {args.max_drop}"}
    if args.identity and fidelity.get("identity_same_person", 1.0) < 1.0 - args.max_drop:
        gate.update(passed=False, reason=f"identity kept for only {fidelity['identity_same_person']:.2f} of faces")
    if not len(evaluation):
        gate.update(passed=False, reason=f"--eval: no faces found in {args.eval_dir or 'the default data'}")
    name = session.get_inputs()[0].name
    feed = {name: evaluation.tensors[0] if len(evaluation) else calib.tensors[0]}
    report = _report("generator", source, source.read_bytes(), out, calib_images, args, nodes, fidelity, gate,
                     feeds=[feed, feed])
    report["calibration"].update(faces=len(calib))
    return report


def _split_ids() -> set[str]:
    import tomllib
    split = Path(__file__).resolve().parents[1] / "trainer" / "split.toml"
    return {i.split(":")[1] for i in tomllib.loads(split.read_text())["test_identities"] if i.startswith("frmdb:")}


def _frmdb_views(test: bool) -> list[Path]:
    """FRMDB studio views of held-out (test) or training identities at yaw -45..45, pitch 0/30."""
    import csv

    held_out = _split_ids()
    with open(SHARED_DATA / "frmdb" / "manifest.csv", newline="") as f:
        return [SHARED_DATA / "frmdb" / r["path"] for r in csv.DictReader(f)
                if (r["subject"] in held_out) == test and r["kind"] == "mugshot"
                and r["camera_yaw_deg"] in ("-45", "0", "45") and r["camera_pitch_deg"] in ("0", "30")]


def held_in_faces(limit: int) -> list[Path]:
    files = _frmdb_views(test=False)
    return files[:: max(1, len(files) // limit)][:limit]


def held_out_faces() -> list[Path]:
    return _frmdb_views(test=True)


def _report(kind, source, fp32_bytes, out, images, args, nodes, fidelity, gate, feeds) -> dict:
    return {"kind": kind, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "fp32_model": source.name, "fp32_sha256": sha256_file(source), "fp32_bytes": len(fp32_bytes),
            "int8_model": out.name, "int8_sha256": sha256_file(out), "int8_bytes": out.stat().st_size,
            "calibration": {"method": args.method, "images": len(images),
                            "source": args.calib or "../shared/data (held-in identities)"},
            "nodes": {"quantized": len(nodes["quantized"]), "float": nodes["float"]},
            "fidelity": fidelity, "gate": gate, "_fp32_model": fp32_bytes, "_feeds": feeds}


def write_report(report: dict, out: Path) -> None:
    out.with_suffix(".report.json").write_text(json.dumps(report, indent=2))
    f, lat = report["fidelity"], report["latency"]
    lines = [f"# INT8 {report['kind']}: {out.name}", "",
             f"- FP32 `{Path(report['fp32_model']).name}` ({report['fp32_bytes']:,} bytes, sha256 "
             f"`{report['fp32_sha256'][:16]}…`) → INT8 ({report['int8_bytes']:,} bytes, sha256 "
             f"`{report['int8_sha256'][:16]}…`)",
             f"- Calibration: {report['calibration']['images']} images, {report['calibration']['method']}, "
             f"from {report['calibration']['source']}; QDQ, signed int8, per-channel weights",
             f"- Nodes: {report['nodes']['quantized']} run in INT8; in float: "
             f"{', '.join(report['nodes']['float']) or 'none'}", "",
             "| latency (median) | FP32 ms | INT8 ms | INT8 speed-up |", "|---|---|---|---|"]
    for threads, row in lat.items():
        lines.append(f"| {threads} | {row['fp32']:.3f} | {row['int8']:.3f} | {row['fp32'] / row['int8']:.2f}x |")
    lines += ["", "| fidelity | value |", "|---|---|"]
    lines += [f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in f.items()]
    lines += ["", f"Gate (--max-drop {report['gate']['max_drop']}): "
                  f"{'passed' if report['gate']['passed'] else 'FAILED'} ({report['gate']['reason']}).", ""]
    out.with_suffix(".report.md").write_text("\n".join(lines))
