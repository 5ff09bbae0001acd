"""Publishers, chosen by ``[[publishers]] type``; one module per kind."""
from __future__ import annotations

from ..config import PublisherConfig
from .base import Publisher

__all__ = ["Publisher", "make_publisher"]


def make_publisher(cfg: PublisherConfig) -> Publisher:
    if cfg.type == "directory":
        from .directory import DirectoryPublisher
        return DirectoryPublisher(cfg.path, cfg.jpeg_quality, cfg.max_side)
    raise ValueError(f"publishers.type: unknown publisher {cfg.type!r}")
