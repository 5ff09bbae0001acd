"""The receiver's face recognizer rebuilds byte for byte from its pinned npm package (every input checked
by sha256), and the project's converter computes what TensorFlow.js computes on real faces."""
import hashlib
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration
TFJS = ("@tensorflow/tfjs-core@4.22.0", "@tensorflow/tfjs-converter@4.22.0", "@tensorflow/tfjs-backend-cpu@4.22.0")
REFERENCE_JS = """
const tf = require('@tensorflow/tfjs-core'); require('@tensorflow/tfjs-backend-cpu');
const conv = require('@tensorflow/tfjs-converter'); const fs = require('fs');
const [json, bin, input, n, out] = process.argv.slice(2);
(async () => {
  await tf.setBackend('cpu');
  const m = JSON.parse(fs.readFileSync(json)); const w = fs.readFileSync(bin);
  const model = await conv.loadGraphModel({load: async () => ({modelTopology: m.modelTopology,
    weightSpecs: m.weightsManifest[0].weights,
    weightData: w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength)})});
  const raw = fs.readFileSync(input);
  const x = tf.tensor4d(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), [+n, 224, 224, 3]);
  fs.writeFileSync(out, Buffer.from((await model.execute(x, 'global_pooling/Mean').data()).buffer));
})();
"""


def test_recipe_rebuilds_faceres_byte_for_byte():
    result = subprocess.run([sys.executable, "-m", "models.recipes.faceres", "--check", "--out", str(ROOT / "models")],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "faceres.onnx: identical" in result.stdout and "LICENSE.human-models: identical" in result.stdout


def test_recipe_refuses_an_input_whose_sha256_differs(tmp_path):
    from models.recipes import faceres

    (tmp_path / faceres.NPM_TARBALL).write_bytes(b"not the tarball")
    with pytest.raises(faceres.RecipeError, match="sha256"):
        faceres.fetch(tmp_path)


def test_converted_model_matches_tensorflow_js_on_real_faces(tmp_path, shared_data):
    """TF.js (its pure-JavaScript CPU backend, pinned, installed by npm into a cache) runs the package's own
    graph; onnxruntime runs the converted file; same descriptors."""
    from pathlib import Path

    from edge.receiver.people.embed import FaceEmbedder
    from models.recipes import faceres

    cache = Path.home() / ".cache" / "mugshot-recipes"
    files = faceres.fetch(cache)
    for name in ("faceres.json", "faceres.bin"):
        (tmp_path / name).write_bytes(files[f"package/models/{name}"])
    node = cache / "tfjs-4.22.0"
    if not (node / "node_modules" / "@tensorflow" / "tfjs-converter").is_dir():
        node.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(node), *TFJS],
                       check=True, timeout=600)
    (node / "reference.js").write_text(REFERENCE_JS)
    photos = [shared_data / "frmdb" / "original" / s / f"{s}_Mugshots" / "Img_33.JPG" for s in ("001", "002")]
    photos.append(shared_data / "frmdb" / "original" / "003" / "003_Frames" / "Img_01.jpg")
    embedder = FaceEmbedder()
    batch = np.stack([embedder.prepare(cv2.imread(str(p))) for p in photos])
    batch.tofile(tmp_path / "in.raw")
    subprocess.run(["node", str(node / "reference.js"), str(tmp_path / "faceres.json"), str(tmp_path / "faceres.bin"),
                    str(tmp_path / "in.raw"), str(len(batch)), str(tmp_path / "out.raw")], check=True, timeout=300,
                   cwd=node, capture_output=True)
    reference = np.fromfile(tmp_path / "out.raw", np.float32).reshape(len(batch), 1024)
    ours = embedder.session.run(None, {embedder.input: batch})[0]
    assert np.abs(reference).max() > 0.1
    assert np.abs(ours - reference).max() < 1e-4, np.abs(ours - reference).max()
    manifest = (ROOT / "models" / "manifest.toml").read_text()
    assert hashlib.sha256((ROOT / "models" / "faceres.onnx").read_bytes()).hexdigest() in manifest
    assert json.loads(files["package/models/faceres.json"])["format"] == "graph-model"
