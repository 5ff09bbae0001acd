"""The README's `mugshot-train` commands that no other test ran (issue 26 item 6): bench, pose and manifest,
each on a small real input; and `mugshot-edge install-service` reaching the installer."""
import re
import shutil

from tests.conftest import ROOT
from trainer.cli import main


def test_bench_times_the_models_side_by_side(capsys):
    models = [str(ROOT / "models" / "student.onnx"), str(ROOT / "models" / "student_int8.onnx")]
    assert main(["bench", "--model", models[0], "--model", models[1]]) == 0
    rows = re.findall(r"(\S+): ([\d.]+) ms median at 1 thread\(s\), ([\d.]+)x faster than the first",
                      capsys.readouterr().out)
    assert [r[0] for r in rows] == models
    assert rows[0][2] == "1.0" and all(float(ms) > 0 for _, ms, _ in rows)
    ms_first, ms_second, ratio = float(rows[0][1]), float(rows[1][1]), float(rows[1][2])
    assert abs(ratio - ms_first / ms_second) <= 0.06 + 0.05 * ratio  # printed to one decimal


def test_pose_scores_the_mesh_on_frontal_faces(shared_data, capsys):
    assert main(["pose", "--data", str(shared_data), "--limit", "20"]) == 0
    out = capsys.readouterr().out
    assert "| bin | images | detected | mesh | mesh yaw MAE |" in out
    frontal = re.search(r"\| FRMDB yaw -0 \| (\d+) \| (\d+) \| (\d+) \| ([\d.]+) \|", out)
    assert frontal, out
    images, detected, mesh, error = int(frontal[1]), int(frontal[2]), int(frontal[3]), float(frontal[4])
    assert images == detected == mesh > 0 and error < 15.0, "a studio frontal face: found, meshed, yaw near 0"


def test_manifest_matches_the_shipped_models(tmp_path, capsys):
    models = tmp_path / "models"
    shutil.copytree(ROOT / "models", models, ignore=shutil.ignore_patterns("manifest.toml", "__pycache__"))
    assert main(["manifest", "--models", str(models)]) == 0
    written = (models / "manifest.toml").read_text()
    assert written == (ROOT / "models" / "manifest.toml").read_text(), "the committed manifest is the files'"
    assert written in capsys.readouterr().out


def test_install_service_reaches_the_installer(capsys):
    from edge.cli import main as edge_main

    assert edge_main(["install-service", "--dry-run", "--not-pi"]) == 0
    assert "install the unit /etc/systemd/system/mugshot-edge.service" in capsys.readouterr().out
