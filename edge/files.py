"""Writing files so that a reader never sees half of one and nothing planted is followed: a temporary
name created with ``O_EXCL | O_NOFOLLOW``, fsync, then a rename over the final name.  Files are 0640,
folders 0750.  The directory sink, the calibration frames, still photos and the precision cache share it."""
from __future__ import annotations

import os
from pathlib import Path

FILE_MODE, FOLDER_MODE = 0o640, 0o750


def _tmp_name(path: Path, token: str = "") -> Path:
    return path.with_name(f".{path.name}.{token}.tmp" if token else f".{path.name}.tmp")


def write_file(path: Path, data: bytes, mode: int = FILE_MODE, token: str = "") -> Path:
    """Write ``data`` to the temporary name beside ``path`` without following links; returns that name."""
    tmp = _tmp_name(path, token)
    try:
        os.unlink(tmp)  # a stale or planted entry: removes a symlink itself, never its target
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # exactly this mode, whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    return tmp


def commit_file(tmp: Path, path: Path) -> None:
    """fsync the temporary file and rename it over ``path`` (a symlink there is replaced, not followed)."""
    fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = FILE_MODE) -> None:
    """Write, fsync and rename in one go (no links followed, ``mode`` exactly)."""
    commit_file(write_file(path, data, mode), path)


def make_folder(path: Path, mode: int = FOLDER_MODE) -> None:
    """Create the folder (and parents) with ``mode``; one we created is chmod'ed to exactly that."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=mode)
        os.chmod(path, mode)
