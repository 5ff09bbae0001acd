"""Running as a systemd service: sd_notify, the watchdog, signals and configuration reload.

The sd_notify protocol is a few datagrams to the socket named in ``NOTIFY_SOCKET``;
without that variable every call is a no-op.  ``READY=1`` goes out once the models are
loaded and the camera has delivered a frame (the broker is not waited for);
``WATCHDOG=1`` only from the frame loop, so a camera that stalls stops the pings and
systemd restarts the service; ``STATUS=`` says fps, events, spool depth and broker state.
SIGTERM stops cleanly; SIGHUP reloads the configuration, keeping the old one running if
the new one is broken.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path

from ..config import Config, ConfigError, load_config
from .stats import PipelineStats

log = logging.getLogger(__name__)

STATUS_SECONDS = 5.0


class SdNotifier:
    def __init__(self, address: str | None = None):
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]  # abstract namespace
        self._address = address
        self._socket: socket.socket | None = None
        if address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def notify(self, message: str) -> None:
        if self._socket is None:
            return
        try:
            self._socket.sendto(message.encode("utf-8"), self._address)
        except OSError as exc:  # systemd going away must not take the daemon with it
            log.debug("sd_notify failed: %s", exc)


class ServiceMonitor:
    """Called on every frame: readiness once, watchdog pings, a status line now and then."""

    def __init__(self, notifier: SdNotifier, watchdog_usec: int | None = None, status=lambda: {}):
        self.notifier = notifier
        usec = watchdog_usec if watchdog_usec is not None else int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        if os.environ.get("WATCHDOG_PID") and os.environ["WATCHDOG_PID"] != str(os.getpid()):
            usec = 0  # the watchdog is meant for another process
        self.ping_interval = usec / 2e6 if usec else 0.0
        self.status = status
        self.ready = False
        self._last_ping = 0.0
        self._last_status = 0.0

    def on_frame(self, _frame, stats: PipelineStats) -> None:
        now = time.monotonic()
        if not self.ready:
            self.ready = True
            self.notifier.notify("READY=1\nSTATUS=running: first frame received")
            log.info("ready: models loaded, camera delivering frames")
        if self.ping_interval and now - self._last_ping >= self.ping_interval:
            self.notifier.notify("WATCHDOG=1")
            self._last_ping = now
        if now - self._last_status >= STATUS_SECONDS:
            self.notifier.notify(f"STATUS={self.status_line(stats)}")
            self._last_status = now

    def status_line(self, stats: PipelineStats) -> str:
        parts = [f"fps {stats.fps():.1f}", f"events {stats.events}"]
        for name, values in self.status().items():
            if "spool" in values:
                parts.append(f"spool {values['spool']} (dropped {values['dropped']}, "
                             f"write failed {values.get('spool_write_failed', 0)})")
                parts.append(f"broker {values['broker']}")
                if values.get("sender_error"):
                    parts.append(f"sender failing: {values['sender_error']}")
        return ", ".join(parts)


class Daemon:
    """`mugshot-edge run`: build the pipeline, run it, rebuild it on SIGHUP, stop on SIGTERM."""

    def __init__(self, config_path: str | Path, notifier: SdNotifier | None = None):
        self.config_path = Path(config_path)
        self.notifier = notifier or SdNotifier()
        self.config: Config = load_config(self.config_path)  # ConfigError: exit 78, nothing started
        self._terminate = threading.Event()
        self._pipeline_stop = threading.Event()
        self._pending: Config | None = None

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_terminate)
        signal.signal(signal.SIGINT, self._on_terminate)
        signal.signal(signal.SIGHUP, self._on_hangup)

    def _on_terminate(self, signum, _frame) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        self.notifier.notify("STOPPING=1")
        self._terminate.set()
        self._pipeline_stop.set()

    def _on_hangup(self, _signum, _frame) -> None:
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error("reload rejected, keeping the running configuration: %s", exc)
            return
        log.info("configuration %s reloaded: restarting the pipeline", self.config_path)
        self.notifier.notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")
        self._pending = new
        self._pipeline_stop.set()

    def run(self) -> PipelineStats:
        from ..vision.model_files import ModelError
        from .pipeline import build_pipeline
        from .sequence import default_state_dir
        from ..sources.base import SourceError

        previous: Config | None = None  # after a reload: the configuration to go back to if the new one fails
        while True:
            self._pipeline_stop = threading.Event()
            if self._terminate.is_set():
                self._pipeline_stop.set()
            pipeline = None
            try:
                pipeline = build_pipeline(self.config, self._pipeline_stop, default_state_dir() / "sequence")
                monitor = ServiceMonitor(self.notifier, status=lambda p=pipeline: {
                    pub.name: pub.status() for pub in p.publishers})
                pipeline.on_frame = monitor.on_frame
                stats = pipeline.run()
            except (ConfigError, ModelError, SourceError, OSError, RuntimeError) as exc:
                # a reloaded config whose model will not load or whose camera will not open before its first
                # frame: the old configuration keeps running, as a broken config file would
                if previous is None or (pipeline is not None and pipeline.stats.frames):
                    raise
                log.error("reload rejected, keeping the running configuration: %s", exc)
                self.config, previous = previous, None
                continue
            finally:
                if pipeline is not None:
                    pipeline.close()
            previous = None
            if self._pending is not None and not self._terminate.is_set():
                previous, self.config, self._pending = self.config, self._pending, None
                continue
            self.notifier.notify("STOPPING=1")
            return stats
