"""Publishers, chosen by ``[[publishers]] type``; one module per kind."""
from __future__ import annotations

from ..config import ConfigError, DirectoryPublisherConfig, MqttPublisherConfig
from .base import Publisher

__all__ = ["Publisher", "make_publisher"]


def make_publisher(cfg: DirectoryPublisherConfig | MqttPublisherConfig, *, device_id: str, cameras: list[str],
                   version: str, key: str, names: dict[str, str] | None = None) -> Publisher:
    if isinstance(cfg, DirectoryPublisherConfig):
        from .directory import DirectoryPublisher
        try:
            return DirectoryPublisher(cfg.path, cfg.jpeg_quality, cfg.max_side)
        except OSError as exc:  # a folder that cannot be made or written: bad configuration, one line
            raise ConfigError(f"{key}.path", f"cannot write events to {cfg.path}: {exc.strerror or exc}") from None
    if isinstance(cfg, MqttPublisherConfig):
        from .mqtt import MqttPublisher
        return MqttPublisher(cfg, device_id=device_id, cameras=cameras, version=version, key=key, names=names)
    raise ValueError(f"{key}.type: unknown publisher {cfg.type!r}")
