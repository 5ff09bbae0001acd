"""Typed configuration read from TOML and validated once, at start-up.

Every problem is reported as ``section.key: message`` (a :class:`ConfigError`), so a
person editing ``/etc/mugshot-edge/config.toml`` knows which line to fix.  Nothing in
here touches a camera, a model or the network: files named by the config are only
checked for existence.

``schema`` holds the sections, ``checks`` the rules beyond the types, ``load`` reads a file;
the imports run one way: load -> checks -> schema.
"""
from .checks import RANGES, check_config, check_topic_name
from .load import config_from_dict, load_config
from .schema import (CalibrationConfig, CameraConfig, Config, ConfigError, DetectorConfig,
                     DeviceConfig, DirectoryPublisherConfig, GENERATOR_NAMES, GeneratorConfig,
                     LogConfig, MeshConfig, MissingInputError, MotionConfig, MqttPublisherConfig,
                     PUBLISHER_TYPES, RETIRED_GENERATORS, RETIRED_KEYS, TrackerConfig)

__all__ = ["RANGES", "check_config", "check_topic_name", "config_from_dict", "load_config",
           "CalibrationConfig", "CameraConfig", "Config", "ConfigError", "DetectorConfig", "DeviceConfig",
           "DirectoryPublisherConfig", "GENERATOR_NAMES", "GeneratorConfig", "LogConfig", "MeshConfig",
           "MissingInputError", "MotionConfig", "MqttPublisherConfig", "PUBLISHER_TYPES",
           "RETIRED_GENERATORS", "RETIRED_KEYS", "TrackerConfig"]
