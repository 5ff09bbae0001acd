"""Raspberry Pi camera through picamera2, with the dual-stream pattern.

The small ``lores`` YUV420 stream feeds the motion gate on every frame (its Y plane is
already a grey image); the ``main`` stream is turned into an array only when a face
must be found or cropped, from the same request, so both views show the same instant.
picamera2 comes from the OS (``apt install python3-picamera2``) and is imported lazily.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from .base import Frame, FrameSource, SourceError

log = logging.getLogger(__name__)


def _import_picamera2() -> Any:
    try:
        from picamera2 import Picamera2  # type: ignore[import-not-found]
    except ImportError as exc:
        raise SourceError(
            "camera.type = 'picamera2' needs the picamera2 package: on Raspberry Pi OS run "
            "'sudo apt install python3-picamera2' and create the virtualenv with "
            f"--system-site-packages ({exc})") from None
    return Picamera2


class Picamera2Frame(Frame):
    def __init__(self, request: Any, index: int, lores_size: tuple[int, int]):
        self._request = request
        self.index = index
        self.timestamp = time.time()
        self._lores_w, self._lores_h = lores_size
        self._full: np.ndarray | None = None

    def small_gray(self, width: int) -> np.ndarray:
        yuv = self._request.make_array("lores")  # YUV420: the first `height` rows are Y
        return yuv[: self._lores_h, : self._lores_w]

    def full(self) -> np.ndarray:
        if self._full is None:
            # picamera2's "RGB888" is stored B, G, R: OpenCV's order already.
            self._full = np.ascontiguousarray(self._request.make_array("main")[:, :, :3])
        return self._full

    def release(self) -> None:
        if self._request is not None:
            self._request.release()
            self._request = None


class Picamera2Source(FrameSource):
    is_live = True

    def __init__(self, *, name: str = "picamera", main_size: tuple[int, int] = (1280, 720),
                 lores_size: tuple[int, int] = (320, 240), fps: float = 0.0, camera_factory: Any = None):
        self.name = name
        self.main_size, self.lores_size, self.fps = main_size, lores_size, fps
        self._factory = camera_factory  # tests pass a fake; None imports picamera2
        self._camera: Any = None
        self._index = 0
        self.corrupt_frames = 0

    def open(self) -> None:
        factory = self._factory or _import_picamera2()
        try:
            camera = factory()
            controls = {"FrameRate": self.fps} if self.fps else {}
            config = camera.create_video_configuration(
                main={"size": self.main_size, "format": "RGB888"},
                lores={"size": self.lores_size, "format": "YUV420"},
                controls=controls)
            camera.configure(config)
            camera.start()
        except SourceError:
            raise
        except Exception as exc:  # libcamera raises many kinds
            raise SourceError(f"cannot start the Pi camera: {exc}") from exc
        self._camera, self._index = camera, 0
        log.info("picamera2 started: main %s, lores %s", self.main_size, self.lores_size)

    def read(self) -> Frame | None:
        if self._camera is None:
            raise SourceError("source is not open")
        try:
            request = self._camera.capture_request()
        except Exception as exc:
            raise SourceError(f"Pi camera capture failed: {exc}") from exc
        frame = Picamera2Frame(request, self._index, self.lores_size)
        self._index += 1
        return frame

    def close(self) -> None:
        if self._camera is not None:
            try:
                self._camera.stop()
                self._camera.close()
            except Exception:  # closing a broken camera must not mask the real error
                log.debug("error closing picamera2", exc_info=True)
            self._camera = None
