"""Publishers, chosen by ``[[publishers]] type``; one module per kind."""
from __future__ import annotations

from ..config import DirectoryPublisherConfig, MqttPublisherConfig
from .base import Publisher

__all__ = ["Publisher", "make_publisher"]


def make_publisher(cfg: DirectoryPublisherConfig | MqttPublisherConfig, *, device_id: str, cameras: list[str],
                   version: str, key: str) -> Publisher:
    if isinstance(cfg, DirectoryPublisherConfig):
        from .directory import DirectoryPublisher
        return DirectoryPublisher(cfg.path, cfg.jpeg_quality, cfg.max_side)
    if isinstance(cfg, MqttPublisherConfig):
        from .mqtt import MqttPublisher
        return MqttPublisher(cfg, device_id=device_id, cameras=cameras, version=version, key=key)
    raise ValueError(f"{key}.type: unknown publisher {cfg.type!r}")
