"""Rebuild the shipped person-segmentation model from the pinned mediapipe wheel, byte for byte.

    python -m models.recipes.selfie_segmentation [--out models] [--cache ~/.cache/mugshot-recipes] [--check]

Input (checked by sha256 before use; nothing is downloaded at run time on the box): PyPI
``mediapipe==0.10.21`` (read as a zip, never installed), member
``mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite`` (Apache-2.0, the same wheel and
licence as the face mesh: ``LICENSE.mediapipe``). Outputs in ``--out``: ``selfie_segmentation.tflite``
(the wheel's file, unchanged): 256x256 RGB 0..1 in (NHWC), a 256x256 person probability out; and
``selfie_segmentation.onnx``, converted by ``models.recipes.tflite_to_onnx`` (which handles MediaPipe's
custom ``Convolution2DTransposeBias`` op), output ``mask`` (1x65536).
``--check`` rebuilds in memory and compares the bytes with ``--out`` instead of writing.
"""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from models.recipes import run_recipe, sha256
from models.recipes.face_mesh import RecipeError, _mediapipe_wheel

SEGMENTATION_MEMBER = "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite"
SEGMENTATION_SHA256 = "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"
OUTPUT_NAME, ONNX_NAME = "selfie_segmentation.tflite", "selfie_segmentation.onnx"


def fetch_segmentation_tflite(cache: Path) -> bytes:
    wheel = zipfile.ZipFile(_mediapipe_wheel(cache))
    data = wheel.read(SEGMENTATION_MEMBER)  # the same file in every platform's wheel
    if sha256(data) != SEGMENTATION_SHA256:
        raise RecipeError(f"{wheel.filename}:{SEGMENTATION_MEMBER} has sha256 {sha256(data)}, "
                          f"expected {SEGMENTATION_SHA256}")
    return data


def build(cache: Path) -> dict[str, bytes]:
    from .tflite_to_onnx import convert

    cache.mkdir(parents=True, exist_ok=True)
    tflite_bytes = fetch_segmentation_tflite(cache)
    onnx_model = convert(tflite_bytes, {"activation_10": "mask"}, producer="mugshot-edge models.recipes.tflite_to_onnx",
                         graph_name="selfie_segmentation")
    return {OUTPUT_NAME: tflite_bytes, ONNX_NAME: onnx_model.SerializeToString()}


def main(argv: list[str] | None = None) -> int:
    return run_recipe("models.recipes.selfie_segmentation", "selfie-segmentation recipe", __doc__, build, argv, (RecipeError, subprocess.CalledProcessError, KeyError))

if __name__ == "__main__":
    sys.exit(main())
