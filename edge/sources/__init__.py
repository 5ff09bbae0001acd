"""Frame sources, chosen by ``camera.type``; each kind lives in its own module."""
from __future__ import annotations

from ..config import CameraConfig
from .base import ArrayFrame, Frame, FrameSource, SourceError

__all__ = ["ArrayFrame", "Frame", "FrameSource", "SourceError", "make_source"]


def make_source(cfg: CameraConfig) -> FrameSource:
    """Build (but do not open) the source that ``camera.type`` names."""
    if cfg.type == "opencv":
        from .opencv import OpenCVSource
        return OpenCVSource(cfg.uri, name=cfg.name, width=cfg.width, height=cfg.height,
                            fps=cfg.fps, pace=cfg.pace, max_pixels=cfg.max_pixels)
    if cfg.type == "images":
        from .images import ImageFolderSource
        return ImageFolderSource(cfg.uri, name=cfg.name, fps=cfg.fps, pace=cfg.pace, max_pixels=cfg.max_pixels)
    if cfg.type == "picamera2":
        from .picamera2 import Picamera2Source
        return Picamera2Source(name=cfg.name, main_size=(cfg.width, cfg.height),
                               lores_size=(cfg.lores_width, cfg.lores_height), fps=cfg.fps)
    raise ValueError(f"camera.type: unknown source type {cfg.type!r}")
