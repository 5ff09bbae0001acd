"""OpenCV capture: USB/V4L2 cameras, RTSP/HTTP streams (Jetson, IP cameras) and video files."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2

from .base import ArrayFrame, Frame, FrameSource, SourceError, valid_image

log = logging.getLogger(__name__)

MAX_CONSECUTIVE_BAD = 25  # a file that fails this often in a row has ended


class OpenCVSource(FrameSource):
    def __init__(self, uri: str, *, name: str = "camera", width: int = 0, height: int = 0,
                 fps: float = 0.0, pace: str = "fast", max_pixels: int = 24_000_000):
        self.uri = uri
        self.name = name
        self.width, self.height, self.fps = width, height, fps
        self.is_live = not Path(uri).is_file()
        self.pace = pace if not self.is_live else "fast"
        self._cap: cv2.VideoCapture | None = None
        self._index = 0
        self._start = 0.0
        self._file_fps = 0.0
        self._frame_count = 0
        self.corrupt_frames = 0
        self.oversized_frames = 0
        self.max_pixels = max_pixels

    def open(self) -> None:
        target: int | str = int(self.uri) if self.uri.isdigit() else self.uri
        cap = cv2.VideoCapture(target)
        if not cap.isOpened():
            raise SourceError(f"cannot open camera or stream {self.uri!r}")
        if self.is_live:
            if self.width and self.height:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            if self.fps:
                cap.set(cv2.CAP_PROP_FPS, self.fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame, not a backlog
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if width * height > self.max_pixels:  # known from the stream's header, before a frame is decoded
            cap.release()
            self.oversized_frames += 1
            raise SourceError(f"{self.uri!r} has {width}x{height} frames, over camera.max_pixels = {self.max_pixels}")
        self._file_fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        self._frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self._cap, self._index, self._start, self._t0 = cap, 0, time.monotonic(), time.time()
        log.info("opened %s (%dx%d at %.1f fps)", self.uri, cap.get(cv2.CAP_PROP_FRAME_WIDTH),
                 cap.get(cv2.CAP_PROP_FRAME_HEIGHT), self._file_fps)

    def read(self) -> Frame | None:
        if self._cap is None:
            raise SourceError("source is not open")
        bad = 0
        while True:
            ok, image = self._cap.read()
            if ok and valid_image(image):
                break
            if not self.is_live and self._frame_count and self._index + bad >= self._frame_count:
                return None  # the file ended
            bad += 1
            self.corrupt_frames += 1
            if bad >= MAX_CONSECUTIVE_BAD:
                if self.is_live:
                    raise SourceError(f"{self.uri!r} delivered {bad} bad frames in a row")
                return None
        index = self._index
        self._index += 1
        if self.pace == "realtime":
            due = self._start + index / self._file_fps
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        # A file's frames carry media time, so tracking behaves the same at any replay speed.
        timestamp = time.time() if self.is_live else self._t0 + index / self._file_fps
        return ArrayFrame(image=image, index=index, timestamp=timestamp)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
