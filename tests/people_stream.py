"""Real events for the people measurements: FRMDB photos through the box's own stages.

    .venv/bin/python -m tests.people_stream --out /work/runs/people-events

Each photo goes through ``mugshot-edge mugshot``'s path (``edge.tools.stills.run_stills``: YuNet,
best face, mesh, pose, generator, crop) with the default configuration, and its event (mugshot,
crop, JSON) is written under ``OUT/<subject>/<kind>_<stem>.*``.  The photos (``../shared/data/frmdb``,
research and education only; never copied into the repository):

- ``studio``: each of the 49 people's studio views at camera yaw -45, 0, +45 and pitch +30, 0, -30;
- ``studio90``: the same at yaw -90 and +90 (the hard profiles, scored on their own);
- ``surveillance``: the 145 real surveillance frames of people 001-029 (352x288, angled, blurry);
- ``library``: each person's smiling frontal (``Img_33`` of the smiling series) and, for 001-029,
  the HD frontal portrait: the photos a user would add to a named person.
"""
from __future__ import annotations

import argparse
import csv
import logging
from collections import defaultdict
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "frmdb"


def photos(data: Path = DATA) -> dict[tuple[str, str], list[Path]]:
    """(subject, kind) -> photo paths."""
    out: dict[tuple[str, str], list[Path]] = defaultdict(list)
    with open(data / "manifest.csv") as f:
        for row in csv.DictReader(f):
            kind, yaw, pitch = row["kind"], row["camera_yaw_deg"], row["camera_pitch_deg"]
            if kind == "mugshot" and yaw in ("-45", "0", "45") and pitch in ("30", "0", "-30"):
                out[row["subject"], "studio"].append(data / row["path"])
            elif kind == "mugshot" and yaw in ("-90", "90") and pitch in ("30", "0", "-30"):
                out[row["subject"], "studio90"].append(data / row["path"])
            elif kind == "surveillance_frame":
                out[row["subject"], "surveillance"].append(data / row["path"])
            elif (kind == "mugshot_smiling" and Path(row["path"]).stem == "Img_33") or kind == "frontal_hd":
                out[row["subject"], "library"].append(data / row["path"])
    return out


def main(argv=None) -> int:
    from edge.config import Config
    from edge.tools.stills import run_stills

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    logging.basicConfig(level="WARNING")
    cfg = Config()
    for (subject, kind), paths in sorted(photos(args.data).items()):
        folder = args.out / subject
        if folder.is_dir() and any(folder.glob(f"{kind}_*.json")):
            continue
        staged = folder / f".{kind}"
        staged.mkdir(parents=True, exist_ok=True)
        result = run_stills(sorted(paths), staged, cfg)
        for f in staged.iterdir():
            f.rename(folder / f"{kind}_{f.name}")
        staged.rmdir()
        print(f"{subject} {kind}: {len(result.done)} events, {len(result.skipped)} without a face", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
