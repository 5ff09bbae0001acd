"""Shared fixtures: real data paths and a real face picture that a package ships."""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _root_logging_restored():
    """A CLI main() run in-process calls logging.basicConfig with the stderr pytest captures for that test; the
    handler would outlive the test and write to a closed stream ("Logging error") in later ones."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


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


# One held-out identity (see trainer/split.toml) and two training ones.
TINY_PEOPLE = {"frmdb:001", "frmdb:002", "frmdb:003"}


@pytest.fixture(scope="session")
def tiny_crops(tmp_path_factory, shared_data):
    """A small real restoration crop cache (256 px) of three FRMDB people."""
    from trainer.restore_data import collect, prepare_crops

    out = tmp_path_factory.mktemp("crops") / "crops.npz"
    result = prepare_crops([i for i in collect(shared_data) if i[0] in TINY_PEOPLE], out)
    assert result["crops"] >= 6, result
    return out


@pytest.fixture(scope="session")
def tiny_student_onnx(tiny_crops, tmp_path_factory):
    """A briefly trained restoration student exported by the trainer, as the quantizer's input."""
    from trainer.restore_export import export_restorer
    from trainer.restore_fit import fit_restore, load_restore_config

    folder = tmp_path_factory.mktemp("student")
    common = [f"cache={tiny_crops}", "steps=2", "batch_size=2", "patch=64", "threads=1", "sample_every=100"]
    teacher = fit_restore(load_restore_config(None, common + ["width=2", f"out={folder / 't'}"]), progress=False)
    student = fit_restore(load_restore_config(None, common + ["model=student", "width=4", "alpha=0",
                                                              f"teacher={teacher}", f"out={folder / 's'}"]),
                          progress=False)
    path = folder / "student.onnx"
    export_restorer(student, path, name="student")
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
