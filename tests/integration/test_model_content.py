"""What the shipped generator makes, on real faces of people it was never trained on, and that these checks
catch a broken model: flat output, noise, a checkerboard, weights with flipped bytes (built from the shipped ONNX
in the test, ``tools.generator.broken_models``).

These check the generator's own output, not the published (gated) picture: the gate would hide a broken model by
publishing the crop.  The content checks:
- **re-found**: YuNet finds exactly one face in the mugshot, its landmarks near the template (the gate's checks);
- **close to the crop**: SSIM with the crop >= 0.5 on clean frontal photos (shipped student: lowest 0.58);
- **same person**: dlib (evaluator only) puts the mugshot within 0.6 (dlib's same-person distance) of its own
  crop on >= 90% of the faces (shipped student: 99%).
"""
from __future__ import annotations

import numpy as np
import pytest

from edge.vision.align import ModelInputSpec
from edge.vision.gate import MugshotGate
from edge.vision.generate import NoGenerator, OnnxGenerator, make_generator
from edge.vision.metrics import ssim
from models import MODELS_DIR
from tools.generator.broken_models import KINDS, broken_model
from tools.generator.gate_thresholds import mugshots, validation_faces

pytestmark = pytest.mark.integration

MIN_SSIM_CLEAN = 0.5
SAME_PERSON = 0.6  # dlib's documented same-person distance
MIN_SAME_PERSON_SHARE = 0.9


@pytest.fixture(scope="module")
def studio_faces(shared_data):
    """Held-out people in studio and HD photos: frontal, pitch +-30, yaw +-45, Pointing'04 within 15 degrees."""
    faces = validation_faces(shared_data, ("frontal", "pitch30", "yaw45", "hd", "p04"))
    assert len(faces) >= 80, f"only {len(faces)} validation faces found"
    return faces


@pytest.fixture(scope="module")
def clean_faces(studio_faces):
    """The clean frontal photos: studio frontal, HD portraits, Pointing'04 at pan 0, tilt 0."""
    faces = [f for f in studio_faces if f.kind in ("frontal", "hd") or f.name.endswith("/0_0")]
    assert len(faces) >= 16
    return faces


@pytest.fixture(scope="module")
def shipped():
    generator = make_generator("auto", 1, MODELS_DIR)
    assert not isinstance(generator, NoGenerator), "no shipped generator in models/manifest.toml"
    return generator


@pytest.fixture(scope="module")
def broken(tmp_path_factory, shipped):
    """The shipped default ONNX model, broken four ways (whatever model is the default)."""
    folder = tmp_path_factory.mktemp("broken")
    source = shipped.path
    return {kind: OnnxGenerator(broken_model(source, kind, folder / f"{kind}.onnx")) for kind in KINDS}


@pytest.fixture(scope="module")
def identity():
    from edge.vision.metrics import DlibIdentity

    return DlibIdentity(ModelInputSpec(size=256))


def refound_failures(generator, faces) -> list[str]:
    gate = MugshotGate(spec=generator.spec)
    failures = []
    for face, (mugshot, _) in zip(faces, mugshots(generator, faces)):
        measures = gate.measure(mugshot, mugshot)  # the face checks only: compared with itself
        if measures["faces"] != 1 or measures["landmark_error"] > gate.limits.max_landmark_error:
            failures.append(f"{face.name}: {measures['faces']:.0f} faces, "
                            f"landmarks {measures.get('landmark_error', float('nan')):.2f}")
    return failures


def far_from_crop(generator, faces) -> list[str]:
    return [f"{face.name}: ssim {value:.2f}" for face, value in
            ((face, ssim(m, c)) for face, (m, c) in zip(faces, mugshots(generator, faces))) if value < MIN_SSIM_CLEAN]


def same_person_share(generator, faces, identity) -> float:
    pairs = mugshots(generator, faces)
    distance = np.linalg.norm(identity.embed([m for m, _ in pairs]) - identity.embed([c for _, c in pairs]), axis=1)
    return float(np.mean(distance < SAME_PERSON))


def test_the_shipped_mugshot_has_one_face_where_the_template_says(shipped, clean_faces):
    assert refound_failures(shipped, clean_faces) == []


def test_the_shipped_mugshot_stays_close_to_its_crop_on_clean_photos(shipped, clean_faces):
    assert far_from_crop(shipped, clean_faces) == []


def test_the_shipped_mugshot_keeps_the_person(shipped, clean_faces, identity):
    share = same_person_share(shipped, clean_faces, identity)
    print(f"dlib same person (< {SAME_PERSON}): {share:.2f} of {len(clean_faces)} clean faces")
    assert share >= MIN_SAME_PERSON_SHARE


def test_the_gate_passes_the_shipped_model_on_studio_faces(shipped, studio_faces):
    gate = MugshotGate(spec=shipped.spec)
    results = [(face, gate.check(m, c)) for face, (m, c) in zip(studio_faces, mugshots(shipped, studio_faces))]
    failed = [f"{face.name}: {result.reason}" for face, result in results if not result.ok]
    print(f"gate: {len(results) - len(failed)}/{len(results)} studio faces pass; fails: {failed}")
    assert len(failed) <= 0.05 * len(results), failed
    assert not [f for f in failed if "/Img_33" in f or "/hd" in f], "a studio frontal face failed the gate"


@pytest.mark.parametrize("kind", KINDS)
def test_the_gate_refuses_every_mugshot_of_a_broken_model(kind, broken, studio_faces):
    gate = MugshotGate(spec=broken[kind].spec)
    passed = [face.name for face, (m, c) in zip(studio_faces, mugshots(broken[kind], studio_faces))
              if gate.check(m, c).ok]
    assert passed == []


@pytest.mark.parametrize("kind", KINDS)
def test_the_content_checks_catch_a_broken_model(kind, broken, clean_faces, identity):
    """At least one content check fails, and the cheap ones first (dlib only where they all passed)."""
    generator = broken[kind]
    refound, far = refound_failures(generator, clean_faces), far_from_crop(generator, clean_faces)
    print(f"{kind}: {len(refound)} not re-found, {len(far)} far from the crop of {len(clean_faces)}")
    if not (refound or far):
        assert same_person_share(generator, clean_faces, identity) < MIN_SAME_PERSON_SHARE


@pytest.mark.parametrize("kind", ["flat"])  # dlib sees the person through a checkerboard on the restoration model's
def test_the_same_person_check_alone_fails_a_broken_model(kind, broken, clean_faces, identity):  # output: the gate catches that
    assert same_person_share(broken[kind], clean_faces, identity) < MIN_SAME_PERSON_SHARE


@pytest.mark.parametrize("variant", ["student_int8.onnx", "student.tflite", "student_int8.tflite"])
def test_the_shipped_int8_and_tflite_variants_make_faces_too(variant, clean_faces, gap):
    """The quantizer's tests compare these with the FP32 model only; here they face the content checks."""
    from edge.vision.generate import TfliteGenerator

    path = MODELS_DIR / variant
    if not path.is_file():
        gap(f"models/{variant} is not shipped: its content is not checked")
        return
    generator = TfliteGenerator(path) if variant.endswith(".tflite") else OnnxGenerator(path)
    assert refound_failures(generator, clean_faces) == []
    assert far_from_crop(generator, clean_faces) == []
