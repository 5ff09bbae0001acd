"""The frontalizing renderer as an eval candidate: ``mugshot-train eval --model frontalize``.

The pair cache holds aligned crops, so the box's path is replayed on each crop: YuNet finds the
face in it, the mesh and its pose follow, and the renderer frontalizes at the crop's own size and
framing.  ``frontalize`` is what the box publishes with ``generator.model = "frontalize"`` (the
render pasted onto the crop); ``frontalize-face`` is the render alone (grey outside the mesh).
Without a detection or an accepted mesh the crop goes through, as on the box.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from edge.vision.align import ModelInputSpec

NAMES = {"frontalize": "frontalize (renderer on the crop)", "frontalize-face": "frontalize, face only"}


def frontal_candidate(name: str, spec: ModelInputSpec) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    from edge.config import DetectorConfig
    from edge.vision.detect import make_detector
    from edge.vision.face3d import FrontalRenderer, make_mesher, procrustes_pose

    detector = make_detector(DetectorConfig(precision="fp32", score_threshold=0.5, min_face=8))
    mesher = make_mesher()
    renderer = FrontalRenderer(mesher.canonical, spec.size, spec.face_scale)
    counts = {"faces": 0, "meshes": 0}

    def run(crops: np.ndarray) -> np.ndarray:
        out = []
        for crop in crops:
            made = crop
            detections = detector.detect(crop)
            if detections:
                counts["faces"] += 1
                mesh = mesher.mesh(crop, detections[0].box, detections[0].landmarks)
                if mesh is not None:
                    counts["meshes"] += 1
                    frontal = renderer.render(crop, mesh.points, procrustes_pose(mesh.points, mesher.canonical))
                    made = renderer.composite(crop, frontal) if name == "frontalize" else frontal.image
            out.append(made)
        return np.stack(out)
    run.counts = counts  # type: ignore[attr-defined]
    return NAMES[name], run
