"""INT8 quantization of the real YuNet and of a trainer-exported student, with the fidelity gate."""
import json
import shutil

import cv2
import numpy as np
import pytest

from edge.config import DetectorConfig
from edge.vision.detect import make_detector
from edge.vision.generate import make_generator
from edge.vision.model_files import ModelError, sha256_file
from edge.vision.precision import choose
from quantize.cli import EXIT_GATE, main

FRMDB = "frmdb/cropped/mugshots"


@pytest.fixture(scope="module")
def black_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("black")
    for i in range(4):
        cv2.imwrite(str(folder / f"{i}.png"), np.zeros((480, 640, 3), np.uint8))
    return folder


@pytest.fixture(scope="module")
def int8_detector(tmp_path_factory):
    out = tmp_path_factory.mktemp("q") / "yunet_int8.onnx"
    assert main(["detector", "--out", str(out), "--limit", "16"]) == 0
    return out


def test_detector_int8_passes_the_gate_and_runs_in_the_edge(int8_detector, astronaut, capsys):
    report = json.loads(int8_detector.with_suffix(".report.json").read_text())
    assert report["gate"]["passed"] and report["nodes"]["quantized"] > 50
    assert report["fidelity"]["int8_vs_fp32_recall"] >= 0.95
    assert set(report["latency"]) == {"1 thread", "2 threads"}
    assert "| 1 thread |" in int8_detector.with_suffix(".report.md").read_text()
    detector = make_detector(DetectorConfig(precision="int8", int8_model=str(int8_detector)))
    assert detector.precision == "int8"
    faces = detector.detect(astronaut)
    assert len(faces) == 1 and faces[0].score > 0.7


def test_broken_calibration_fails_the_gate(black_folder, tmp_path):
    out = tmp_path / "yunet_black.onnx"
    assert main(["detector", "--calib", str(black_folder), "--out", str(out)]) == EXIT_GATE
    assert not json.loads(out.with_suffix(".report.json").read_text())["gate"]["passed"]
    with pytest.raises(ModelError, match="failed its fidelity gate"):
        make_detector(DetectorConfig(precision="int8", int8_model=str(out)))
    auto = make_detector(DetectorConfig(precision="auto", int8_model=str(out)))
    assert auto.precision == "fp32"


def test_auto_times_both_and_a_tampered_int8_model_is_refused(int8_detector, tmp_path):
    from edge.vision.model_files import locate_yunet, with_free_spatial_dims
    choice = choose("auto", with_free_spatial_dims(locate_yunet()), int8_detector, (1, 3, 320, 320), "detector",
                    seconds=0.4)
    assert choice.precision in ("fp32", "int8") and "fp32" in choice.reason and "int8" in choice.reason
    copy = tmp_path / "yunet_int8.onnx"
    shutil.copy(int8_detector, copy)
    shutil.copy(int8_detector.with_suffix(".report.json"), copy.with_suffix(".report.json"))
    data = bytearray(copy.read_bytes())
    data[-20] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="refusing it"):
        make_detector(DetectorConfig(precision="int8", int8_model=str(copy)))


def test_generator_int8_with_the_residual_clamp_kept_in_float(tiny_student_onnx, shared_data, tmp_path, black_folder):
    out = tmp_path / "student_int8.onnx"
    args = ["generator", "--model", str(tiny_student_onnx), "--calib", str(shared_data / FRMDB / "042"),
            "--eval", str(shared_data / FRMDB / "046"), "--out", str(out), "--max-drop", "0.1"]
    assert main(args) == 0
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["gate"]["passed"] and report["fidelity"]["psnr"] > 20
    assert any("Clip" in node for node in report["nodes"]["float"]), "the restoration student's clamp stays float"
    generator = make_generator(str(tiny_student_onnx), 1, tmp_path, precision="int8", int8_model=str(out))
    assert generator.precision == "int8" and generator.spec.size == 256
    broken = tmp_path / "student_black.onnx"
    args[args.index("--calib") + 1], args[args.index("--out") + 1] = str(black_folder), str(broken)
    assert main(args) in (2, EXIT_GATE)  # no faces to calibrate on, or a failed gate: never a pass


def test_manifest_hash_check_refuses_a_modified_model(tiny_student_onnx, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(tiny_student_onnx, models / "student.onnx")
    (models / "manifest.toml").write_text(
        f'[student]\nfile = "student.onnx"\nprecision = "fp32"\nsha256 = "{sha256_file(tiny_student_onnx)}"\n')
    assert make_generator("auto", 1, models, precision="fp32").name == "student"
    data = bytearray((models / "student.onnx").read_bytes())
    data[-30] ^= 0xFF
    (models / "student.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"generator.model \(manifest.toml\): .*student.onnx has sha256"):
        make_generator("auto", 1, models, precision="fp32")


def test_shipped_models_match_the_manifest_and_run(astronaut):
    """Every model in models/ loads through the edge (ONNX and TFLite), hash-checked, and the INT8
    student's report says it passed its gate."""
    import tomllib

    from edge.vision.detect.yunet import YuNetDetector
    from edge.vision.generate import TfliteGenerator
    from edge.vision.model_files import manifest_model
    from models import MODELS_DIR

    manifest = tomllib.loads((MODELS_DIR / "manifest.toml").read_text())
    assert {"student", "student_int8"} <= set(manifest)  # TFLite copies where the quantizer's litert extra made them
    face = YuNetDetector().detect(astronaut)[0]
    fp32 = make_generator("auto", 1, MODELS_DIR, precision="fp32")
    reference = fp32.generate(astronaut, face.landmarks).astype(np.float32)
    int8 = make_generator("auto", 1, MODELS_DIR, precision="int8")
    assert int8.precision == "int8"
    assert np.abs(int8.generate(astronaut, face.landmarks) - reference).mean() < 20  # 8% of the range
    for name in [n for n in ("student_tflite", "student_int8_tflite") if n in manifest]:
        tflite = TfliteGenerator(manifest_model(MODELS_DIR, name, "generator.model"))
        out = tflite.generate(astronaut, face.landmarks).astype(np.float32)
        assert out.shape == reference.shape
        assert np.abs(out - reference).mean() < (2 if name == "student_tflite" else 25), name
    report = json.loads((MODELS_DIR / "student_int8.report.json").read_text())
    assert report["gate"]["passed"] and report["int8_sha256"] == manifest["student_int8"]["sha256"]


TFLITE_COMMAND = ("pip install -e '.[tflite-export]' (litert-torch, ai-edge-quantizer; pulls jax), then "
                  "pytest tests/quantize/test_quantize.py -k tflite_export")


def test_tflite_export_of_a_restoration_student(shared_data, tmp_path, astronaut, yunet, gap):
    """``python -m quantize.tflite`` on a briefly trained restoration student (``trainer.restore_fit``): the
    float .tflite computes what PyTorch does on a real aligned face, the INT8 one stays near it.  Without the
    heavy ``tflite-export`` extra the run names this path as not exercised."""
    try:
        import litert_torch  # noqa: F401
        import ai_edge_quantizer  # noqa: F401
    except ImportError as exc:
        gap(f"quantize/tflite.py (the TFLite export, float and INT8) was not run ({exc}): {TFLITE_COMMAND}")
        return
    import torch

    from edge.vision.align import align_face, to_tensor
    from edge.vision.generate import run_tflite, tflite_interpreter
    from quantize.tflite import main as tflite_main, spec_of
    from trainer.restore_data import collect, prepare_crops
    from trainer.restore_fit import fit_restore, load_restore_config, load_restorer

    people = {"frmdb:001", "frmdb:002", "frmdb:003", "p04:12", "p04:1"}
    crops = tmp_path / "crops.npz"
    prepare_crops([i for i in collect(shared_data) if i[0] in people][:20], crops)
    common = [f"cache={crops}", "patch=64", "batch_size=2", "threads=1", "steps=2", "sample_every=2",
              "checkpoint_every=2"]
    teacher = fit_restore(load_restore_config(None, common + [f"out={tmp_path / 't'}", "width=2"]), progress=False)
    student = fit_restore(load_restore_config(None, common + [f"out={tmp_path / 's'}", "width=4", "model=student",
                                                              f"teacher={teacher}"]), progress=False)
    out = tmp_path / "student.tflite"
    assert tflite_main([str(student), "--out", str(out), "--limit", "8"]) == 0
    model, state = load_restorer(student)
    spec = spec_of(state, student)
    assert json.loads(out.with_suffix(".json").read_text()) == json.loads(spec.to_json()), "the box reads this spec"
    face = yunet.detect(astronaut)[0]
    crop, _ = align_face(astronaut, face.landmarks, spec.size, spec.face_scale)
    x = to_tensor(crop[None], spec)
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(x)).numpy()
    for path, tolerance in ((out, 1e-3), (out.with_name("student_int8.tflite"), 0.1)):
        got = run_tflite(tflite_interpreter(path, threads=1).get_signature_runner(), x)
        assert got.shape == expected.shape and np.abs(got - expected).mean() < tolerance, (path.name, tolerance)
