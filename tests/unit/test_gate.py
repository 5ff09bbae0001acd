"""The mugshot quality gate on a real face (the astronaut photograph) and pictures damaged in known ways."""
import cv2
import numpy as np
import pytest

from edge.vision.align import MUGSHOT_FACE_SCALE, ModelInputSpec, align_face
from edge.vision.gate import GateLimits, MugshotGate, grey_ssim
from edge.vision.metrics import ssim


@pytest.fixture(scope="module")
def crop(astronaut, yunet):
    face = yunet.detect(astronaut)[0]
    return align_face(astronaut, face.landmarks, 256, MUGSHOT_FACE_SCALE)[0]


@pytest.fixture(scope="module")
def gate():
    return MugshotGate(spec=ModelInputSpec(size=128))


def test_the_crop_and_a_softened_smaller_copy_pass(gate, crop):
    result = gate.check(crop, crop)
    assert result.ok and result.reason == "" and result.measures["faces"] == 1
    assert result.measures["ssim"] == pytest.approx(1.0) and result.measures["landmark_error"] < 0.2
    small = cv2.resize(cv2.GaussianBlur(crop, (5, 5), 1.5), (128, 128), interpolation=cv2.INTER_AREA)
    assert gate.check(small, crop).ok, gate.check(small, crop).reason


def damaged(crop, kind):
    rng = np.random.default_rng(3)
    if kind == "flat":
        return np.full_like(crop, 128)
    if kind == "noise":
        return np.clip(crop + rng.normal(0, 60, crop.shape), 0, 255).astype(np.uint8)
    if kind == "checkerboard":
        yy, xx = np.indices(crop.shape[:2])
        return np.clip(crop.astype(np.int16) + np.where((yy + xx) % 2, 60, -60)[..., None], 0, 255).astype(np.uint8)
    if kind == "saturated":
        return np.clip(crop.astype(np.float32) * 4 - 300, 0, 255).astype(np.uint8)
    if kind == "colour cast":
        return np.clip(crop.astype(np.int16) + np.int16([90, 0, -60]), 0, 255).astype(np.uint8)
    if kind == "moved":  # the face half out of the picture: landmarks far from the template
        return np.roll(crop, (60, 70), axis=(0, 1))
    if kind == "upside down":
        return crop[::-1].copy()
    raise AssertionError(kind)


@pytest.mark.parametrize("kind, reason", [
    ("flat", "faces=0"), ("flat", "contrast="), ("noise", "high_frequency="), ("checkerboard", "high_frequency="),
    ("checkerboard", "ssim="), ("saturated", "clipped="), ("colour cast", "colour_shift="), ("moved", "landmarks="),
    ("upside down", "ssim=")])
def test_a_damaged_picture_fails_with_its_reason(gate, crop, kind, reason):
    result = gate.check(damaged(crop, kind), crop)
    assert not result.ok
    assert reason in result.reason, result.reason


def test_not_a_colour_picture_is_refused_with_what_it_was(gate, crop):
    result = gate.check(crop.astype(np.float32), crop)
    assert not result.ok and "float32" in result.reason


def test_the_detector_factory_is_called_once_on_first_use(crop):
    made = []

    def factory():
        from edge.vision.detect.yunet import YuNetDetector

        made.append(YuNetDetector(input_width=160, input_height=160, score_threshold=0.5))
        return made[-1]

    gate = MugshotGate(factory)
    assert made == []
    assert gate.check(crop, crop).ok and gate.check(crop, crop).ok
    assert len(made) == 1


def test_limits_are_the_callers(crop):
    strict = MugshotGate(limits=GateLimits(min_ssim=0.99))
    softened = cv2.GaussianBlur(crop, (9, 9), 3)
    result = strict.check(softened, crop)
    assert not result.ok and result.reason.startswith("ssim=")


def test_the_gates_float32_ssim_is_the_evaluations_ssim(crop):
    other = cv2.GaussianBlur(crop, (7, 7), 2)
    grey = lambda image: cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)  # noqa: E731
    assert grey_ssim(grey(other), grey(crop)) == pytest.approx(ssim(other, crop), abs=1e-4)
