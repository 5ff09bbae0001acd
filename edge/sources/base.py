"""The frame-source interface: something that yields frames until it ends.

A frame offers two views.  ``small_gray()`` is the cheap one the motion gate reads on
every frame (the picamera2 ``lores`` Y plane, or a downscaled copy); ``full()`` is the
full-resolution BGR image, asked for only when a face must be found or cropped.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import cv2
import numpy as np


class SourceError(RuntimeError):
    """The source cannot be opened or read (camera missing, stream down, bad file)."""


class Frame(ABC):
    index: int
    timestamp: float  # seconds since the epoch, when the frame was captured

    @abstractmethod
    def small_gray(self, width: int) -> np.ndarray:
        """A uint8 grey image about ``width`` pixels wide (exactly, unless the source has its own lores stream)."""

    @abstractmethod
    def full(self) -> np.ndarray:
        """The full-resolution frame, uint8 BGR, HxWx3."""

    def release(self) -> None:
        """Give buffers back to the camera; the frame must not be used afterwards."""


@dataclass
class ArrayFrame(Frame):
    """A frame that is already a BGR array in memory (OpenCV capture, files)."""

    image: np.ndarray
    index: int = 0
    timestamp: float = field(default_factory=time.time)

    def small_gray(self, width: int) -> np.ndarray:
        h, w = self.image.shape[:2]
        # INTER_LINEAR is a third of INTER_AREA's cost here; the motion gate's blur absorbs the aliasing.
        small = self.image if w <= width else cv2.resize(
            self.image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_LINEAR)
        return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)

    def full(self) -> np.ndarray:
        return self.image


class FrameSource(ABC):
    """Open, read frames, close.  ``read`` returns None at the end of the stream."""

    name: str = "source"
    is_live: bool = True  # a camera or stream, as opposed to a file replay

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def read(self) -> Frame | None:
        """The next frame, None when the stream ended; raises SourceError when broken."""

    @abstractmethod
    def close(self) -> None: ...

    corrupt_frames: int = 0  # frames that could not be decoded and were skipped
    oversized_frames: int = 0  # frames over camera.max_pixels: refused, or decoded reduced (counted either way)


def valid_image(image: object) -> bool:
    """True for a non-empty uint8 HxWx3 array: what a decoded frame must be."""
    return (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
            and image.shape[2] == 3 and image.shape[0] > 0 and image.shape[1] > 0)
