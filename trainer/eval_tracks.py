"""`mugshot-train eval --tracks`: each validation person's frames replayed as one track through the box.

Two replays per person, scored separately:

- ``surveillance``: FRMDB's 5 real surveillance frames (352x288, five lab cameras) of the
  six held-out people who have them;
- ``turn``: studio frames in which the head turns, pitch 0: FRMDB yaw -90, -45, +45, +90
  and the yaw 0 / pitch +30 view (the yaw 0 / pitch 0 photo is the gallery, so it is left
  out), and Pointing'04's series 1 at tilt 0, pan -90..+90 (the gallery is series 2's frontal).

The box's own objects do the work: ``build_models`` (detector, face mesh, generator), the
``Pipeline``'s detection and geometry, its ``Tracker`` (the best-shot choice and revisions)
and ``Pipeline.emit`` into a ``DirectoryPublisher`` in a temporary folder.  The published
files are read back and scored.  Differences from a live camera, so that one walk is one
track: the motion gate is off (the frames are not one video), ``tracker.iou_threshold`` is 0
and ``min_hits`` 1 (frames from different cameras do not overlap), and per frame only the
person's detection is handed to the tracker (the one whose centre lies in the manifest's
head box; the largest in studio frames); other detections are counted as false.

Per person: the chosen shot (frame, yaw by the box's pose, size, sharpness), rank-1 and
identity margin (dlib, evaluator only) of the published mugshot, the profile (when the event
has ``images.profile``) and the crop against a gallery of the held-out people's frontal studio
photos, and the oracle: the frame whose crop gives the best dlib margin.
"""
from __future__ import annotations

import json
import logging
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.config import (Config, DetectorConfig, DirectoryPublisherConfig, MotionConfig,
                         TrackerConfig)
from edge.vision.align import MUGSHOT_FACE_SCALE, ModelInputSpec, align_face
from edge.vision.metrics import DlibIdentity, identity_margin

from .config import TrainConfigError, generator_choice
from .restore_data import read_manifest
from .split_notice import load_split

log = logging.getLogger(__name__)

CROP = 256
FRMDB_TURN = ((-90, 0), (-45, 0), (0, 30), (45, 0), (90, 0))  # camera yaw, pitch; (0, 0) is the gallery photo
STEP = 0.2  # seconds between replayed frames


@dataclass
class Replay:
    person: str  # frmdb:001, p04:12
    kind: str  # surveillance | turn
    frames: list[tuple[str, Path, tuple[float, float, float, float] | None]]  # label, image, head box or None


def replays(data: Path, split: set[str]) -> tuple[list[Replay], dict[str, Path]]:
    """The held-out people's replays, and the gallery (person -> frontal studio photo)."""
    out: list[Replay] = []
    gallery: dict[str, Path] = {}
    frmdb = data / "frmdb"
    rows = [r for r in read_manifest(frmdb / "manifest.csv") if f"frmdb:{r['subject']}" in split]
    for person in sorted({f"frmdb:{r['subject']}" for r in rows}):
        mine = [r for r in rows if f"frmdb:{r['subject']}" == person]
        studio = {(int(r["camera_yaw_deg"]), int(r["camera_pitch_deg"])): frmdb / r["path"]
                  for r in mine if r["kind"] == "mugshot"}
        if (0, 0) not in studio:
            continue
        gallery[person] = studio[(0, 0)]
        frames = [(r["path"].rsplit("/", 1)[-1].split(".")[0], frmdb / r["path"],
                   tuple(float(r[k]) for k in "xywh") if r["w"] else None)
                  for r in mine if r["kind"] == "surveillance_frame"]
        if frames:
            out.append(Replay(person, "surveillance", frames))
        turn = [(f"yaw{y:+d}p{p:+d}", studio[(y, p)], None) for y, p in FRMDB_TURN if (y, p) in studio]
        if turn:
            out.append(Replay(person, "turn", turn))
    p04 = data / "pointing04" / "manifest.csv"
    if p04.exists():
        rows = read_manifest(p04)
        for person in sorted({r["person"] for r in rows if f"p04:{r['person']}" in split}, key=int):
            mine = [r for r in rows if r["person"] == person and r["tilt_deg"] == "0"]
            frontal = [r for r in mine if r["series"] == "2" and r["pan_deg"] == "0"]
            turn = sorted((r for r in mine if r["series"] == "1"), key=lambda r: int(r["pan_deg"]))
            if frontal and turn:
                gallery[f"p04:{person}"] = p04.parent / frontal[0]["path"]
                out.append(Replay(f"p04:{person}", "turn", [(f"pan{int(r['pan_deg']):+d}", p04.parent / r["path"], None)
                                                           for r in turn]))
    return out, gallery


def read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    if image is None:
        raise TrainConfigError(f"data: cannot read {path}")
    return image


def person_detection(detections, box):
    """The person's detection: centre inside the head box (best score), else the largest."""
    if not detections:
        return None
    if box is not None:
        bx, by, bw, bh = box
        inside = [d for d in detections if bx <= d.box[0] + d.box[2] / 2 <= bx + bw
                  and by <= d.box[1] + d.box[3] / 2 <= by + bh]
        return max(inside, key=lambda d: d.score) if inside else None
    return max(detections, key=lambda d: d.box[2] * d.box[3])


def box_config(generator: str, precision: str, out: Path) -> Config:
    """``generator``: ``MODEL[,KEY=VALUE...]`` (``trainer.config.generator_choice``)."""
    return Config(motion=MotionConfig(enabled=False), detector=DetectorConfig(precision="fp32"),
                  tracker=TrackerConfig(iou_threshold=0.0, min_hits=1),
                  generator=generator_choice(generator, precision=precision),
                  publishers=(DirectoryPublisherConfig(path=str(out)),))


def run_replay(replay: Replay, cfg: Config, models, out: Path) -> dict:
    """One person's frames as one track: what the box published, and every frame's own crop."""
    from edge.daemon.pipeline import Pipeline
    from edge.publish.directory import DirectoryPublisher

    detector, generator, mesher = models
    out.mkdir(parents=True, exist_ok=True)
    publisher = DirectoryPublisher(out, synchronous=True)
    pipeline = Pipeline(cfg, None, detector, generator, [publisher], threading.Event(), mesher)  # type: ignore[arg-type]
    frames, chosen = [], None
    for i, (label, path, box) in enumerate(replay.frames):
        image = read(path)
        detections = pipeline._detect(image, None)
        det = person_detection(detections, box)
        row = {"frame": label, "detections": len(detections), "found": det is not None,
               "false": len(detections) - (det is not None)}
        due = []
        if det is not None:
            geometry = [pipeline._geometry(image, det)] if mesher is not None else None
            due = pipeline.tracker.update([det], image, i * STEP, geometry)
            row["crop"] = align_face(image, det.landmarks, CROP, MUGSHOT_FACE_SCALE)[0]
        frames.append(row)
        for shot in due:
            chosen = shot
            pipeline.emit(shot)
    for shot in pipeline.tracker.flush():
        chosen = shot
        pipeline.emit(shot)
    pipeline.close()
    result = {"person": replay.person, "kind": replay.kind, "frames": frames, "event": None}
    if chosen is None:
        return result
    event = json.loads((out / f"{chosen.event_id}.json").read_text())
    images = {name: read(out / f"{chosen.event_id}_{name}.jpg")
              for name in ("mugshot", "crop", "profile") if (out / f"{chosen.event_id}_{name}.jpg").exists()}
    result.update(event=event, images=images, chosen_frame=replay.frames[round(chosen.shot.timestamp / STEP)][0],
                  quality=chosen.shot.quality.as_dict(), revision=chosen.revision)
    return result


def embed_fitted(identity: DlibIdentity, image: np.ndarray) -> np.ndarray:
    return identity.embed(cv2.resize(image, (CROP, CROP), interpolation=cv2.INTER_AREA)[None])[0]


def gallery_embeddings(identity: DlibIdentity, gallery: dict[str, Path], detector) -> tuple[np.ndarray, np.ndarray]:
    vectors, ids = [], []
    for person, path in sorted(gallery.items()):
        image = read(path)
        faces = detector.detect(image)
        if not faces:
            raise TrainConfigError(f"gallery: no face found in {path}")
        face = max(faces, key=lambda d: d.box[2] * d.box[3])
        vectors.append(identity.embed(align_face(image, face.landmarks, CROP, MUGSHOT_FACE_SCALE)[0][None])[0])
        ids.append(person)
    return np.stack(vectors), np.array(ids)


def score(results: list[dict], identity: DlibIdentity, gallery: np.ndarray, ids: np.ndarray) -> list[dict]:
    rows = []
    for r in results:
        own = np.array([r["person"]])
        margins = {}
        for f in r["frames"]:
            if "crop" in f:
                f["margin"] = float(identity_margin(embed_fitted(identity, f["crop"])[None], own, gallery, ids)[0])
                margins[f["frame"]] = f["margin"]
        row = {"person": r["person"], "kind": r["kind"], "frames": len(r["frames"]),
               "found": sum(f["found"] for f in r["frames"]), "false": sum(f["false"] for f in r["frames"]),
               "chosen": None}
        if margins:
            oracle = max(margins, key=margins.get)
            row.update(oracle=oracle, oracle_margin=margins[oracle], oracle_rank1=margins[oracle] > 0,
                       frame_margins={k: round(v, 4) for k, v in margins.items()})
        if r["event"] is not None:
            q = r["quality"]
            row.update(chosen=r["chosen_frame"], yaw=q["yaw"], pitch=q["pitch"], pose_source=q["pose_source"],
                       size=q["size"], sharpness=q["sharpness"], generator=r["event"]["models"]["generator"].get("name"),
                       view=r["event"].get("view"), profile_pose=r["event"].get("profile_pose"),
                       images=sorted(r["images"]))
            for name, image in r["images"].items():
                margin = float(identity_margin(embed_fitted(identity, image)[None], own, gallery, ids)[0])
                row[f"{name}_margin"], row[f"{name}_rank1"] = margin, margin > 0
            row["chosen_is_oracle"] = row["chosen"] == row.get("oracle")
            if row["chosen"] in margins:  # the chosen frame's own crop on the oracle's footing (not the JPEG)
                row["regret"] = round(margins[row["oracle"]] - margins[row["chosen"]], 4)
        rows.append(row)
    return rows


def summarise(rows: list[dict]) -> dict:
    summary = {}
    for kind in sorted({r["kind"] for r in rows}):
        mine = [r for r in rows if r["kind"] == kind]
        scored = [r for r in mine if r["chosen"] is not None]
        entry = {"people": len(mine), "with_event": len(scored),
                 "frames_found": f"{sum(r['found'] for r in mine)}/{sum(r['frames'] for r in mine)}",
                 "false_detections": sum(r["false"] for r in mine)}
        for name in ("mugshot", "crop", "profile", "oracle"):
            have = [r for r in scored if f"{name}_rank1" in r]
            if have:
                entry[f"{name}_rank1"] = f"{sum(r[f'{name}_rank1'] for r in have)}/{len(have)}"
                entry[f"{name}_margin_mean"] = round(float(np.mean([r[f"{name}_margin"] for r in have])), 4)
        entry["chosen_is_oracle"] = f"{sum(r.get('chosen_is_oracle', False) for r in scored)}/{len(scored)}"
        regrets = [r["regret"] for r in scored if "regret" in r]
        if regrets:
            entry["regret_mean"] = round(float(np.mean(regrets)), 4)
        summary[kind] = entry
    return summary


def table(rows: list[dict]) -> str:
    lines = ["| person | replay | found | chosen | yaw | size | sharpness | mugshot | profile | crop | oracle | regret |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def cell(r, name):
        if f"{name}_margin" not in r:
            return "-"
        return f"{'hit' if r[f'{name}_rank1'] else 'miss'} {r[f'{name}_margin']:+.3f}"

    for r in rows:
        if r["chosen"] is None:
            lines.append(f"| {r['person']} | {r['kind']} | {r['found']}/{r['frames']} | no event | | | | | | | | |")
            continue
        oracle = f"{r['oracle']} {'hit' if r['oracle_rank1'] else 'miss'} {r['oracle_margin']:+.3f}"
        lines.append(f"| {r['person']} | {r['kind']} | {r['found']}/{r['frames']} | {r['chosen']} | {r['yaw']:+.0f} "
                     f"({r['pose_source']}) | {r['size']:.0f} | {r['sharpness']:.0f} | {cell(r, 'mugshot')} | "
                     f"{cell(r, 'profile')} | {cell(r, 'crop')} | {oracle} | {r.get('regret', float('nan')):.3f} |")
    return "\n".join(lines)


def evaluate_tracks(data: Path, out: Path, generator: str = "auto", precision: str = "fp32",
                    kinds: tuple[str, ...] = ("surveillance", "turn")) -> dict:
    from edge.daemon.pipeline import build_models

    todo, gallery = replays(data, load_split())
    todo = [r for r in todo if r.kind in kinds]
    if not todo:
        raise TrainConfigError(f"data: no held-out people with frames under {data}")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="eval-tracks-") as tmp:
        cfg = box_config(generator, precision, Path(tmp))
        models = build_models(cfg)
        results = [run_replay(r, cfg, models, Path(tmp) / f"{r.person.replace(':', '_')}_{r.kind}") for r in todo]
    identity = DlibIdentity(ModelInputSpec(size=CROP, face_scale=MUGSHOT_FACE_SCALE))
    gallery_vectors, ids = gallery_embeddings(identity, gallery, models[0])
    rows = score(results, identity, gallery_vectors, ids)
    report = {"generator": models[1].describe(), "generator_choice": generator, "gallery": sorted(gallery),
              "rows": rows, "summary": summarise(rows)}
    (out / "tracks.json").write_text(json.dumps(report, indent=1, default=float))
    (out / "tracks.md").write_text(table(rows) + "\n")
    save_sheet(results, out / "tracks.png")
    return report


def save_sheet(results: list[dict], path: Path, side: int = 96) -> None:
    """One row per replay: the published mugshot, profile (grey: none) and crop, a gap, then every frame's
    own crop in replay order (the chosen frame framed green, black: no face found)."""
    rows = []
    width = max(len(r["frames"]) for r in results) + 4
    for r in results:
        tiles = []
        for name in ("mugshot", "profile", "crop"):
            image = r.get("images", {}).get(name)
            tiles.append(cv2.resize(image, (side, side)) if image is not None else np.full((side, side, 3), 40, np.uint8))
        tiles.append(np.full((side, side // 4, 3), 255, np.uint8))
        for f in r["frames"]:
            tile = cv2.resize(f["crop"], (side, side)) if "crop" in f else np.zeros((side, side, 3), np.uint8)
            if r.get("chosen_frame") == f["frame"]:
                cv2.rectangle(tile, (0, 0), (side - 1, side - 1), (0, 255, 0), 3)
            tiles.append(tile)
        tiles += [np.zeros((side, side, 3), np.uint8)] * (width - len(tiles))
        rows.append(np.hstack(tiles))
    cv2.imwrite(str(path), np.vstack(rows))
