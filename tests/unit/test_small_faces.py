"""Small faces on FRMDB's real surveillance frames: the crop comes from the full-resolution frame, the
motion region's upscaling is capped, and the box's detector matches OpenCV's own YuNet."""
import threading

import cv2
import numpy as np
import pytest

from edge.config import Config, DetectorConfig
from edge.daemon.pipeline import Pipeline
from edge.sources.base import ArrayFrame
from edge.vision.detect.region import MAX_REGION_UPSCALE, detect_in_region
from edge.vision.detect.yunet import INTERPOLATION, YuNetDetector
from edge.vision.generate import NoGenerator
from edge.vision.track import PATCH_MARGIN

FRAME = "original/021/021_Frames/Img_02.jpg"  # a 50-px face, head box 61,70,104,104 in the manifest
HEAD = (61, 70, 104, 104)
OFFSET = (784, 396)  # where the 352x288 frame sits in a 1920x1080 camera frame


class SeeingYuNet(YuNetDetector):
    """The real detector, remembering the size of every image it was given."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen: list[tuple[int, int]] = []

    def detect(self, image):
        self.seen.append(image.shape[:2])
        return super().detect(image)

    def scale(self) -> float:  # the letterbox scale of the last image: detector pixels per image pixel
        h, w = self.seen[-1]
        return min(self.input_width / w, self.input_height / h)


@pytest.fixture(scope="module")
def hd_frame(shared_data):
    frame = cv2.imread(str(shared_data / "frmdb" / FRAME))
    assert frame is not None and frame.shape == (288, 352, 3)
    canvas = np.zeros((1080, 1920, 3), np.uint8)
    canvas[OFFSET[1]:OFFSET[1] + 288, OFFSET[0]:OFFSET[0] + 352] = frame
    return canvas


def laplacian(image: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_32F).var())


def test_small_face_crop_comes_from_the_full_resolution_frame(hd_frame):
    cfg = Config(detector=DetectorConfig(precision="fp32"), publishers=())
    detector = SeeingYuNet(input_width=cfg.detector.input_width, input_height=cfg.detector.input_height,
                           score_threshold=cfg.detector.score_threshold, min_face=cfg.detector.min_face)
    pipeline = Pipeline(cfg, None, detector, NoGenerator(), [], threading.Event(), None)
    pipeline.process(ArrayFrame(np.zeros_like(hd_frame), timestamp=0.0))  # the empty scene: the background
    pipeline.process(ArrayFrame(hd_frame, timestamp=0.1))  # the person steps in: the motion region
    assert len(pipeline.tracker.tracks) == 1
    shot = pipeline.tracker.tracks[0].best
    scale = detector.scale()
    assert detector.seen[-1] != hd_frame.shape[:2] and scale < 0.5  # the motion region, shrunk into 320x320
    x, y, w, h = shot.box
    hx, hy = HEAD[0] + OFFSET[0], HEAD[1] + OFFSET[1]
    assert hx <= x + w / 2 <= hx + HEAD[2] and hy <= y + h / 2 <= hy + HEAD[3]  # the person's face, in frame pixels
    assert min(w, h) < 70  # a small face
    # the patch is the full frame's own pixels, at full size ...
    x0, y0 = max(0, int(x - w * PATCH_MARGIN)), max(0, int(y - h * PATCH_MARGIN))
    ph, pw = shot.patch.shape[:2]
    assert pw >= 2.9 * w and ph >= 2.9 * h
    assert np.array_equal(shot.patch, hd_frame[y0:y0 + ph, x0:x0 + pw])
    # ... with detail that the detector's resized input no longer holds
    small = cv2.resize(hd_frame, None, fx=scale, fy=scale, interpolation=INTERPOLATION)
    cut = small[round(y0 * scale):round((y0 + ph) * scale), round(x0 * scale):round((x0 + pw) * scale)]
    resized_path = cv2.resize(cut, (pw, ph), interpolation=cv2.INTER_LINEAR)
    assert laplacian(shot.patch) > 2.0 * laplacian(resized_path)
    assert shot.quality.sharpness > 0


def test_a_small_motion_region_is_upscaled_at_most_twice(hd_frame):
    detector = SeeingYuNet(input_width=480, input_height=480, score_threshold=0.6, min_face=16)
    head = ((HEAD[0] + OFFSET[0]) / 1920, (HEAD[1] + OFFSET[1]) / 1080, HEAD[2] / 1920, HEAD[3] / 1080)
    free = detect_in_region(detector, hd_frame, head, 0.0)
    assert detector.scale() > MAX_REGION_UPSCALE  # the padded head region alone would be blown up further
    capped = detect_in_region(detector, hd_frame, head, MAX_REGION_UPSCALE)
    assert detector.scale() == pytest.approx(MAX_REGION_UPSCALE, rel=0.02)
    for faces in (free, capped):
        assert faces, "the face in the head region was not found"
        x, y, w, h = faces[0].box
        assert OFFSET[0] + HEAD[0] <= x + w / 2 <= OFFSET[0] + HEAD[0] + HEAD[2]  # in full-frame pixels
    assert abs(capped[0].box[0] - free[0].box[0]) < 0.2 * free[0].box[2]


def test_box_detector_at_the_frame_size_matches_opencvs_yunet_on_surveillance_frames(shared_data):
    from edge.tools.bench_detect import load_frames, run_box, run_opencv, score_run

    frames = load_frames(shared_data / "frmdb")
    assert len(frames) == 145
    theirs, boxes, _ = run_opencv(frames)
    ours, same_boxes, _ = run_box(frames, (352, 288), "full")
    assert boxes == same_boxes
    reference, box = score_run(theirs, boxes, 0.6, 0), score_run(ours, boxes, 0.6, 0)
    assert reference["frames"] == box["frames"] == 143
    assert abs(reference["recall"] - box["recall"]) <= 1 / 143 + 1e-9
    assert reference["recall"] > 0.75 and box["false_per_frame"] < 0.02
