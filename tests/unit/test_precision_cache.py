"""precision = "auto" times FP32 against INT8 once per model pair and CPU, then reads the verdict."""
import json
import time

from models import MODELS_DIR

from edge.vision.model_files import manifest_model
from edge.vision.precision import choose


def timed_choice(fp32, int8):
    from edge.vision.model_files import onnx_session
    shape = tuple(d if isinstance(d, int) else 256 for d in onnx_session(fp32, 1).get_inputs()[0].shape)  # (1, 3, free, free)
    start = time.perf_counter()
    choice = choose("auto", fp32, int8, shape, "generator.precision", seconds=1.0)
    return choice, time.perf_counter() - start


def test_the_auto_verdict_is_cached_per_model_and_timed_again_for_another(tmp_path, monkeypatch):
    monkeypatch.setenv("CACHE_DIRECTORY", str(tmp_path / "cache"))
    fp32 = manifest_model(MODELS_DIR, "student", "generator")
    int8 = manifest_model(MODELS_DIR, "student_int8", "generator")
    first, first_s = timed_choice(fp32, int8)
    again, again_s = timed_choice(fp32, int8)
    assert first_s >= 0.9 and "cached" not in first.reason
    assert again_s < 0.3 and again.precision == first.precision and "(cached)" in again.reason
    verdicts = json.loads((tmp_path / "cache" / "precision.json").read_text())
    assert len(verdicts) == 1 and next(iter(verdicts.values()))["precision"] == first.precision
    other = tmp_path / "other_int8.onnx"  # another INT8 model (other bytes, so another sha256)
    import onnx
    model = onnx.load(str(int8))
    model.doc_string = "another build of the same network"
    onnx.save(model, str(other))
    report = json.loads(int8.with_suffix(".report.json").read_text())
    from edge.vision.model_files import sha256_file
    report["int8_sha256"] = sha256_file(other)
    other.with_suffix(".report.json").write_text(json.dumps(report))
    _, other_s = timed_choice(fp32, other)
    assert other_s >= 0.9, "a different model is timed, not read from the cache"
