"""The optional plain backdrop: MediaPipe's person segmentation (LiteRT) on the published mugshot of a real
FRMDB face through the real box pipeline (LiteRT, or the converted ONNX model on onnxruntime: the same mask);
the crop is never touched; a bad colour and an altered model are refused with one line naming the key or file."""
import shutil
import threading

import cv2
import numpy as np
import pytest

from edge.config import ConfigError, config_from_dict
from edge.vision.backdrop import make_backdrop, parse_colour
from edge.vision.model_files import ModelError, sha256_file

FACE = "frmdb/cropped/mugshots/040/Img_33.jpg"  # a studio frontal, dark curtain behind


class _Capture:
    name, spooled = "capture", False

    def __init__(self):
        self.events = []

    def publish(self, event):
        self.events.append(event)

    def motion(self, camera, active):
        pass

    def status(self):
        return {}

    def close(self):
        pass


def _cfg(backdrop: str, **generator):
    return config_from_dict({"camera": {"type": "images", "uri": "."}, "motion": {"enabled": False},
                             "generator": {"model": "auto", "backdrop": backdrop, **generator},
                             "publishers": [{"type": "directory", "path": "unused"}]})


@pytest.fixture(scope="module")
def events(shared_data):
    """The event of one real face published with backdrop none and plain (the same models)."""
    from edge.daemon.pipeline import Pipeline, build_models

    image = cv2.imread(str(shared_data / FACE))
    detector, generator, mesher = build_models(_cfg("none"))
    out = {}
    for backdrop in ("none", "plain"):
        capture = _Capture()
        pipeline = Pipeline(_cfg(backdrop), None, detector, generator, [capture], threading.Event(), mesher)
        pipeline.emit(pipeline.best_shot(image, 1000.0))
        out[backdrop] = capture.events[-1]
    return out


def test_the_mask_covers_the_face_and_not_the_corners(events):
    mugshot = events["none"].mugshot
    mask = make_backdrop().mask(mugshot)
    side = mugshot.shape[0]
    centre = mask[int(side * 0.35):int(side * 0.65), int(side * 0.35):int(side * 0.65)]
    assert centre.min() > 0.95, centre.min()
    for corner in (mask[:16, :16], mask[:16, -16:]):
        assert corner.max() < 0.05, corner.max()


def test_plain_backdrop_paints_the_corners_and_keeps_the_face(events):
    none, plain = events["none"].mugshot, events["plain"].mugshot
    colour = np.array(parse_colour("#e0e0e0"), np.float32)
    for corner in (plain[:16, :16], plain[:16, -16:]):
        assert np.abs(corner.astype(np.float32) - colour).max() <= 2
    assert np.abs(none[:16, :16].astype(np.float32) - colour).mean() > 60  # the curtain was dark
    side = none.shape[0]
    face = np.s_[int(side * 0.35):int(side * 0.65), int(side * 0.35):int(side * 0.65)]
    assert np.abs(plain[face].astype(np.float32) - none[face].astype(np.float32)).mean() < 1.0
    assert np.array_equal(events["plain"].crop, events["none"].crop)  # the camera's evidence stays as it was


def test_the_event_names_the_segmentation_model(events):
    from models import MODELS_DIR

    described = events["plain"].models["backdrop"]
    assert described["sha256"] == sha256_file(MODELS_DIR / "selfie_segmentation.tflite")
    assert described["name"] == "mediapipe-selfie-segmentation"
    assert events["plain"].models["generator"]["backdrop"] == "plain"
    assert "backdrop" not in events["none"].models


def test_a_bad_colour_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match=r"^generator\.backdrop_colour: expected a colour as #rrggbb"):
        _cfg("plain", backdrop_colour="light grey")


def test_without_litert_the_onnx_conversion_gives_the_same_mask(events, monkeypatch):
    import edge.vision.backdrop as backdrop

    mugshot = events["none"].mugshot
    monkeypatch.setattr(backdrop, "litert_available", lambda: False)
    onnx = make_backdrop()
    assert onnx.describe()["runtime"] == "onnxruntime"
    assert _cfg("plain").generator.backdrop == "plain"  # no LiteRT is no reason to refuse it
    monkeypatch.undo()
    litert = make_backdrop(runtime="litert")
    assert np.abs(onnx.raw_mask(mugshot) - litert.raw_mask(mugshot)).max() < 1e-3


def test_an_altered_segmentation_model_is_refused(tmp_path):
    from models import MODELS_DIR

    shutil.copy(MODELS_DIR / "manifest.toml", tmp_path / "manifest.toml")
    for runtime, name in (("litert", "selfie_segmentation.tflite"), ("onnxruntime", "selfie_segmentation.onnx")):
        (tmp_path / name).write_bytes(b"not a model")
        with pytest.raises(ModelError, match=f"{name} has sha256"):
            make_backdrop(models_dir=tmp_path, runtime=runtime)
