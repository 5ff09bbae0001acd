"""Processes the tests start, always stopped: ``running_receiver`` starts ``mugshot-receive`` and stops it on
every way out of its block (SIGTERM, then SIGKILL after a timeout), pass or fail; ``killed_after`` gives any
other process a deadline and the same stop."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

from tests.conftest import ROOT


def stop(process: subprocess.Popen, timeout: float = 10.0) -> int | None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL; returns the exit code (None only if even SIGKILL hung)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
    reader = getattr(process, "log_reader", None)
    if reader is not None:  # the rest of its log, to the end
        reader.join(timeout)
    return process.returncode


def start_receiver(port, out, *extra, client_id=None, wait_for=("subscribed to",), ready_timeout=30.0):
    """``python -m edge.receiver`` against 127.0.0.1:``port``, returned once its log says every ``wait_for``;
    killed when it does not get ready.  ``process.log`` keeps its stderr lines."""
    process = subprocess.Popen([sys.executable, "-m", "edge.receiver", "--broker", f"127.0.0.1:{port}", "--out",
                                str(out), "--client-id", client_id or f"receiver-{time.monotonic_ns()}", *extra],
                               cwd=ROOT, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(ready_timeout, process.kill)  # a receiver that never gets ready ends the wait (EOF)
    watchdog.start()
    lines, waiting = [], set(wait_for)
    try:
        for line in iter(process.stderr.readline, ""):
            lines.append(line)
            waiting = {w for w in waiting if w not in line}
            if not waiting:
                break
    finally:
        watchdog.cancel()
    if waiting:
        stop(process, 5)
        raise AssertionError(f"the receiver did not get ready within {ready_timeout:.0f} s: {''.join(lines)}")
    process.log = lines
    return follow_log(process)


def follow_log(process: subprocess.Popen) -> subprocess.Popen:
    """Read ``process``'s stderr (a text pipe) into ``process.log``, line by line on a thread, so that a test
    can wait for a line while the process runs; ``stop`` reads it to the end."""
    if not hasattr(process, "log"):
        process.log = []
    process.log_reader = threading.Thread(target=lambda: process.log.extend(process.stderr), daemon=True)
    process.log_reader.start()
    return process


@contextmanager
def running_receiver(port, out, *extra, stop_timeout: float = 10.0, **options):
    """``with running_receiver(port, out) as receiver:`` the receiver runs in the block and is stopped after
    it, whatever happened; its log is printed when the block failed.  After the block ``receiver.returncode``
    is its exit code (0 after a clean SIGTERM)."""
    process = start_receiver(port, out, *extra, **options)
    try:
        yield process
    except BaseException:
        print("".join(process.log))  # the receiver's side of a failure
        raise
    finally:
        stop(process, stop_timeout)


@contextmanager
def killed_after(process: subprocess.Popen, seconds: float):
    """``with killed_after(process, 60):`` a watchdog kills ``process`` once ``seconds`` have passed (so a read
    of its output that would block ends at EOF), and the process is stopped on every way out of the block."""
    watchdog = threading.Timer(seconds, process.kill)
    watchdog.daemon = True
    watchdog.start()
    try:
        yield process
    finally:
        watchdog.cancel()
        stop(process, 5)
