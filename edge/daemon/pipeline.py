"""Wires the stages: source -> motion gate -> detector -> tracker -> generator -> publishers.

No algorithms live here.  The hot path on every frame is the source and the motion
gate; everything after runs only on frames with motion (and for a short hold time).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..vision.align import align_face
from ..config import Config
from ..vision.detect import Detection, FaceDetector
from ..vision.detect.region import MAX_REGION_UPSCALE, detect_in_region
from ..events import Event
from ..vision.generate import NoGenerator, publish_at
from ..vision.motion import MotionDetector, union_box
from ..publish import Publisher
from ..names import slug
from .sequence import SequenceCounter
from ..sources.base import Frame
from ..sources.resilient import ResilientSource
from .stats import PipelineStats
from .worker import EventWorker
from ..vision.track import DueShot, Tracker
from ..vision.views import framing_landmarks

log = logging.getLogger(__name__)


@dataclass
class Pipeline:
    cfg: Config
    source: ResilientSource
    detector: FaceDetector
    generator: object  # NoGenerator | OnnxGenerator
    publishers: list[Publisher]
    stop: threading.Event
    mesher: object | None = None  # edge.vision.face3d.FaceMesher, or None with mesh.enabled = false
    sequence: SequenceCounter | None = None  # numbers every event (None: events carry sequence 0)
    backdrop: object | None = None  # edge.vision.backdrop.Backdrop; None: made from generator.backdrop

    def __post_init__(self) -> None:
        self.motion = MotionDetector(self.cfg.motion)
        self.tracker = Tracker(self.cfg.tracker)
        self.stats = PipelineStats()
        self._last_motion = float("-inf")
        self._motion_state = False  # what publishers were last told
        self._models = {"detector": {"name": self.detector.name, "version": self.detector.version,
                                     "sha256": getattr(self.detector, "sha256", ""),
                                     "precision": self.detector.precision},
                        "generator": self.generator.describe()}
        if self.mesher is not None:
            self._models["mesh"] = self.mesher.describe()
        if self.backdrop is None and self.cfg.generator.backdrop == "plain":
            from ..vision.backdrop import make_backdrop
            self.backdrop = make_backdrop(self.cfg.generator.backdrop_colour, self.cfg.generator.threads)
        if self.backdrop is not None:
            self._models["backdrop"] = self.backdrop.describe()
        from ..vision.gate import MugshotGate

        self.gate = MugshotGate(spec=getattr(self.generator, "spec", None))  # one thread makes events at a time
        self.camera_id, self.device_id = slug(self.cfg.camera.name), slug(self.cfg.device.id)  # topics, folders
        self.on_frame = None  # optional callback(frame, stats) for the service watchdog
        self._worker: EventWorker | None = None  # set while run() runs: events are made off the frame thread
        self.calibration = None
        if self.cfg.calibration.save_frames:
            from .calibration_frames import CalibrationFrameSaver, default_calibration_dir
            c = self.cfg.calibration
            self.calibration = CalibrationFrameSaver(Path(c.path) if c.path else default_calibration_dir(),
                                                     c.max_frames, c.min_interval_seconds)

    def run(self) -> PipelineStats:
        from .. import __version__
        from ..publish.health import HealthReporter

        next_summary = time.monotonic() + self.cfg.log.summary_seconds
        health = HealthReporter(self.publishers, self.stats, device_id=self.device_id,
                                camera=self.camera_id, version=__version__,
                                interval=self.cfg.log.summary_seconds)
        health.start()
        frames = self.source.frames()
        try:
            with EventWorker(self._emit) as self._worker:
                try:
                    for frame in frames:
                        started = time.perf_counter()
                        try:
                            self.process(frame)
                        finally:
                            frame.release()
                        self.stats.frame_done(time.perf_counter() - started)
                        if self.stats.frames == 1:  # the camera answers: the box is available from now on
                            for publisher in self.publishers:
                                publisher.available(True)
                        if self.on_frame is not None:
                            self.on_frame(frame, self.stats)
                        if time.monotonic() >= next_summary:
                            log.info("summary: %s%s", self.stats.summary(), self.publisher_summary())
                            next_summary += self.cfg.log.summary_seconds
                        if self.stop.is_set():
                            break
                finally:
                    frames.close()  # the reader is out of the camera driver and the source closed, before anything else
                    for due in self.tracker.flush():
                        self._worker.submit(due)
        finally:  # the worker has made every event handed over
            self._worker = None
            self.stats.corrupt_frames = self.source.corrupt_frames
            self.stats.oversized_frames = self.source.oversized_frames
            health.stop()
        return self.stats

    def publisher_summary(self) -> str:
        """`` | mqtt spool=3 dropped=0 spool_write_failed=0 ...``: what each publisher counted."""
        parts = []
        for publisher in self.publishers:
            counts = {k: v for k, v in publisher.status().items() if isinstance(v, int) and not isinstance(v, bool)}
            if counts:
                parts.append(f" | {publisher.name} " + " ".join(f"{k}={v}" for k, v in counts.items()))
        return "".join(parts)

    def close(self) -> None:
        """Close the publishers (the MQTT one keeps undelivered events in its spool)."""
        for publisher in self.publishers:
            try:
                publisher.close()
            except Exception:
                log.exception("closing publisher %s failed", publisher.name)

    def process(self, frame: Frame) -> None:
        stats = self.stats
        stats.frames += 1
        now = frame.timestamp
        if self.cfg.motion.enabled:
            with stats.timed("motion"):
                result = self.motion.detect(frame.small_gray(self.cfg.motion.width))
            if result.moving:
                stats.motion_frames += 1
                self._last_motion = now
            moving, region = result.moving, union_box(result.boxes)
        else:
            moving, region = True, None
        active = now - self._last_motion <= self.cfg.motion.hold_seconds
        if active != self._motion_state:
            self._motion_state = active
            for publisher in self.publishers:
                publisher.motion(self.camera_id, active)
        detections: list[Detection] = []
        image = None
        if moving or active:
            image = frame.full()
            with stats.timed("detect"):
                detections = self._detect(image, region if self.cfg.detector.region == "motion" else None)
            stats.detector_runs += 1
            stats.faces += len(detections)
            if self.calibration is not None:
                self.calibration.offer(image, len(detections), now)
        geometry = None
        if detections and self.mesher is not None:
            with stats.timed("mesh"):
                geometry = [self._geometry(image, d) for d in detections]
        with stats.timed("track"):
            due = self.tracker.update(detections, image, now, geometry)
        stats.tracks = self.tracker.created
        for shot in due:
            if self._worker is not None:
                self._worker.submit(shot)  # made and published off the frame thread
            else:
                self._emit(shot)

    def _detect(self, image: np.ndarray, region: tuple[float, float, float, float] | None) -> list[Detection]:
        """Faces in full-frame pixels: the tracker cuts its patches from this full-resolution image."""
        return detect_in_region(self.detector, image, region, MAX_REGION_UPSCALE)

    def best_shot(self, image: np.ndarray, now: float) -> DueShot | None:
        """A still photo: its best face as the daemon would publish it (detector on the whole photo,
        mesh, pose, best-shot score), or None when it has no face.  ``emit`` then publishes it."""
        import dataclasses

        detections = self.detector.detect(image)
        geometry = [self._geometry(image, d) for d in detections] if self.mesher is not None else None
        tracker = Tracker(dataclasses.replace(self.cfg.tracker, min_hits=1))
        tracker.update(detections, image, now, geometry)
        return max(tracker.flush(), key=lambda d: d.shot.score, default=None)

    def emit(self, due: DueShot) -> None:
        """Make and publish one event now, on the calling thread (still photos)."""
        self._emit(due)

    def _geometry(self, image: np.ndarray, detection: Detection):
        """The detection's face mesh and, where the mesh passed its gates, its head pose."""
        from ..vision.face3d import procrustes_pose

        mesh = self.mesher.run(image, detection.box, detection.landmarks)
        return mesh, (procrustes_pose(mesh.points, self.mesher.canonical) if mesh.accepted else None)

    def skip_reason(self, shot) -> str | None:
        """Why this shot's mugshot is the crop instead of the generator's, or None when the generator runs:
        a face without an accepted mesh under ``generator.crop_without_mesh``."""
        if self.generator.name == "none" or shot.mesh is not None or not self.cfg.generator.crop_without_mesh:
            return None
        return (f"no face mesh (presence {shot.quality.mesh_presence:.2f}; or it disagreed with the detector's "
                f"landmarks, or the face is turned beyond mesh.max_landmark_yaw): generator.crop_without_mesh")

    def picture(self, shot, marks: np.ndarray, face: bool = True) -> tuple[np.ndarray, dict]:
        """One published picture of a shot (the mugshot, or the profile with ``face=False``) and the event's
        word on how it was made.  The generator's picture is published only when the quality gate passes it
        (``edge.vision.gate``: for a profile, its colour, contrast and structure checks); otherwise the aligned
        crop is, and the reason goes into the event and one warning into the log.  With generator.backdrop =
        "plain" the published picture (whichever it is) then gets the flat backdrop; the event's crop never does."""
        skip = self.skip_reason(shot)
        if skip is not None:  # one rule: no accepted mesh, the crop is the picture, and the event says why
            image = NoGenerator().generate(shot.patch, marks)
            made = {"name": "none", "skipped": self.generator.name, "reason": skip}
        else:
            image, made = self.generator.generate(shot.patch, marks), dict(self.generator.describe())
        native = image.shape[1]
        image, upsampling = publish_at(image, self.cfg.generator.output_size)
        made |= {"output_size": native, "published_size": image.shape[1], "upsampling": upsampling}
        if skip is None and self.generator.name != "none":
            spec = self.generator.spec
            crop, _ = align_face(shot.patch, marks, image.shape[1], spec.face_scale)
            verdict = self.gate.check(image, crop, face=face)
            made["gate"] = "passed" if verdict.ok else "failed"
            if not verdict.ok:
                log.warning("%s of %s failed the quality gate (%s): the crop is published instead",
                            "mugshot" if face else "profile", self.generator.name, verdict.reason)
                made = {"name": "none", "rejected": self.generator.name, "reason": f"quality gate: {verdict.reason}",
                        "output_size": crop.shape[1], "published_size": crop.shape[1], "upsampling": "none"}
                image = crop
        if self.backdrop is not None:  # after the gate: the gate judges the generator, not the backdrop
            image = self.backdrop.apply(image)
            made["backdrop"] = "plain"
        return image, made

    def _emit(self, due: DueShot) -> None:
        shot = due.shot
        models = self._models
        with self.stats.timed("generate"):
            marks = framing_landmarks(shot.landmarks, shot.quality.yaw)  # a side view: by its visible landmarks
            # the crop frames the face as the mugshot does (the box's MUGSHOT_FACE_SCALE without a generator)
            crop, _ = align_face(shot.patch, marks, self.cfg.tracker.crop_size, self.generator.spec.face_scale)
            mugshot, made = self.picture(shot, marks)
            models = models | {"generator": made}
            profile, profile_made = (None, {}) if due.profile is None else self.picture(
                due.profile, framing_landmarks(due.profile.landmarks, due.profile.quality.yaw), face=False)
        event = Event(
            event_id=due.event_id, revision=due.revision, final=due.final, camera=self.camera_id,
            device=self.device_id, camera_name=self.cfg.camera.name, device_name=self.cfg.device.id, first_seen=due.first_seen, best_seen=shot.timestamp,
            last_seen=due.last_seen, box=shot.box, frame_size=shot.frame_size, quality=shot.quality,
            shot_score=shot.score, mugshot=mugshot, crop=crop, models=models,
            sequence=self.sequence.next() if self.sequence is not None else 0,
            profile=profile, profile_quality=due.profile.quality if due.profile else None,
            profile_score=due.profile.score if due.profile else 0.0,
            profile_seen=due.profile.timestamp if due.profile else 0.0, profile_generator=profile_made)
        self.stats.events += 1
        # Spooling publishers (MQTT) first: an event is durable once it is in the spool, so nothing
        # else (a directory write) stands between the event and its commit.  The event's log line
        # comes after, so an event that was logged is in the spool.
        with self.stats.timed("publish"):
            for publisher in sorted(self.publishers, key=lambda p: not getattr(p, "spooled", False)):
                try:
                    publisher.publish(event)
                except Exception:  # one broken sink must not stop the others or the camera
                    log.exception("publisher %s failed on event %s", publisher.name, event.event_id)
        log.info("event %s rev %d camera=%s %s yaw=%+.0f (%s)%s generator=%s size=%.0f sharpness=%.0f score=%.2f%s",
                 event.event_id, event.revision, event.camera, event.view, shot.quality.yaw, shot.quality.pose_source,
                 f" profile yaw={due.profile.quality.yaw:+.0f}" if due.profile else "",
                 models["generator"].get("name", "none"), shot.quality.size,
                 shot.quality.sharpness, shot.score, " final" if due.final else "")


def build_models(cfg: Config):
    """The detector, the generator and the face mesher (None with mesh.enabled = false)."""
    from models import MODELS_DIR

    from ..vision.detect import make_detector
    from ..vision.generate import make_generator

    detector = make_detector(cfg.detector)
    generator = make_generator(cfg.generator.model, cfg.generator.threads, MODELS_DIR, cfg.generator.precision,
                               cfg.generator.int8_model)
    mesher = None
    if cfg.mesh.enabled:
        from ..vision.face3d import make_mesher
        mesher = make_mesher(cfg.mesh.runtime, cfg.mesh.threads, MODELS_DIR, cfg.mesh.min_presence,
                             cfg.mesh.max_disagreement, cfg.mesh.max_landmark_yaw)
    return detector, generator, mesher


def build_pipeline(cfg: Config, stop: threading.Event, sequence_path: Path | None = None) -> Pipeline:
    """Load models, build the source and publishers: everything that can fail at start-up.
    ``sequence_path``: the box's persistent event counter (the daemon's); None numbers from 1."""
    from .. import __version__
    from ..publish import make_publisher
    from ..sources import make_source

    detector, generator, mesher = build_models(cfg)
    source = ResilientSource(make_source(cfg.camera), on_end=cfg.camera.on_end,
                             stall_timeout=cfg.camera.stall_timeout,
                             backoff_max=cfg.camera.reopen_backoff_max, stop=stop)
    names = {slug(cfg.device.id): cfg.device.id, slug(cfg.camera.name): cfg.camera.name}  # slug -> as written
    publishers = [make_publisher(p, device_id=slug(cfg.device.id), cameras=[slug(cfg.camera.name)],
                                 version=__version__, key=f"publishers[{i}]", names=names)
                  for i, p in enumerate(cfg.publishers)]
    return Pipeline(cfg, source, detector, generator, publishers, stop, mesher, SequenceCounter(sequence_path))
