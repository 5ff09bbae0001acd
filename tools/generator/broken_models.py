"""Deliberately broken generator models, built from a real one with the ``onnx`` package.

Each keeps the model's input, output and metadata (``mugshot.input_spec``), so the box loads and runs it like
the real one: what a user's undertrained or corrupted model would look like.

- ``flat``: the output times zero (one grey picture);
- ``noise``: fixed uniform noise added to the output (amplitude 0.8 of the -1..1 range);
- ``checkerboard``: a one-pixel +-0.6 checkerboard added to the output (transposed-convolution artefacts);
- ``flipped``: 2% of the bytes of every float weight XOR-ed with 0xFF, as a damaged file that still parses.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

KINDS = ("flat", "noise", "checkerboard", "flipped")


def _append(model, kind: str, shape: tuple[int, ...]):
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    out = graph.output[0].name
    producer = next(node for node in graph.node if out in node.output)
    raw = out + "_raw"
    producer.output[list(producer.output).index(out)] = raw
    rng = np.random.default_rng(7)
    if kind == "flat":
        pattern = np.zeros((1,), np.float32)
        graph.initializer.append(numpy_helper.from_array(pattern, "broken_pattern"))
        graph.node.append(helper.make_node("Mul", [raw, "broken_pattern"], [out]))
        return
    if kind == "noise":
        pattern = rng.uniform(-0.8, 0.8, shape).astype(np.float32)
    else:  # checkerboard
        yy, xx = np.indices(shape[2:])
        pattern = np.broadcast_to(np.where((yy + xx) % 2, 0.6, -0.6), shape).astype(np.float32)
    graph.initializer.append(numpy_helper.from_array(pattern, "broken_pattern"))
    graph.initializer.append(numpy_helper.from_array(np.float32(-1.0), "broken_low"))
    graph.initializer.append(numpy_helper.from_array(np.float32(1.0), "broken_high"))
    graph.node.append(helper.make_node("Add", [raw, "broken_pattern"], ["broken_sum"]))
    graph.node.append(helper.make_node("Clip", ["broken_sum", "broken_low", "broken_high"], [out]))
    onnx.checker.check_model(model)


def _flip_bytes(model, share: float = 0.02) -> None:
    from onnx import TensorProto, numpy_helper

    rng = np.random.default_rng(11)
    for index, tensor in enumerate(model.graph.initializer):
        if tensor.data_type != TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(tensor)
        if values.size < 16:  # constants of the graph (clip bounds, slice ends), not weights
            continue
        data = bytearray(values.astype(np.float32).tobytes())
        hits = rng.choice(len(data), max(1, int(len(data) * share)), replace=False)
        for i in hits:
            data[i] ^= 0xFF
        flipped = np.frombuffer(bytes(data), np.float32).reshape(values.shape)
        model.graph.initializer[index].CopyFrom(numpy_helper.from_array(flipped, tensor.name))


def broken_model(source: str | Path, kind: str, out: str | Path) -> Path:
    """Write ``source`` broken as ``kind`` (one of KINDS) to ``out``; returns ``out``."""
    import onnx

    if kind not in KINDS:
        raise ValueError(f"broken model kind {kind!r}: expected one of {KINDS}")
    model = onnx.load(str(source))
    if kind == "flipped":
        _flip_bytes(model)
    else:
        import json

        meta = {p.key: p.value for p in model.metadata_props}
        size = json.loads(meta.get("mugshot.input_spec", "{}")).get("size", 256)  # free H, W: the spec's size
        dims = model.graph.output[0].type.tensor_type.shape.dim
        shape = tuple(d.dim_value if d.dim_value > 0 else (1 if i < 2 else size) for i, d in enumerate(dims))
        shape = shape[:1] + (shape[1] if shape[1] > 1 else 3,) + shape[2:]
        _append(model, kind, shape)
    for prop in model.metadata_props:
        if prop.key == "mugshot.name":
            prop.value = f"{prop.value}-broken-{kind}"
    out = Path(out)
    onnx.save(model, str(out))
    return out
