"""INT8 of a 7-channel refiner (crop + frontalized face + visibility, blend head): calibration and fidelity
inputs made by the box's own path (YuNet, face mesh, pose, frontal renderer, stack_inputs), faces without an
accepted mesh kept with empty frontal channels, the blend head left in float, and the result run by the box."""
import json

import numpy as np

from edge.vision.align import ModelInputSpec
from edge.vision.generate import ModelInput, make_generator
from quantize.calibrate import generator_inputs, images_in
from quantize.cli import main

FRMDB = "frmdb/cropped/mugshots"
REFINER = ("crop", "frontal", "visibility")


def test_refiner_inputs_are_the_box_inputs_with_and_without_a_mesh(shared_data, mesher, yunet):
    """Each calibration tensor is what edge.vision.generate.ModelInput feeds the model for that picture and mesh; a
    profile without an accepted mesh is kept, with its frontal channels and map zero."""
    import cv2

    spec = ModelInputSpec(size=32, inputs=REFINER)
    images = images_in(shared_data / FRMDB / "042", 64)
    made = generator_inputs(images, spec, detector=yunet, mesher=mesher)
    assert 0 < sum(made.meshed) < len(made), "the views give faces with and without a mesh"
    assert made.describe() == {"faces": len(made), "with_mesh": sum(made.meshed),
                               "without_mesh": len(made) - sum(made.meshed)}
    box = ModelInput(spec)
    for tensor, meshed, path in zip(made.tensors, made.meshed, made.sources):
        assert tensor.shape == (1, 7, 32, 32) and tensor.dtype == np.float32
        frontal = np.abs(tensor[0, 3:]).max()
        assert (frontal > 0) == meshed, path.name
        image = cv2.imread(str(path))
        face = yunet.detect(image)[0]
        mesh = mesher.mesh(image, face.box, face.landmarks)
        assert np.array_equal(tensor, box(image, face.landmarks, mesh)), path.name


def test_refiner_int8_reports_fidelity_and_runs_on_the_box(tiny_refiner, shared_data, tmp_path, mesher,
                                                           astronaut):
    tiny_refiner_onnx = tiny_refiner[1]
    out = tmp_path / "refiner_int8.onnx"
    args = ["generator", "--model", str(tiny_refiner_onnx), "--calib", str(shared_data / FRMDB / "042"),
            "--eval", str(shared_data / FRMDB / "046"), "--out", str(out), "--max-drop", "0.1"]
    assert main(args) == 0
    report = json.loads(out.with_suffix(".report.json").read_text())
    calibration = report["calibration"]
    assert calibration["inputs"] == list(REFINER)
    assert calibration["with_mesh"] > 0 and calibration["without_mesh"] > 0
    assert calibration["with_mesh"] + calibration["without_mesh"] == calibration["faces"]
    fidelity = report["fidelity"]
    assert report["gate"]["passed"] and fidelity["psnr"] > 25
    assert fidelity["faces_with_mesh"] > 0 and fidelity["faces_without_mesh"] > 0
    assert fidelity["faces_with_mesh"] + fidelity["faces_without_mesh"] == fidelity["faces"]
    assert fidelity["psnr_with_mesh"] > 25 and fidelity["psnr_without_mesh"] > 25
    floating = " ".join(report["nodes"]["float"])
    for op in ("Sigmoid", "Tanh", "Clip"):  # the blend head stays float by default
        assert f"({op})" in floating, op
    assert floating.count("(Conv)") == 1, "the convolution reading the 7 input channels stays float"
    assert report["nodes"]["quantized"] > 5
    assert "with a mesh" in out.with_suffix(".report.md").read_text()
    whole = tmp_path / "refiner_int8_whole.onnx"
    assert main(args[:args.index("--out") + 1] + [str(whole), "--max-drop", "0.1", "--input-conv-int8"]) == 0
    assert "(Conv)" not in " ".join(json.loads(whole.with_suffix(".report.json").read_text())["nodes"]["float"])

    from edge.vision.detect.yunet import YuNetDetector
    generator = make_generator(str(tiny_refiner_onnx), 1, tmp_path, precision="int8", int8_model=str(out))
    fp32 = make_generator(str(tiny_refiner_onnx), 1, tmp_path, precision="fp32")
    assert generator.precision == "int8" and generator.spec.channels == 7
    auto = make_generator(str(tiny_refiner_onnx), 1, tmp_path, precision="auto", int8_model=str(out))
    assert auto.precision in ("fp32", "int8")  # timed both on 7-channel inputs
    face = YuNetDetector().detect(astronaut)[0]
    mesh = mesher.mesh(astronaut, face.box, face.landmarks)
    assert mesh is not None
    for m in (mesh, None):
        a = generator.generate(astronaut, face.landmarks, m).astype(np.float32)
        b = fp32.generate(astronaut, face.landmarks, m).astype(np.float32)
        assert a.shape == b.shape == (32, 32, 3)
        assert np.abs(a - b).mean() < 8


def test_a_generator_whose_metadata_disagrees_with_its_channels_is_refused(tiny_refiner, tmp_path):
    import onnx

    tiny_refiner_onnx = tiny_refiner[1]
    proto = onnx.load(str(tiny_refiner_onnx))
    for entry in proto.metadata_props:
        if entry.key == ModelInputSpec.METADATA_KEY:
            entry.value = ModelInputSpec(size=32).to_json()  # says crop only: 3 channels
    wrong = tmp_path / "wrong.onnx"
    onnx.save(proto, str(wrong))
    assert main(["generator", "--model", str(wrong), "--out", str(tmp_path / "w_int8.onnx")]) == 2
    assert not (tmp_path / "w_int8.onnx").exists()


def test_compare_puts_the_int8_variants_side_by_side(tiny_refiner, shared_data, mesher, yunet):
    from quantize.compare import compare, format_table, variants

    tiny_refiner_onnx = tiny_refiner[1]
    spec = ModelInputSpec(size=32, inputs=REFINER)
    calib = generator_inputs(images_in(shared_data / FRMDB / "042", 64), spec, detector=yunet, mesher=mesher)
    evaluation = generator_inputs(images_in(shared_data / FRMDB / "046", 64), spec, detector=yunet, mesher=mesher)
    result = compare(tiny_refiner_onnx, calib, evaluation, spec)
    rows = result["rows"]
    assert list(rows) == list(variants(tiny_refiner_onnx))
    default, head_int8 = rows["per-channel, head float"], rows["per-channel, head INT8 too"]
    assert head_int8["int8 nodes"] > default["int8 nodes"]
    assert rows["per-channel, head + input conv float (refiner default)"]["int8 nodes"] == default["int8 nodes"] - 1
    for label, row in rows.items():
        assert row["psnr"] > 20 and 0 <= row["blend weight err mean"] <= row["blend weight err max"] < 1, label
        assert row["ms 1t"] > 0 and row["fp32/int8 1t"] > 0, label
    assert default["blend weight err max"] > 0, "the INT8 network moves the blend logit a little"
    table = format_table(result)
    assert table.count("\n| per-") == len(rows) and "fp32/int8 1t" in table


def test_shipped_models_package_survives_onnxruntime_quantization(tmp_path):
    """onnxruntime.quantization puts onnxruntime/transformers (which has a `models` folder) on sys.path;
    an installed script (no project folder on the path) must still find the project's models package."""
    import subprocess
    import sys

    code = ("import sys; sys.path.remove(''); import quantize.run, quantize.calibrate; import models; "
            "from edge.vision.face3d import make_mesher; make_mesher(); print(models.MODELS_DIR)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
