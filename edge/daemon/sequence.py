"""The box's event sequence number: 1, 2, 3, ... over every event the box ever published.

Each event carries it (``"sequence"`` in its metadata, on disk and on the wire), so a receiver
that sees a gap in one box's numbers knows events were lost on the way: a full spool, a message
the broker refused, or a broker that dropped messages for a slow subscriber.  The counter lives
in the state directory (``$STATE_DIRECTORY/sequence``) and is written (atomically, fsync'd)
before the event it numbers is published, so a number is never used twice, across restarts
and power cuts alike.  Without a path (``replay``, ``demo``) the numbers start at 1 and live in
memory only.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)


def default_state_dir() -> Path:
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(state) if state else Path.home() / ".local" / "state" / "mugshot-edge"


class SequenceCounter:
    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self.last = self._read()

    def _read(self) -> int:
        if self.path is None:
            return 0
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return 0
        except (OSError, UnicodeDecodeError) as exc:
            raise RuntimeError(f"sequence counter {self.path}: cannot read ({exc})") from None
        if not text.isdigit():
            raise RuntimeError(f"sequence counter {self.path}: not a number: {text[:40]!r}")
        return int(text)

    def next(self) -> int:
        """The next number, durably recorded before it is returned.  A disk that cannot take the
        write (full) does not hold the event up: the number is used anyway and the failure logged."""
        with self._lock:
            value = self.last = self.last + 1
            if self.path is None:
                return value
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_name(f".{self.path.name}.tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o640)
                try:
                    os.write(fd, f"{value}\n".encode("ascii"))
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(tmp, self.path)
            except OSError as exc:
                log.error("sequence counter %s: cannot record %d (%s); after a restart numbers may repeat",
                          self.path, value, exc)
            return value
