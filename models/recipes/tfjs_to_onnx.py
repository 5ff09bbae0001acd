"""The project's own TensorFlow.js graph-model -> ONNX converter (for the faceres recognizer).

A TF.js graph model is a ``model.json`` (the TensorFlow GraphDef as JSON plus a weights
manifest) and one or more ``.bin`` shards holding the constants, here fp16-quantized.
This converter reads both with the standard library and numpy, keeps only the nodes the
requested outputs need, and writes ONNX opset 13 without TensorFlow:

- the NHWC input is transposed once to NCHW; convolution weights are laid out as OIHW at
  conversion (``Conv2D`` HWIO, ``DepthwiseConv2dNative`` HWCM -> grouped convolution);
- TensorFlow ``SAME`` padding becomes explicit pads (the extra pixel at the bottom/right, as
  TensorFlow does at stride 2);
- per-channel ``Mul``/``Add`` constants are reshaped to broadcast over NCHW;
- fused ops are split before conversion: ``_FusedMatMul`` with ``fused_ops = [BiasAdd, Relu]``
  becomes ``MatMul`` + ``Add`` (+ ``Relu``);
- weights stay fp16 in the file (each followed by one ``Cast`` to float, which onnxruntime
  folds when the session starts: fp16 -> fp32 is exact) or are widened to fp32.

Operators other than those the faceres graph uses are refused by name.
"""
from __future__ import annotations

import base64
import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SUPPORTED = ("Placeholder", "Const", "Conv2D", "DepthwiseConv2dNative", "Add", "AddV2", "Mul", "Relu", "Minimum",
             "Maximum", "Mean", "_FusedMatMul", "Sigmoid", "Softmax")


class ConversionError(ValueError):
    pass


def _weights(model: dict, shards: dict[str, bytes]) -> dict[str, np.ndarray]:
    """Constants by node name, fp16-quantized ones kept as float16."""
    out: dict[str, np.ndarray] = {}
    for group in model["weightsManifest"]:
        data = b"".join(shards[p] for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            shape = [int(s) for s in w["shape"]]
            count = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            if q is not None and q.get("dtype") == "float16":
                dtype = np.float16
            elif q is None and w["dtype"] in ("float32", "int32"):
                dtype = np.dtype(w["dtype"])
            else:
                raise ConversionError(f"weight {w['name']}: dtype {w['dtype']} quantization {q} not handled")
            size = count * np.dtype(dtype).itemsize
            if offset + size > len(data):
                raise ConversionError(f"weight {w['name']}: the shards end before its {size} bytes")
            out[w["name"]] = np.frombuffer(data, dtype, count, offset).reshape(shape).copy()
            offset += size
        if offset != len(data):
            raise ConversionError(f"shards {group['paths']}: {len(data) - offset} bytes left after the weights")
    return out


def _attr_s(node: dict, key: str) -> str:
    return base64.b64decode(node["attr"][key]["s"]).decode()


def _same_pads(hw, kernel, strides) -> list[int]:
    begin, end = [], []
    for size, k, s in zip(hw, kernel, strides):
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        begin.append(total // 2)
        end.append(total - total // 2)
    return begin + end


def convert(model_json: bytes, shards: dict[str, bytes], outputs: dict[str, str], producer: str,
            fp16_weights: bool = True) -> onnx.ModelProto:
    """ONNX model computing ``outputs`` (TF.js node name -> ONNX output name)."""
    model = json.loads(model_json)
    nodes = {n["name"]: n for n in model["modelTopology"]["node"]}
    weights = _weights(model, shards)

    needed, stack = [], list(outputs)  # keep what the outputs need, in graph order
    seen = set()
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        if name not in nodes:
            raise ConversionError(f"node {name!r} is not in the graph")
        seen.add(name)
        stack += [i.split(":")[0].lstrip("^") for i in nodes[name].get("input", [])]
    needed = [n for n in model["modelTopology"]["node"] if n["name"] in seen]
    for n in needed:
        if n["op"] not in SUPPORTED:
            raise ConversionError(f"node {n['name']}: operator {n['op']} is not handled by this converter")

    onnx_nodes, inits, shapes, inputs = [], [], {}, []
    made: dict[tuple, str] = {}

    def const(name: str, value: np.ndarray) -> str:
        """An initializer (fp16 kept with a Cast to float when asked); its tensor name."""
        if value.dtype == np.float16 and fp16_weights:
            inits.append(numpy_helper.from_array(value, f"{name}_fp16"))
            onnx_nodes.append(helper.make_node("Cast", [f"{name}_fp16"], [name], to=TensorProto.FLOAT,
                                               name=f"{name}_cast"))
        else:
            widened = value.astype(np.float32) if value.dtype == np.float16 else value
            inits.append(numpy_helper.from_array(widened, name))
        return name

    def weight(node_name: str, key: str, layout) -> str:
        if (node_name, key) not in made:
            made[(node_name, key)] = const(f"{node_name}{key}", layout(weights[node_name]))
        return made[(node_name, key)]

    def operand(name: str, channels_like: str) -> str:
        """A tensor input: an activation, or a constant laid out to broadcast over it."""
        name = name.split(":")[0]
        if nodes[name]["op"] != "Const":
            return name
        value = weights[name]
        if value.ndim == 1 and len(shapes.get(channels_like, ())) == 3:
            return weight(name, "_nchw", lambda v: v.reshape(1, -1, 1, 1))
        return weight(name, "", lambda v: v)

    for n in needed:
        op, name, ins = n["op"], n["name"], [i.split(":")[0] for i in n.get("input", [])]
        if op == "Const":
            continue
        if op == "Placeholder":
            dims = [int(d.get("size", -1)) for d in n["attr"]["shape"]["shape"]["dim"]]
            if len(dims) != 4:
                raise ConversionError(f"input {name}: expected NHWC, got {dims}")
            inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT,
                                                        ["batch" if d < 0 else d for d in dims]))
            onnx_nodes.append(helper.make_node("Transpose", [name], [f"{name}_nchw"], perm=[0, 3, 1, 2],
                                               name=f"{name}_to_nchw"))
            shapes[name] = (dims[3], dims[1], dims[2])
            made[("act", name)] = f"{name}_nchw"
            continue
        x = made.get(("act", ins[0]), ins[0])
        if op in ("Conv2D", "DepthwiseConv2dNative"):
            if n["attr"].get("data_format") and _attr_s(n, "data_format") != "NHWC":
                raise ConversionError(f"node {name}: data format {_attr_s(n, 'data_format')}")
            strides = [int(s) for s in n["attr"]["strides"]["list"]["i"]][1:3]
            dil = [int(s) for s in n["attr"].get("dilations", {}).get("list", {}).get("i", ["1"] * 4)][1:3]
            if dil != [1, 1]:
                raise ConversionError(f"node {name}: dilations {dil}")
            c, h, w = shapes[ins[0]]
            kernel = weights[ins[1]]
            kh, kw = kernel.shape[:2]
            if op == "Conv2D":
                wname = weight(ins[1], "_oihw", lambda v: np.ascontiguousarray(v.transpose(3, 2, 0, 1)))
                group, out_c = 1, kernel.shape[3]
            else:
                wname = weight(ins[1], "_oihw", lambda v: np.ascontiguousarray(
                    v.transpose(2, 3, 0, 1).reshape(v.shape[2] * v.shape[3], 1, v.shape[0], v.shape[1])))
                group, out_c = c, c * kernel.shape[3]
            padding = _attr_s(n, "padding")
            pads = _same_pads((h, w), (kh, kw), strides) if padding == "SAME" else [0, 0, 0, 0]
            if padding not in ("SAME", "VALID"):
                raise ConversionError(f"node {name}: padding {padding}")
            onnx_nodes.append(helper.make_node("Conv", [x, wname], [name], kernel_shape=[kh, kw], strides=strides,
                                               pads=pads, group=group, name=name))
            oh, ow = (-(-h // strides[0]), -(-w // strides[1])) if padding == "SAME" else \
                ((h - kh) // strides[0] + 1, (w - kw) // strides[1] + 1)
            shapes[name] = (out_c, oh, ow)
        elif op in ("Add", "AddV2", "Mul", "Minimum", "Maximum"):
            act = ins[0] if nodes[ins[0]]["op"] != "Const" else ins[1]
            a, b = (made.get(("act", i), operand(i, act)) for i in ins)
            onnx_op = {"Add": "Add", "AddV2": "Add", "Mul": "Mul", "Minimum": "Min", "Maximum": "Max"}[op]
            onnx_nodes.append(helper.make_node(onnx_op, [a, b], [name], name=name))
            shapes[name] = shapes[act]
        elif op in ("Relu", "Sigmoid"):
            onnx_nodes.append(helper.make_node(op, [x], [name], name=name))
            shapes[name] = shapes[ins[0]]
        elif op == "Softmax":
            onnx_nodes.append(helper.make_node("Softmax", [x], [name], axis=-1, name=name))
            shapes[name] = shapes[ins[0]]
        elif op == "Mean":
            axes = [int(a) for a in weights[ins[1]].ravel()]
            if len(shapes[ins[0]]) != 3 or sorted(axes) != [1, 2]:
                raise ConversionError(f"node {name}: Mean over axes {axes} of a 4-D NHWC tensor only")
            keep = bool(n["attr"].get("keep_dims", {}).get("b", False))
            if keep:
                raise ConversionError(f"node {name}: keep_dims is not handled")
            onnx_nodes.append(helper.make_node("ReduceMean", [x], [name], axes=[2, 3], keepdims=0, name=name))
            shapes[name] = (shapes[ins[0]][0],)
        elif op == "_FusedMatMul":  # split: MatMul, then each fused op on its own
            fused = [base64.b64decode(s).decode() for s in n["attr"]["fused_ops"]["list"].get("s", [])]
            if n["attr"].get("transpose_a", {}).get("b") or n["attr"].get("transpose_b", {}).get("b"):
                raise ConversionError(f"node {name}: transposed MatMul")
            if not fused or fused[0] != "BiasAdd" or any(f not in ("BiasAdd", "Relu") for f in fused) or \
                    len(ins) != 3:
                raise ConversionError(f"node {name}: fused ops {fused} are not handled")
            kernel = weight(ins[1], "", lambda v: v)
            bias = weight(ins[2], "", lambda v: v)
            onnx_nodes.append(helper.make_node("MatMul", [x, kernel], [f"{name}_matmul"], name=f"{name}_matmul"))
            last = f"{name}_bias" if "Relu" in fused else name
            onnx_nodes.append(helper.make_node("Add", [f"{name}_matmul", bias], [last], name=f"{name}_bias"))
            if "Relu" in fused:
                onnx_nodes.append(helper.make_node("Relu", [last], [name], name=f"{name}_relu"))
            shapes[name] = (weights[ins[1]].shape[1],)
    graph_outputs = []
    for tf_name, onnx_name in outputs.items():
        onnx_nodes.append(helper.make_node("Identity", [tf_name], [onnx_name], name=f"{onnx_name}_out"))
        graph_outputs.append(helper.make_tensor_value_info(onnx_name, TensorProto.FLOAT,
                                                           ["batch", *shapes[tf_name]]))
    graph = helper.make_graph(onnx_nodes, "faceres", inputs, graph_outputs, inits)
    out = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name=producer,
                            ir_version=8)
    onnx.checker.check_model(out)
    return out
