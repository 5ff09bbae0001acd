"""Group commit: a message is acknowledged to the broker only once what it brought is on disk,
and one ``syncfs`` makes a whole batch durable.

The receiver writes files and commits the index without waiting for the disk; the MQTT
client acknowledges nothing by itself (paho's manual acks).  Every ``delay`` seconds, or
as soon as ``batch`` messages wait (below mosquitto's 20 messages in flight, so the broker
never stalls), one ``syncfs`` of the output folder's filesystem flushes them all and their
PUBACKs go out.  A receiver killed before that gets the messages again from the broker
(a persistent session), and drops what it already stored as duplicates.  Where ``syncfs``
is missing the fallback is ``os.sync``.
"""
from __future__ import annotations

import ctypes
import logging
import os
import threading

log = logging.getLogger(__name__)

try:
    _syncfs = ctypes.CDLL(None, use_errno=True).syncfs
except (OSError, AttributeError):
    _syncfs = None


def sync_filesystem(fd: int) -> None:
    if _syncfs is None:
        os.sync()
    elif _syncfs(fd) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"syncfs: {os.strerror(err)}")


class DurableAcks:
    def __init__(self, client, folder_fd: int, delay: float = 0.02, batch: int = 16):
        self.client, self.folder_fd, self.delay, self.batch = client, folder_fd, delay, batch
        self.generation = 0  # one per connection: a message id means nothing after a reconnect
        self._pending: list[tuple[int, int, int]] = []  # (generation, mid, qos)
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stopping = threading.Event()
        self.flushes = 0
        self._thread = threading.Thread(target=self._run, name="receiver-acks", daemon=True)
        client.manual_ack_set(True)

    def start(self) -> None:
        self._thread.start()

    def connected(self) -> None:
        """A new connection: acks still waiting belong to the old one (the broker resends those)."""
        with self._lock:
            self.generation += 1
            self._pending.clear()

    def received(self, mid: int, qos: int) -> None:
        if qos == 0:
            return
        with self._lock:
            self._pending.append((self.generation, mid, qos))
            full = len(self._pending) >= self.batch
        if full:
            self.flush()

    def flush(self) -> None:
        with self._flush_lock:
            with self._lock:
                waiting, self._pending = self._pending, []
            if not waiting:
                return
            try:
                sync_filesystem(self.folder_fd)
            except OSError as exc:  # nothing is acknowledged: the broker sends it all again
                log.error("cannot flush the output folder to disk (%s): %d messages not acknowledged",
                          exc, len(waiting))
                return
            self.flushes += 1
            for generation, mid, qos in waiting:
                if generation == self.generation:
                    self.client.ack(mid, qos)

    def _run(self) -> None:
        while not self._stopping.wait(self.delay):
            self.flush()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        self.flush()
