"""Tracking faces across frames and choosing the best shots per track.

One person walking past is one track and so one event.  A track keeps only its best
shot (``quality.shot_score``: the least-turned, sharp, large face) and its best profile
shot (``quality.profile_score``: |yaw| >= 60°, sharp, large, not at the frame edge): each a
patch of the full frame around the face (enough to align at any size later) with its
landmarks and quality.  ``Tracker.update`` returns the shots that are due: the first
publication of a long track after ``publish_after_seconds``, a better later shot (same
track, next revision: a best shot ``update_gain`` times better or of a more frontal view,
a first profile, or a profile ``update_gain`` times better), and the final shot of a
track that ended (always published, final = true, even when it is the shot already sent).
"""
from __future__ import annotations

import itertools
import logging
import uuid
from dataclasses import dataclass, field

import numpy as np

from ..config import TrackerConfig
from .detect.base import Detection, iou
from .face3d.mesh import FaceMesh
from .face3d.pose import HeadPose
from .quality import VIEWS, FaceQuality, measure, profile_score, shot_score, view_of

log = logging.getLogger(__name__)

PATCH_MARGIN = 1.0  # the stored patch extends this many box sizes beyond each side of the face


@dataclass
class Shot:
    patch: np.ndarray  # BGR region of the full frame around the face
    landmarks: np.ndarray  # (5, 2) in patch coordinates
    box: tuple[float, float, float, float]  # in full-frame pixels
    frame_size: tuple[int, int]  # width, height of the full frame
    quality: FaceQuality
    score: float
    timestamp: float
    mesh: "FaceMesh | None" = None  # the accepted face mesh, in patch coordinates


@dataclass
class Track:
    track_id: int
    box: tuple[float, float, float, float]
    first_seen: float
    last_seen: float
    hits: int = 1
    best: Shot | None = None
    published_score: float = 0.0  # score of the last published shot, 0 if none
    profile: Shot | None = None  # the best profile shot (None: the face never showed its side)
    published_profile: float = 0.0  # score of the last published profile shot, 0 if none
    published_view: str = "profile"  # the view of the last published best shot
    revision: int = 0
    dirty: bool = False  # best shot changed since it was last published
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class DueShot:
    """A best shot to publish: which track, which revision, and whether the track is over."""

    track_id: int
    event_id: str
    revision: int
    final: bool
    first_seen: float
    last_seen: float
    shot: Shot
    profile: Shot | None = None  # the track's best profile shot, if it showed one


def cut_patch(image: np.ndarray, det: Detection) -> tuple[np.ndarray, np.ndarray]:
    h, w = image.shape[:2]
    x, y, bw, bh = det.box
    mx, my = bw * PATCH_MARGIN, bh * PATCH_MARGIN
    x0, y0 = max(0, int(x - mx)), max(0, int(y - my))
    x1, y1 = min(w, int(x + bw + mx + 1)), min(h, int(y + bh + my + 1))
    return image[y0:y1, x0:x1].copy(), det.landmarks - np.float32([x0, y0])


@dataclass
class Tracker:
    cfg: TrackerConfig
    tracks: list[Track] = field(default_factory=list)
    created: int = 0  # tracks started so far
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def update(self, detections: list[Detection], image: np.ndarray | None, now: float,
               geometry: list[tuple[FaceMesh | None, HeadPose | None]] | None = None) -> list[DueShot]:
        """Match detections to tracks; return the shots due for publication at ``now``.

        ``geometry``: per detection, its face mesh (or None) and the mesh's head pose (None where the
        mesh was not accepted: the 5-point estimate is used).  Call with an empty list (and no image)
        on frames where the detector did not run, so that tracks still time out.
        """
        if detections and image is not None:
            self._match(detections, image, now, geometry or [(None, None)] * len(detections))
        return self._due(now)

    def flush(self) -> list[DueShot]:
        """End every track now (shutdown, end of a replay)."""
        due = []
        for track in self.tracks:
            shot = self._final(track)
            if shot:
                due.append(shot)
        self.tracks = []
        return due

    @property
    def active(self) -> int:
        return len(self.tracks)

    def _match(self, detections: list[Detection], image: np.ndarray, now: float,
               geometry: list[tuple[FaceMesh | None, HeadPose | None]]) -> None:
        pairs = sorted(((iou(t.box, d.box), ti, di) for ti, t in enumerate(self.tracks)
                        for di, d in enumerate(detections)), reverse=True)
        used_tracks: set[int] = set()
        used_dets: set[int] = set()
        for overlap, ti, di in pairs:
            if overlap < self.cfg.iou_threshold:
                break
            if ti in used_tracks or di in used_dets:
                continue
            used_tracks.add(ti)
            used_dets.add(di)
            track = self.tracks[ti]
            track.box, track.last_seen, track.hits = detections[di].box, now, track.hits + 1
            self._offer(track, detections[di], image, now, *geometry[di])
        for di, det in enumerate(detections):
            if di not in used_dets:
                track = Track(next(self._ids), det.box, now, now)
                self.created += 1
                self.tracks.append(track)
                self._offer(track, det, image, now, *geometry[di])

    def _offer(self, track: Track, det: Detection, image: np.ndarray, now: float,
               mesh: FaceMesh | None = None, pose: HeadPose | None = None) -> None:
        quality = measure(image, det.box, det.landmarks, det.score,
                          (pose.yaw, pose.pitch, pose.roll) if pose is not None else None,
                          mesh.presence if mesh is not None else 0.0)
        score = shot_score(quality)
        side = profile_score(quality)
        if track.best is None or score > track.best.score:
            track.best = self._shot(image, det, quality, score, now, mesh, pose)
            track.dirty = True
        if side > 0 and (track.profile is None or side > track.profile.score):
            track.profile = self._shot(image, det, quality, side, now, mesh, pose)
            track.dirty = True

    @staticmethod
    def _shot(image: np.ndarray, det: Detection, quality: FaceQuality, score: float, now: float,
              mesh: FaceMesh | None, pose: HeadPose | None) -> Shot:
        patch, marks = cut_patch(image, det)
        dx, dy = (det.landmarks[0] - marks[0]).tolist()
        accepted = mesh.shifted(dx, dy) if mesh is not None and pose is not None else None
        return Shot(patch, marks, det.box, (image.shape[1], image.shape[0]), quality, score, now, accepted)

    def _due(self, now: float) -> list[DueShot]:
        due, alive = [], []
        for track in self.tracks:
            if now - track.last_seen > self.cfg.max_missed_seconds:
                shot = self._final(track)
                if shot:
                    due.append(shot)
                continue
            alive.append(track)
            if track.hits < self.cfg.min_hits or track.best is None or not track.dirty:
                continue
            first = track.revision == 0 and now - track.first_seen >= self.cfg.publish_after_seconds
            better = track.revision > 0 and self._better(track)
            if first or better:
                due.append(self._publish(track, final=False))
        self.tracks = alive
        return due

    def _better(self, track: Track) -> bool:
        """Worth a revision: a much better best shot, a more frontal view, a first or much better profile."""
        assert track.best is not None
        gain = self.cfg.update_gain
        if track.best.score >= track.published_score * gain:
            return True
        if VIEWS.index(view_of(track.best.quality.yaw)) < VIEWS.index(track.published_view):
            return True
        return track.profile is not None and track.profile.score >= track.published_profile * gain

    def _final(self, track: Track) -> DueShot | None:
        if track.hits < self.cfg.min_hits or track.best is None:
            return None
        # Always a last revision with final = true, even when its best shot is already out (the same shot
        # again): a receiver or an automation waiting for the track to end is told so.
        return self._publish(track, final=True)

    def _publish(self, track: Track, final: bool) -> DueShot:
        assert track.best is not None
        track.revision += 1
        track.published_score = track.best.score
        track.published_view = view_of(track.best.quality.yaw)
        track.published_profile = track.profile.score if track.profile is not None else 0.0
        track.dirty = False
        return DueShot(track.track_id, track.event_id, track.revision, final, track.first_seen, track.last_seen,
                       track.best, track.profile)
