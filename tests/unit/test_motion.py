import numpy as np

from edge.config import MotionConfig
from edge.vision.motion import MotionDetector, union_box

W, H = 160, 120


def scene(value=100, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(value, 2, (H, W)), 0, 255).astype(np.uint8)


def settle(gate, frames=5):
    for i in range(frames):
        gate.detect(scene(seed=i))


def with_square(frame, x, y, value, size=24):
    frame = frame.copy()
    frame[y:y + size, x:x + size] = value
    return frame


def test_static_scene_has_no_motion():
    gate = MotionDetector(MotionConfig())
    results = [gate.detect(scene(seed=i)) for i in range(20)]
    assert not any(r.moving for r in results)


def test_moving_object_is_found_where_it_is():
    gate = MotionDetector(MotionConfig())
    settle(gate)
    result = gate.detect(with_square(scene(seed=9), 100, 40, 220))
    assert result.moving
    x, y, w, h = union_box(result.boxes)
    assert abs((x + w / 2) * W - 112) < 8 and abs((y + h / 2) * H - 52) < 8


def test_dark_object_on_bright_background_no_wraparound():
    # uint8 subtraction would wrap 20 - 230 to 46 and miss nothing/everything; absdiff must not.
    gate = MotionDetector(MotionConfig(threshold=60))
    for i in range(5):
        gate.detect(scene(230, seed=i))
    assert gate.detect(with_square(scene(230, seed=7), 30, 30, 20)).moving
    gate2 = MotionDetector(MotionConfig(threshold=60))
    for i in range(5):
        gate2.detect(scene(20, seed=i))
    assert gate2.detect(with_square(scene(20, seed=7), 30, 30, 230)).moving


def test_lights_switched_on_recalibrates_instead_of_motion():
    gate = MotionDetector(MotionConfig())
    settle(gate)
    lit = gate.detect(scene(200, seed=11))
    assert lit.recalibrated and not lit.moving
    after = [gate.detect(scene(200, seed=12 + i)) for i in range(5)]
    assert not any(r.moving for r in after)
    assert gate.recalibrations == 1


def test_mask_hides_motion_inside_it_only():
    mask = [[[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]]  # right half ignored
    gate = MotionDetector(MotionConfig(masks=mask))
    settle(gate)
    assert not gate.detect(with_square(scene(seed=20), 110, 40, 220)).moving
    assert gate.detect(with_square(scene(seed=21), 20, 40, 220)).moving


def test_tiny_changes_below_min_area_are_ignored():
    gate = MotionDetector(MotionConfig(min_area=0.01, dilate=0))
    settle(gate)
    assert not gate.detect(with_square(scene(seed=30), 50, 50, 250, size=3)).moving


def test_larger_input_is_downscaled_to_working_width():
    gate = MotionDetector(MotionConfig(width=160))
    big = np.full((480, 640), 100, np.uint8)
    gate.detect(big)
    moved = big.copy()
    moved[200:300, 300:400] = 250
    result = gate.detect(moved)
    assert result.moving
    x, y, w, h = union_box(result.boxes)
    assert abs((x + w / 2) - 350 / 640) < 0.05
