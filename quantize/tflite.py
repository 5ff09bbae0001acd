"""Optional TFLite path: the student as .tflite, float and full-integer INT8.

Needs the ``tflite-export`` extra (litert-torch, ai-edge-quantizer; heavy: it pulls jax and
transformers), so it runs on a workstation, not in the default test run:

    python -m quantize.tflite runs/student/checkpoint.pt --out models/student.tflite

It writes ``student.tflite`` (float32), ``student_int8.tflite`` (weights and activations
int8, calibrated on real faces through the box's own input path, ``quantize.calibrate.generator_inputs``:
the aligned crop) and a ``.json`` beside each with the model's ``ModelInputSpec`` (TFLite files carry no
such metadata here), which the edge daemon's TFLite backend reads.  A checkpoint whose spec asks for
more than the crop (the retired 7-channel refiner) is refused with one line.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def export_tflite(checkpoint: Path, out: Path, calibration: list[np.ndarray]) -> dict:
    """``calibration``: the model's input tensors (1, 3, S, S), as ``generator_inputs`` makes them;
    the first one is also the conversion's example and the check against PyTorch."""
    import litert_torch
    import torch
    from ai_edge_quantizer import quantizer

    from trainer.restore_fit import load_restorer  # the pair trainer (trainer.fit) is retired

    model, state = load_restorer(checkpoint)
    spec = spec_of(state, checkpoint)
    sample = torch.from_numpy(calibration[0])
    edge_model = litert_torch.convert(model.eval(), (sample,))
    out.parent.mkdir(parents=True, exist_ok=True)
    edge_model.export(str(out))
    int8_out = out.with_name(out.stem + "_int8.tflite")
    qt = quantizer.Quantizer(str(out))
    qt.load_quantization_recipe(convolutions_int8())
    signature = qt.get_signature_keys()[0] if hasattr(qt, "get_signature_keys") else "serving_default"
    input_name = _input_name(out)
    result = qt.quantize(qt.calibrate({signature: [{input_name: x} for x in calibration]}))
    result.export_model(str(int8_out), overwrite=True)
    for path in (out, int8_out):
        path.with_suffix(".json").write_text(spec.to_json())
    with torch.no_grad():
        expected = model(sample).numpy()
    return {"float": str(out), "int8": str(int8_out),
            "max_abs_diff_float": float(np.abs(_run(out, sample.numpy()) - expected).max()),
            "max_abs_diff_int8": float(np.abs(_run(int8_out, sample.numpy()) - expected).max())}


def spec_of(state: dict, checkpoint: Path):
    """The checkpoint's ``ModelInputSpec``, checked as the box checks a model's metadata (ValueError, one line)."""
    from edge.vision.align import ModelInputSpec

    return ModelInputSpec.from_metadata({ModelInputSpec.METADATA_KEY: json.dumps(state["spec"])}, str(checkpoint))


def convolutions_int8():
    """A recipe that quantizes the convolutions (weights and activations int8) and leaves the rest
    in float, as the ONNX INT8 student does: a warp head's remap positions need finer steps than
    int8, a fully integer separable head crashed the LiteRT interpreter, and a blend head's sigmoid,
    products and clamp stay float."""
    from ai_edge_quantizer import recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    from ai_edge_quantizer.qtyping import TFLOperationName

    manager = recipe_manager.RecipeManager()
    manager.add_static_config(regex=".*", operation_name=TFLOperationName.CONV_2D, activation_num_bits=8,
                              weight_num_bits=8, algorithm_key=AlgorithmName.MIN_MAX_UNIFORM_QUANT)
    return manager.get_quantization_recipe()


def _input_name(path: Path) -> str:
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner()
    return next(iter(runner.get_input_details()))


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    from edge.vision.generate import run_tflite, tflite_interpreter

    return run_tflite(tflite_interpreter(path, threads=1).get_signature_runner(), x)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quantize.tflite", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--out", required=True)
    parser.add_argument("--limit", type=int, default=64)
    parser.add_argument("--force", action="store_true",
                        help="allow --out to replace a shipped file listed in models/manifest.toml")
    args = parser.parse_args(argv)
    from edge.vision.model_files import refuse_shipped

    refused = refuse_shipped([Path(args.out), Path(args.out).with_suffix(".json")], args.force, "quantize.tflite")
    if refused:
        print(refused, file=sys.stderr)
        return 73
    import torch

    from .calibrate import generator_inputs
    from .run import held_in_faces

    state = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    if not isinstance(state, dict) or state.get("task") != "restore":
        print(f"{args.checkpoint}: not a restoration checkpoint (mugshot-train restore-fit writes one); "
              "the pair trainer's checkpoints are retired", file=sys.stderr)
        return 2
    try:
        spec = spec_of(state, Path(args.checkpoint))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    inputs = generator_inputs(held_in_faces(args.limit), spec)
    if not len(inputs):
        print(f"{args.checkpoint}: no faces found in the calibration pictures", file=sys.stderr)
        return 2
    result = export_tflite(Path(args.checkpoint), Path(args.out), inputs.tensors)  # the first: example and check
    print(json.dumps(result | inputs.describe(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
