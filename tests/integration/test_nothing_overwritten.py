"""Issue 21: no command a user copies from the README loses a file, and every documented exit code happens.

Real detector, mesh and generator on real FRMDB faces; real files; the real CLIs in-process."""
import hashlib
import json
import shutil
from pathlib import Path

import cv2
import pytest

from edge.cli import EXIT_CONFIG, EXIT_DATAERR, EXIT_FAILURE, EXIT_NOINPUT, EXIT_OK, EXIT_UNAVAILABLE, main

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_photos_sharing_a_name_get_their_own_files_and_say_where_they_came_from(shared_data, tmp_path, capsys):
    one, two = tmp_path / "dir1", tmp_path / "dir2"
    one.mkdir(), two.mkdir()
    shutil.copy(shared_data / "frmdb/cropped/mugshots/041/Img_33.jpg", one / "Img_33.JPG")
    shutil.copy(shared_data / "frmdb/cropped/mugshots/042/Img_33.jpg", two / "Img_33.JPG")
    out = tmp_path / "out"
    code = main(["--log-level", "warning", "mugshot", str(one / "Img_33.JPG"), str(two / "Img_33.JPG"), "--out", str(out)])
    assert code == EXIT_OK
    assert "2 of 2 photos" in capsys.readouterr().out
    metas = {name: json.loads((out / f"{name}.json").read_text()) for name in ("dir1_Img_33", "dir2_Img_33")}
    assert metas["dir1_Img_33"]["source_path"] == str((one / "Img_33.JPG").resolve())
    assert metas["dir2_Img_33"]["source_path"] == str((two / "Img_33.JPG").resolve())
    assert _sha(out / "dir1_Img_33_crop.jpg") != _sha(out / "dir2_Img_33_crop.jpg")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{n}{s}" for n in metas for s in (".json", "_mugshot.jpg", "_crop.jpg"))


def test_mugshot_help_says_how_names_are_made(capsys):
    with pytest.raises(SystemExit):
        main(["mugshot", "--help"])
    assert "<parent>_<stem>" in capsys.readouterr().out


def test_every_documented_exit_code(shared_data, tmp_path, capsys):
    """The README's exit-code table, one case each (the daemon's 69 for a camera is in test_service)."""
    from skimage import data

    readme = (ROOT / "README.md").read_text()
    for code in (0, 1, 65, 66, 69, 78):
        assert f"| {code} |" in readme, f"exit code {code} is not in the README's table"
    face = shared_data / "frmdb/cropped/mugshots/041/Img_33.jpg"
    out = str(tmp_path / "out")
    empty_file = tmp_path / "empty.jpg"
    empty_file.write_bytes(b"")
    text_file = tmp_path / "notes.jpg"
    text_file.write_text("not a picture\n")
    bricks = tmp_path / "bricks.png"
    cv2.imwrite(str(bricks), data.brick())
    empty_folder = tmp_path / "no-pictures"
    empty_folder.mkdir()
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text("[detector]\nthreads = 0\n")

    assert main(["--log-level", "warning", "mugshot", str(face), "--out", out]) == EXIT_OK
    assert main(["--log-level", "warning", "mugshot", str(bricks), "--out", out]) == EXIT_FAILURE
    assert main(["--log-level", "warning", "mugshot", str(empty_file), "--out", out]) == EXIT_DATAERR == 65
    assert main(["--log-level", "warning", "mugshot", str(text_file), "--out", out]) == EXIT_DATAERR
    assert main(["--log-level", "warning", "mugshot", str(tmp_path / "gone.jpg"), "--out", out]) == EXIT_NOINPUT == 66
    # the others are still done: a missing photo beside a good one
    assert main(["--log-level", "warning", "mugshot", str(tmp_path / "gone.jpg"), str(face), "--out",
                 str(tmp_path / "mixed")]) == EXIT_NOINPUT
    assert (tmp_path / "mixed" / "Img_33_mugshot.jpg").is_file()
    printed = capsys.readouterr().out
    assert f"{empty_file}: not a readable image (empty file)" in printed
    assert f"{tmp_path / 'gone.jpg'}: no such file" in printed
    assert main(["replay", str(empty_folder), "--out", out]) == EXIT_UNAVAILABLE == 69
    assert main(["replay", str(tmp_path / "gone.mp4"), "--out", out]) == EXIT_UNAVAILABLE
    assert main(["mugshot", str(face), "--out", out, "--config", str(bad_config)]) == EXIT_CONFIG == 78


def test_an_empty_picture_folder_as_the_camera_is_unavailable(tmp_path):
    from edge.sources.base import SourceError
    from edge.sources.images import ImageFolderSource

    with pytest.raises(SourceError, match="no pictures"):
        ImageFolderSource(str(tmp_path)).open()


def test_a_changed_shipped_model_says_how_to_get_it_back(tmp_path):
    from edge.vision.model_files import ModelError, manifest_model

    models = tmp_path / "models"
    shutil.copytree(ROOT / "models", models, ignore=shutil.ignore_patterns("__pycache__", "*.tflite", "teacher.*"))
    (models / "student.onnx").write_bytes(b"overwritten by an export")
    with pytest.raises(ModelError) as err:
        manifest_model(models, "student", "generator.model")
    message = str(err.value)
    assert "sha256" in message and "git checkout -- models/student.onnx" in message and "reinstall" in message
    assert "\n" not in message


def test_export_and_quantize_refuse_to_overwrite_a_shipped_model(tmp_path, capsys):
    from quantize.cli import main as quantize_main
    from trainer.cli import main as train_main

    shipped = [ROOT / "models" / name for name in ("student.onnx", "student_int8.onnx", "student.md")]
    before = {p: _sha(p) for p in shipped}
    assert train_main(["restore-export", str(tmp_path / "any.pt"), "--out", "models/student.onnx"]) == 73
    assert train_main(["restore-export", str(tmp_path / "any.pt"), "--out", str(tmp_path / "mine.onnx"),
                       "--card", str(ROOT / "models" / "student.md")]) == 73
    assert quantize_main(["generator", "--model", "models/student.onnx", "--out", "models/student_int8.onnx"]) == 73
    err = capsys.readouterr().err
    assert "models/manifest.toml" in err and "--force" in err
    assert {p: _sha(p) for p in shipped} == before
