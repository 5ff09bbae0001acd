"""The frontalize generator and the 7-channel refiner are retired (issue 22: they rated 2.55 and 1.61 of 5
natural blind).  What still names them gets one line naming the key or the model file and what to use
instead; a generator's input is the aligned crop alone (real ONNX models, a real face)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edge.config import ConfigError, GeneratorConfig, check_config, config_from_dict, load_config
from edge.config import Config
from edge.vision.align import ModelInputSpec
from edge.vision.generate import OnnxGenerator, TfliteGenerator, make_generator
from edge.vision.model_files import ModelError

REFINER_INPUTS = ["crop", "frontal", "visibility"]


def passthrough(path, channels: int = 3, size: int = 64, inputs: list[str] | None = None) -> None:
    """An ONNX model that outputs its first 3 input channels (what the box fed it), with the mugshot spec in its
    metadata; ``inputs``: the spec's channel groups as an older export wrote them (None: not written)."""
    spec = json.loads(ModelInputSpec(size=size).to_json())
    if inputs is None:
        spec.pop("inputs")
    else:
        spec["inputs"] = inputs
    starts, ends, axes = (helper.make_tensor(n, TensorProto.INT64, [1], [v]) for n, v in
                          (("starts", 0), ("ends", 3), ("axes", 1)))
    graph = helper.make_graph([helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["y"])], "passthrough",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, size, size])],
                              [starts, ends, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    helper.set_model_props(model, {ModelInputSpec.METADATA_KEY: json.dumps(spec), "mugshot.name": "passthrough"})
    onnx.save(model, str(path))


def one_line(text: str) -> str:
    assert "\n" not in text.strip(), text
    return text


@pytest.mark.parametrize("raw", [{"generator": {"model": "frontalize"}},
                                 {"generator": {"model": "frontalize"}, "mesh": {"enabled": False}}])
def test_config_naming_frontalize_gets_one_line_saying_it_was_retired(raw):
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw)
    message = one_line(str(err.value))
    assert message.startswith("generator.model: ") and "retired" in message
    assert '"auto"' in message and '"none"' in message and "not found" not in message


def test_a_config_built_in_code_with_frontalize_is_refused_too():
    with pytest.raises(ConfigError, match="generator.model: 'frontalize' .* was retired"):
        check_config(Config(generator=GeneratorConfig(model="frontalize")))
    with pytest.raises(ModelError, match="generator.model: 'frontalize' .* was retired"):
        make_generator("frontalize", 1, __import__("models").MODELS_DIR)


def test_a_config_file_with_frontalize_or_render_size_fails_the_check_command(tmp_path):
    for n, text in enumerate(('[generator]\nmodel = "frontalize"\n', "[mesh]\nrender_size = 128\n")):
        path = tmp_path / f"c{n}.toml"
        path.write_text(text)
        with pytest.raises(ConfigError) as err:
            load_config(path)
        message = one_line(str(err.value))
        assert message.startswith(("generator.model: ", "mesh.render_size: ")) and "retired" in message
        result = subprocess.run([sys.executable, "-m", "edge.cli", "check", "--config", str(path)],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 78, result.stderr
        lines = [line for line in result.stderr.splitlines() if "retired" in line]
        assert len(lines) == 1 and ("generator.model" in lines[0] or "mesh.render_size" in lines[0]), result.stderr


def test_a_refiner_model_file_is_refused_with_one_line_naming_it(tmp_path):
    passthrough(tmp_path / "refiner.onnx", channels=7, inputs=REFINER_INPUTS)
    with pytest.raises(ModelError) as err:
        OnnxGenerator(tmp_path / "refiner.onnx")
    message = one_line(str(err.value))
    assert message.startswith(f"generator.model: {tmp_path / 'refiner.onnx'}")
    assert "crop+frontal+visibility" in message and "7-channel refiner" in message and "retired" in message
    # the same through the config path the daemon takes
    with pytest.raises(ModelError, match="7-channel refiner .* was retired"):
        make_generator(str(tmp_path / "refiner.onnx"), 1, tmp_path)


def test_a_seven_channel_model_without_refiner_metadata_is_refused(tmp_path):
    passthrough(tmp_path / "seven.onnx", channels=7, inputs=["crop"])
    with pytest.raises(ModelError) as err:
        OnnxGenerator(tmp_path / "seven.onnx")
    message = one_line(str(err.value))
    assert f"{tmp_path / 'seven.onnx'} takes 7 input channels" in message and "retired" in message


def test_a_refiner_tflite_is_refused_by_its_spec_naming_the_model(tmp_path):
    model = tmp_path / "refiner.tflite"
    model.write_bytes(b"not read: the spec beside it is refused first")
    spec = json.loads(ModelInputSpec().to_json()) | {"inputs": REFINER_INPUTS}
    model.with_suffix(".json").write_text(json.dumps(spec))
    with pytest.raises(ModelError) as err:
        TfliteGenerator(model)
    message = one_line(str(err.value))
    assert message.startswith(f"generator.model: {model}") and "7-channel refiner" in message


def test_a_generator_is_fed_the_aligned_crop(tmp_path, astronaut, yunet):
    """Old exports wrote inputs = ["crop"], new ones need not: both load, and the model sees the aligned crop."""
    from edge.vision.align import align_face

    face = yunet.detect(astronaut)[0]
    crop, _ = align_face(astronaut, face.landmarks, 64, ModelInputSpec().face_scale)
    for inputs in (["crop"], None):
        passthrough(tmp_path / "crop.onnx", inputs=inputs)
        generator = OnnxGenerator(tmp_path / "crop.onnx")
        assert generator.spec.inputs == ("crop",) and "inputs" not in generator.describe()
        fed = generator.generate(astronaut, face.landmarks).astype(int)
        assert np.abs(fed - crop).max() <= 1


def test_quantizer_refuses_a_refiner_with_one_line(tmp_path):
    passthrough(tmp_path / "refiner.onnx", channels=7, inputs=REFINER_INPUTS)
    result = subprocess.run([sys.executable, "-m", "quantize", "generator", "--model", str(tmp_path / "refiner.onnx"),
                             "--out", str(tmp_path / "refiner_int8.onnx")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(tmp_path / "refiner.onnx") in lines[0] and "7-channel refiner" in lines[0], lines
    assert not (tmp_path / "refiner_int8.onnx").exists()
