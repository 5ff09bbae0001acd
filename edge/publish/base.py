"""The publisher interface: where finished events go."""
from __future__ import annotations

from abc import ABC, abstractmethod

from ..events import Event


class Publisher(ABC):
    name = "publisher"

    @abstractmethod
    def publish(self, event: Event) -> None:
        """Take the event; must not block frame processing for long."""

    def motion(self, camera: str, moving: bool) -> None:
        """Motion started or stopped on a camera (for dashboards); optional."""

    def available(self, delivering: bool) -> None:
        """The camera delivers frames (True from the first frame on); optional.  Until then the box
        is not reported available: a camera that does not answer is not a working box."""

    def health(self, payload: dict) -> None:
        """A box-health snapshot (edge/publish/health.py) every log.summary_seconds; optional."""

    def status(self) -> dict:
        return {}

    def close(self) -> None:
        """Flush and release resources."""
