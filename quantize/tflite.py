"""Optional TFLite path: the student as .tflite, float and full-integer INT8.

Needs the ``tflite-export`` extra (litert-torch, ai-edge-quantizer; heavy: it pulls jax and
transformers), so it runs on a workstation, not in the default test run:

    python -m quantize.tflite runs/student/checkpoint.pt --out models/student.tflite

It writes ``student.tflite`` (float32), ``student_int8.tflite`` (weights and activations
int8, calibrated on real aligned faces through ``edge.align``) and a ``.json`` beside each
with the model's ``ModelInputSpec`` (TFLite files carry no such metadata here), which the
edge daemon's TFLite backend reads.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def export_tflite(checkpoint: Path, out: Path, calibration_faces: list[np.ndarray]) -> dict:
    import litert_torch
    import torch
    from ai_edge_quantizer import quantizer

    from edge.align import ModelInputSpec, to_tensor
    from trainer.fit import load_generator

    model, state = load_generator(checkpoint)
    spec = ModelInputSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in state["spec"].items()})
    sample = torch.from_numpy(to_tensor(calibration_faces[0], spec))
    edge_model = litert_torch.convert(model.eval(), (sample,))
    out.parent.mkdir(parents=True, exist_ok=True)
    edge_model.export(str(out))
    int8_out = out.with_name(out.stem + "_int8.tflite")
    qt = quantizer.Quantizer(str(out))
    qt.load_quantization_recipe(convolutions_int8())
    signature = qt.get_signature_keys()[0] if hasattr(qt, "get_signature_keys") else "serving_default"
    input_name = _input_name(out)
    calibration = {signature: [{input_name: to_tensor(face, spec)} for face in calibration_faces]}
    result = qt.quantize(qt.calibrate(calibration))
    result.export_model(str(int8_out), overwrite=True)
    for path in (out, int8_out):
        path.with_suffix(".json").write_text(spec.to_json())
    with torch.no_grad():
        expected = model(sample).numpy()
    return {"float": str(out), "int8": str(int8_out),
            "max_abs_diff_float": float(np.abs(_run(out, sample.numpy()) - expected).max()),
            "max_abs_diff_int8": float(np.abs(_run(int8_out, sample.numpy()) - expected).max())}


def convolutions_int8():
    """A recipe that quantizes the convolutions (weights and activations int8) and leaves the rest
    in float, as the ONNX INT8 student does: a warp head's remap positions need finer steps than
    int8, and a fully integer separable head crashed the LiteRT interpreter."""
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
    from edge.generate import run_tflite, tflite_interpreter

    return run_tflite(tflite_interpreter(path, threads=1).get_signature_runner(), x)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quantize.tflite", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--out", required=True)
    parser.add_argument("--limit", type=int, default=64)
    args = parser.parse_args(argv)
    from edge.align import ModelInputSpec

    from .calibrate import aligned_faces
    from .run import _held_in_faces

    import torch
    state = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    spec = ModelInputSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in state["spec"].items()})
    faces = aligned_faces(_held_in_faces(args.limit), spec)
    print(json.dumps(export_tflite(Path(args.checkpoint), Path(args.out), faces), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
