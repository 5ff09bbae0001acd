"""Rebuild the shipped face-mesh files from pinned registry packages, byte for byte.

    python -m models.recipes.face_mesh [--out models] [--cache ~/.cache/mugshot-recipes] [--check]

Inputs (each checked by sha256 before use; nothing is downloaded at run time on the box):
- PyPI ``mediapipe==0.10.21`` (read as a zip, never installed): ``face_landmark.tflite``.
- npm ``@mediapipe/face_mesh@0.4.1657299874`` (``npm pack``, never installed): the
  canonical face model inside ``face_mesh_solution_packed_assets.data``.

Outputs in ``--out``: ``face_landmark.tflite`` (the wheel's file, unchanged),
``face_landmark.onnx`` (converted by ``models.recipes.tflite_to_onnx``),
``face_mesh_canonical.json`` (468 vertices with UVs, 898 triangles, the weighted
Procrustes landmarks) and ``LICENSE.mediapipe`` (the wheel's Apache-2.0 licence text).
``--check`` rebuilds in memory and compares the bytes with ``--out`` instead of writing.
"""
from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np

from models.recipes import run_recipe, sha256

MEDIAPIPE_WHEEL = "mediapipe==0.10.21"
LANDMARK_MEMBER = "mediapipe/modules/face_landmark/face_landmark.tflite"
LANDMARK_SHA256 = "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814"
NPM_PACKAGE = "@mediapipe/face_mesh@0.4.1657299874"
NPM_TARBALL = "mediapipe-face_mesh-0.4.1657299874.tgz"
NPM_TARBALL_SHA256 = "c08a7e0742a326285da666cf81d77c8b6f3a181a2ee948cadaf166008e0d3bc7"
PACKED_MEMBER = "package/face_mesh_solution_packed_assets.data"
GEOMETRY_RANGE = (3737848, 3757224)  # geometry_pipeline_metadata_landmarks.binarypb, per the loader .js
OUTPUT_NAMES = {"conv2d_21": "landmarks", "conv2d_31": "presence_logit"}
LICENSE_MEMBER = "mediapipe-0.10.21.dist-info/LICENSE"  # Apache-2.0, shipped beside the files as LICENSE.mediapipe


class RecipeError(RuntimeError):
    pass




def _mediapipe_wheel(cache: Path) -> Path:
    wheels = sorted(cache.glob("mediapipe-0.10.21-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", MEDIAPIPE_WHEEL,
                        "-d", str(cache)], check=True)
        wheels = sorted(cache.glob("mediapipe-0.10.21-*.whl"))
    if not wheels:
        raise RecipeError(f"pip download {MEDIAPIPE_WHEEL} left no wheel in {cache}")
    return wheels[0]


def fetch_landmark_tflite(cache: Path) -> tuple[bytes, bytes]:
    """The network and the wheel's licence text."""
    wheel = zipfile.ZipFile(_mediapipe_wheel(cache))
    data = wheel.read(LANDMARK_MEMBER)  # the same file in every platform's wheel
    if sha256(data) != LANDMARK_SHA256:
        raise RecipeError(f"{wheel.filename}:{LANDMARK_MEMBER} has sha256 {sha256(data)}, expected {LANDMARK_SHA256}")
    return data, wheel.read(LICENSE_MEMBER)


def fetch_geometry_metadata(cache: Path) -> bytes:
    tarball = cache / NPM_TARBALL
    if not tarball.is_file():
        subprocess.run(["npm", "pack", "--silent", NPM_PACKAGE, "--pack-destination", str(cache)],
                       check=True, stdout=subprocess.DEVNULL)
    data = tarball.read_bytes()
    if sha256(data) != NPM_TARBALL_SHA256:
        raise RecipeError(f"{tarball} has sha256 {sha256(data)}, expected {NPM_TARBALL_SHA256}")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        packed = tar.extractfile(PACKED_MEMBER).read()
    start, end = GEOMETRY_RANGE
    return packed[start:end]


# --- a minimal protobuf wire-format reader (enough for FaceGeometry's pipeline metadata) ---

def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, object]]:
    """(field number, wire type, value) for every field of one message."""
    out, pos = [], 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        else:
            raise RecipeError(f"protobuf wire type {wire} is not expected in the geometry metadata")
        out.append((number, wire, value))
    return out


def _floats(fields, number) -> list[float]:
    values = []
    for n, wire, value in fields:
        if n == number:
            values += [struct.unpack("<f", value)[0]] if wire == 5 else list(struct.unpack(f"<{len(value) // 4}f", value))
    return values


def _uints(fields, number) -> list[int]:
    values = []
    for n, wire, value in fields:
        if n == number:
            if wire == 0:
                values.append(value)
            else:
                pos = 0
                while pos < len(value):
                    v, pos = _varint(value, pos)
                    values.append(v)
    return values


def canonical_model(metadata: bytes) -> dict:
    """GeometryPipelineMetadata {canonical_mesh = 1: Mesh3d, procrustes_landmark_basis = 2,
    input_source = 3}; Mesh3d {vertex_type = 1 (VERTEX_PT: x y z u v), primitive_type = 2
    (TRIANGLE), vertex_buffer = 3, index_buffer = 4}; WeightedLandmarkRef {landmark_id = 1, weight = 2}."""
    top = _fields(metadata)
    meshes = [v for n, w, v in top if n == 1]
    if len(meshes) != 1:
        raise RecipeError("geometry metadata: expected one canonical mesh")
    mesh = _fields(meshes[0])
    if _uints(mesh, 1) not in ([], [0]) or _uints(mesh, 2) not in ([], [0]):
        raise RecipeError("geometry metadata: the mesh is not VERTEX_PT triangles")
    vertices = np.array(_floats(mesh, 3), dtype=np.float32).reshape(-1, 5)
    triangles = np.array(_uints(mesh, 4), dtype=np.int64).reshape(-1, 3)
    basis = [_fields(v) for n, w, v in top if n == 2]
    ids = [(_uints(b, 1) or [0])[0] for b in basis]
    weights = [(_floats(b, 2) or [0.0])[0] for b in basis]
    if vertices.shape != (468, 5) or triangles.shape != (898, 3) or triangles.max() >= 468:
        raise RecipeError(f"geometry metadata: {vertices.shape[0]} vertices and {triangles.shape[0]} triangles, "
                          "expected 468 and 898")
    return {
        "source": f"npm {NPM_PACKAGE}: geometry_pipeline_metadata_landmarks.binarypb (Apache-2.0)",
        "units": "centimetres; x to the face's left in the image (right of the viewer), y up, z towards the camera",
        "vertices": [[float(c) for c in row[:3]] for row in vertices],
        "uv": [[float(c) for c in row[3:]] for row in vertices],
        "triangles": triangles.tolist(),
        "procrustes_ids": ids,
        "procrustes_weights": [float(w) for w in weights],
    }


def build(cache: Path) -> dict[str, bytes]:
    from .tflite_to_onnx import convert

    cache.mkdir(parents=True, exist_ok=True)
    tflite_bytes, licence = fetch_landmark_tflite(cache)
    onnx_model = convert(tflite_bytes, OUTPUT_NAMES, producer="mugshot-edge models.recipes.tflite_to_onnx")
    canonical = canonical_model(fetch_geometry_metadata(cache))
    return {"face_landmark.tflite": tflite_bytes,
            "face_landmark.onnx": onnx_model.SerializeToString(),
            "face_mesh_canonical.json": (json.dumps(canonical, separators=(",", ":")) + "\n").encode(),
            "LICENSE.mediapipe": licence}


def main(argv: list[str] | None = None) -> int:
    return run_recipe("models.recipes.face_mesh", "face-mesh recipe", __doc__, build, argv, (RecipeError, subprocess.CalledProcessError, KeyError))

if __name__ == "__main__":
    sys.exit(main())
