"""The box's best shot on real surveillance tracks (FRMDB, 3-5 frames per person): the frame ``shot_score``
picks identifies the person better than the frame a box without selection would publish (the first), by the
receiver's recognizer (faceres) and by the evaluator (dlib), on the training people (tools.generator.selection)."""
from __future__ import annotations

import numpy as np

from tools.generator.selection import _by, frames_of, margins, rules


def test_the_box_picks_the_frame_that_identifies(shared_data):
    frames, gallery = frames_of(shared_data)
    assert len(gallery) == 29 and len(frames) >= 100
    margins(frames, gallery)
    tracks = [t for t in _by(frames) if not t[0]["held_out"]]
    pick = rules()
    box = [max(t, key=pick["box (shot_score)"]) for t in tracks]
    first = [max(t, key=pick["first frame"]) for t in tracks]
    for recognizer in ("faceres", "dlib"):
        assert np.mean([f[recognizer] for f in box]) > np.mean([f[recognizer] for f in first]) + 0.02, recognizer
        assert sum(f[recognizer] > 0 for f in box) >= sum(f[recognizer] > 0 for f in first) + 4, recognizer
