"""The arm64 run against the x86 run: what must agree, within which tolerance.

Tolerances (stated before looking at any arm64 output, in the units a person would check):

- decoded video frames: max 3 grey levels per channel (the decoder's YUV->BGR conversion may round
  differently per CPU; the photos are JPEG and decode the same everywhere in practice);
- detections: the same number of faces in every frame and photo; box corners and the five landmarks
  within 1 pixel of the full frame, score within 0.01 (on the same decoded pixels: 0.05 pixel); the
  tracker's shot score of each face within 0.01 and its yaw/pitch within 1 degree;
- events: the same count; per event the same best shot (the same media time), box within 1 pixel,
  yaw/pitch/roll within 1 degree. Where two frames' shot scores lie within 0.001 of each other (a near
  tie) the other one is accepted, and that event's box and pixel rows are left out: they would compare
  two different frames;
- pixels: the aligned crop and the FP32 mugshots (onnxruntime, LiteRT) made from the same landmarks
  within 1 level of 255; INT8 mugshots (other integer kernels on ARM) within 8 levels; the published
  JPEG mugshot and crop of each event within a mean of 3 levels (sub-pixel landmark shifts move edges).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
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
SHOT_SCORE = 0.01


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


def _detection_rows(case: str, ours, theirs, box_limit: float) -> list[Row]:
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
        pose = max(max(abs(fa["yaw"] - fb["yaw"]), abs(fa["pitch"] - fb["pitch"])) for fa, fb in pairs)
        rows += [_row(case, "tracker's shot score per face, max |diff|", shot, SHOT_SCORE, "{:.4f}"),
                 _row(case, "yaw/pitch per face, max |diff| deg", pose, POSE_DEG, "{:.2f}")]
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
            rows += _detection_rows("clip, x86's frames", a["clip_reference_frames"], b["clip"], BOX_PX_SAME_INPUT)
        names = sorted(a["photos"])
        rows += _detection_rows("photos", [a["photos"][n]["detections"] for n in names],
                                [b["photos"][n]["detections"] for n in names], BOX_PX)
        poses = [(a["photos"][n]["pose_of_landmarks"], b["photos"][n]["pose_of_landmarks"]) for n in names
                 if "pose_of_landmarks" in a["photos"][n] and "pose_of_landmarks" in b["photos"][n]]
        if poses:
            worst = max(float(np.abs(np.subtract(pa, pb)).max()) for pa, pb in poses)
            rows.append(_row("photos, x86's landmarks", f"head pose of {len(poses)} faces, max |diff| deg",
                             worst, POSE_DEG, "{:.2f}"))
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


def pose_sensitivity(x86: Path, photos: list[Path], noise_px: float = 0.01, trials: int = 100) -> list[Row]:
    """On x86 alone: how far the head pose moves when the photos' landmarks move by ``noise_px``.

    Not an arm64 check; it tells whether a pose difference between the two comes from the fit itself."""
    from edge.quality import head_pose

    result = json.loads((x86 / "probe.json").read_text())["photos"]
    rng = np.random.default_rng(0)
    rows = []
    for photo in photos:
        faces = result.get(photo.name, {}).get("detections")
        if not faces:
            continue
        marks = np.asarray(max(faces, key=lambda f: f["score"])["landmarks"], np.float32)
        h, w = cv2.imread(str(photo)).shape[:2]
        yaws = [head_pose(marks + rng.normal(0, noise_px, marks.shape).astype(np.float32), (w, h))[0]
                for _ in range(trials)]
        rows.append(Row("x86 alone", f"{photo.name}: yaw under {noise_px} px landmark noise",
                        f"{min(yaws):.1f} .. {max(yaws):.1f} deg", "-", True, info=True))
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


def compare_events(case: str, x86: Path, arm: Path) -> list[Row]:
    ours, theirs = load_events(arm), load_events(x86)
    rows = [Row(case, "events", f"{len(ours)} (x86 {len(theirs)})", "same count", len(ours) == len(theirs))]
    for i, (a, b) in enumerate(zip(ours, theirs)):
        tag = f"{case}, event {i + 1}"
        best_a, best_b = _seconds(a, "best_seen"), _seconds(b, "best_seen")
        same_frame = abs(best_a - best_b) < 1e-3
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
        pose = max(abs(a["quality"][k] - b["quality"][k]) for k in ("yaw", "pitch", "roll"))
        rows.append(_row(tag, "yaw/pitch/roll, max |diff| deg", pose, POSE_DEG, "{:.2f}"))
        same_models = all(a["models"][m].get("precision") == b["models"][m].get("precision") for m in a["models"])
        rows.append(Row(tag, "models and precisions", a["generator"], "same as x86",
                        same_models and a["generator"] == b["generator"]))
        for image in ("mugshot", "crop"):
            diff = _jpeg_diff(arm / f"{a['event_id']}_{image}.jpg", x86 / f"{b['event_id']}_{image}.jpg")
            rows.append(_row(tag, f"{image} JPEG pixels, mean |diff| levels", diff, JPEG_MEAN_LEVELS))
    return rows


def table(rows: list[Row]) -> str:
    width = max(len(r.case) for r in rows)
    what = max(len(r.what) for r in rows)
    lines = [f"{'case':{width}}  {'check':{what}}  {'arm64 vs x86':24}  {'tolerance':12}  ok"]
    lines += [f"{r.case:{width}}  {r.what:{what}}  {r.measured:24}  {r.limit:12}  "
              f"{'info' if r.info else 'yes' if r.ok else 'NO'}" for r in rows]
    return "\n".join(lines)
