"""The project's own ONNX -> PyTorch interpreter: an ``nn.Module`` that runs an ONNX graph
node by node with torch operations, so gradients flow back to its input.

It covers exactly the operators of FaceNet's graph as ``tf2onnx`` converts it
(``SUPPORTED_OPS``), with the attributes that graph uses, and refuses anything else by name
when the module is built (never half-way through a forward pass).  Float initializers become
parameters (frozen or not is the caller's choice: ``requires_grad_``); integer ones (shapes,
axes) stay constants, since they are arguments of operations, not tensors to learn.
Why not ``onnx2torch``: it imports torchvision, and PyPI's torchvision does not load next to
torch 2.13.0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn


class UnsupportedOnnx(ValueError):
    """The graph uses an operator, attribute or form this interpreter does not run."""


@dataclass
class Node:
    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict
    run: Callable


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _check_attrs(node: onnx.NodeProto, attrs: dict, allowed: set[str]) -> None:
    extra = sorted(set(attrs) - allowed)
    if extra:
        raise UnsupportedOnnx(f"ONNX node {node.name!r} ({node.op_type}): attribute(s) {', '.join(extra)} "
                              "are not supported")


def _pads_2d(pads: list[int] | None) -> tuple[list[int], bool]:
    """ONNX pads [top, left, bottom, right] -> F.pad order [left, right, top, bottom], and
    whether they are symmetric (then the op's own ``padding`` argument does it)."""
    top, left, bottom, right = pads or [0, 0, 0, 0]
    return [left, right, top, bottom], top == bottom and left == right


class OnnxModule(nn.Module):
    """``OnnxModule(onnx.load(path))(x)``: the graph's outputs (one tensor, or a tuple)."""

    def __init__(self, model: onnx.ModelProto):
        super().__init__()
        graph = model.graph
        for opset in model.opset_import:
            if opset.domain in ("", "ai.onnx") and not 11 <= opset.version <= 21:
                raise UnsupportedOnnx(f"ONNX opset {opset.version} is not supported (11..21)")
        self.params = nn.ParameterDict()
        self._param_key: dict[str, str] = {}  # ONNX initializer name -> key in self.params
        self._constants: dict[str, np.ndarray] = {}  # integer initializers: shapes, axes
        for init in graph.initializer:
            array = numpy_helper.to_array(init)
            if array.dtype.kind == "f":
                key = f"p{len(self._param_key)}"
                self._param_key[init.name] = key
                self.params[key] = nn.Parameter(torch.from_numpy(array.astype(np.float32).copy()))
            else:
                self._constants[init.name] = array.astype(np.int64)
        initialized = set(self._param_key) | set(self._constants)
        self.input_names = [i.name for i in graph.input if i.name not in initialized]
        self.output_names = [o.name for o in graph.output]
        available = set(self.input_names) | initialized
        self.nodes: list[Node] = []
        for node in graph.node:
            if node.domain not in ("", "ai.onnx"):
                raise UnsupportedOnnx(f"ONNX node {node.name!r}: domain {node.domain!r} is not supported")
            if node.op_type not in _BUILDERS:
                raise UnsupportedOnnx(f"ONNX op {node.op_type!r} (node {node.name!r}) is not supported by "
                                      f"trainer.identity_prior.onnx_torch (it runs {', '.join(SUPPORTED_OPS)})")
            missing = [i for i in node.input if i and i not in available]
            if missing:
                raise UnsupportedOnnx(f"ONNX node {node.name!r}: input {missing[0]!r} is not computed before it "
                                      "(graph not in topological order)")
            wrong = [i for k, i in enumerate(node.input) if i in self._constants
                     and k not in _CONSTANT_INPUTS.get(node.op_type, ())]
            if wrong:
                raise UnsupportedOnnx(f"ONNX node {node.name!r} ({node.op_type}): integer input {wrong[0]!r} "
                                      "is not supported (float tensors only)")
            attrs = _attrs(node)
            self.nodes.append(Node(node.op_type, node.name, list(node.input), list(node.output), attrs,
                                   _BUILDERS[node.op_type](self, node, attrs)))
            available |= set(node.output)
        for name in self.output_names:
            if name not in available:
                raise UnsupportedOnnx(f"ONNX output {name!r} is computed by no node")
        # when each value is used the last time, so the forward pass can drop it
        last_use: dict[str, int] = {}
        for k, node in enumerate(self.nodes):
            for i in node.inputs:
                last_use[i] = k
        self._drop_after = [[i for i in set(node.inputs) if last_use.get(i) == k and i not in self.output_names]
                            for k, node in enumerate(self.nodes)]

    def constant(self, node: onnx.NodeProto, name: str) -> np.ndarray:
        if name not in self._constants:
            raise UnsupportedOnnx(f"ONNX node {node.name!r} ({node.op_type}): input {name!r} must be a constant "
                                  "integer initializer")
        return self._constants[name]

    def _value(self, values: dict, name: str) -> torch.Tensor:
        if name in values:
            return values[name]
        return self.params[self._param_key[name]]

    def forward(self, *inputs: torch.Tensor):
        if len(inputs) != len(self.input_names):
            raise TypeError(f"the graph takes {len(self.input_names)} input(s) ({', '.join(self.input_names)}), "
                            f"got {len(inputs)}")
        values = dict(zip(self.input_names, inputs))
        for node, drop in zip(self.nodes, self._drop_after):
            args = [self._value(values, i) if i and i not in self._constants else None for i in node.inputs]
            result = node.run(*args)
            for name, value in zip(node.outputs, result if isinstance(result, tuple) else (result,)):
                values[name] = value
            for name in drop:
                values.pop(name, None)
        outputs = tuple(values[name] for name in self.output_names)
        return outputs[0] if len(outputs) == 1 else outputs


# --- one builder per operator: check the node once, return what runs it ---

def _conv(module, node, attrs):
    _check_attrs(node, attrs, {"kernel_shape", "strides", "pads", "dilations", "group", "auto_pad"})
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise UnsupportedOnnx(f"ONNX node {node.name!r} (Conv): auto_pad {attrs['auto_pad']!r} is not supported")
    if len(attrs.get("kernel_shape", [0, 0])) != 2:
        raise UnsupportedOnnx(f"ONNX node {node.name!r} (Conv): only 2-D convolutions are supported")
    pads, symmetric = _pads_2d(attrs.get("pads"))
    strides, dilations, group = attrs.get("strides", [1, 1]), attrs.get("dilations", [1, 1]), attrs.get("group", 1)

    def run(x, weight, bias=None):
        if symmetric:
            return F.conv2d(x, weight, bias, strides, (pads[2], pads[0]), dilations, group)
        return F.conv2d(F.pad(x, pads), weight, bias, strides, 0, dilations, group)
    return run


def _pool(kind):
    def build(module, node, attrs):
        allowed = {"kernel_shape", "strides", "pads", "ceil_mode", "auto_pad"}
        allowed |= {"count_include_pad"} if kind == "avg" else {"dilations", "storage_order"}
        _check_attrs(node, attrs, allowed)
        if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET") or attrs.get("storage_order", 0) or \
                any(d != 1 for d in attrs.get("dilations", [1, 1])) or len(node.output) > 1:
            raise UnsupportedOnnx(f"ONNX node {node.name!r} ({node.op_type}): auto_pad, dilations, storage_order "
                                  "and the indices output are not supported")
        kernel, strides = attrs["kernel_shape"], attrs.get("strides", [1, 1])
        ceil = bool(attrs.get("ceil_mode", 0))
        pads, symmetric = _pads_2d(attrs.get("pads"))
        include = bool(attrs.get("count_include_pad", 0))
        if kind == "avg" and any(pads) and not include and not symmetric:
            raise UnsupportedOnnx(f"ONNX node {node.name!r} (AveragePool): asymmetric pads without "
                                  "count_include_pad are not supported")

        def run(x):
            if kind == "max":
                return F.max_pool2d(F.pad(x, pads, value=float("-inf")), kernel, strides, 0, 1, ceil)
            if include or not any(pads):
                return F.avg_pool2d(F.pad(x, pads), kernel, strides, 0, ceil, True)
            return F.avg_pool2d(x, kernel, strides, (pads[2], pads[0]), ceil, False)
        return run
    return build


def _reshape(module, node, attrs):
    _check_attrs(node, attrs, {"allowzero"})
    if attrs.get("allowzero", 0):
        raise UnsupportedOnnx(f"ONNX node {node.name!r} (Reshape): allowzero=1 is not supported")
    shape = [int(d) for d in module.constant(node, node.input[1])]

    def run(x, _shape=None):  # 0 copies the input's dimension, -1 is inferred
        return x.reshape([x.shape[k] if d == 0 else d for k, d in enumerate(shape)])
    return run


def _batch_norm(module, node, attrs):
    _check_attrs(node, attrs, {"epsilon", "momentum", "training_mode"})
    if attrs.get("training_mode", 0) or len(node.output) > 1:
        raise UnsupportedOnnx(f"ONNX node {node.name!r} (BatchNormalization): only inference mode is supported")
    eps = attrs.get("epsilon", 1e-5)

    def run(x, scale, bias, mean, var):  # written out: every argument may be a parameter that wants gradients
        shape = [1, -1] + [1] * (x.dim() - 2)
        factor = (scale * torch.rsqrt(var + eps)).view(shape)
        return (x - mean.view(shape)) * factor + bias.view(shape)
    return run


def _reduce_sum(module, node, attrs):
    _check_attrs(node, attrs, {"keepdims", "noop_with_empty_axes", "axes"})
    if len(node.input) > 1 and node.input[1]:
        axes = [int(a) for a in module.constant(node, node.input[1])]
    else:
        axes = list(attrs.get("axes", []))
    keep = bool(attrs.get("keepdims", 1))
    if not axes and attrs.get("noop_with_empty_axes", 0):
        return lambda x, _axes=None: x

    def run(x, _axes=None):
        return x.sum(dim=axes or list(range(x.dim())), keepdim=keep)
    return run


def _concat(module, node, attrs):
    _check_attrs(node, attrs, {"axis"})
    axis = attrs["axis"]
    return lambda *xs: torch.cat(xs, dim=axis)


def _max(module, node, attrs):
    _check_attrs(node, attrs, set())

    def run(*xs):
        out = xs[0]
        for x in xs[1:]:
            out = torch.maximum(out, x)
        return out
    return run


def _elementwise(fn):
    def build(module, node, attrs):
        _check_attrs(node, attrs, set())
        return fn
    return build


_BUILDERS = {
    "Conv": _conv,
    "Relu": _elementwise(torch.relu),
    "Add": _elementwise(torch.add),
    "Mul": _elementwise(torch.mul),
    "Concat": _concat,
    "MaxPool": _pool("max"),
    "AveragePool": _pool("avg"),
    "Reshape": _reshape,
    "MatMul": _elementwise(torch.matmul),
    "BatchNormalization": _batch_norm,
    "ReduceSum": _reduce_sum,
    "Max": _max,
    "Sqrt": _elementwise(torch.sqrt),
    "Reciprocal": _elementwise(torch.reciprocal),
}
SUPPORTED_OPS = tuple(sorted(_BUILDERS))
_CONSTANT_INPUTS = {"Reshape": (1,), "ReduceSum": (1,)}  # input positions read as integer constants
