"""``mugshot-edge bench-face``: the face geometry's cost per face against the whole per-frame cost.

On one core (the process is pinned to its first allowed CPU where the OS allows), one thread, the
same frames, interleaved round by round so a noisy machine affects every stage alike: YuNet per
frame, the mesh per face (each installed runtime), the Procrustes pose, the generator (``--generator``:
the shipped student, or a model file) on its own input, the upsampling to ``generator.output_size``, the
whole mugshot path per face as the box runs it (mesh, pose, the generator's input, the network, the
upsampling), and the frame cost with and without the geometry.  A Raspberry Pi 4 is estimated with a
stated factor (its Cortex-A72 against this core), not measured.
"""
from __future__ import annotations

import os
import statistics
import time

import cv2
import numpy as np

PI4_FACTOR = (4.0, 8.0)  # assumed slowdown of a Pi 4 core against an x86 desktop core for these kernels


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"core {core}"
    return "not pinned"


def _ms(fn, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return 1000 * (time.perf_counter() - start) / repeats


def _generator_rows(generator, output_size: int, faces: list, default) -> dict:
    """One round of the generator's rows: the network alone on prepared inputs, the upsampling, and the
    whole mugshot path per face (mesh, pose, input, network, upsampling) as one call each."""
    from ..generate import model_input, publish_at
    from . import procrustes_pose

    spec = generator.spec
    label = f"{generator.name}, {spec.size} px"
    inputs = [model_input(image, d.landmarks, spec) for image, d in faces]
    session, name = generator._session, generator._input
    outputs = []
    network = _ms(lambda: outputs.extend(session.run(None, {name: x})[0] for x in inputs), 1) / len(inputs)
    from ..align import from_tensor
    images = [from_tensor(y, spec)[0] for y in outputs]
    upsample = _ms(lambda: [publish_at(i, output_size) for i in images], 1) / len(images)

    def path(image, detection) -> None:
        mesh = default.run(image, detection.box, detection.landmarks)
        if mesh.accepted:
            procrustes_pose(mesh.points, default.canonical)  # the event's pose (the pipeline's _geometry)
        publish_at(generator.generate(image, detection.landmarks), output_size)

    whole = _ms(lambda: [path(i, d) for i, d in faces], 1) / len(faces)
    return {f"generator network per face ({label})": network,
            f"upsample {spec.size} -> {output_size} ({publish_at(images[0], output_size)[1]})": upsample,
            "mugshot path per face, one call (mesh + pose + input + network + upsample)": whole}


def bench_face(frames: list[np.ndarray], rounds: int = 5, generator: str = "auto", output_size: int = 256) -> dict:
    from ...config import DetectorConfig, MotionConfig
    from ..detect import make_detector
    from ..motion import MotionDetector
    from ...sources.base import ArrayFrame
    from . import make_mesher, procrustes_pose
    from .mesh import litert_available

    pinned = pin_one_core()
    cv2.setNumThreads(1)
    detector = make_detector(DetectorConfig(threads=1, precision="fp32"))
    faces = [(image, d) for image in frames for d in detector.detect(image)[:1]]
    if not faces:
        raise RuntimeError("no face found in the frames")
    runtimes = ["onnxruntime"] + (["litert"] if litert_available() else [])
    meshers = {rt: make_mesher(rt, threads=1) for rt in runtimes}
    default = meshers["litert" if "litert" in meshers else "onnxruntime"]
    canonical = default.canonical
    meshes = [(image, m) for image, d in faces if (m := default.mesh(image, d.box, d.landmarks)) is not None]
    if not meshes:
        raise RuntimeError("no accepted face mesh in the frames")
    from models import MODELS_DIR

    from ..generate import OnnxGenerator, make_generator
    model = make_generator(generator, 1, MODELS_DIR, "fp32")
    if not isinstance(model, OnnxGenerator):
        raise RuntimeError(f"--generator {generator}: not an ONNX generator model (got {model.name!r})")
    motion_cfg = MotionConfig()
    samples: dict[str, list[float]] = {}
    for _ in range(rounds):
        gate = MotionDetector(motion_cfg)
        row = {"motion gate per frame": _ms(lambda: [gate.detect(ArrayFrame(f, index=0).small_gray(motion_cfg.width))
                                                      for f in frames], 1) / len(frames),
               "YuNet per frame": _ms(lambda: [detector.detect(f) for f in frames], 1) / len(frames)}
        for rt, mesher in meshers.items():
            row[f"mesh per face ({rt})"] = _ms(lambda: [mesher.run(i, d.box, d.landmarks) for i, d in faces], 1) / len(faces)
        row["pose per face"] = _ms(lambda: [procrustes_pose(m.points, canonical) for _, m in meshes], 1) / len(meshes)
        row |= _generator_rows(model, output_size, faces, default)
        for key, value in row.items():
            samples.setdefault(key, []).append(value)
    result = {key: statistics.median(values) for key, values in samples.items()}
    mesh_key = f"mesh per face ({default.runtime})"
    result["geometry per face (mesh + pose)"] = result[mesh_key] + result["pose per face"]
    network_key = next(k for k in result if k.startswith("generator network"))
    upsample_key = next(k for k in result if k.startswith("upsample"))
    result["mugshot path per face, sum of the rows (mesh + pose + network + upsample)"] = (
        result[mesh_key] + result["pose per face"] + result[network_key] + result[upsample_key])
    result["frame with a face, no geometry"] = result["motion gate per frame"] + result["YuNet per frame"]
    result["frame with a face, mesh + pose (the daemon per frame)"] = (result["frame with a face, no geometry"]
                                                                      + result[mesh_key] + result["pose per face"])
    return {"ms": result, "frames": len(frames), "faces": len(faces), "meshes": len(meshes), "rounds": rounds,
            "generator": f"{model.name} ({model.path.name}, {model.spec.size} px)",
            "frame_size": f"{frames[0].shape[1]}x{frames[0].shape[0]}", "pinned": pinned,
            "default_runtime": default.runtime}


def format_face_report(report: dict) -> str:
    ms = report["ms"]
    whole = ms["frame with a face, no geometry"]
    lines = [f"face geometry on {report['frames']} frames of {report['frame_size']} ({report['faces']} faces, "
             f"{report['meshes']} meshes), one thread, {report['pinned']}, median of {report['rounds']} rounds; "
             f"the box's mesh runtime: {report['default_runtime']}; generator: {report['generator']}",
             f"{'stage':86s} {'ms here':>8s} {'x frame':>8s} {'Pi 4 estimate (ms)':>20s}"]
    for key, value in ms.items():
        low, high = value * PI4_FACTOR[0], value * PI4_FACTOR[1]
        lines.append(f"{key:86s} {value:8.2f} {value / whole:8.2f} {low:9.1f} – {high:7.1f}")
    lines.append(f"Pi 4 estimate: this machine's figures times {PI4_FACTOR[0]:g}–{PI4_FACTOR[1]:g} (an assumption "
                 "about a Cortex-A72 core, not a measurement)")
    return "\n".join(lines)
