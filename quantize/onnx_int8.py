"""Static post-training INT8 quantization with onnxruntime: pre-process, calibrate, QDQ."""
from __future__ import annotations

import logging
import tempfile
from collections import Counter
from pathlib import Path

import onnx
import onnx.version_converter
from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from .calibrate import ArrayReader

log = logging.getLogger(__name__)

MIN_OPSET = 13
METHODS = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
           "percentile": CalibrationMethod.Percentile}
COMPUTE_OPS = {"Conv", "ConvTranspose", "MatMul", "Gemm", "Add", "Mul", "Concat", "Resize", "Relu", "LeakyRelu",
               "Sigmoid", "Tanh", "MaxPool", "AveragePool", "Transpose", "Reshape", "Sub", "Div", "Clip"}


NETWORK_OPS = {"Conv", "ConvTranspose", "Concat", "Resize", "DepthToSpace", "Relu", "LeakyRelu"}


def outside_network(graph) -> set[str]:
    """Names of the nodes that are not part of the convolutional network: a node belongs to it
    when its type is a network op and its inputs come from the graph input, weights or other
    network nodes.  What a generator's head computes from the network's output (tanh, the
    remap of a warp head, whose positions need far finer steps than int8) stays in float."""
    initializers = {i.name for i in graph.initializer}
    network = {i.name for i in graph.input} | initializers
    outside = set()
    for node in graph.node:  # ONNX graphs are topologically sorted
        if node.op_type in NETWORK_OPS and all(not i or i in network for i in node.input):
            network.update(node.output)
        else:
            outside.add(node.name)
    return outside


def quantize_model(model: bytes | Path, out: Path, tensors: list, *, method: str = "minmax",
                   per_channel: bool = True, exclude_nodes: list[str] = (), exclude_types: list[str] = (),
                   float_head: bool = False, activation_type: str = "int8") -> dict:
    """Write the INT8 model to ``out``; returns which compute nodes run in INT8 and which in float.
    ``float_head``: keep every node outside the convolutional network in float (generators)."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "fp32.onnx"
        proto = onnx.load_from_string(model if isinstance(model, bytes) else Path(model).read_bytes())
        opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
        if opset < MIN_OPSET:  # per-channel DequantizeLinear (axis) needs opset 13
            proto = onnx.version_converter.convert_version(proto, MIN_OPSET)
        onnx.save(proto, str(source))
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)  # free dims: ONNX inference suffices
        graph = onnx.load(str(prepared)).graph
        excluded = set(exclude_nodes) | {n.name for n in graph.node if n.op_type in set(exclude_types)}
        if float_head:
            excluded |= outside_network(graph)
        reader = ArrayReader(graph.input[0].name, tensors)
        out.parent.mkdir(parents=True, exist_ok=True)
        quantize_static(str(prepared), str(out), reader, quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=QuantType.QInt8 if activation_type == "int8" else QuantType.QUInt8,
                        weight_type=QuantType.QInt8, nodes_to_exclude=sorted(excluded),
                        calibrate_method=METHODS[method],
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
    return node_precision(out)


def node_precision(path: Path) -> dict:
    """A compute node runs in INT8 when its data inputs come from DequantizeLinear and its outputs
    go only to QuantizeLinear (onnxruntime fuses that into an integer kernel); the rest stay float."""
    graph = onnx.load(str(path)).graph
    producers = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    graph_outputs = {o.name for o in graph.output}
    initializers = {i.name for i in graph.initializer}
    quantized, floating = [], []
    for node in graph.node:
        if node.op_type not in COMPUTE_OPS:
            continue
        data_inputs = [i for i in node.input if i and i not in initializers]
        fed = [producers.get(i) for i in data_inputs]
        requantized = all(o not in graph_outputs and consumers.get(o) and
                          all(c.op_type == "QuantizeLinear" for c in consumers[o]) for o in node.output)
        if fed and all(p is not None and p.op_type == "DequantizeLinear" for p in fed) and requantized:
            quantized.append(f"{node.name} ({node.op_type})")
        else:
            floating.append(f"{node.name} ({node.op_type})")
    counts = Counter(n.op_type for n in graph.node)
    return {"quantized": quantized, "float": floating,
            "qdq_pairs": counts.get("QuantizeLinear", 0), "nodes": len(graph.node)}
