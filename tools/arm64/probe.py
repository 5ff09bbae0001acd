"""What the box's models compute, per frame and per photo, written for a side-by-side comparison.

Run by each interpreter under test as a plain script (``python tools/arm64/probe.py ...``), so that
``edge`` and ``models`` come from that interpreter's own installation, not from the checkout:

- every frame of the clip: the decoded frame (its pixels go into the ``.npz``) and YuNet's detections
  (box, five landmarks, score) on the whole frame, FP32, with the tracker's measure of each face as the
  daemon takes it (the face mesh on LiteRT, its pose where the mesh passes its gates, else the 5-point one:
  shot score, yaw, pitch, pose source, mesh presence) and the 5-point pose beside it;
- every photo: the sha256 of its decoded pixels, the detections, and for the highest-scoring face the
  aligned 256-pixel crop and the mugshot of each shipped generator variant (ONNX FP32/INT8 with
  onnxruntime, TFLite FP32/INT8 with LiteRT), the head pose (yaw, pitch, roll) the tracker estimates
  from its landmarks; the face-mesh network's 192x192 input, its 468 points and presence from each mesh
  runtime (LiteRT and onnxruntime) on that input, and the mesh pose from each.

With ``--reference DIR`` (another probe's output) it also detects faces on *that* probe's decoded frames,
and takes *its* decoded photos, landmarks and mesh input for the crops, mugshots, head poses and mesh
runs: the models then see the very same input, so what differs is the arithmetic, not the decoders or the
stages upstream.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
from pathlib import Path

import cv2
import numpy as np


def _detections(faces, image: np.ndarray | None = None, mesher=None) -> list[dict]:
    """Each face as plain numbers; with the image also the tracker's quality and shot score of it (with
    ``mesher`` as the daemon's tracker measures it: the mesh pose where the mesh passes its gates)."""
    from edge.vision.face3d import procrustes_pose
    from edge.vision.quality import head_pose, measure, shot_score

    found = []
    for f in faces:
        entry = {"box": [float(v) for v in f.box], "landmarks": f.landmarks.astype(float).tolist(), "score": f.score}
        if image is not None:
            mesh_pose, presence = None, 0.0
            if mesher is not None:
                mesh = mesher.run(image, f.box, f.landmarks)
                presence = mesh.presence
                if mesh.accepted:
                    pose = procrustes_pose(mesh.points, mesher.canonical)
                    mesh_pose = (pose.yaw, pose.pitch, pose.roll)
            quality = measure(image, f.box, f.landmarks, f.score, mesh_pose, presence)
            five = head_pose(f.landmarks, (image.shape[1], image.shape[0]))
            entry.update(shot=shot_score(quality), yaw=quality.yaw, pitch=quality.pitch, sharpness=quality.sharpness,
                         pose_source=quality.pose_source, mesh_presence=presence, yaw5=five[0], pitch5=five[1])
        found.append(entry)
    return found


def _mesh_runs(image: np.ndarray, box, landmarks: np.ndarray, meshers: dict, mesh_input: np.ndarray,
               arrays: dict, key: str) -> dict:
    """Both mesh runtimes on ``mesh_input`` (raw points, 192-px input frame), and each one's mesh of the
    photo (image pixels, gates, pose) through ``FaceMesher.run``."""
    from edge.vision.face3d import procrustes_pose

    entry = {}
    for runtime, mesher in meshers.items():
        flat, logit = mesher.runner(mesh_input)
        arrays[f"{key}/mesh_raw_{runtime}"] = flat.reshape(-1, 3).astype(np.float32)
        mesh = mesher.run(image, box, landmarks)
        arrays[f"{key}/mesh_points_{runtime}"] = mesh.points
        pose = procrustes_pose(mesh.points, mesher.canonical)
        entry[runtime] = {"presence_logit": logit, "presence": mesh.presence, "agreement": mesh.agreement,
                          "accepted": mesh.accepted, "pose": [pose.yaw, pose.pitch, pose.roll]}
    return entry


def _versions() -> dict[str, str]:
    import importlib.metadata

    names = ("numpy", "opencv-python-headless", "onnxruntime", "ai-edge-litert", "mugshot-edge")
    return {name: importlib.metadata.version(name) for name in names}


def _generators(models_dir: Path) -> dict:
    from edge.vision.generate import OnnxGenerator, TfliteGenerator

    found = {"onnx_fp32": models_dir / "student.onnx", "onnx_int8": models_dir / "student_int8.onnx",
             "tflite_fp32": models_dir / "student.tflite", "tflite_int8": models_dir / "student_int8.tflite"}
    return {name: (TfliteGenerator if path.suffix == ".tflite" else OnnxGenerator)(path)
            for name, path in found.items() if path.is_file()}  # the variants that are shipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--photos", type=Path, nargs="+", required=True)
    parser.add_argument("--reference", type=Path, help="another probe's output folder: its frames and landmarks")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    from edge.vision.align import MUGSHOT_FACE_SCALE, align_face
    from edge.config import DetectorConfig
    from edge.vision.detect import make_detector
    from edge.vision.face3d import make_mesher
    from edge.vision.quality import head_pose
    from models import MODELS_DIR

    detector = make_detector(DetectorConfig(precision="fp32"))
    generators = _generators(Path(MODELS_DIR))
    meshers = {runtime: make_mesher(runtime) for runtime in ("litert", "onnxruntime")}
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
        result["clip"].append(_detections(detector.detect(frame), frame, meshers["litert"]))
    capture.release()
    arrays["clip_frames"] = np.stack(frames) if frames else np.zeros((0,), np.uint8)
    if reference is not None:
        with np.load(args.reference / "probe.npz") as theirs:
            result["clip_reference_frames"] = [_detections(detector.detect(f), f, meshers["litert"])
                                               for f in theirs["clip_frames"]]

    theirs = np.load(args.reference / "probe.npz") if reference else None
    for path in args.photos:
        key = path.name
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        faces = _detections(detector.detect(image))
        entry = {"detections": faces, "decoded_sha256": hashlib.sha256(image.tobytes()).hexdigest()}
        source = reference["photos"][key]["detections"] if reference else faces
        if theirs is not None and f"{key}/photo" in theirs.files:
            image = theirs[f"{key}/photo"]  # the reference's decoded pixels from here on
        if source:
            best = max(source, key=lambda f: f["score"])
            landmarks = np.asarray(best["landmarks"], np.float32)
            entry["pose_of_landmarks"] = list(head_pose(landmarks, (image.shape[1], image.shape[0])))
            arrays[f"{key}/crop"] = align_face(image, landmarks, 256, MUGSHOT_FACE_SCALE)[0]
            for name, generator in generators.items():
                arrays[f"{key}/{name}"] = generator.generate(image, landmarks)
            mesh_input, _ = meshers["litert"].network_input(image, best["box"], landmarks)
            arrays[f"{key}/mesh_input"] = mesh_input[0]
            if theirs is not None:
                mesh_input = theirs[f"{key}/mesh_input"][None]
            entry["mesh"] = _mesh_runs(image, best["box"], landmarks, meshers, mesh_input, arrays, key)
            if theirs is None:
                arrays[f"{key}/photo"] = image
        result["photos"][key] = entry

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "probe.json").write_text(json.dumps(result, indent=1))
    np.savez(args.out / "probe.npz", **arrays)
    print(f"probe on {result['machine']}: {len(frames)} frames, {len(args.photos)} photos -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
