"""Events are made and published off the frame thread.

The frame loop hands each due best shot to one worker thread through a queue and goes on with the
next frame; the worker runs the generator, the quality gate, encoding and the publishers, one event
at a time, so events leave in the order they were due.  Nothing handed over is dropped: when
``max_pending`` shots already wait (a generator far slower than the camera), the frame loop waits
for room and says so once in the log.  ``close`` lets the worker finish every shot handed over.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

_STOP = object()


class EventWorker:
    def __init__(self, make_event: Callable[[object], None], max_pending: int = 32):
        self._make_event = make_event
        self._queue: queue.Queue = queue.Queue(maxsize=max_pending)
        self._thread = threading.Thread(target=self._run, name="events", daemon=True)
        self.waited = 0  # times the frame loop had to wait for room
        self.failed = 0  # shots whose event could not be made (logged with a traceback)

    def __enter__(self) -> "EventWorker":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def submit(self, due) -> None:
        try:
            self._queue.put_nowait(due)
        except queue.Full:
            if self.waited == 0:
                log.warning("%d events wait for the generator: the frame loop waits for room "
                            "(logged once)", self._queue.maxsize)
            self.waited += 1
            self._queue.put(due)

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def close(self, timeout: float | None = None) -> None:
        """Finish every shot handed over, then stop the thread."""
        if not self._thread.is_alive():
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("the event worker did not finish within %.0f s; %d shots still wait", timeout or 0,
                      self.pending)

    def _run(self) -> None:
        while True:
            due = self._queue.get()
            if due is _STOP:
                return
            started = time.perf_counter()
            try:
                self._make_event(due)
            except Exception:  # one bad shot must not stop the events after it
                self.failed += 1
                log.exception("making the event for track %s failed", getattr(due, "event_id", "?"))
            log.debug("event made in %.1f ms", 1000 * (time.perf_counter() - started))
