"""What the box's models compute, per frame and per photo, written for a side-by-side comparison.

Run by each interpreter under test as a plain script (``python tools/arm64/probe.py ...``), so that
``edge`` and ``models`` come from that interpreter's own installation, not from the checkout:

- every frame of the clip: the decoded frame (its pixels go into the ``.npz``) and YuNet's detections
  (box, five landmarks, score) on the whole frame, FP32, with the tracker's measure of each face
  (shot score, yaw, pitch, sharpness);
- every photo: the detections, and for the highest-scoring face the aligned 256-pixel crop and the
  mugshot of each shipped generator variant (ONNX FP32/INT8 with onnxruntime, TFLite FP32/INT8 with
  LiteRT), and the head pose (yaw, pitch, roll) the tracker estimates from its landmarks.

With ``--reference DIR`` (another probe's output) it also detects faces on *that* probe's decoded frames,
and makes the crops, mugshots and head poses from *its* landmarks: the models then see the very same input, so what
differs is the arithmetic, not the video decoder or the detector upstream.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import cv2
import numpy as np


def _detections(faces, image: np.ndarray | None = None) -> list[dict]:
    """Each face as plain numbers; with the image also the tracker's quality and shot score of it."""
    from edge.quality import measure, shot_score

    found = []
    for f in faces:
        entry = {"box": [float(v) for v in f.box], "landmarks": f.landmarks.astype(float).tolist(), "score": f.score}
        if image is not None:
            quality = measure(image, f.box, f.landmarks, f.score)
            entry.update(shot=shot_score(quality), yaw=quality.yaw, pitch=quality.pitch, sharpness=quality.sharpness)
        found.append(entry)
    return found


def _versions() -> dict[str, str]:
    import importlib.metadata

    names = ("numpy", "opencv-python-headless", "onnxruntime", "ai-edge-litert", "mugshot-edge")
    return {name: importlib.metadata.version(name) for name in names}


def _generators(models_dir: Path) -> dict:
    from edge.generate import OnnxGenerator, TfliteGenerator

    return {"onnx_fp32": OnnxGenerator(models_dir / "student.onnx"),
            "onnx_int8": OnnxGenerator(models_dir / "student_int8.onnx"),
            "tflite_fp32": TfliteGenerator(models_dir / "student.tflite"),
            "tflite_int8": TfliteGenerator(models_dir / "student_int8.tflite")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--photos", type=Path, nargs="+", required=True)
    parser.add_argument("--reference", type=Path, help="another probe's output folder: its frames and landmarks")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    from edge.align import MUGSHOT_FACE_SCALE, align_face
    from edge.config import DetectorConfig
    from edge.detect import make_detector
    from edge.quality import head_pose
    from models import MODELS_DIR

    detector = make_detector(DetectorConfig(precision="fp32"))
    generators = _generators(Path(MODELS_DIR))
    reference = json.loads((args.reference / "probe.json").read_text()) if args.reference else None
    arrays: dict[str, np.ndarray] = {}
    result: dict = {"machine": platform.machine(), "python": sys.version.split()[0], "versions": _versions(),
                    "reference": str(args.reference or ""), "clip": [], "clip_reference_frames": [], "photos": {}}

    capture = cv2.VideoCapture(str(args.clip))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
        result["clip"].append(_detections(detector.detect(frame), frame))
    capture.release()
    arrays["clip_frames"] = np.stack(frames) if frames else np.zeros((0,), np.uint8)
    if reference is not None:
        with np.load(args.reference / "probe.npz") as theirs:
            result["clip_reference_frames"] = [_detections(detector.detect(f), f) for f in theirs["clip_frames"]]

    for path in args.photos:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        faces = _detections(detector.detect(image))
        entry = {"detections": faces}
        source = reference["photos"][path.name]["detections"] if reference else faces
        if source:
            best = max(source, key=lambda f: f["score"])
            landmarks = np.asarray(best["landmarks"], np.float32)
            entry["pose_of_landmarks"] = list(head_pose(landmarks, (image.shape[1], image.shape[0])))
            arrays[f"{path.name}/crop"] = align_face(image, landmarks, 256, MUGSHOT_FACE_SCALE)[0]
            for name, generator in generators.items():
                arrays[f"{path.name}/{name}"] = generator.generate(image, landmarks)
        result["photos"][path.name] = entry

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "probe.json").write_text(json.dumps(result, indent=1))
    np.savez(args.out / "probe.npz", **arrays)
    print(f"probe on {result['machine']}: {len(frames)} frames, {len(args.photos)} photos -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
