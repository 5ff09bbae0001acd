"""A frame's size is bounded before it is decoded (camera.max_pixels): the daemon on a folder holding a
20000x20000 PNG stays under 600 MB, says so in its log, counts it, and goes on with the next picture."""
import sys

import cv2
import numpy as np
import pytest

from edge.sources.image_size import image_size
from edge.sources.images import ImageFolderSource
from tests.bench_big_frame import peak_memory, write_png

pytestmark = pytest.mark.integration


def test_a_huge_png_is_refused_before_decoding_and_peak_memory_stays_low(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    write_png(folder / "0.png", 20000)
    cv2.imwrite(str(folder / "1.jpg"), np.full((480, 640, 3), 90, np.uint8))
    peak, code, text = peak_memory([sys.executable, "-m", "edge", "replay", str(folder), "--out",
                                    str(tmp_path / "out")], tmp_path / "log.txt")
    assert code == 0, text[-2000:]
    assert peak < 600, f"peak {peak:.0f} MB"
    assert "0.png: 20000x20000 is over camera.max_pixels = 24000000" in text
    assert "oversized" in text


def test_a_big_jpeg_is_decoded_reduced_and_counted(tmp_path):
    cv2.imwrite(str(tmp_path / "big.jpg"), np.full((3000, 4000, 3), 90, np.uint8))
    assert image_size(tmp_path / "big.jpg") == (4000, 3000)
    source = ImageFolderSource(str(tmp_path), max_pixels=4_000_000)
    source.open()
    frame = source.read()
    assert frame.full().shape == (1500, 2000, 3) and source.oversized_frames == 1
