"""Shared fixtures: real data paths and a real face picture that a package ships."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the face data folder {SHARED_DATA} is missing (it sits beside the project, as in CI)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's public-domain astronaut photograph (one frontal face), BGR."""
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="session")
def yunet():
    from edge.vision.detect.yunet import YuNetDetector

    return YuNetDetector(input_width=320, input_height=320)


# Two held-out identities (see trainer/split.toml) and two training ones.
TINY_SUBJECTS = {"001", "006", "002", "003"}


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory, shared_data):
    """A small real pair cache (32x32) from four FRMDB people."""
    from edge.vision.align import ModelInputSpec
    from trainer.prepare import frmdb_source, prepare

    out = tmp_path_factory.mktemp("cache") / "pairs.npz"
    result = prepare([frmdb_source(shared_data / "frmdb", TINY_SUBJECTS)], ModelInputSpec(size=32), out)
    assert result["pairs"] > 40
    return out, result


@pytest.fixture(scope="session")
def tiny_student_onnx(tiny_cache, tmp_path_factory):
    """A briefly trained student exported by the trainer, as the quantizer's input."""
    from trainer.config import load_train_config
    from trainer.export import export
    from trainer.fit import fit

    cache, _ = tiny_cache
    folder = tmp_path_factory.mktemp("student")
    common = [f"cache={cache}", "steps=4", "batch_size=4", "threads=1", "width=4"]
    teacher = fit(load_train_config(None, common + [f"out={folder / 't'}"]), progress=False)
    student = fit(load_train_config(None, common + [f"out={folder / 's'}", "model=student", "width=8",
                                                    f"teacher={teacher}"]), progress=False)
    path = folder / "student.onnx"
    export(student, path, name="student")
    return path


# Paths the run did not exercise: every skipped test and every `gap(...)` a test reported, one line each at the
# end of the run (a skipped path must not look like a tested one); docs/results.md lists the known ones.
GAPS: list[tuple[str, str]] = []


@pytest.fixture
def gap(request):
    """``gap("what was not exercised, and the command that exercises it")``: printed in the run's summary."""
    return lambda text: GAPS.append((request.node.nodeid, text))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    lines = []
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        lines.append(f"SKIPPED {report.nodeid}: {reason.removeprefix('Skipped: ')}")
    lines += [f"NOT EXERCISED {nodeid}: {text}" for nodeid, text in GAPS]
    terminalreporter.section("paths this run did not exercise")
    for line in lines or ["none: every collected test ran its full path"]:
        terminalreporter.write_line(line)
