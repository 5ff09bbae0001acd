"""The detector's input: one reused tensor, padding cleared between frames of different shapes, and
an interpolation that finds at least as many annotated faces as INTER_AREA did."""
import tracemalloc

import cv2
import numpy as np

from edge.config import DetectorConfig
from edge.vision.detect import make_detector
from edge.vision.detect.yunet import INTERPOLATION


def test_detect_reuses_its_input_tensor(astronaut):
    detector = make_detector(DetectorConfig(precision="fp32"))
    frame = cv2.resize(astronaut, (1280, 720))
    detector.detect(frame)
    tracemalloc.start()
    try:
        detector.detect(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 800_000, f"{peak} bytes allocated per frame: the 1.2 MB input tensor is not reused"


def test_a_reused_tensor_gives_what_a_fresh_one_gives(astronaut):
    reused = make_detector(DetectorConfig(precision="fp32"))
    reused.detect(cv2.resize(astronaut, (1280, 720)))  # fills the whole tensor ...
    portrait = cv2.resize(astronaut, (300, 600))  # ... then a frame that leaves most of it as padding
    fresh = make_detector(DetectorConfig(precision="fp32")).detect(portrait)
    again = reused.detect(portrait)
    assert len(again) == len(fresh) == 1
    assert np.allclose(again[0].box, fresh[0].box) and again[0].score == fresh[0].score


def test_the_interpolation_loses_no_recall_on_the_fidelity_set(shared_data):
    from edge.vision.detect.base import iou
    from quantize.calibrate import annotated_frames
    from quantize.fidelity import head_box

    frames = [(cv2.imread(str(p), cv2.IMREAD_COLOR), truth) for p, truth in annotated_frames()]
    detector = make_detector(DetectorConfig(precision="fp32", score_threshold=0.6))
    recall = {}
    for interpolation in (cv2.INTER_AREA, INTERPOLATION):
        detector.interpolation = interpolation
        recall[interpolation] = sum(any(iou(head_box(f.box), truth) >= 0.5 for f in detector.detect(image))
                                    for image, truth in frames)
    assert recall[INTERPOLATION] >= recall[cv2.INTER_AREA], recall
