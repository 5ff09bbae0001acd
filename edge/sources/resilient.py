"""Keeps a source going: a reader thread, stall detection, and reopening with backoff.

Reading happens on a thread of its own so that a camera or stream that hangs inside
``read()`` is noticed (no frame for ``stall_timeout`` seconds) instead of hanging the
daemon.  A live source keeps only the newest frames; a file replay loses none.
"""
from __future__ import annotations

import logging
import queue
import random
import threading
from collections.abc import Iterator

from .base import Frame, FrameSource, SourceError

log = logging.getLogger(__name__)

_END = object()
READER_JOIN_SECONDS = 5.0  # how long a stop waits for the reader to come out of read()


def reader_stuck() -> bool:
    """A frame reader or opener thread still inside a camera driver (the daemon then exits without
    tearing the interpreter down under it)."""
    return any(t.is_alive() and t.name.startswith(("read-", "open-")) for t in threading.enumerate())


class ResilientSource:
    def __init__(self, source: FrameSource, *, on_end: str = "reopen", stall_timeout: float = 10.0,
                 backoff_max: float = 30.0, stop: threading.Event | None = None):
        self.source = source
        self.on_end = on_end
        self.stall_timeout = stall_timeout
        self.backoff_max = backoff_max
        self.stop = stop or threading.Event()
        self.reopens = 0
        self.stalls = 0
        self.delivered = 0  # frames since the last (re)open
        self._generation = 0
        self._reader: threading.Thread | None = None
        self._closed = True

    @property
    def corrupt_frames(self) -> int:
        return self.source.corrupt_frames

    @property
    def oversized_frames(self) -> int:
        return self.source.oversized_frames

    def frames(self) -> Iterator[Frame]:
        """Frames until the source ends for good or ``stop`` is set.

        The first open raises SourceError (a missing camera is a start-up failure);
        later failures are retried with exponential backoff and jitter.
        """
        if not self._open_first():
            return
        try:
            yield from self._frames()
        finally:  # also when the consumer stops early (GeneratorExit): no reader is left inside the driver
            self._finish_reader()

    def _finish_reader(self) -> None:
        """Stop the reader, wait for it to leave ``read()``, then close the source.  The capture is never
        released under a read in progress, and the process never exits with a reader inside OpenCV:
        either was a crash (SIGABRT or SIGSEGV from OpenCV's teardown) on a stop right after READY."""
        self._generation += 1  # a reader still in read() can no longer deliver
        reader, self._reader = self._reader, None
        if reader is not None and reader.is_alive():
            reader.join(min(self.stall_timeout, READER_JOIN_SECONDS))
            if reader.is_alive():  # stuck in a driver: releasing the capture under it would crash
                log.warning("%s: the frame reader is still inside read(); the capture is left to it",
                            self.source.name)
                return
        if not self._closed:
            self._closed = True
            self.source.close()

    def _frames(self) -> Iterator[Frame]:
        backoff = 0.5
        while not self.stop.is_set():
            frames: queue.Queue = queue.Queue(maxsize=2)
            self._generation += 1
            reader = self._reader = threading.Thread(target=self._read_loop, args=(frames, self._generation),
                                                     name=f"read-{self.source.name}", daemon=True)
            self._closed = False
            reader.start()
            self.delivered = 0
            outcome = yield from self._drain(frames)
            self._finish_reader()
            if outcome == "end" and self.on_end == "stop":
                return
            if self.stop.is_set():
                return
            if self.delivered:
                backoff = 0.5  # it worked for a while: start the backoff afresh
            if not (outcome == "end" and self.on_end == "loop" and self.delivered):
                # failed, stalled, or ended without a single frame: wait before trying again
                delay = min(self.backoff_max, backoff) * random.uniform(0.8, 1.2)
                log.warning("reopening %s in %.1f s (%s)", self.source.name, delay, outcome)
                if self.stop.wait(delay):
                    return
                backoff = min(self.backoff_max, backoff * 2)
            self.reopens += 1
            try:
                self.source.open()
            except SourceError as exc:
                log.warning("%s", exc)
                continue  # the next round waits longer

    def _open_first(self) -> bool:
        """The first open, on a thread of its own: a camera or stream that does not answer (an
        RTSP/HTTP URL that accepts and stays silent blocks for ~30 s inside OpenCV) neither blocks
        a stop nor goes unreported.  False when stopped first; its SourceError is raised."""
        outcome: list[BaseException | None] = []

        def target() -> None:
            try:
                self.source.open()
                outcome.append(None)
            except BaseException as exc:  # handed to the caller's thread
                outcome.append(exc)

        opener = threading.Thread(target=target, name=f"open-{self.source.name}", daemon=True)
        opener.start()
        waited = 0.0
        while not outcome:
            if self.stop.wait(0.25):
                opener.join(min(5.0, self.stall_timeout))  # not left half-opened if it can be helped
                if outcome and outcome[0] is None:
                    self.source.close()
                return False
            waited += 0.25
            if waited % self.stall_timeout < 0.25:
                log.warning("%s has not answered for %.0f s (still waiting; the box stays offline until "
                            "its first frame)", self.source.name, waited)
        if outcome[0] is not None:
            raise outcome[0]
        return True

    def _drain(self, frames: queue.Queue) -> Iterator[Frame]:
        """Yield frames from the reader; return why the stream stopped ('end', 'stall', 'error: ...')."""
        waited = 0.0
        while not self.stop.is_set():
            try:
                item = frames.get(timeout=0.25)  # short waits: a stop request is honoured promptly
            except queue.Empty:
                waited += 0.25
                if waited >= self.stall_timeout:
                    self.stalls += 1
                    log.warning("%s delivered no frame for %.0f s", self.source.name, self.stall_timeout)
                    return "stall"
                continue
            waited = 0.0
            if item is _END:
                return "end"
            if isinstance(item, Exception):
                log.warning("%s failed: %s", self.source.name, item)
                return f"error: {item}"
            self.delivered += 1
            yield item
        return "stopped"

    def _read_loop(self, frames: queue.Queue, generation: int) -> None:
        live = self.source.is_live
        while generation == self._generation and not self.stop.is_set():
            try:
                item = self.source.read()
            except Exception as exc:  # any failure of a source means: reopen it
                item = exc if isinstance(exc, SourceError) else SourceError(f"{type(exc).__name__}: {exc}")
            if generation != self._generation:
                if isinstance(item, Frame):
                    item.release()
                return
            item = _END if item is None else item
            if live and isinstance(item, Frame):
                while True:  # newest frame wins: drop the oldest waiting one
                    try:
                        frames.put_nowait(item)
                        break
                    except queue.Full:
                        try:
                            dropped = frames.get_nowait()
                            if isinstance(dropped, Frame):
                                dropped.release()
                        except queue.Empty:
                            pass
            else:
                while generation == self._generation and not self.stop.is_set():
                    try:
                        frames.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
            if not isinstance(item, Frame):
                return
