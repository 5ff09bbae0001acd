"""The arm64 run against the x86 run: what must agree, within which tolerance.

Tolerances (stated before looking at any arm64 output, in the units a person would check):

- decoded video frames: max 3 grey levels per channel (the decoder's YUV->BGR conversion may round
  differently per CPU; the photos are JPEG and decode the same everywhere in practice);
- detections: the same number of faces in every frame and photo; box corners and the five landmarks
  within 1 pixel of the full frame, score within 0.01 (on the same decoded pixels: 0.05 pixel); the
  tracker's shot score of each face within 0.01 and its yaw/pitch within 1 degree;
- events: the same count; per event the same best shot (the same media time; within 5 ms, as the
  events write times truncated to the millisecond: the same frame may read 1 ms apart), box within 1 pixel,
  yaw/pitch/roll within 1 degree. Where two frames' shot scores lie within 0.001 of each other (a near
  tie) the other one is accepted, and that event's box and pixel rows are left out: they would compare
  two different frames;
- pixels: the aligned crop and the FP32 mugshots (onnxruntime, LiteRT) made from the same landmarks
  within 1 level of 255; INT8 mugshots (other integer kernels on ARM) within 8 levels; the published
  JPEG mugshot and crop of each event within a mean of 3 levels (sub-pixel landmark shifts move edges).

Face geometry (``edge/face3d``; stated before any arm64 output of it was seen):

- the face mesh on the same 192x192 network input (the probe): each runtime's (LiteRT, onnxruntime)
  468 points within 0.1 pixel of that input, the presence probability within 0.01, and the mesh pose
  (Procrustes of those points) within 0.1 degree; the input itself, made on each side from the same
  photo pixels and landmarks, identical (the decoded photos are compared by sha256 first);
- the mesh in the runs (own decoding and detection on each side): the same pose source (``mesh`` or
  the 5-point ``landmarks``) and the same mesh presence (present or not) for every event and clip
  face, presence within 0.01; the mesh pose within 0.5 degree where both sides see the same pixels
  (photos, the clip's frames as x86 decoded them) and within 1 degree per clip frame through each
  side's own video decoder (colours up to 3 levels apart);
- ``mugshot-edge mugshot`` events: the same photos with files; per photo the same generator decision
  (name, and the reason where the crop was published instead), the mesh runtime named as configured
  on both sides, box within 1 pixel, JPEG mugshot and crop within a mean of 3 levels as above;
- the box without the ``tflite`` extra: ``ai_edge_litert`` does not import in that virtualenv, and it
  runs the same commands with ``mesh.runtime = "onnxruntime"``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

FRAME_LEVELS = 3
BOX_PX = 1.0
BOX_PX_SAME_INPUT = 0.05
SCORE = 0.01
POSE_DEG = 1.0
FP32_LEVELS = 1
INT8_LEVELS = 8
JPEG_MEAN_LEVELS = 3.0
SHOT_SCORE_TIE = 0.001
SAME_FRAME_S = 0.005  # event times are truncated to ms: two offsets of one frame differ by < 2 ms
SHOT_SCORE = 0.01
MESH_POINTS_PX = 0.1  # in the 192-pixel network input
MESH_PRESENCE = 0.01
MESH_POSE_DEG_SAME_INPUT = 0.1
MESH_POSE_DEG_PHOTO = 0.5
MESH_POSE_DEG_CLIP = 1.0


@dataclass(frozen=True)
class Row:
    case: str
    what: str
    measured: str
    limit: str
    ok: bool
    info: bool = False  # a measurement shown for context, not a check


def _row(case: str, what: str, value: float, limit: float, fmt: str = "{:.3f}") -> Row:
    return Row(case, what, fmt.format(value), f"<= {fmt.format(limit)}", bool(value <= limit))


def _detection_diffs(ours: list[list[dict]], theirs: list[list[dict]]) -> tuple[int, float, float, float]:
    """(images whose face count differs, max box diff, max landmark diff, max score diff)."""
    counts, box, marks, score = 0, 0.0, 0.0, 0.0
    for a, b in zip(ours, theirs, strict=True):
        if len(a) != len(b):
            counts += 1
            continue
        for fa, fb in zip(sorted(a, key=lambda f: f["box"]), sorted(b, key=lambda f: f["box"])):
            box = max(box, float(np.abs(np.subtract(fa["box"], fb["box"])).max()))
            marks = max(marks, float(np.abs(np.subtract(fa["landmarks"], fb["landmarks"])).max()))
            score = max(score, abs(fa["score"] - fb["score"]))
    return counts, box, marks, score


def _angles(a: dict, b: dict, suffix: str = "") -> float:
    return max(abs(a["yaw" + suffix] - b["yaw" + suffix]), abs(a["pitch" + suffix] - b["pitch" + suffix]))


def _detection_rows(case: str, ours, theirs, box_limit: float, mesh_limit: float = MESH_POSE_DEG_CLIP) -> list[Row]:
    counts, box, marks, score = _detection_diffs(ours, theirs)
    faces = sum(len(d) for d in theirs)
    rows = [Row(case, f"face count per image ({len(theirs)} images, {faces} faces on x86)",
                f"{counts} differ", "0 differ", counts == 0),
            _row(case, "detection box, max |diff| px", box, box_limit),
            _row(case, "landmarks, max |diff| px", marks, box_limit),
            _row(case, "detection score, max |diff|", score, SCORE, "{:.4f}")]
    pairs = [(fa, fb) for a, b in zip(ours, theirs) if len(a) == len(b) == 1 for fa, fb in zip(a, b) if "shot" in fa]
    if pairs:
        shot = max(abs(fa["shot"] - fb["shot"]) for fa, fb in pairs)
        rows.append(_row(case, "tracker's shot score per face, max |diff|", shot, SHOT_SCORE, "{:.4f}"))
        if "pose_source" in pairs[0][1]:
            meshed = sum(fb["pose_source"] == "mesh" for _, fb in pairs)
            other = sum(fa["pose_source"] != fb["pose_source"] for fa, fb in pairs)
            rows.append(Row(case, f"pose source per face ({meshed} of {len(pairs)} mesh on x86)", f"{other} differ",
                            "0 differ", other == 0))
            presence = max(abs(fa["mesh_presence"] - fb["mesh_presence"]) for fa, fb in pairs)
            rows.append(_row(case, "mesh presence per face, max |diff|", presence, MESH_PRESENCE, "{:.4f}"))
            mesh = [_angles(fa, fb) for fa, fb in pairs if fa["pose_source"] == fb["pose_source"] == "mesh"]
            if mesh:
                rows.append(_row(case, f"mesh yaw/pitch per face ({len(mesh)}), max |diff| deg", max(mesh),
                                 mesh_limit, "{:.2f}"))
            five = max(_angles(fa, fb, "5") for fa, fb in pairs)
            rows.append(_row(case, "5-point yaw/pitch per face (mesh gate, fallback), max |diff| deg", five,
                             POSE_DEG, "{:.2f}"))
        else:
            rows.append(_row(case, "yaw/pitch per face, max |diff| deg", max(_angles(fa, fb) for fa, fb in pairs),
                             POSE_DEG, "{:.2f}"))
        best = max(fb["shot"] for _, fb in pairs)
        close = sum(fb["shot"] >= best - SHOT_SCORE_TIE for _, fb in pairs)
        rows.append(Row(case, f"faces within {SHOT_SCORE_TIE} of the best shot score on x86 ({best:.4f})",
                        str(close), "-", True, info=True))
    return rows


def compare_probes(x86: Path, arm: Path) -> list[Row]:
    a, b = json.loads((arm / "probe.json").read_text()), json.loads((x86 / "probe.json").read_text())
    rows = [Row("versions", "numpy, opencv, onnxruntime, litert, mugshot-edge",
                " ".join(a["versions"].values()), "same as x86", a["versions"] == b["versions"])]
    with np.load(arm / "probe.npz") as fa, np.load(x86 / "probe.npz") as fb:
        frames = np.abs(fa["clip_frames"].astype(np.int16) - fb["clip_frames"].astype(np.int16))
        rows.append(Row("clip frames", f"decoded pixels, max |diff| levels (mean {frames.mean():.3f})",
                        str(int(frames.max())), f"<= {FRAME_LEVELS}", int(frames.max()) <= FRAME_LEVELS))
        rows += _detection_rows("clip, own decoding", a["clip"], b["clip"], BOX_PX)
        if a["clip_reference_frames"]:
            rows += _detection_rows("clip, x86's frames", a["clip_reference_frames"], b["clip"], BOX_PX_SAME_INPUT,
                                    MESH_POSE_DEG_PHOTO)
        names = sorted(a["photos"])
        rows += _detection_rows("photos", [a["photos"][n]["detections"] for n in names],
                                [b["photos"][n]["detections"] for n in names], BOX_PX)
        poses = [(a["photos"][n]["pose_of_landmarks"], b["photos"][n]["pose_of_landmarks"]) for n in names
                 if "pose_of_landmarks" in a["photos"][n] and "pose_of_landmarks" in b["photos"][n]]
        if poses:
            worst = max(float(np.abs(np.subtract(pa, pb)).max()) for pa, pb in poses)
            rows.append(_row("photos, x86's landmarks", f"head pose of {len(poses)} faces, max |diff| deg",
                             worst, POSE_DEG, "{:.2f}"))
        decoded = sum(a["photos"][n].get("decoded_sha256") != b["photos"][n].get("decoded_sha256") for n in names)
        rows.append(Row("photos", f"decoded pixels of {len(names)} photos (sha256)", f"{decoded} differ", "0 differ",
                        decoded == 0))
        rows += _mesh_probe_rows(a["photos"], b["photos"], fa, fb)
        for variant in ("crop", "onnx_fp32", "tflite_fp32", "onnx_int8", "tflite_int8"):
            keys = [k for k in fb.files if k.endswith("/" + variant)]
            if not keys:
                continue
            diffs = [np.abs(fa[k].astype(np.int16) - fb[k].astype(np.int16)) for k in keys]
            worst, mean = max(int(d.max()) for d in diffs), float(np.mean([d.mean() for d in diffs]))
            limit = INT8_LEVELS if "int8" in variant else FP32_LEVELS
            rows.append(Row("photos, x86's landmarks", f"{variant} pixels of {len(keys)} faces, max |diff| "
                            f"(mean {mean:.4f})", str(worst), f"<= {limit}", worst <= limit))
    return rows


def _mesh_probe_rows(ours: dict, theirs: dict, fa, fb) -> list[Row]:
    """The mesh runtimes on the same input on both sides."""
    case = "photos, x86's mesh input"
    names = [n for n in sorted(theirs) if "mesh" in theirs[n] and "mesh" in ours[n]]
    if not names:
        return [Row(case, "face-mesh probe", "no mesh runs", "some", False)]
    rows = []
    inputs = max(float(np.abs(fa[f"{n}/mesh_input"] - fb[f"{n}/mesh_input"]).max()) for n in names)
    rows.append(Row(case, f"network input 192x192 made here from the same photo and landmarks ({len(names)})",
                    f"max |diff| {inputs * 255:.2f} levels", "identical", inputs == 0.0))
    for runtime in ("litert", "onnxruntime"):
        points = max(float(np.abs(fa[f"{n}/mesh_raw_{runtime}"] - fb[f"{n}/mesh_raw_{runtime}"]).max())
                     for n in names)
        rows.append(_row(case, f"{runtime}: 468 mesh points, max |diff| px of the input", points, MESH_POINTS_PX,
                         "{:.5f}"))
        presence = max(abs(ours[n]["mesh"][runtime]["presence"] - theirs[n]["mesh"][runtime]["presence"])
                       for n in names)
        rows.append(_row(case, f"{runtime}: presence, max |diff|", presence, MESH_PRESENCE, "{:.5f}"))
        gates = sum(ours[n]["mesh"][runtime]["accepted"] != theirs[n]["mesh"][runtime]["accepted"] for n in names)
        rows.append(Row(case, f"{runtime}: mesh accepted by the gates", f"{gates} differ", "0 differ", gates == 0))
        pose = max(float(np.abs(np.subtract(ours[n]["mesh"][runtime]["pose"],
                                            theirs[n]["mesh"][runtime]["pose"])).max()) for n in names)
        rows.append(_row(case, f"{runtime}: mesh pose yaw/pitch/roll, max |diff| deg", pose,
                         MESH_POSE_DEG_SAME_INPUT, "{:.4f}"))
    between = max(float(np.abs(fb[f"{n}/mesh_raw_litert"] - fb[f"{n}/mesh_raw_onnxruntime"]).max()) for n in names)
    pose = max(float(np.abs(np.subtract(theirs[n]["mesh"]["litert"]["pose"],
                                        theirs[n]["mesh"]["onnxruntime"]["pose"])).max()) for n in names)
    rows.append(Row("x86 alone", "LiteRT vs onnxruntime: mesh points max |diff| px; pose deg",
                    f"{between:.4f}; {pose:.4f}", "-", True, info=True))
    return rows


def pose_sensitivity(x86: Path, photos: list[Path], noise_px: float = 0.01, trials: int = 100) -> list[Row]:
    """On x86 alone: how far the head pose moves when the photos' landmarks move by ``noise_px``, for the
    5-point fit and for the mesh pose (the mesh's crop follows the landmarks).

    Not an arm64 check; it tells whether a pose difference between the two comes from the fit itself."""
    from edge.vision.face3d import make_mesher, procrustes_pose
    from edge.vision.quality import head_pose

    mesher = make_mesher("auto")
    result = json.loads((x86 / "probe.json").read_text())["photos"]
    rng = np.random.default_rng(0)
    rows = []
    for photo in photos:
        faces = result.get(photo.name, {}).get("detections")
        if not faces:
            continue
        best = max(faces, key=lambda f: f["score"])
        marks = np.asarray(best["landmarks"], np.float32)
        image = cv2.imread(str(photo))
        h, w = image.shape[:2]
        five, mesh = [], []
        for _ in range(trials):
            noisy = marks + rng.normal(0, noise_px, marks.shape).astype(np.float32)
            five.append(head_pose(noisy, (w, h))[0])
            found = mesher.run(image, best["box"], noisy)
            if found.accepted:
                mesh.append(procrustes_pose(found.points, mesher.canonical).yaw)
        spread = f"{min(mesh):.2f} .. {max(mesh):.2f}" if mesh else "no mesh"
        rows.append(Row("x86 alone", f"{photo.name}: yaw under {noise_px} px landmark noise, 5-point; mesh",
                        f"{min(five):.1f} .. {max(five):.1f}; {spread} deg", "-", True, info=True))
    return rows


def load_events(folder: Path) -> list[dict]:
    events = [json.loads(p.read_text()) for p in folder.glob("*.json")]
    return sorted(events, key=lambda e: e["first_seen"])


def _seconds(event: dict, key: str) -> float:
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(event[key]) - parse(event["first_seen"])).total_seconds()


def _jpeg_diff(arm: Path, x86: Path) -> float:
    a, b = cv2.imread(str(arm)), cv2.imread(str(x86))
    if a is None or b is None or a.shape != b.shape:
        return float("inf")
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _models_row(tag: str, a: dict, b: dict, runtime: str | None = None) -> Row:
    """Models, versions, precisions, mesh runtime and the generator decision (with its reason) alike."""
    mesh = a["models"].get("mesh", {}).get("runtime")
    shown = a["generator"] + (f", mesh on {mesh}" if mesh else "")
    reason = a["models"].get("generator", {}).get("reason")
    if reason:
        shown += f" ({reason})"
    ok = a["models"] == b["models"] and a["generator"] == b["generator"] and (runtime is None or mesh == runtime)
    return Row(tag, "models, generator decision" + (f", mesh runtime {runtime}" if runtime else ""), shown,
               "same as x86", ok)


def _geometry_rows(tag: str, a: dict, b: dict, mesh_limit: float) -> list[Row]:
    """Pose source, mesh presence and the pose (the mesh's where both used it, else the 5-point one)."""
    source_a, source_b = a["quality"].get("pose_source", "landmarks"), b["quality"].get("pose_source", "landmarks")
    presence_a, presence_b = (e.get("mesh", {}).get("presence", 0.0) for e in (a, b))
    rows = [Row(tag, "pose source, mesh presence", f"{source_a} {presence_a:.3f}, x86 {source_b} {presence_b:.3f}",
                f"same, <= {MESH_PRESENCE}", source_a == source_b and abs(presence_a - presence_b) <= MESH_PRESENCE)]
    pose = max(abs(a["quality"][k] - b["quality"][k]) for k in ("yaw", "pitch", "roll"))
    mesh = source_a == source_b == "mesh"
    rows.append(_row(tag, f"{'mesh' if mesh else '5-point'} yaw/pitch/roll, max |diff| deg (x86 yaw "
                     f"{b['quality']['yaw']:+.1f})", pose, mesh_limit if mesh else POSE_DEG, "{:.2f}"))
    return rows


def _image_rows(tag: str, arm: Path, x86: Path, stem_a: str, stem_b: str) -> list[Row]:
    return [_row(tag, f"{image} JPEG pixels, mean |diff| levels",
                 _jpeg_diff(arm / f"{stem_a}_{image}.jpg", x86 / f"{stem_b}_{image}.jpg"), JPEG_MEAN_LEVELS)
            for image in ("mugshot", "crop")]


def compare_events(case: str, x86: Path, arm: Path, mesh_limit: float = MESH_POSE_DEG_CLIP) -> list[Row]:
    """``replay`` outputs (``<event_id>.json`` and its JPEGs), events in order of first sight."""
    ours, theirs = load_events(arm), load_events(x86)
    rows = [Row(case, "events", f"{len(ours)} (x86 {len(theirs)})", "same count", len(ours) == len(theirs))]
    for i, (a, b) in enumerate(zip(ours, theirs)):
        tag = f"{case}, event {i + 1}"
        best_a, best_b = _seconds(a, "best_seen"), _seconds(b, "best_seen")
        same_frame = abs(best_a - best_b) < SAME_FRAME_S
        scores = a["quality"]["shot_score"], b["quality"]["shot_score"]
        tie = abs(scores[0] - scores[1]) <= SHOT_SCORE_TIE
        rows.append(Row(tag, "best shot at s after first seen (shot score)",
                        f"{best_a:.3f} ({scores[0]:.4f}), x86 {best_b:.3f} ({scores[1]:.4f})",
                        f"same, or tie <= {SHOT_SCORE_TIE}", same_frame or tie))
        if not same_frame:
            rows.append(Row(tag, "box, pose and pixels", "not compared: other frame", "-", tie))
            continue
        box = max(abs(a["box"][k] - b["box"][k]) for k in ("x", "y", "w", "h"))
        rows.append(_row(tag, "box, max |diff| px", box, BOX_PX, "{:.2f}"))
        rows += _geometry_rows(tag, a, b, mesh_limit)
        rows.append(_models_row(tag, a, b))
        rows += _image_rows(tag, arm, x86, a["event_id"], b["event_id"])
    return rows


def compare_stills(case: str, x86: Path, arm: Path, runtime: str | None = None) -> list[Row]:
    """``mugshot-edge mugshot`` outputs (``<photo>.json``, ``<photo>_mugshot.jpg``, ``<photo>_crop.jpg``),
    photo by photo; ``runtime``: the mesh runtime both sides must name."""
    ours = {p.stem: json.loads(p.read_text()) for p in arm.glob("*.json")}
    theirs = {p.stem: json.loads(p.read_text()) for p in x86.glob("*.json")}
    rows = [Row(case, "photos with a mugshot", f"{len(ours)} (x86 {len(theirs)})", "the same photos",
                sorted(ours) == sorted(theirs) and bool(theirs))]
    for stem in sorted(set(ours) & set(theirs)):
        a, b = ours[stem], theirs[stem]
        tag = f"{case}, {stem}"
        box = max(abs(a["box"][k] - b["box"][k]) for k in ("x", "y", "w", "h"))
        rows.append(_row(tag, "box, max |diff| px", box, BOX_PX, "{:.2f}"))
        rows += _geometry_rows(tag, a, b, MESH_POSE_DEG_PHOTO)
        rows.append(_models_row(tag, a, b, runtime))
        rows += _image_rows(tag, arm, x86, stem, stem)
    return rows


def table(rows: list[Row]) -> str:
    width = max(len(r.case) for r in rows)
    what = max(len(r.what) for r in rows)
    measured = max(24, *(len(r.measured) for r in rows))
    lines = [f"{'case':{width}}  {'check':{what}}  {'arm64 vs x86':{measured}}  {'tolerance':12}  ok"]
    lines += [f"{r.case:{width}}  {r.what:{what}}  {r.measured:{measured}}  {r.limit:12}  "
              f"{'info' if r.info else 'yes' if r.ok else 'NO'}" for r in rows]
    return "\n".join(lines)
