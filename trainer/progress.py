"""One progress line that log messages never break.

``ProgressLine`` redraws a single status line on stderr (``\\r`` and erase-to-end on a terminal). While it is
open, every logging handler that writes to the same stream first erases the line, writes its record on a line
of its own, and the progress line is drawn again below it: no more ``ETA 0.0 minINFO trainer.fit: ...``.
Where stderr is not a terminal (a log file, CI), it writes whole lines instead, at most one every
``every_s`` seconds, plus the last one.
"""
from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

ERASE = "\r\x1b[K"


class ProgressLine:
    def __init__(self, enabled: bool = True, stream: TextIO | None = None, every_s: float = 10.0):
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every_s, self._last_line = every_s, float("-inf")
        self.text = ""
        self._patched: list[tuple[logging.Handler, object]] = []
        if enabled:
            self._wrap_handlers()

    def _wrap_handlers(self) -> None:
        for handler in logging.getLogger().handlers:
            if getattr(handler, "stream", None) is not self.stream:
                continue
            original = handler.emit

            def emit(record, original=original):
                self._erase()
                original(record)
                self._draw()
            handler.emit = emit
            self._patched.append((handler, original))

    def _erase(self) -> None:
        if self.tty and self.text:
            self.stream.write(ERASE)
            self.stream.flush()

    def _draw(self) -> None:
        if self.tty and self.text:
            self.stream.write(self.text)
            self.stream.flush()

    def update(self, text: str, final: bool = False) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.text = text
            self.stream.write(ERASE + text)
            self.stream.flush()
        elif final or time.monotonic() - self._last_line >= self.every_s:
            self._last_line = time.monotonic()
            self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        """End the line (it stays on screen) and give the handlers back."""
        for handler, original in self._patched:
            handler.emit = original
        self._patched = []
        if self.enabled and self.tty and self.text:
            self.stream.write("\n")
            self.stream.flush()
        self.text = ""

    def __enter__(self) -> "ProgressLine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
