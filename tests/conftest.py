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
    from edge.detect.yunet import YuNetDetector

    return YuNetDetector(input_width=320, input_height=320)
