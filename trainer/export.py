"""`mugshot-train export`: a checkpoint -> one ONNX file (weights inside) with the metadata the
edge daemon reads: input spec, name, version, training data and metrics; checked against PyTorch."""
from __future__ import annotations

import json
import logging
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from edge.align import ModelInputSpec

from .fit import load_generator
from .nets import parameters

log = logging.getLogger(__name__)

OPSET = 17
TRAINING_DATA = ("FRMDB (Contardo et al., Sensors 2023; research and education only) and Pointing'04 "
                 "(Gourier, Hall, Crowley 2004); split by identity, see trainer/split.toml")


def export(checkpoint: Path, out: Path, name: str = "", report: str | None = None, tolerance: float = 1e-3) -> dict:
    import onnx
    import onnxruntime as ort

    model, state = load_generator(checkpoint)
    spec = ModelInputSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in state["spec"].items()})
    example = torch.rand(1, 3, spec.size, spec.size) * 2 - 1
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "model.onnx"
        torch.onnx.export(model, (example,), str(raw), opset_version=OPSET, input_names=["face"],
                          output_names=["mugshot"], dynamo=True, external_data=False)
        proto = onnx.load(str(raw))
    metrics = {}
    if report:
        metrics = json.loads(Path(report).read_text()).get("summary", {})
    metadata = {
        ModelInputSpec.METADATA_KEY: spec.to_json(),
        "mugshot.name": name or state["config"]["model"],
        "mugshot.version": f"{datetime.now(timezone.utc):%Y%m%d}-step{state['step']}",
        "mugshot.architecture": state["config"]["model"],
        "mugshot.parameters": str(parameters(model)),
        "mugshot.training_data": TRAINING_DATA,
        "mugshot.metrics": json.dumps(metrics),
    }
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))  # one file: no external .data
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(example).numpy()
    got = session.run(None, {session.get_inputs()[0].name: example.numpy()})[0]
    diff = float(np.abs(got - expected).max())
    if diff > tolerance:
        raise RuntimeError(f"{out}: ONNX output differs from PyTorch by {diff:.2e} (> {tolerance})")
    return {"path": str(out), "parameters": parameters(model), "max_abs_diff": diff, "metadata": metadata}
