"""The shipped face-mesh files rebuild byte for byte from the pinned registry packages (PyPI mediapipe
wheel read as a zip, npm @mediapipe/face_mesh tarball), each input checked by sha256."""
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def test_recipe_rebuilds_the_shipped_files_byte_for_byte(tmp_path):
    result = subprocess.run([sys.executable, "-m", "models.recipes.face_mesh", "--check", "--out", str(ROOT / "models")],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("face_landmark.tflite", "face_landmark.onnx", "face_mesh_canonical.json"):
        assert f"{name}: identical" in result.stdout
    assert "LICENSE.mediapipe: identical" in result.stdout


def test_recipe_refuses_an_input_whose_sha256_differs(tmp_path):
    from models.recipes import face_mesh

    (tmp_path / face_mesh.NPM_TARBALL).write_bytes(b"not the tarball")
    with pytest.raises(face_mesh.RecipeError, match="sha256"):
        face_mesh.fetch_geometry_metadata(tmp_path)
