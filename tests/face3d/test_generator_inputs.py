"""A generator whose metadata names the frontalized channels gets them from the shot's mesh (real ONNX
model, real face, real mesh), and empty channels without a mesh; a spec that does not match the
model is refused."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edge.vision.align import ModelInputSpec
from edge.vision.face3d import FrontalRenderer, load_canonical, make_mesher, procrustes_pose
from edge.vision.generate import OnnxGenerator
from edge.vision.model_files import ModelError

SPEC = ModelInputSpec(size=128, inputs=("crop", "frontal", "visibility"))


def channel_picker(path, spec: ModelInputSpec, first: int, channels: int = 7) -> None:
    """An ONNX model that outputs input channels first..first+3 (so the test sees what the box fed it)."""
    s = spec.size
    starts = helper.make_tensor("starts", TensorProto.INT64, [1], [first])
    ends = helper.make_tensor("ends", TensorProto.INT64, [1], [first + 3])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    graph = helper.make_graph([helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["y"])], "picker",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, s, s])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, s, s])],
                              [starts, ends, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    helper.set_model_props(model, {ModelInputSpec.METADATA_KEY: spec.to_json(), "mugshot.name": "picker"})
    onnx.save(model, str(path))


def test_the_frontal_channels_come_from_the_mesh(tmp_path, astronaut, yunet):
    channel_picker(tmp_path / "frontal.onnx", SPEC, first=3)
    generator = OnnxGenerator(tmp_path / "frontal.onnx")
    assert generator.spec.inputs == SPEC.inputs and generator.describe()["inputs"] == "crop+frontal+visibility"
    face = yunet.detect(astronaut)[0]
    mesh = make_mesher("onnxruntime").mesh(astronaut, face.box, face.landmarks)
    fed = generator.generate(astronaut, face.landmarks, mesh).astype(int)
    canonical = load_canonical()
    expected = FrontalRenderer(canonical, 128).render(astronaut, mesh.points, procrustes_pose(mesh.points, canonical))
    assert np.abs(fed - expected.image).max() <= 1
    # no mesh: the frontal channels are empty (0 normalised: the mean grey)
    empty = generator.generate(astronaut, face.landmarks, None)
    assert np.abs(empty.astype(int) - 128).max() <= 1


def test_the_crop_channels_are_the_aligned_crop(tmp_path, astronaut, yunet):
    from edge.vision.align import align_face

    channel_picker(tmp_path / "crop.onnx", SPEC, first=0)
    face = yunet.detect(astronaut)[0]
    fed = OnnxGenerator(tmp_path / "crop.onnx").generate(astronaut, face.landmarks, None).astype(int)
    crop, _ = align_face(astronaut, face.landmarks, 128, SPEC.face_scale)
    assert np.abs(fed - crop).max() <= 1


def test_a_model_whose_channels_disagree_with_its_metadata_is_refused(tmp_path):
    channel_picker(tmp_path / "three.onnx", SPEC, first=0, channels=3)
    with pytest.raises(ModelError, match="takes 3 input channels but its metadata names"):
        OnnxGenerator(tmp_path / "three.onnx")


def test_unknown_or_misordered_input_parts_are_refused():
    for inputs in (["frontal", "crop"], ["crop", "depth"], []):
        raw = ModelInputSpec(inputs=tuple(inputs)).to_json()
        with pytest.raises(ValueError, match="expected 'crop' first"):
            ModelInputSpec.from_metadata({ModelInputSpec.METADATA_KEY: raw}, "model.onnx")
