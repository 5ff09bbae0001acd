"""Geometry of what a generator makes, for `mugshot-train eval`: frontality and YuNet re-find.

Each output picture is measured the way the box would see a face: YuNet (``edge.vision.detect``, the box's
``DetectorConfig`` settings: score 0.7, NMS 0.3, min face 24 px, 320x320 letterbox; fp32) on the picture,
then ``edge.vision.face3d``'s ``FaceMesher`` with its gates (presence, agreement with YuNet's five points,
5-point yaw) and ``procrustes_pose``.  An aligned output fills its picture, so it is first scaled up to
at least ``MEASURE_MIN`` px and centred on a mid-grey canvas ``PAD`` times its side: YuNet then sees the
face at about the size a camera frame gives it, and the mesher's crop (1.5x the box) has a neutral border.

* *frontal*: the mesh's yaw is within ``FRONTAL_DEGREES`` of 0.  No face, or no accepted mesh, is not frontal.
* *frontal to own*: within ``FRONTAL_DEGREES`` of the yaw the mesh reads on the person's own true frontal
  photo (the training target; FRMDB's "frontals" read up to about ±17 degrees, a real turn of the head:
  mirrored, the sign flips).
* *re-find*: YuNet finds a face in the picture.

The true frontal photos themselves are the reference row.  Groups: every held-out studio probe, the issue's
target (inputs up to ±``MAX_INPUT_YAW``: FRMDB and Pointing'04 studio probes), each input |yaw| ("yaw ±45": both
signs, every pitch, both datasets), and FRMDB's surveillance frames.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

FRONTAL_DEGREES = 10.0  # the frontality bound
MAX_INPUT_YAW = 60.0  # frontality is a target for inputs up to this |yaw|
MEASURE_MIN = 128  # pictures smaller than this are scaled up (nearest) before YuNet
PAD = 2.0  # the canvas is this many times the picture's side
PAD_VALUE = 128  # mid-grey
REFERENCE = "true frontal (reference)"
TARGET_GROUP = f"inputs up to ±{MAX_INPUT_YAW:g}°"
METHOD = (f"YuNet at the box's detector settings (edge.config DetectorConfig, fp32) on each picture scaled up to at "
          f"least {MEASURE_MIN} px and centred on a mid-grey canvas {PAD:g}x its side, the face nearest the centre; "
          "then edge.vision.face3d's FaceMesher with its gates and procrustes_pose")


class OutputGeometry:
    """YuNet, the face mesh and its pose on aligned pictures, as the box would measure them."""

    def __init__(self, detector=None, mesher=None):
        from edge.config import DetectorConfig
        from edge.vision.detect import make_detector
        from edge.vision.face3d import make_mesher

        self.detector = detector if detector is not None else make_detector(DetectorConfig(precision="fp32"))
        self.mesher = mesher if mesher is not None else make_mesher()

    @staticmethod
    def canvas(picture: np.ndarray) -> np.ndarray:
        side = max(picture.shape[:2])
        if side < MEASURE_MIN:
            factor = int(np.ceil(MEASURE_MIN / side))
            picture = cv2.resize(picture, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
        pad = int(round(max(picture.shape[:2]) * (PAD - 1) / 2))
        return cv2.copyMakeBorder(np.ascontiguousarray(picture), pad, pad, pad, pad, cv2.BORDER_CONSTANT,
                                  value=(PAD_VALUE,) * 3)

    def measure(self, pictures) -> dict[str, np.ndarray]:
        """Per picture: ``found`` (YuNet), ``meshed`` (an accepted mesh), ``yaw`` and ``pitch`` (nan without)."""
        from edge.vision.face3d import procrustes_pose

        found, meshed, yaws, pitches = [], [], [], []
        for picture in pictures:
            canvas = self.canvas(picture)
            faces = self.detector.detect(canvas)
            found.append(bool(faces))
            yaw = pitch = float("nan")
            if faces:
                cx, cy = canvas.shape[1] / 2, canvas.shape[0] / 2
                face = min(faces, key=lambda f: (f.box[0] + f.box[2] / 2 - cx) ** 2
                           + (f.box[1] + f.box[3] / 2 - cy) ** 2)
                mesh = self.mesher.mesh(canvas, face.box, face.landmarks)
                if mesh is not None:
                    pose = procrustes_pose(mesh.points, self.mesher.canonical)
                    yaw, pitch = pose.yaw, pose.pitch
            meshed.append(not np.isnan(yaw))
            yaws.append(yaw)
            pitches.append(pitch)
        return {"found": np.array(found, bool), "meshed": np.array(meshed, bool),
                "yaw": np.array(yaws, np.float64), "pitch": np.array(pitches, np.float64)}


def geometry_groups(cache, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Held-out probes by input |yaw| (studio views, all pitches), the issue's target group (and per dataset where it
    mixes them), surveillance."""
    studio = idx[cache.kinds[idx] == "studio"]
    yaw = np.abs(cache.yaws[studio])
    groups = {"all studio probes": studio, TARGET_GROUP: studio[yaw <= MAX_INPUT_YAW]}
    target_sources = sorted(set(cache.sources[groups[TARGET_GROUP]].tolist()))
    for source in target_sources if len(target_sources) > 1 else ():  # FRMDB's frontals read turned more
        groups[f"{TARGET_GROUP}, {source}"] = groups[TARGET_GROUP][cache.sources[groups[TARGET_GROUP]] == source]
    for value in sorted({float(v) for v in yaw[np.isfinite(yaw)]}):
        groups["yaw 0" if value == 0 else f"yaw ±{value:g}"] = studio[yaw == value]
    groups["surveillance"] = idx[cache.kinds[idx] == "surveillance"]
    return {k: v for k, v in groups.items() if len(v)}


def shares(m: dict[str, np.ndarray], reference_yaw: np.ndarray) -> dict[str, np.ndarray]:
    """Per probe booleans from a measurement and the yaw of each probe's own true frontal."""
    with np.errstate(invalid="ignore"):
        return {"frontal": m["meshed"] & (np.abs(m["yaw"]) <= FRONTAL_DEGREES),
                "frontal to own": m["meshed"] & (np.abs(m["yaw"] - reference_yaw) <= FRONTAL_DEGREES),
                "re-find": m["found"]}


def geometry_report(cache, idx: np.ndarray, outputs: dict[str, dict], published: dict[str, tuple[str, set]],
                    meter: OutputGeometry | None = None) -> dict:
    """``outputs``: candidate -> {cache row: picture}; ``published``: gated row -> (its candidate, the cache rows
    where the box publishes the crop instead).  Every picture is measured once; a gated row takes the raw
    crop's measurement where the crop goes out."""
    meter = meter if meter is not None else OutputGeometry()
    groups = geometry_groups(cache, idx)
    rows = np.unique(np.concatenate(list(groups.values())))
    position = {int(r): k for k, r in enumerate(rows)}
    targets, where = np.unique(cache.targets[rows], return_inverse=True)
    measured = {REFERENCE: {k: v[where] for k, v in meter.measure(cache.frontals[targets]).items()}}
    for name, made in outputs.items():
        measured[name] = meter.measure([made[int(r)] for r in rows])
    raw = next(iter(outputs))  # the raw input comes first
    for gated, (name, crop_at) in published.items():
        crop = np.isin(rows, sorted(crop_at))
        measured[gated] = {k: np.where(crop, measured[raw][k], v) for k, v in measured[name].items()}
    reference_yaw = measured[REFERENCE]["yaw"]
    per_probe = {name: shares(m, reference_yaw) for name, m in measured.items()}
    table: dict[str, dict] = {}
    for name, m in measured.items():
        table[name] = {}
        for group, members in groups.items():
            at = np.array([position[int(r)] for r in members])
            cell = {key: float(values[at].mean()) for key, values in per_probe[name].items()}
            found, meshed, yaw = m["found"][at], m["meshed"][at], m["yaw"][at]
            cell.update({"no face": int((~found).sum()), "no mesh": int((found & ~meshed).sum()),
                         "median |yaw|": float(np.nanmedian(np.abs(yaw))) if meshed.any() else float("nan")})
            table[name][group] = cell
    from .eval_stats import paired, rank1_split

    target = np.array([position[int(r)] for r in groups.get(TARGET_GROUP, [])], int)
    studio = np.array([position[int(r)] for r in groups.get("all studio probes", [])], int)
    frontal_hits = {name: {TARGET_GROUP: values["frontal"][target].tolist(),
                           f"{TARGET_GROUP}, to own": values["frontal to own"][target].tolist(),
                           "re-find, all studio": values["re-find"][studio].tolist()}
                    for name, values in per_probe.items() if name != REFERENCE} if len(target) else {}
    sources = {group: {str(s): int(n) for s, n in zip(*np.unique(cache.sources[members], return_counts=True))}
               for group, members in groups.items()}
    return {"method": METHOD, "frontal_degrees": FRONTAL_DEGREES, "max_input_yaw": MAX_INPUT_YAW,
            "groups": {g: {"probes": int(len(m)), "sources": sources[g]} for g, m in groups.items()},
            "rows": table, "paired": paired(frontal_hits, [raw], rank1_split) if frontal_hits else [],
            "probes": {"rows": rows.tolist(),
                       **{name: {"found": m["found"].tolist(), "meshed": m["meshed"].tolist(),
                                 "yaw": [None if np.isnan(y) else round(float(y), 2) for y in m["yaw"]]}
                          for name, m in measured.items()}}}


def geometry_markdown(geometry: dict) -> list[str]:
    from .eval_stats import paired_table

    groups = list(geometry["groups"])
    names = list(geometry["rows"])
    degrees = geometry["frontal_degrees"]
    lines = ["## Frontality and YuNet re-find", "",
             f"Measured like the box: {geometry['method']}. Probes per group and dataset: "
             + "; ".join(f"{g} {v['probes']} ({', '.join(f'{s} {n}' for s, n in v['sources'].items())})"
                         for g, v in geometry["groups"].items()) + ".", ""]
    for key, title in (("frontal", f"Frontal: share of pictures whose mesh yaw is within ±{degrees:g}° of 0 (no face "
                                   "or no accepted mesh counts as not frontal)"),
                       ("frontal to own", f"Frontal to own: within ±{degrees:g}° of the mesh yaw of the person's own "
                                          "true frontal photo"),
                       ("re-find", "Re-find: share of pictures in which YuNet finds a face"),
                       ("median |yaw|", "Median |mesh yaw|, degrees, of the pictures with a mesh")):
        lines += [title + ".", "", "| model | " + " | ".join(groups) + " |", "|---" * (len(groups) + 1) + "|"]
        digits = 1 if key == "median |yaw|" else 3
        lines += [f"| {name} | " + " | ".join(f"{geometry['rows'][name][g][key]:.{digits}f}" for g in groups) + " |"
                  for name in names]
        lines.append("")
    if TARGET_GROUP in groups:
        lines += [f"Not frontal for want of a face, {TARGET_GROUP}: " + "; ".join(
            f"{name} {geometry['rows'][name][TARGET_GROUP]['no face']} no face, "
            f"{geometry['rows'][name][TARGET_GROUP]['no mesh']} no mesh" for name in names) + ".", ""]
    if geometry.get("paired"):
        lines += ["Paired with the raw crop on the same probes (frontal, frontal to own, re-find): + probes only the "
                  "model's output has, - probes only the crop has, exact McNemar p.", "",
                  *paired_table(geometry["paired"], ("model", "reference")), ""]
    return lines


def write_geometry_grids(cache, outputs: dict[str, dict], geometry: dict, out: Path,
                         per_group: int = 3) -> list[Path]:
    """One grid per model (not the raw input): rows of examples per input |yaw| group and surveillance,
    columns input | frontalized (the cache's, grey without an accepted mesh) | output | true frontal,
    each at least 128 px, the output's and the frontal's mesh yaw written on them."""
    size = cache.inputs.shape[1]
    factor = int(np.ceil(MEASURE_MIN / size)) if size < MEASURE_MIN else 1
    probes = geometry["probes"]
    position = {r: k for k, r in enumerate(probes["rows"])}
    examples = []
    groups = geometry_groups(cache, np.asarray(probes["rows"], int))
    for group, members in ((g, m) for g, m in groups.items() if g.startswith("yaw ") or g == "surveillance"):
        spread = np.unique(np.linspace(0, len(members) - 1, min(per_group, len(members))).round().astype(int))
        examples += [int(members[k]) for k in spread]  # first, last and between: both signs, both datasets
    written = []
    for name in list(outputs)[1:]:
        tiles_rows = []
        for r in examples:
            meshed = cache.has_mesh is not None and bool(cache.has_mesh[r])
            frontalized = cache.view_frontals[r] if meshed else np.full((size, size, 3), PAD_VALUE, np.uint8)
            tiles = [tile(cache.inputs[r], factor, input_text(cache, r)),
                     tile(frontalized, factor, "" if meshed else "no mesh" if cache.has_mesh is not None
                          else "no geometry in cache"),
                     tile(outputs[name][r], factor, yaw_text(probes[name], position[r])),
                     tile(cache.frontals[cache.targets[r]], factor, yaw_text(probes[REFERENCE], position[r]))]
            tiles_rows.append(np.hstack(tiles))
        if not tiles_rows:
            continue
        grid = np.vstack(tiles_rows)
        header = np.full((22, grid.shape[1], 3), 255, np.uint8)
        width = grid.shape[1] // 4
        for k, label in enumerate(("input", "frontalized", name, "true frontal")):
            cv2.putText(header, label[:width // 7], (k * width + 4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        path = out / f"grid_{re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_')}.png"
        cv2.imwrite(str(path), np.vstack([header, grid]))
        written.append(path)
    return written


def input_text(cache, r: int) -> str:
    """The input's dataset and its labelled pose (putText draws ASCII only)."""
    source = {"frmdb": "FRMDB", "pointing04": "P04"}.get(str(cache.sources[r]), str(cache.sources[r])[:10])
    if cache.kinds[r] != "studio" or not np.isfinite(cache.yaws[r]):
        return f"{source} {cache.kinds[r]}"
    return f"{source} y{cache.yaws[r]:+.0f} p{cache.pitches[r]:+.0f}"


def yaw_text(measured: dict, k: int) -> str:
    if not measured["found"][k]:
        return "no face"
    yaw = measured["yaw"][k]
    return "no mesh" if yaw is None else f"yaw {yaw:+.0f}"


def tile(picture: np.ndarray, factor: int, label: str) -> np.ndarray:
    made = cv2.resize(picture, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST) if factor > 1 \
        else picture.copy()
    if label:
        cv2.putText(made, label, (3, made.shape[0] - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 2)
        cv2.putText(made, label, (3, made.shape[0] - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1)
    return made
