import math

import cv2
import numpy as np
import pytest

from edge.vision.align import (ModelInputSpec, align_face, canonical_points, from_tensor, similarity_transform,
                        to_tensor, transform_points)


def test_similarity_transform_recovers_a_known_one():
    src = canonical_points(112)
    angle, scale, shift = math.radians(20), 1.7, np.float32([40, -12])
    rot = scale * np.float32([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    dst = src @ rot.T + shift
    matrix = similarity_transform(src, dst)
    assert np.allclose(matrix[:, :2], rot, atol=1e-4) and np.allclose(matrix[:, 2], shift, atol=1e-3)


@pytest.mark.parametrize("size, face_scale", [(112, 1.0), (128, 0.7), (256, 0.7)])
def test_landmarks_land_on_the_canonical_points(size, face_scale):
    # a tilted, shifted, enlarged face somewhere in a frame
    angle = math.radians(-25)
    rot = 2.3 * np.float32([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    landmarks = canonical_points(112) @ rot.T + np.float32([300, 200])
    frame = np.zeros((720, 1280, 3), np.uint8)
    for i, (x, y) in enumerate(landmarks):
        cv2.circle(frame, (int(round(x)), int(round(y))), 4, (0, 0, 255 - 20 * i), -1)
    crop, matrix = align_face(frame, landmarks, size, face_scale)
    target = canonical_points(size, face_scale)
    assert np.abs(transform_points(landmarks, matrix) - target).max() < 0.05
    for (x, y) in target:  # the drawn dots really are there in the crop
        assert crop[int(round(y)), int(round(x)), 2] > 100


@pytest.mark.parametrize("degrees", [0, 10])
def test_real_face_aligns_onto_the_template(yunet, astronaut, degrees):
    rotated = cv2.warpAffine(astronaut, cv2.getRotationMatrix2D((256, 256), degrees, 1.0), (512, 512))
    face = yunet.detect(rotated)[0]
    size = 224
    crop, _ = align_face(rotated, face.landmarks, size, 0.7)
    again = yunet.detect(crop)
    assert again, "the aligned crop still shows a face"
    # re-detected landmarks sit near the canonical points: the crop is upright and centred
    assert np.abs(again[0].landmarks - canonical_points(size, 0.7)).max() < 0.06 * size


def test_tensor_round_trip_and_channel_order():
    spec = ModelInputSpec(size=64, color="rgb", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    crop = np.zeros((64, 64, 3), np.uint8)
    crop[..., 2] = 255  # red in BGR
    tensor = to_tensor(crop, spec)
    assert tensor.shape == (1, 3, 64, 64) and tensor.dtype == np.float32
    assert np.allclose(tensor[0, 0], 1.0) and np.allclose(tensor[0, 2], -1.0)  # RGB: red first
    assert np.array_equal(from_tensor(tensor, spec)[0], crop)


def test_spec_comes_from_metadata_with_clear_errors():
    spec = ModelInputSpec(size=96, face_scale=0.8, color="bgr")
    assert ModelInputSpec.from_metadata({ModelInputSpec.METADATA_KEY: spec.to_json()}, "m.onnx") == spec
    with pytest.raises(ValueError, match="m.onnx: no 'mugshot.input_spec' metadata"):
        ModelInputSpec.from_metadata({}, "m.onnx")
    with pytest.raises(ValueError, match="malformed"):
        ModelInputSpec.from_metadata({ModelInputSpec.METADATA_KEY: '{"size": 3}'}, "m.onnx")


@pytest.mark.parametrize("color", ["rgb", "bgr"])
def test_to_tensor_is_the_normalisation_formula_bit_for_bit(color):
    """to_tensor works in place on one NCHW copy (6x faster at 128 px); the numbers stay those of
    (x / 255 - mean) / std in float32, which the trainer's caches and the quantizer's calibration assume."""
    spec = ModelInputSpec(size=32, color=color, mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.25))
    crops = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    ordered = crops[..., ::-1] if color == "rgb" else crops
    expected = ((ordered.astype(np.float32) / 255.0 - np.float32(spec.mean)) / np.float32(spec.std))
    got = to_tensor(crops, spec)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    assert np.array_equal(got, expected.transpose(0, 3, 1, 2))
    assert np.array_equal(to_tensor(crops[0], spec), got[:1])


def test_framing_past_the_picture_edge_fades_instead_of_streaking(yunet, astronaut):
    """A real face cut off just below the chin (as in a tightly cropped photo): the head-and-shoulders crop reaches
    past the picture.  Pixels inside the picture are exactly the plain warp's; below the edge there are no streaks
    (the repeated edge row's column-to-column detail is washed out) and the colours continue the edge's."""
    face = yunet.detect(astronaut)[0]
    cut = astronaut[:int(face.landmarks[3:, 1].max() + 0.15 * face.box[3])]  # the photo ends below the mouth
    soft, matrix = align_face(cut, face.landmarks, 256, 0.6)
    streak, same = align_face(cut, face.landmarks, 256, 0.6, soft_edges=False)
    assert np.array_equal(matrix, same)
    inside = cv2.warpAffine(np.ones(cut.shape[:2], np.uint8), matrix, (256, 256), flags=cv2.INTER_NEAREST,
                            borderMode=cv2.BORDER_CONSTANT) > 0
    far = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_L2, 3) > 24  # well beyond the edge
    assert inside.mean() > 0.5 and far.sum() > 2000, "the framing really reaches past the picture"
    core = cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert np.array_equal(soft[core], streak[core]), "what the camera saw is untouched"

    def detail(image):  # horizontal second differences (a smooth wash has ~none; vertical streaks are all of it)
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
        return float(np.abs(np.diff(gray, n=2, axis=1))[far[:, 2:]].mean())

    assert detail(streak) > 4 * detail(soft), (detail(streak), detail(soft))
    assert abs(float(soft[far].mean()) - float(streak[far].mean())) < 25, "the edge's colours continue"
    canvas = cv2.copyMakeBorder(astronaut, 512, 512, 512, 512, cv2.BORDER_CONSTANT, value=(90, 90, 90))
    whole, _ = align_face(canvas, face.landmarks + 512, 256, 0.6)
    assert np.array_equal(whole, align_face(canvas, face.landmarks + 512, 256, 0.6, soft_edges=False)[0]), \
        "a framing inside the picture is the plain warp"
