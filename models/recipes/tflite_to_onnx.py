"""The project's own TFLite -> ONNX converter for MediaPipe's face-landmark and selfie-segmentation networks.

It handles exactly the operators those networks use (fp16 ``DEQUANTIZE`` of weights,
``CONV_2D``, ``DEPTHWISE_CONV_2D``, ``PRELU``, ``ADD``, ``MAX_POOL_2D``, ``PAD``; for the segmentation
``RELU``, ``HARD_SWISH``, ``LOGISTIC``, ``MUL``, ``AVERAGE_POOL_2D``, ``RESIZE_BILINEAR`` and MediaPipe's
custom ``Convolution2DTransposeBias``) and refuses anything else by name.  The ONNX graph works in NCHW: one ``Transpose`` after the
NHWC input, weights laid out once at conversion, so onnxruntime runs plain convolutions.
The outputs keep the TFLite names' meaning: ``landmarks`` (1x1404) and
``presence_logit`` (1x1).  Reads the flatbuffer with the ``tflite`` package.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

PADDING_SAME, PADDING_VALID = 0, 1
ACTIVATION_NONE, ACTIVATION_RELU = 0, 1
DTYPES = {0: np.float32, 1: np.float16, 2: np.int32}


class ConversionError(ValueError):
    pass


def _operator_names() -> dict[int, str]:
    import tflite
    return {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}


def _options(op, cls):
    table = op.BuiltinOptions()
    options = cls()
    options.Init(table.Bytes, table.Pos)
    return options


def _same_pads(in_hw, kernel_hw, strides) -> list[int]:
    """TensorFlow SAME padding as explicit ONNX pads [top, left, bottom, right]."""
    pads_begin, pads_end = [], []
    for size, k, s in zip(in_hw, kernel_hw, strides):
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        pads_begin.append(total // 2)
        pads_end.append(total - total // 2)
    return pads_begin + pads_end


def convert(tflite_bytes: bytes, output_names: dict[str, str], producer: str,
            graph_name: str = "face_landmark") -> onnx.ModelProto:
    """ONNX model of the network; ``output_names`` maps TFLite output tensor names to ONNX names."""
    import tflite

    model = tflite.Model.GetRootAsModel(tflite_bytes, 0)
    if model.SubgraphsLength() != 1:
        raise ConversionError(f"expected one subgraph, found {model.SubgraphsLength()}")
    graph = model.Subgraphs(0)
    names = _operator_names()
    codes = [max(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).DeprecatedBuiltinCode())
             for i in range(model.OperatorCodesLength())]
    customs = [(model.OperatorCodes(i).CustomCode() or b"").decode() for i in range(model.OperatorCodesLength())]

    def tensor(i):
        return graph.Tensors(int(i))

    def shape(i):
        return [int(d) for d in tensor(i).ShapeAsNumpy()]

    def constant(i) -> np.ndarray | None:
        t = tensor(i)
        data = model.Buffers(t.Buffer()).DataAsNumpy()
        if isinstance(data, int) or data.size == 0:
            return None
        if t.Type() not in DTYPES:
            raise ConversionError(f"tensor {t.Name().decode()}: unsupported type {t.Type()}")
        return np.frombuffer(data.tobytes(), dtype=DTYPES[t.Type()]).reshape(shape(i))

    values: dict[int, np.ndarray] = {}  # constants (float32, TFLite layout)
    nodes, initializers = [], []
    name_of = {}

    def value_name(i: int) -> str:
        return name_of.setdefault(int(i), f"t{int(i)}")

    def add_init(name: str, array: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    (input_index,) = graph.InputsAsNumpy()
    in_shape = shape(input_index)
    if len(in_shape) != 4:
        raise ConversionError(f"input shape {in_shape} is not NHWC")
    nodes.append(helper.make_node("Transpose", ["input"], [value_name(input_index)], perm=[0, 3, 1, 2]))

    for k in range(graph.OperatorsLength()):
        op = graph.Operators(k)
        kind = names[codes[op.OpcodeIndex()]]
        if kind == "CUSTOM":
            kind = customs[op.OpcodeIndex()]
        ins, (out,) = [int(i) for i in op.InputsAsNumpy()], [int(i) for i in op.OutputsAsNumpy()]
        if kind == "DEQUANTIZE":
            source = constant(ins[0])
            if source is None:
                raise ConversionError(f"operator {k}: DEQUANTIZE of a non-constant")
            values[out] = source.astype(np.float32)
            continue
        const = {i: (values[i] if i in values else constant(i)) for i in ins if i >= 0}
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            depthwise = kind == "DEPTHWISE_CONV_2D"
            o = _options(op, tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions)
            if o.DilationHFactor() != 1 or o.DilationWFactor() != 1:
                raise ConversionError(f"operator {k}: dilation is not supported")
            weight = const[ins[1]].astype(np.float32)
            strides = [o.StrideH(), o.StrideW()]
            in_hw = shape(ins[0])[1:3]
            if depthwise:  # 1 x H x W x C*M -> C*M x 1 x H x W
                channels = shape(ins[0])[3]
                if weight.shape[3] != channels:
                    raise ConversionError(f"operator {k}: depth multiplier != 1 is not supported")
                w = weight.transpose(3, 0, 1, 2)
            else:  # O x H x W x I -> O x I x H x W
                w = weight.transpose(0, 3, 1, 2)
            pads = _same_pads(in_hw, w.shape[2:], strides) if o.Padding() == PADDING_SAME else [0, 0, 0, 0]
            inputs = [value_name(ins[0]), add_init(f"w{k}", w)]
            if len(ins) > 2 and ins[2] >= 0:
                inputs.append(add_init(f"b{k}", const[ins[2]].astype(np.float32)))
            attrs = {"kernel_shape": list(w.shape[2:]), "strides": strides, "pads": pads}
            if depthwise:
                attrs["group"] = channels
            activation = o.FusedActivationFunction()
            conv_out = value_name(out) if activation == ACTIVATION_NONE else f"c{k}"
            nodes.append(helper.make_node("Conv", inputs, [conv_out], **attrs))
            if activation == ACTIVATION_RELU:
                nodes.append(helper.make_node("Relu", [conv_out], [value_name(out)]))
            elif activation != ACTIVATION_NONE:
                raise ConversionError(f"operator {k}: fused activation {activation} is not supported")
        elif kind == "PRELU":
            alpha = const[ins[1]].astype(np.float32).reshape(-1)
            slope = add_init(f"a{k}", alpha.reshape(-1, 1, 1))
            nodes.append(helper.make_node("PRelu", [value_name(ins[0]), slope], [value_name(out)]))
        elif kind == "ADD":
            if any(i in const and const[i] is not None for i in ins):
                raise ConversionError(f"operator {k}: ADD of a constant is not supported")
            o = _options(op, tflite.AddOptions)
            if o.FusedActivationFunction() != ACTIVATION_NONE:
                raise ConversionError(f"operator {k}: fused activation on ADD is not supported")
            nodes.append(helper.make_node("Add", [value_name(ins[0]), value_name(ins[1])], [value_name(out)]))
        elif kind == "MAX_POOL_2D":
            o = _options(op, tflite.Pool2DOptions)
            kernel, strides = [o.FilterHeight(), o.FilterWidth()], [o.StrideH(), o.StrideW()]
            pads = (_same_pads(shape(ins[0])[1:3], kernel, strides) if o.Padding() == PADDING_SAME
                    else [0, 0, 0, 0])
            nodes.append(helper.make_node("MaxPool", [value_name(ins[0])], [value_name(out)],
                                          kernel_shape=kernel, strides=strides, pads=pads))
        elif kind == "PAD":
            paddings = const[ins[1]].astype(np.int64)  # NHWC rows of [before, after]
            nchw = paddings[[0, 3, 1, 2]]
            pads = add_init(f"p{k}", np.concatenate([nchw[:, 0], nchw[:, 1]]).astype(np.int64))
            nodes.append(helper.make_node("Pad", [value_name(ins[0]), pads], [value_name(out)], mode="constant"))
        elif kind in ("RELU", "LOGISTIC"):
            nodes.append(helper.make_node("Relu" if kind == "RELU" else "Sigmoid", [value_name(ins[0])],
                                          [value_name(out)]))
        elif kind == "HARD_SWISH":  # x * relu6(x + 3) / 6, in opset 13 terms
            gate = f"h{k}"
            nodes.append(helper.make_node("HardSigmoid", [value_name(ins[0])], [gate], alpha=1.0 / 6.0, beta=0.5))
            nodes.append(helper.make_node("Mul", [value_name(ins[0]), gate], [value_name(out)]))
        elif kind == "MUL":
            if any(i in const and const[i] is not None for i in ins):
                raise ConversionError(f"operator {k}: MUL of a constant is not supported")
            if _options(op, tflite.MulOptions).FusedActivationFunction() != ACTIVATION_NONE:
                raise ConversionError(f"operator {k}: fused activation on MUL is not supported")
            nodes.append(helper.make_node("Mul", [value_name(ins[0]), value_name(ins[1])], [value_name(out)]))
        elif kind == "AVERAGE_POOL_2D":
            o = _options(op, tflite.Pool2DOptions)
            if (o.FilterHeight(), o.FilterWidth()) != tuple(shape(ins[0])[1:3]) or o.FusedActivationFunction():
                raise ConversionError(f"operator {k}: only a global AVERAGE_POOL_2D is supported")
            nodes.append(helper.make_node("GlobalAveragePool", [value_name(ins[0])], [value_name(out)]))
        elif kind == "RESIZE_BILINEAR":
            o = _options(op, tflite.ResizeBilinearOptions)
            mode = ("align_corners" if o.AlignCorners() else "half_pixel" if o.HalfPixelCenters()
                    else "asymmetric")
            height, width = (int(v) for v in const[ins[1]])
            sizes = add_init(f"s{k}", np.array([1, shape(ins[0])[3], height, width], dtype=np.int64))
            nodes.append(helper.make_node("Resize", [value_name(ins[0]), "", "", sizes], [value_name(out)],
                                          mode="linear", coordinate_transformation_mode=mode))
        elif kind == "Convolution2DTransposeBias":  # MediaPipe's: O x H x W x I weights, bias, SAME padding
            padding, stride_w, stride_h = np.frombuffer(op.CustomOptionsAsNumpy().tobytes()[:12], dtype="<i4")
            weight = const[ins[1]].astype(np.float32)
            strides = [int(stride_h), int(stride_w)]
            in_hw, out_hw = shape(ins[0])[1:3], shape(out)[1:3]
            total = [(i - 1) * s + kk - o for i, s, kk, o in zip(in_hw, strides, weight.shape[1:3], out_hw)]
            if padding not in (1, 2) or min(total) < 0:
                raise ConversionError(f"operator {k}: Convolution2DTransposeBias padding {padding} is not supported")
            pads = [t // 2 for t in total] + [t - t // 2 for t in total]
            nodes.append(helper.make_node(
                "ConvTranspose", [value_name(ins[0]), add_init(f"w{k}", weight.transpose(3, 0, 1, 2)),
                                  add_init(f"b{k}", const[ins[2]].astype(np.float32))],
                [value_name(out)], kernel_shape=list(weight.shape[1:3]), strides=strides, pads=pads))
        else:
            raise ConversionError(f"operator {k}: {kind} is not supported by this converter")

    outputs = []
    for i in graph.OutputsAsNumpy():
        tflite_name = tensor(i).Name().decode()
        if tflite_name not in output_names:
            raise ConversionError(f"output {tflite_name!r} has no name in {sorted(output_names)}")
        name = output_names[tflite_name]
        size = int(np.prod(shape(i)))
        target = add_init(f"shape_{name}", np.array([1, size], dtype=np.int64))
        nodes.append(helper.make_node("Reshape", [value_name(i), target], [name]))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, size]))

    onnx_graph = helper.make_graph(
        nodes, graph_name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)], outputs, initializers)
    result = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", 13)],
                               producer_name=producer)
    result.ir_version = 8
    onnx.checker.check_model(result)
    return result
