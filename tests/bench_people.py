"""People on the receiver, measured on real events: grouping, identification, embedding cost.

    .venv/bin/python -m tests.people_stream --out /work/runs/people-events      # once: photos through the box
    taskset -c 0 .venv/bin/python -m tests.bench_people --events /work/runs/people-events

The events (FRMDB studio views at yaw -45/0/+45 x pitch +30/0/-30 of 49 people, and the real
surveillance frames of people 001-029, each through the box's own detector, mesh, pose and
crop) are shuffled with a fixed seed into one time-ordered stream from two boxes and handed to
a real ``Receiver`` (``handle``, as the MQTT messages arrive); the ``PeopleService`` embeds and
groups them.  For each threshold:

- purity: share of events whose group's majority person is their own;
- completeness: share of each person's events in their largest group (pooled);
- false merges: pairs of events of two different people put in one group, over all pairs put
  together; and groups holding more than one person;
- groups made against the true number of people.

Identification: people 001-029 are named first from their own photos (the HD frontal portrait,
and the smiling frontal where there is one; each photo goes through ``add_photo``: YuNet and the
box's alignment), then the stream arrives: how many events of a named person land on them, on
another named person, or on nobody named; and how many events of the 20 never-named people
(040-059) land on a named person (false accepts).
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from edge.receiver.intake import Receiver
from edge.receiver.people.embed import FaceEmbedder
from edge.receiver.people.service import PeopleService
from tests.people_stream import photos

SLICES = ("studio", "surveillance")
KINDS: dict[str, str] = {}  # event id -> slice


class CachedEmbedder(FaceEmbedder):
    """The real embedder, remembering each picture's vector across thresholds (same bytes, same vector)."""

    def __init__(self):
        super().__init__(threads=1)
        self.cache: dict[bytes, np.ndarray] = {}
        self.timings: list[float] = []

    def embed_many(self, images):
        out = []
        for image in images:
            key = image.tobytes()[::97]
            if key not in self.cache:
                started = time.perf_counter()
                self.cache[key] = super().embed_many([image])[0]
                self.timings.append(time.perf_counter() - started)
            out.append(self.cache[key])
        return np.stack(out) if out else np.zeros((0, 1024), np.float32)


def load_stream(folder: Path, kinds=SLICES, seed: int = 7) -> list[tuple[str, str, dict, dict[str, bytes]]]:
    """(subject, kind, meta, images) in a shuffled time order, from two boxes."""
    events = []
    for subject_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        for kind in kinds:
            for meta_path in sorted(subject_dir.glob(f"{kind}_*.json")):
                meta = json.loads(meta_path.read_text())
                stem = meta_path.with_suffix("")
                images = {n: Path(f"{stem}_{n}.jpg").read_bytes() for n in ("mugshot", "crop")}
                events.append((subject_dir.name, kind, meta, images))
    random.Random(seed).shuffle(events)
    start = 1_780_000_000
    for i, (subject, kind, meta, _) in enumerate(events):
        meta["device"], meta["camera"] = ("box1", "door") if kind == "studio" else ("box2", "hall")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start + 600 * i)) + ".000Z"
        meta["first_seen"] = meta["best_seen"] = meta["last_seen"] = stamp
        meta.pop("sequence", None)
    return events


def feed(receiver: Receiver, events) -> dict[tuple[str, str], str]:
    truth = {}
    for subject, kind, meta, images in events:
        KINDS[meta["event_id"]] = kind
        device, camera, event_id = meta["device"], meta["camera"], meta["event_id"]
        for name, data in images.items():
            receiver.handle(f"mugshot/{device}/{camera}/images/{event_id}/{name}", data)
        receiver.handle(f"mugshot/{device}/{camera}/event", json.dumps(meta).encode())
        truth[device, event_id] = subject
    return truth


def grouping(events, threshold: float, embedder, library=None, named_threshold=None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        receiver = Receiver(tmp, fsync=False)
        service = PeopleService(receiver.store, threshold, embedder, named_threshold=named_threshold)
        named = {}
        for subject, paths in (library or {}).items():
            named[subject] = service.people.new_named(f"person {subject}")
            for path in paths:
                service.add_photo(named[subject], path.read_bytes())
        truth = feed(receiver, events)
        while service.catch_up(256):
            pass
        placed = {(d, e): p for d, e, p in receiver.store.index.query(
            "SELECT device, event_id, person_id FROM faces WHERE source='event' AND part='crop'")}
        receiver.close()
    groups: dict[int, list[str]] = defaultdict(list)
    for key, person in placed.items():
        groups[person].append(truth[key])
    n = len(placed)
    purity = sum(Counter(m).most_common(1)[0][1] for m in groups.values()) / n
    per_subject: dict[str, Counter] = defaultdict(Counter)
    for key, person in placed.items():
        per_subject[truth[key]][person] += 1
    completeness = sum(c.most_common(1)[0][1] for c in per_subject.values()) / n
    together = sum(len(m) * (len(m) - 1) / 2 for m in groups.values())
    same = sum(sum(c * (c - 1) / 2 for c in Counter(m).values()) for m in groups.values())
    out = {"threshold": threshold, "events": n, "people": len(per_subject), "groups": len(groups),
           "purity": purity, "completeness": completeness,
           "false_merge_pairs": (together - same) / together if together else 0.0,
           "mixed_groups": sum(len(Counter(m)) > 1 for m in groups.values())}
    if library:
        person_of = {v: k for k, v in named.items()}
        outcome = Counter()
        for key, person in placed.items():
            subject, who = truth[key], person_of.get(person)
            if subject in named:
                verdict = "named_right" if who == subject else "named_wrong" if who else "named_missed"
                outcome[verdict] += 1
                outcome[f"{verdict}_{KINDS[key[1]]}"] += 1
            else:
                outcome["stranger_accepted" if who else "stranger_unnamed"] += 1
        out["identification"] = dict(outcome)
    return out


def scale(events, stored: int, embedder, repeats: int = 3) -> None:
    """The worker's rate (embed + group + index) on a fresh index and on one already holding ``stored``
    faces, each its own person (the worst case for grouping), side by side, alternating."""
    vectors = np.stack(list(embedder.cache.values()))
    embedder = FaceEmbedder(threads=1)  # no cache: every event is embedded
    rates: dict[int, list[float]] = {0: [], stored: []}
    for _ in range(repeats):
        for n in (0, stored):
            with tempfile.TemporaryDirectory() as tmp:
                receiver = Receiver(tmp, fsync=False)
                service = PeopleService(receiver.store, None, embedder)
                with receiver.store.index.transaction() as db:
                    for i in range(n):
                        person = db.execute("INSERT INTO people (created, updated) VALUES (0, 0)").lastrowid
                        noise = np.random.default_rng(i).standard_normal(1024, np.float32)
                        noisy = vectors[i % len(vectors)] + np.float32(0.01) * noise
                        db.execute("INSERT INTO faces (person_id, source, added, embedding) "
                                   "VALUES (?, 'library', 0, ?)",
                                   (person, (noisy / np.linalg.norm(noisy)).astype(np.float32).tobytes()))
                service.people._load()
                feed(receiver, events)
                started = time.perf_counter()
                while service.catch_up(64):
                    pass
                rates[n].append(len(events) / (time.perf_counter() - started))
                receiver.close()
    for n, r in rates.items():
        print(f"worker with {n} faces stored: {np.median(r):.1f} events/s (runs {', '.join(f'{x:.1f}' for x in r)})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=Path, required=True, help="folder written by tests.people_stream")
    parser.add_argument("--thresholds", default="0.66,0.68,0.70,0.72,0.74,0.76,0.78,0.80")
    parser.add_argument("--only-identify", action="store_true")
    parser.add_argument("--scale", type=int, default=0, help="also time the worker with this many faces stored")
    parser.add_argument("--identify-at", default="", help="thresholds to join a named person, comma-separated "
                        "(default: the service's); the grouping threshold stays the service's")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    embedder = CachedEmbedder()
    results = {"grouping": {}, "identification": None}
    for kinds in () if args.only_identify else (("studio",), ("studio", "surveillance"), ("surveillance",)):
        stream = load_stream(args.events, kinds)
        label = "+".join(kinds)
        print(f"\n{label}: {len(stream)} events")
        print("| threshold | groups (people) | purity | completeness | false-merge pairs | mixed groups |")
        print("|---|---|---|---|---|---|")
        for t in [float(x) for x in args.thresholds.split(",")]:
            r = grouping(stream, t, embedder)
            results["grouping"].setdefault(label, []).append(r)
            print(f"| {t:.2f} | {r['groups']} ({r['people']}) | {r['purity']:.3f} | {r['completeness']:.3f} | "
                  f"{r['false_merge_pairs']:.3f} | {r['mixed_groups']} |", flush=True)
    from edge.receiver.people.store import NAMED_THRESHOLD, THRESHOLD

    library = {s: ps for (s, k), ps in photos().items() if k == "library"}
    stream = load_stream(args.events, ("studio", "surveillance"))
    results["identification"] = []
    print(f"\nidentification ({sum(len(v) for v in library.values())} library photos of {len(library)} named "
          f"people; the 20 others never named), {len(stream)} events")
    print(f"grouping threshold {THRESHOLD:.2f}")
    print("| named threshold | named person's events on them | on another named | on nobody named | "
          "never-named people's events put on a named person |")
    print("|---|---|---|---|---|")
    for at in [float(x) for x in args.identify_at.split(",")] if args.identify_at else [NAMED_THRESHOLD]:
        r = grouping(stream, THRESHOLD, embedder, library, named_threshold=at)
        results["identification"].append(r)
        o = r["identification"]
        named = o.get("named_right", 0) + o.get("named_wrong", 0) + o.get("named_missed", 0)
        strangers = o.get("stranger_accepted", 0) + o.get("stranger_unnamed", 0)
        print(f"| {at:.2f} | {o.get('named_right', 0)}/{named} | {o.get('named_wrong', 0)} | "
              f"{o.get('named_missed', 0)} | {o.get('stranger_accepted', 0)}/{strangers} |", flush=True)
        print("  by slice: " + ", ".join(f"{k}: {o.get(f'named_right_{k}', 0)} right, {o.get(f'named_wrong_{k}', 0)} "
                                         f"wrong, {o.get(f'named_missed_{k}', 0)} missed" for k in SLICES))
    if args.scale:
        scale(load_stream(args.events, ("studio",))[:100], args.scale, embedder)
    ms = np.array(embedder.timings) * 1000
    print(f"embedding cost, one image, 1 onnxruntime thread: median {np.median(ms):.1f} ms, "
          f"p90 {np.percentile(ms, 90):.1f} ms over {len(ms)} images")
    results["embed_ms_median"] = float(np.median(ms))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
