"""Quiet installs: building the package warns about nothing of ours, and the receiver's page files are in it."""
import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_builds_without_setuptools_warnings_and_carries_the_receiver_files(tmp_path):
    # built from a copy, so setuptools' build/ folder never lands in the checkout
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "runs", "build", "*.egg-info",
                                                                "__pycache__", ".pytest_cache", "demo-out"))
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []  # else pip fetches it
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-v", "-w",
                            str(tmp_path), *isolation], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    output = build.stdout + build.stderr
    assert build.returncode == 0, output[-3000:]
    for noise in ("Package would be ignored", "SetuptoolsDeprecationWarning", "is absent from setuptools"):
        assert noise not in output, f"{noise!r} while building the wheel"
    wheel = next(tmp_path.glob("mugshot_edge-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for page in ("edge/receiver/templates/gallery.html", "edge/receiver/templates/event.html",
                 "edge/receiver/static/gallery.js", "edge/receiver/static/style.css", "models/student.onnx",
                 "models/manifest.toml"):
        assert page in names, f"{page} missing from the wheel"
