"""The rules a typed configuration must meet beyond its types: a range for every number, names
that become MQTT topic levels, files that must exist, and cross-field rules.  Raised as
:class:`~edge.config.ConfigError` (``section.key: message``)."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from .schema import (GENERATOR_NAMES, RETIRED_GENERATORS, CalibrationConfig, CameraConfig, Config, ConfigError,
                     DetectorConfig, DirectoryPublisherConfig,
                     GeneratorConfig, LogConfig, MeshConfig, MissingInputError, MotionConfig, MqttPublisherConfig,
                     TrackerConfig)

# Every number in the config has a range: values far outside it crash (an 11 GiB detector input, a
# hundred thousand threads) or silently never work (a track that needs 1e20 hits).
RANGES: dict[type, dict[str, tuple[float, float]]] = {
    CameraConfig: {"width": (1, 8192), "height": (1, 8192), "fps": (0, 240), "lores_width": (1, 4096),
                   "lores_height": (1, 4096), "stall_timeout": (0.1, 3600), "reopen_backoff_max": (0.1, 3600),
                   "max_pixels": (10_000, 400_000_000)},
    MotionConfig: {"width": (16, 1280), "blur": (0, 99), "threshold": (1, 254), "dilate": (0, 20),
                   "min_area": (0, 1), "alpha": (0, 1), "recalibrate_fraction": (0, 1), "hold_seconds": (0, 600)},
    DetectorConfig: {"input_width": (32, 1920), "input_height": (32, 1920), "score_threshold": (0, 1),
                     "nms_threshold": (0, 1), "min_face": (0, 4096), "threads": (1, 64)},
    TrackerConfig: {"iou_threshold": (0, 1), "max_missed_seconds": (0.01, 60), "min_hits": (1, 1000),
                    "publish_after_seconds": (0.01, 3600), "update_gain": (1, 100), "crop_size": (32, 1024)},
    GeneratorConfig: {"threads": (1, 64), "output_size": (64, 1024)},
    MeshConfig: {"threads": (1, 64), "min_presence": (0, 1), "max_disagreement": (0, 1), "max_landmark_yaw": (0, 90)},
    DirectoryPublisherConfig: {"jpeg_quality": (1, 100), "max_side": (32, 4096)},
    MqttPublisherConfig: {"port": (0, 65535), "keepalive": (5, 65535), "qos": (0, 2),
                          "spool_max_events": (1, 1_000_000), "spool_max_bytes": (1, 100_000_000_000),
                          "ack_timeout": (0.1, 600), "reconnect_max": (0.1, 3600), "jpeg_quality": (1, 100),
                          "max_side": (32, 4096)},
    CalibrationConfig: {"max_frames": (1, 100_000), "min_interval_seconds": (0, 86400)},
    LogConfig: {"summary_seconds": (0.1, 86400)},
}


def _check_ranges(section: Any, prefix: str) -> None:
    for name, (low, high) in RANGES.get(type(section), {}).items():
        value = getattr(section, name)
        if not low <= value <= high:
            raise ConfigError(f"{prefix}.{name}", f"must be between {low:g} and {high:g}, got {value:g}")


def check_topic_name(key: str, value: str) -> None:
    """A name that becomes an MQTT topic level: printable, no '/', '+', '#', at most 64 characters."""
    bad = [ch for ch in value if ch in "/+#" or not ch.isprintable()]
    if not value or bad or len(value) > 64:
        raise ConfigError(key, "must be 1 to 64 printable characters without '/', '+' or '#' (it is an MQTT "
                               f"topic level), got {value!r}")


def _positive(key: str, value: float, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(key, f"must be {'>= 0' if allow_zero else '> 0'}, got {value}")


def _fraction(key: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(key, f"must be between 0 and 1, got {value}")


def _existing_file(key: str, value: str, missing: type[ConfigError] = ConfigError) -> None:
    if not Path(value).is_file():
        raise missing(key, f"file not found: {value}")


def _check_backdrop(g: GeneratorConfig) -> None:
    from ..vision.backdrop import parse_colour

    try:
        parse_colour(g.backdrop_colour)
    except ValueError as exc:
        raise ConfigError("generator.backdrop_colour", str(exc)) from None


def check_config(c: Config) -> None:
    """Range checks and cross-field rules that the types alone cannot express."""
    cam, mot, det, trk = c.camera, c.motion, c.detector, c.tracker
    check_topic_name("device.id", c.device.id)
    check_topic_name("camera.name", cam.name)
    for section in dataclasses.fields(c):
        if section.name != "publishers":
            _check_ranges(getattr(c, section.name), section.name)
    for i, pub in enumerate(c.publishers):
        _check_ranges(pub, f"publishers[{i}]")
    for key in ("width", "height", "lores_width", "lores_height"):
        _positive(f"camera.{key}", getattr(cam, key))
    _positive("camera.fps", cam.fps, allow_zero=True)
    _positive("camera.stall_timeout", cam.stall_timeout)
    _positive("camera.reopen_backoff_max", cam.reopen_backoff_max)
    if cam.type == "images" and not Path(cam.uri).is_dir():
        raise MissingInputError("camera.uri", f"folder not found: {cam.uri}")
    if cam.type == "opencv" and "://" not in cam.uri and not cam.uri.isdigit() \
            and not cam.uri.startswith("/dev/") and not Path(cam.uri).is_file():
        raise MissingInputError("camera.uri", f"not a device index, URL, /dev path or existing file: {cam.uri}")
    if not 16 <= mot.width <= 1280:
        raise ConfigError("motion.width", f"must be between 16 and 1280, got {mot.width}")
    if mot.blur and (mot.blur < 0 or mot.blur % 2 == 0):
        raise ConfigError("motion.blur", f"must be 0 or an odd number, got {mot.blur}")
    if not 1 <= mot.threshold <= 254:
        raise ConfigError("motion.threshold", f"must be between 1 and 254, got {mot.threshold}")
    _positive("motion.dilate", mot.dilate, allow_zero=True)
    for key in ("min_area", "alpha", "recalibrate_fraction"):
        _fraction(f"motion.{key}", getattr(mot, key))
    _positive("motion.hold_seconds", mot.hold_seconds, allow_zero=True)
    for i, polygon in enumerate(mot.masks):
        ok = isinstance(polygon, list) and len(polygon) >= 3 and all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in p)
            for p in polygon)
        if not ok:
            raise ConfigError(f"motion.masks[{i}]", "expected at least 3 [x, y] points with 0 <= x, y <= 1")
    for key in ("input_width", "input_height"):
        value = getattr(det, key)
        if value < 32 or value % 32:
            raise ConfigError(f"detector.{key}", f"must be a positive multiple of 32, got {value}")
    _fraction("detector.score_threshold", det.score_threshold)
    _fraction("detector.nms_threshold", det.nms_threshold)
    _positive("detector.min_face", det.min_face, allow_zero=True)
    _positive("detector.threads", det.threads)
    if det.model:
        _existing_file("detector.model", det.model)
    if det.int8_model and det.precision == "int8":
        _existing_file("detector.int8_model", det.int8_model)
    _fraction("tracker.iou_threshold", trk.iou_threshold)
    _positive("tracker.max_missed_seconds", trk.max_missed_seconds)
    _positive("tracker.min_hits", trk.min_hits)
    _positive("tracker.publish_after_seconds", trk.publish_after_seconds)
    if trk.update_gain < 1.0:
        raise ConfigError("tracker.update_gain", f"must be >= 1.0, got {trk.update_gain}")
    if not 32 <= trk.crop_size <= 1024:
        raise ConfigError("tracker.crop_size", f"must be between 32 and 1024, got {trk.crop_size}")
    if c.generator.model in RETIRED_GENERATORS:
        raise ConfigError("generator.model", RETIRED_GENERATORS[c.generator.model])
    if c.generator.model not in GENERATOR_NAMES:
        _existing_file("generator.model", c.generator.model)
    if not 1 <= c.mesh.threads <= 64:
        raise ConfigError("mesh.threads", f"must be between 1 and 64, got {c.mesh.threads}")
    _fraction("mesh.min_presence", c.mesh.min_presence)
    if not 0 < c.mesh.max_disagreement <= 1:
        raise ConfigError("mesh.max_disagreement", f"must be in (0, 1], got {c.mesh.max_disagreement}")
    if not 0 <= c.mesh.max_landmark_yaw <= 90:
        raise ConfigError("mesh.max_landmark_yaw", f"must be between 0 and 90 degrees, got {c.mesh.max_landmark_yaw}")
    _positive("generator.threads", c.generator.threads)
    _check_backdrop(c.generator)
    if not c.mesh.enabled and c.generator.crop_without_mesh and c.generator.model != "none":
        raise ConfigError("generator.crop_without_mesh", "with mesh.enabled = false no face has a mesh, so every "
                                                         "face would be published as the crop: set "
                                                         "crop_without_mesh = false or generator.model = \"none\"")
    for i, pub in enumerate(c.publishers):
        key = f"publishers[{i}]"
        if not 1 <= pub.jpeg_quality <= 100:
            raise ConfigError(f"{key}.jpeg_quality", f"must be between 1 and 100, got {pub.jpeg_quality}")
        if pub.max_side < 32:
            raise ConfigError(f"{key}.max_side", f"must be >= 32, got {pub.max_side}")
        if isinstance(pub, MqttPublisherConfig):
            _check_mqtt(pub, key)
    _positive("log.summary_seconds", c.log.summary_seconds)
    _positive("calibration.max_frames", c.calibration.max_frames)
    _positive("calibration.min_interval_seconds", c.calibration.min_interval_seconds, allow_zero=True)


def _check_mqtt(m: MqttPublisherConfig, key: str) -> None:
    if not m.host:
        raise ConfigError(f"{key}.host", "must not be empty")
    if not 0 <= m.port <= 65535:
        raise ConfigError(f"{key}.port", f"must be between 0 and 65535, got {m.port}")
    if m.qos not in (0, 1, 2):
        raise ConfigError(f"{key}.qos", f"must be 0, 1 or 2, got {m.qos}")
    if not 5 <= m.keepalive <= 65535:
        raise ConfigError(f"{key}.keepalive", f"must be between 5 and 65535 seconds, got {m.keepalive}")
    for name in ("topic_prefix", "discovery_prefix"):
        value = getattr(m, name)
        if any(ch in value for ch in "+#") or value.startswith("/") or value.endswith("/"):
            raise ConfigError(f"{key}.{name}", f"must not contain '+' or '#' or start/end with '/', got {value!r}")
    for name in ("ca_file", "cert_file", "key_file", "password_file"):
        value = getattr(m, name)
        if value:
            _existing_file(f"{key}.{name}", value)
    if m.cert_file and not m.key_file:
        raise ConfigError(f"{key}.key_file", "a client certificate (cert_file) needs its key_file")
    if (m.ca_file or m.cert_file) and not m.tls:
        raise ConfigError(f"{key}.tls", "ca_file/cert_file are set but tls = false; set tls = true")
    if m.password_file and m.password_env:
        raise ConfigError(f"{key}.password_env", "set password_file or password_env, not both")
    if m.configuration_url and not m.configuration_url.startswith(("http://", "https://", "homeassistant://")):
        raise ConfigError(f"{key}.configuration_url",
                          f"must start with http://, https:// or homeassistant://, got {m.configuration_url!r}")
    _positive(f"{key}.spool_max_events", m.spool_max_events)
    _positive(f"{key}.spool_max_bytes", m.spool_max_bytes)
    _positive(f"{key}.ack_timeout", m.ack_timeout)
    _positive(f"{key}.reconnect_max", m.reconnect_max)
