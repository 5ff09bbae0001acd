"""Blind rating of what the box publishes: sheets for raters, then the scores.

``mugshot-train rate sheets --out DIR --source mugshot=auto --source old=PATH.onnx`` runs validation people
(never trained on: ``trainer/split.toml``) through the box's own pipeline and writes:

- ``DIR/sheets/sheet_NN.png``: 8 pictures each, labelled only with random ids, shuffled across sources;
- ``DIR/ratings.csv``: one row per id to fill in (natural 1-5, frontal yes/no, id_fitness 1-5);
- ``DIR/key.json``: which person, input and source each id is (keep it from the raters);
- ``DIR/grid.png``: for whoever runs the study, not the raters: input | crop | each source | true frontal.

Inputs per person (FRMDB; the rig's yaw steps are 45 degrees): the studio frontal (``Img_33``), pitch +30
and -30 at yaw 0 (``Img_32``, ``Img_34``), yaw -45 and +45 at pitch 0 (``Img_23``, ``Img_43``), and the
person's real surveillance frames replayed as one track (the box's own best-shot selection).
With ``--pose-study``, Pointing'04 validation people at pan -30, -15, +15 and +30 (tilt 0) are added; with
``--surveillance-frames``, each surveillance frame on its own (input ``frame``).
Sources: ``reference`` (the true frontal through the box with ``generator.model = "none"``), ``crop`` (the
box's aligned crop of the input, made beside the first ``--source``), and each ``--source NAME=MODEL[,KEY=VALUE...]``
(a ``generator.model`` value: ``auto``, ``none`` or a model file).

``mugshot-train rate score --out DIR [--ratings FILE]`` reads the filled-in ratings and prints, per source
and input, the mean natural score, the share rated frontal and the mean ID fitness.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .config import TrainConfigError, generator_choice
from .restore_data import read_manifest

STUDIO_INPUTS = {"frontal": "Img_33", "pitch+30": "Img_32", "pitch-30": "Img_34",
                 "yaw-45": "Img_23", "yaw+45": "Img_43"}
PER_SHEET = 8
TILE = 256


class RateError(ValueError):
    """A bad argument or file: one line naming it."""


@dataclass(frozen=True)
class Input:
    person: str  # "frmdb:001"
    kind: str  # "frontal", "yaw-45", ..., "track"
    frames: tuple[Path, ...]


POSE_PANS = (-30, -15, 15, 30)  # Pointing'04 pans (tilt 0) for the residual-pose study


def pointing04_inputs(data: Path, people: list[str]) -> list[Input]:
    """Pointing'04 validation people, first series, tilt 0, at small pans: where a residual pose correction
    could still look natural."""
    manifest = data / "pointing04" / "manifest.csv"
    if not manifest.is_file():
        return []
    rows = read_manifest(manifest)
    inputs = []
    for person in people:
        for pan in POSE_PANS:
            paths = [data / "pointing04" / r["path"] for r in rows if r["person"] == person and r["series"] == "1"
                     and int(r["tilt_deg"]) == 0 and int(r["pan_deg"]) == pan]
            if paths:
                inputs.append(Input(f"p04:{person}", f"pan{pan:+d}", (paths[0],)))
    return inputs


def validation_people(data: Path) -> list[str]:
    from .split_notice import load_split

    if not (data / "frmdb" / "manifest.csv").is_file():
        raise RateError(f"{data / 'frmdb' / 'manifest.csv'}: not found (the FRMDB data; give --data)")
    return sorted(p.split(":", 1)[1] for p in load_split() if p.startswith("frmdb:"))


def collect_inputs(data: Path, people: list[str], frames: bool = False) -> list[Input]:
    """Per person the studio inputs and the surveillance track; with ``frames`` also each surveillance frame
    on its own (kind ``frame``: restoration on real camera pictures, one picture per frame)."""
    rows = read_manifest(data / "frmdb" / "manifest.csv")
    inputs = []
    for person in people:
        mine = [r for r in rows if r["subject"] == person]
        for kind, stem in STUDIO_INPUTS.items():
            paths = [data / "frmdb" / r["path"] for r in mine if r["kind"] == "mugshot" and Path(r["path"]).stem == stem]
            if paths:
                inputs.append(Input(f"frmdb:{person}", kind, (paths[0],)))
        track = sorted(data / "frmdb" / r["path"] for r in mine if r["kind"] == "surveillance_frame")
        if track:
            inputs.append(Input(f"frmdb:{person}", "track", tuple(track)))
        if frames:
            inputs += [Input(f"frmdb:{person}", "frame", (path,)) for path in track]
    return inputs


class _Capture:
    """A publisher that keeps the last event's pictures (the box's own encoding is not needed here)."""
    name = "capture"
    spooled = False

    def __init__(self):
        self.events = []
        self.start = 0.0  # a replayed track's first timestamp (frames 0.2 s apart)

    def publish(self, event) -> None:
        self.events.append(event)

    def motion(self, camera, active) -> None:
        pass

    def status(self) -> dict:
        return {}

    def close(self) -> None:
        pass


def _pipeline(choice: str):
    """The box's pipeline with ``choice``: ``MODEL[,KEY=VALUE...]`` (``trainer.config.generator_choice``)."""
    from edge.config import config_from_dict
    from edge.daemon.pipeline import Pipeline, build_models

    cfg = config_from_dict({"camera": {"type": "images", "uri": "."},
                            "motion": {"enabled": False},  # the frames of a track are stills, not a video
                            "publishers": [{"type": "directory", "path": "unused"}]})
    cfg = dataclasses.replace(cfg, generator=generator_choice(choice))
    detector, generator, mesher = build_models(cfg)
    capture = _Capture()
    return Pipeline(cfg, None, detector, generator, [capture], threading.Event(), mesher), capture


def publish(pipeline, capture: _Capture, item: Input):
    """The event the box publishes for this input (the last revision of the track), or None."""
    from edge.sources.base import ArrayFrame
    from edge.vision.track import Tracker

    capture.events.clear()
    if item.kind != "track":
        due = pipeline.best_shot(cv2.imread(str(item.frames[0])), time.time())
        if due is not None:
            pipeline.emit(due)
    else:  # one track: every face continues it (the frames are seconds apart), the box's score picks the shot
        pipeline.tracker = Tracker(dataclasses.replace(pipeline.cfg.tracker, iou_threshold=0.0,
                                                       max_missed_seconds=1e9, publish_after_seconds=1e9))
        start = capture.start = time.time()
        for i, path in enumerate(item.frames):
            pipeline.process(ArrayFrame(cv2.imread(str(path)), index=i, timestamp=start + 0.2 * i))
        for due in pipeline.tracker.flush():
            pipeline.emit(due)
    return capture.events[-1] if capture.events else None


def render(inputs: list[Input], sources: dict[str, str], log=print) -> list[dict]:
    """Every picture to rate: {"person", "input", "source", "image"}."""
    pictures = []
    reference, ref_capture = _pipeline("none")
    for person in sorted({i.person for i in inputs}):
        frontal = next((i for i in inputs if i.person == person and i.kind == "frontal"), None)
        event = publish(reference, ref_capture, frontal) if frontal else None
        if event is not None:
            pictures.append({"person": person, "input": "true frontal", "source": "reference", "image": event.mugshot})
    for n, (name, model) in enumerate(sources.items()):
        pipeline, capture = _pipeline(model)
        for item in inputs:
            event = publish(pipeline, capture, item)
            if event is None:
                log(f"{name}: no face published for {item.person} {item.kind}")
                continue
            pictures.append({"person": item.person, "input": item.kind, "source": name, "image": event.mugshot})
            if n == 0:
                pictures.append({"person": item.person, "input": item.kind, "source": "crop", "image": event.crop,
                                 "frame": input_view(item, event, capture.start)})
    return pictures


def input_view(item: Input, event, start: float) -> np.ndarray:
    """What the camera gave: the chosen frame (a track's, by the event's best_seen) around the face, 3x its box."""
    index = 0 if item.kind != "track" else min(len(item.frames) - 1, max(0, round((event.best_seen - start) / 0.2)))
    frame = cv2.imread(str(item.frames[index]))
    x, y, w, h = event.box
    half = 1.5 * max(w, h)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
    x1, y1 = int(min(frame.shape[1], cx + half)), int(min(frame.shape[0], cy + half))
    return frame[y0:y1, x0:x1]


def _tile(image: np.ndarray | None) -> np.ndarray:
    if image is None:
        return np.full((TILE, TILE, 3), 40, np.uint8)
    scale = TILE / max(image.shape[:2])
    small = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                       interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    tile = np.full((TILE, TILE, 3), 40, np.uint8)
    tile[:small.shape[0], :small.shape[1]] = small
    return tile


def write_grid(pictures: list[dict], sources: list[str], path: Path) -> None:
    """For the person running the study, never the raters: one row per (person, input), columns input (the
    camera's view of the chosen shot) | crop | each source's mugshot | the true frontal through the box."""
    by = {(p["person"], p["input"], p["source"]): p for p in pictures}
    rows = []
    for person, kind in sorted({(p["person"], p["input"]) for p in pictures if p["source"] == "crop"}):
        crop = by[(person, kind, "crop")]
        reference = by.get((person, "true frontal", "reference"))
        cells = [crop["frame"], crop["image"]] + [by[(person, kind, s)]["image"] if (person, kind, s) in by else None
                                                 for s in sources]
        cells.append(reference["image"] if reference else None)
        row = np.hstack([_tile(c) for c in cells])
        label = f"{person} {kind}"
        cv2.putText(row, label, (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3)
        cv2.putText(row, label, (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)
        rows.append(row)
    header = np.full((28, rows[0].shape[1], 3), 255, np.uint8)
    for i, name in enumerate(["input", "crop", *sources, "true frontal"]):
        cv2.putText(header, name, (i * TILE + 8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 2)
    cv2.imwrite(str(path), np.vstack([header, *rows]))


def write_sheets(pictures: list[dict], out: Path, seed: int) -> int:
    rng = random.Random(seed)
    ids = rng.sample(range(1000, 10000), len(pictures))
    order = list(range(len(pictures)))
    rng.shuffle(order)
    (out / "sheets").mkdir(parents=True, exist_ok=True)
    key = {}
    for start in range(0, len(order), PER_SHEET):
        tiles = []
        for index in order[start:start + PER_SHEET]:
            pic = pictures[index]
            image = cv2.resize(pic["image"], (TILE, TILE), interpolation=cv2.INTER_AREA
                               if pic["image"].shape[0] > TILE else cv2.INTER_CUBIC)
            label = np.full((28, TILE, 3), 255, np.uint8)
            cv2.putText(label, str(ids[index]), (TILE // 2 - 30, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2)
            tiles.append(np.vstack([image, label]))
            key[str(ids[index])] = {k: pic[k] for k in ("person", "input", "source")}
        while len(tiles) < PER_SHEET:
            tiles.append(np.full_like(tiles[0], 255))
        sheet = np.vstack([np.hstack(tiles[:4]), np.hstack(tiles[4:])])
        cv2.imwrite(str(out / "sheets" / f"sheet_{start // PER_SHEET + 1:02d}.png"), sheet)
    (out / "key.json").write_text(json.dumps(key, indent=1, sort_keys=True) + "\n")
    with (out / "ratings.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "natural", "frontal", "id_fitness"])
        for index in sorted(order, key=lambda i: ids[i]):
            writer.writerow([ids[index], "", "", ""])
    return (len(order) + PER_SHEET - 1) // PER_SHEET


def read_ratings(path: Path, key: dict) -> dict[str, dict]:
    ratings = {}
    for n, row in enumerate(csv.DictReader(path.open()), start=2):
        if not any((row.get(k) or "").strip() for k in ("natural", "frontal", "id_fitness")):
            continue
        rid = (row.get("id") or "").strip()
        if rid not in key:
            raise RateError(f"{path}:{n}: id {rid!r} is not in key.json")
        try:
            natural, fitness = int(row["natural"]), int(row["id_fitness"])
        except (TypeError, ValueError):
            raise RateError(f"{path}:{n}: natural and id_fitness must be whole numbers 1-5") from None
        frontal = (row.get("frontal") or "").strip().lower()
        if not (1 <= natural <= 5 and 1 <= fitness <= 5) or frontal not in ("yes", "no", "y", "n"):
            raise RateError(f"{path}:{n}: natural and id_fitness are 1-5, frontal is yes or no")
        ratings[rid] = {"natural": natural, "frontal": frontal.startswith("y"), "id_fitness": fitness}
    return ratings


def score(key: dict, ratings: dict[str, dict]) -> list[dict]:
    """Mean natural, share frontal, mean ID fitness per (source, input), and per source over all inputs."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for rid, r in ratings.items():
        k = key[rid]
        groups.setdefault((k["source"], k["input"]), []).append(r)
        groups.setdefault((k["source"], "all"), []).append(r)
    rows = []
    for (source, kind), rs in sorted(groups.items()):
        rows.append({"source": source, "input": kind, "n": len(rs),
                     "natural": float(np.mean([r["natural"] for r in rs])),
                     "frontal": float(np.mean([r["frontal"] for r in rs])),
                     "id_fitness": float(np.mean([r["id_fitness"] for r in rs]))})
    return rows


def format_scores(rows: list[dict]) -> str:
    lines = [f"{'source':12} {'input':14} {'n':>3} {'natural':>8} {'frontal':>8} {'ID fit':>7}"]
    for r in rows:
        lines.append(f"{r['source']:12} {r['input']:14} {r['n']:3d} {r['natural']:8.2f} "
                     f"{100 * r['frontal']:7.0f}% {r['id_fitness']:7.2f}")
    return "\n".join(lines)


def parse_sources(values: list[str]) -> dict[str, str]:
    sources = {}
    for value in values:
        name, sep, choice = value.partition("=")
        if not sep or not name or not choice or name in ("crop", "reference") or name in sources:
            raise RateError(f"--source: expected NAME=MODEL[,KEY=VALUE...] with a new name other than crop/reference, "
                            f"got {value!r}")
        model = choice.split(",")[0].strip()
        if model not in ("auto", "none") and not Path(model).is_file():
            raise RateError(f"--source {name}: model file {model} not found")
        try:
            generator_choice(choice)
        except TrainConfigError as exc:
            raise RateError(f"--source {name}: {exc}") from None
        sources[name] = choice
    return sources or {"mugshot": "auto"}
