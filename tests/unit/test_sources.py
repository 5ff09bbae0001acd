import threading
import time

import cv2
import numpy as np
import pytest

from edge.sources.base import ArrayFrame, FrameSource, SourceError
from edge.sources.images import ImageFolderSource
from edge.sources.picamera2 import Picamera2Source
from edge.sources.resilient import ResilientSource


def test_image_folder_skips_and_counts_corrupt_files(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((40, 60, 3), i * 50, np.uint8))
    (tmp_path / "1b.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    source = ImageFolderSource(str(tmp_path))
    source.open()
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    assert len(frames) == 3 and source.corrupt_frames == 1
    assert frames[0].small_gray(30).shape == (20, 30)


class FlakySource(FrameSource):
    """Fails in the ways real cameras do: raises once, stalls once, then works."""

    name = "flaky"
    is_live = True

    def __init__(self, script):
        self.script = list(script)
        self.opens = 0
        self.n = 0

    def open(self):
        self.opens += 1

    def read(self):
        step = self.script.pop(0) if self.script else "frame"
        if step == "raise":
            raise OSError("USB disconnected")
        if step == "stall":
            time.sleep(5)
        self.n += 1
        return ArrayFrame(np.zeros((4, 4, 3), np.uint8), index=self.n)

    def close(self):
        pass


def take(source, count):
    out = []
    for frame in source.frames():
        out.append(frame)
        if len(out) == count:
            source.stop.set()
    return out


def test_reopens_after_an_error_and_a_stall():
    flaky = FlakySource(["frame", "raise", "frame", "stall", "frame"])
    resilient = ResilientSource(flaky, stall_timeout=0.5, backoff_max=0.05)
    frames = take(resilient, 4)
    assert len(frames) == 4
    assert flaky.opens == 3 and resilient.stalls == 1 and resilient.reopens == 2


def test_first_open_failure_is_raised():
    class Missing(FlakySource):
        def open(self):
            raise SourceError("cannot open camera or stream '/dev/video9'")

    with pytest.raises(SourceError, match="video9"):
        next(ResilientSource(Missing([])).frames())


def test_file_replay_loses_no_frame_and_stops_at_the_end(tmp_path):
    for i in range(30):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), np.full((8, 8, 3), i, np.uint8))
    resilient = ResilientSource(ImageFolderSource(str(tmp_path)), on_end="stop")
    values = [int(f.full()[0, 0, 0]) for f in resilient.frames()]
    assert values == list(range(30))


class FakeRequest:
    def __init__(self, camera):
        self.camera = camera

    def make_array(self, stream):
        self.camera.arrays.append(stream)
        if stream == "lores":  # YUV420: Y plane then U and V below it
            return np.full((240 * 3 // 2, 320), 77, np.uint8)
        return np.full((720, 1280, 3), 99, np.uint8)

    def release(self):
        self.camera.released += 1


class FakePicamera2:
    """Stands in for picamera2.Picamera2 (no libcamera here): records what is asked of it."""

    def __init__(self):
        self.arrays, self.released, self.configured = [], 0, None

    def create_video_configuration(self, main, lores, controls):
        return {"main": main, "lores": lores, "controls": controls}

    def configure(self, config):
        self.configured = config

    def start(self):
        pass

    def capture_request(self):
        return FakeRequest(self)

    def stop(self):
        pass

    def close(self):
        pass


def test_picamera2_dual_stream_reads_main_only_when_asked():
    camera = FakePicamera2()
    source = Picamera2Source(camera_factory=lambda: camera)
    source.open()
    assert camera.configured["lores"] == {"size": (320, 240), "format": "YUV420"}
    frame = source.read()
    gray = frame.small_gray(160)
    assert gray.shape == (240, 320) and gray.max() == 77  # the Y plane only
    assert camera.arrays == ["lores"]
    assert frame.full().shape == (720, 1280, 3) and camera.arrays == ["lores", "main"]
    frame.release()
    assert camera.released == 1


def test_picamera2_missing_is_a_clear_error():
    with pytest.raises(SourceError, match="python3-picamera2"):
        Picamera2Source().open()


def test_stop_event_ends_a_live_source_promptly():
    stop = threading.Event()
    resilient = ResilientSource(FlakySource([]), stop=stop)
    started = time.monotonic()
    for n, _ in enumerate(resilient.frames()):
        if n == 5:
            stop.set()
    assert time.monotonic() - started < 2


class BlockingCapture(FrameSource):
    """A real OpenCV capture of a clip whose every read after the first also waits (as a live camera
    waits for its next frame); it records a close that came while a read was in progress."""

    name = "blocking"

    def __init__(self, clip):
        self.clip, self.reading, self.closed_during_read = clip, threading.Event(), False
        self.cap = None
        self.reads = 0

    def open(self):
        self.cap = cv2.VideoCapture(str(self.clip))

    def read(self):
        self.reading.set()
        try:
            if self.reads:
                time.sleep(1.0)
            self.reads += 1
            ok, image = self.cap.read()
            return ArrayFrame(image=image) if ok else None
        finally:
            self.reading.clear()

    def close(self):
        self.closed_during_read |= self.reading.is_set()
        if self.cap is not None:
            self.cap.release()


def test_a_stop_joins_the_reader_before_the_capture_is_released(shared_data):
    source = BlockingCapture(shared_data / "video" / "single_face.mp4")
    stop = threading.Event()
    resilient = ResilientSource(source, stop=stop, stall_timeout=5.0)
    frames = resilient.frames()
    next(frames)  # READY: the first frame; the reader is now inside its next read
    assert source.reading.wait(2)
    stop.set()  # SIGTERM
    frames.close()
    assert not source.closed_during_read, "the capture was released under a read in progress"
    assert not [t for t in threading.enumerate() if t.name == "read-blocking" and t.is_alive()], \
        "a reader left inside the driver: the interpreter's teardown would crash under it"
