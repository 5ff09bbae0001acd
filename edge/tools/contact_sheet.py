"""A contact-sheet picture of the events in a directory: crop and mugshot side by side, and the profile (the
track's side view) as a third picture when any event has one."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

TILE = 160


def make_contact_sheet(folder: str | Path, out: str | Path, columns: int = 4) -> int:
    """Write ``out`` (JPEG/PNG) from the events in ``folder``; returns how many it shows."""
    folder = Path(folder)
    events = []
    for meta_path in sorted(folder.glob("*.json")):
        try:
            meta = json.loads(meta_path.read_text())
            crop = cv2.imread(str(folder / f"{meta['event_id']}_crop.jpg"))
            mugshot = cv2.imread(str(folder / f"{meta['event_id']}_mugshot.jpg"))
        except (ValueError, KeyError, OSError):
            continue
        if crop is None or mugshot is None:
            continue
        profile = cv2.imread(str(folder / f"{meta['event_id']}_profile.jpg")) if "profile" in meta["images"] else None
        events.append((meta["best_seen"], meta, crop, mugshot, profile))
    events.sort(key=lambda e: e[0])
    tiles = 3 if any(e[4] is not None for e in events) else 2
    cells = []
    for _, meta, crop, mugshot, profile in events:
        cell = np.full((TILE + 22, tiles * TILE, 3), 255, np.uint8)
        cell[:TILE, :TILE] = cv2.resize(crop, (TILE, TILE), interpolation=cv2.INTER_AREA)
        cell[:TILE, TILE:2 * TILE] = cv2.resize(mugshot, (TILE, TILE), interpolation=cv2.INTER_AREA)
        names = [(4, "crop"), (TILE + 4, f"{meta.get('generator', 'none')} {meta.get('view', '')}".strip())]
        if profile is not None:
            cell[:TILE, 2 * TILE:] = cv2.resize(profile, (TILE, TILE), interpolation=cv2.INTER_AREA)
            names.append((2 * TILE + 4, f"profile {meta.get('profile_pose', {}).get('yaw', 0):+.0f}"))
        elif tiles == 3:
            names.append((2 * TILE + 4, "no profile"))
        pose = meta.get("pose", {})
        label = (f"{meta['camera']} {meta['best_seen'][11:19]} yaw {pose.get('yaw', 0):+.0f} "
                 f"({pose.get('source', 'landmarks')})")
        cv2.putText(cell, label, (4, TILE + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        for x, text in names:  # which picture is which
            cv2.putText(cell, text, (x, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 2, cv2.LINE_AA)
            cv2.putText(cell, text, (x, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        cells.append(cell)
    if not cells:
        sheet = np.full((TILE, 2 * TILE, 3), 255, np.uint8)
        cv2.putText(sheet, "no events", (10, TILE // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 1, cv2.LINE_AA)
    else:
        columns = min(columns, len(cells))
        while len(cells) % columns:
            cells.append(np.full_like(cells[0], 255))
        rows = [np.hstack(cells[i:i + columns]) for i in range(0, len(cells), columns)]
        sheet = np.vstack(rows)
    cv2.imwrite(str(out), sheet)
    return len(events)
