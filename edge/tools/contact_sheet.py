"""A contact-sheet picture of the events in a directory: crop and mugshot side by side."""
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
        events.append((meta["best_seen"], meta, crop, mugshot))
    events.sort(key=lambda e: e[0])
    cells = []
    for _, meta, crop, mugshot in events:
        cell = np.full((TILE + 22, 2 * TILE, 3), 255, np.uint8)
        cell[:TILE, :TILE] = cv2.resize(crop, (TILE, TILE), interpolation=cv2.INTER_AREA)
        cell[:TILE, TILE:] = cv2.resize(mugshot, (TILE, TILE), interpolation=cv2.INTER_AREA)
        pose = meta.get("pose", {})
        label = (f"{meta['camera']} {meta['best_seen'][11:19]} yaw {pose.get('yaw', 0):+.0f} "
                 f"({pose.get('source', 'landmarks')})")
        cv2.putText(cell, label, (4, TILE + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        for x, text in ((4, "crop"), (TILE + 4, str(meta.get("generator", "none")))):  # which picture is which
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
