"""Directory sink: each event as ``<event_id>.json`` with its JPEG images beside it.

Files are written to a temporary name and renamed, so a reader never sees half an image; a
later revision of the same event replaces the earlier files; the JSON is renamed last, so a
JSON on disk always has its images.  Nothing planted in the folder is followed: temporary
files are created with ``O_EXCL | O_NOFOLLOW`` and renamed over whatever sits at the final
name (a symlink is replaced, never written through).  Files are 0640, folders 0750.

The frame thread only writes the bytes (into the page cache); a writer thread fsyncs them,
renames them into place and fsyncs the folder.  A process killed in between leaves complete
temporary files, which the next start checks (sha256 of each image against its JSON, an image
the writer had already renamed at its final name) and moves into place, so an event is as durable once ``publish`` has returned as it was when the
frame thread waited for the disk; ``close`` (and ``flush``) wait for the writer.
"""
from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import uuid
from pathlib import Path

from ..events import Event
from ..files import _tmp_name, commit_file, fsync_folder, make_folder, write_file
from .base import Publisher

log = logging.getLogger(__name__)

class DirectoryPublisher(Publisher):
    name = "directory"

    def __init__(self, path: str | Path, jpeg_quality: int = 90, max_side: int = 512, synchronous: bool = False):
        self.path = Path(path)
        self.synchronous = synchronous  # True: fsync on the caller's thread (the old way; benchmarks compare)
        make_folder(self.path)
        self.jpeg_quality, self.max_side = jpeg_quality, max_side
        self.written = 0
        self.failed = 0
        self._queue: queue.Queue = queue.Queue()
        self._recover()
        self._writer = threading.Thread(target=self._write_loop, name="directory-writer", daemon=True)
        self._writer.start()

    def publish(self, event: Event) -> None:
        encoded = event.encode(self.jpeg_quality, self.max_side)
        parts = [(self.path / f"{event.event_id}_{name}.jpg", data) for name, data in encoded.images.items()]
        parts.append((self.path / f"{event.event_id}.json", json.dumps(encoded.metadata, indent=2).encode("utf-8")))
        # the bytes reach the kernel here (they survive the process being killed); the disk, in the writer
        token = uuid.uuid4().hex[:12]  # one per publication: a revision never touches an earlier one's files
        written = []
        try:
            for path, data in parts:
                written.append((write_file(path, data, token=token), path))
        except OSError as exc:  # a full disk, a folder gone: counted, and the camera carries on
            self.failed += 1
            log.error("directory %s: cannot write event %s: %s (%d events lost here so far)", self.path,
                      event.event_id, exc, self.failed)
            for tmp, _ in written:
                tmp.unlink(missing_ok=True)
            return
        self._queue.put((event.event_id, written))
        if self.synchronous:
            self.flush()

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                event_id, files = item
                try:
                    for tmp, path in files:  # images first, the JSON last
                        commit_file(tmp, path)
                    fsync_folder(self.path)
                    self.written += 1
                except Exception as exc:  # the writer never dies: flush() and close() rely on it
                    self.failed += 1
                    log.error("directory %s: cannot write event %s: %s", self.path, event_id, exc)
            finally:
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until every published event is on disk."""
        self._queue.join()

    def _recover(self) -> None:
        """Events a killed process wrote but had not yet renamed into place; leftovers are removed."""
        for meta_tmp in sorted(self.path.glob(".*.json.*.tmp")):
            final_name, token = meta_tmp.name[1:-4].rsplit(".", 1)
            try:
                if meta_tmp.is_symlink():
                    raise ValueError("a symlink")
                metadata = json.loads(meta_tmp.read_bytes())
                images = []
                for name, described in metadata["images"].items():
                    path = self.path / f"{metadata['event_id']}_{name}.jpg"
                    tmp = _tmp_name(path, token)
                    if not tmp.exists() and not tmp.is_symlink():  # the writer renamed it before the kill
                        tmp = path
                    if tmp.is_symlink() or hashlib.sha256(tmp.read_bytes()).hexdigest() != described["sha256"]:
                        raise ValueError(f"{tmp.name} does not match its sha256")
                    if tmp != path:
                        images.append((tmp, path))
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                log.warning("directory %s: an unfinished event %s from before is incomplete (%s): removed",
                            self.path, final_name, exc)
                continue
            for tmp, path in images + [(meta_tmp, self.path / final_name)]:
                commit_file(tmp, path)
            fsync_folder(self.path)
            log.info("directory %s: completed event %s written before a restart", self.path, final_name)
        for leftover in self.path.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)  # a link is removed itself, never followed

    def status(self) -> dict:
        return {"written": self.written, "failed": self.failed}

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join()
