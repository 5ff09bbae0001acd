"""The Event value: one tracked face, its best shot, the mugshot made from it, and its metadata.

An event is built once and handed to every publisher.  ``encode`` turns it into what
goes on the wire or disk: JPEG bytes per image (bounded in size) and a JSON-ready dict
whose image entries carry the sizes and sha256 of exactly those bytes.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone

import cv2
import numpy as np

from .vision.quality import FaceQuality, view_of

SCHEMA_VERSION = 1


def iso_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_jpeg(image: np.ndarray, quality: int, max_side: int) -> tuple[bytes, int, int]:
    """JPEG bytes of the image scaled down to ``max_side``, with the encoded width and height."""
    h, w = image.shape[:2]
    if max(h, w) > max_side:
        scale = max_side / max(h, w)
        image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes(), image.shape[1], image.shape[0]


@dataclass(frozen=True)
class EncodedEvent:
    metadata: dict  # JSON-ready
    images: dict[str, bytes]  # name -> JPEG bytes ("mugshot", "crop", and "profile" when the track showed one)

    @property
    def event_id(self) -> str:
        return self.metadata["event_id"]


@dataclass(frozen=True)
class Event:
    event_id: str
    revision: int  # 1 for the first publication; a much better later shot publishes 2, 3, ...
    final: bool  # the track has ended: no further revision will follow
    camera: str
    device: str
    first_seen: float
    best_seen: float
    last_seen: float
    box: tuple[float, float, float, float]
    frame_size: tuple[int, int]
    quality: FaceQuality
    shot_score: float
    mugshot: np.ndarray  # BGR, generated frontal mugshot (the aligned crop when generator is none)
    crop: np.ndarray  # BGR, the aligned original crop
    models: dict = field(default_factory=dict)  # role -> {"name", "version", "sha256"}
    sequence: int = 0  # the box's event number (edge/sequence.py); 0: not numbered (tests, tools)
    # the track's best profile (side) view, framed like the mugshot, made by the same generator; None: no profile
    profile: np.ndarray | None = None
    profile_quality: FaceQuality | None = None
    profile_score: float = 0.0
    profile_seen: float = 0.0
    profile_generator: dict = field(default_factory=dict)  # {"name": ...} and, for the crop, "reason"

    @property
    def view(self) -> str:
        """What the mugshot shows: "frontal", "three-quarter" or "profile" (edge.vision.quality.view_of)."""
        return view_of(self.quality.yaw)
    camera_name: str = ""  # the camera's name as configured (``camera`` is its slug, edge/names.py); "": the same
    device_name: str = ""

    def encode(self, jpeg_quality: int = 90, max_side: int = 512) -> EncodedEvent:
        images, described = {}, {}
        parts = [("mugshot", self.mugshot), ("crop", self.crop)]
        if self.profile is not None:
            parts.append(("profile", self.profile))
        for name, image in parts:
            data, width, height = encode_jpeg(image, jpeg_quality, max_side)
            images[name] = data
            described[name] = {"content_type": "image/jpeg", "width": width, "height": height,
                               "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        metadata = {
            "schema": SCHEMA_VERSION,
            "event_id": self.event_id,
            "revision": self.revision,
            "sequence": self.sequence,
            "final": self.final,
            "camera": self.camera,
            "device": self.device,
            "camera_name": self.camera_name or self.camera,
            "device_name": self.device_name or self.device,
            "first_seen": iso_time(self.first_seen),
            "best_seen": iso_time(self.best_seen),
            "last_seen": iso_time(self.last_seen),
            "box": {"x": round(self.box[0], 1), "y": round(self.box[1], 1),
                    "w": round(self.box[2], 1), "h": round(self.box[3], 1)},
            "frame": {"width": self.frame_size[0], "height": self.frame_size[1]},
            "quality": self.quality.as_dict() | {"shot_score": round(self.shot_score, 4)},
            "pose": {"yaw": round(self.quality.yaw, 1), "pitch": round(self.quality.pitch, 1),
                     "roll": round(self.quality.roll, 1), "source": self.quality.pose_source},
            "mesh": {"present": self.quality.pose_source == "mesh",
                     "presence": round(self.quality.mesh_presence, 3)},
            "models": self.models,
            "generator": self.models.get("generator", {}).get("name", "none"),
            "view": self.view,
            "images": described,
        }
        if self.profile is not None and self.profile_quality is not None:
            q = self.profile_quality
            metadata["profile_pose"] = {"yaw": round(q.yaw, 1), "pitch": round(q.pitch, 1), "roll": round(q.roll, 1),
                                        "source": q.pose_source, "view": view_of(q.yaw),
                                        "seen": iso_time(self.profile_seen)}
            metadata["profile_quality"] = q.as_dict() | {"profile_score": round(self.profile_score, 4)}
            metadata["profile_generator"] = self.profile_generator or {"name": metadata["generator"]}
        return EncodedEvent(metadata, images)
