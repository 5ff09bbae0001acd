"""The shipped person-segmentation model and its ONNX conversion rebuild byte for byte from the pinned
mediapipe wheel (read as a zip, checked by sha256)."""
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def test_recipe_rebuilds_the_shipped_file_byte_for_byte():
    result = subprocess.run([sys.executable, "-m", "models.recipes.selfie_segmentation", "--check",
                             "--out", str(ROOT / "models")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "selfie_segmentation.tflite: identical" in result.stdout
    assert "selfie_segmentation.onnx: identical" in result.stdout


def test_recipe_refuses_a_member_whose_sha256_differs(tmp_path):
    from models.recipes import face_mesh, selfie_segmentation

    wheel = tmp_path / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(selfie_segmentation.SEGMENTATION_MEMBER, b"not the model")
    with pytest.raises(face_mesh.RecipeError, match="sha256"):
        selfie_segmentation.fetch_segmentation_tflite(tmp_path)
