"""The README's picture, made by the demo: input frame | crop | mugshot of the demo's first event.

    python -m tools.readme_picture --demo runs/demo --out docs/img/demo.jpg

``--demo`` is a folder ``mugshot-edge demo --out`` wrote (run it first).  The input panel is the clip's frame
whose YuNet box overlaps the event's box most, with that box drawn; the three panels share one height.
Rerun it whenever the shipped generator changes.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from edge.config import DetectorConfig
from edge.vision.detect import make_detector
from edge.vision.detect.base import iou


def _panel(image: np.ndarray, height: int, label: str) -> np.ndarray:
    scaled = cv2.resize(image, (round(image.shape[1] * height / image.shape[0]), height),
                        interpolation=cv2.INTER_AREA if image.shape[0] > height else cv2.INTER_CUBIC)
    canvas = np.full((height + 28, scaled.shape[1], 3), 255, np.uint8)
    canvas[28:] = scaled
    cv2.putText(canvas, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas


def make_picture(demo: Path, out: Path, height: int = 256) -> Path:
    events = sorted((demo / "events").glob("*.json"))
    if not events:
        raise SystemExit(f"{demo / 'events'}: no events; run `mugshot-edge demo --out {demo}` first")
    meta = json.loads(events[0].read_text())
    box = tuple(float(meta["box"][k]) for k in ("x", "y", "w", "h"))
    detector = make_detector(DetectorConfig())
    capture = cv2.VideoCapture(str(demo / "demo_clip.mp4"))
    best, best_iou = None, -1.0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        for det in detector.detect(frame):
            overlap = iou(tuple(det.box), box)
            if overlap > best_iou:
                best, best_iou = frame, overlap
    capture.release()
    if best is None:
        raise SystemExit(f"{demo / 'demo_clip.mp4'}: no frame with a face")
    x, y, w, h = (int(round(v)) for v in box)
    cv2.rectangle(best, (x, y), (x + w, y + h), (0, 200, 0), 2)
    stem = events[0].with_suffix("")
    crop = cv2.imread(f"{stem}_crop.jpg")
    mugshot = cv2.imread(f"{stem}_mugshot.jpg")
    gap = np.full((height + 28, 8, 3), 255, np.uint8)
    sheet = np.hstack([_panel(best, height, "input frame"), gap, _panel(crop, height, "crop"), gap,
                       _panel(mugshot, height, "mugshot")])
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), sheet, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", default="runs/demo", help="a folder written by `mugshot-edge demo --out`")
    parser.add_argument("--out", default="docs/img/demo.jpg")
    args = parser.parse_args(argv)
    print(make_picture(Path(args.demo), Path(args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
