"""Writes inside the output folder that never follow a link planted there.

The output folder itself is opened once (it may be a link the operator made); everything
below it is reached through directory file descriptors with ``O_NOFOLLOW``, so a symlink
planted as a device folder, an image name or a temporary name makes the write fail with
a log line instead of writing through it.  Folders are 0750 and files 0640 whatever the
umask: mugshots are not for every local user.
"""
from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

FILE_MODE = 0o640
DIR_MODE = 0o750
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePath(OSError):
    """A path inside the output folder is a link or not what it should be."""


def _check_name(name: str) -> None:
    if not name or "/" in name or name in (".", "..") or "\x00" in name:
        raise UnsafePath(errno.EINVAL, f"not a plain file name: {name!r}")


class SafeFolder:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        self._root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    @property
    def fd(self) -> int:
        return self._root_fd

    def close(self) -> None:
        os.close(self._root_fd)

    def _open_dir(self, parts: tuple[str, ...], create: bool) -> int:
        fd = os.dup(self._root_fd)
        try:
            for part in parts:
                _check_name(part)
                try:
                    try:
                        child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                    except FileNotFoundError:
                        if not create:
                            raise
                        try:
                            os.mkdir(part, DIR_MODE, dir_fd=fd)
                            os.chmod(part, DIR_MODE, dir_fd=fd, follow_symlinks=False)
                        except FileExistsError:
                            pass  # another receiver of the group made it
                        child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise UnsafePath(exc.errno, f"{'/'.join(parts)} in {self.root} is a link or not a "
                                                    f"folder: not written through") from None
                    raise
                os.close(fd)
                fd = child
            return fd
        except BaseException:
            os.close(fd)
            raise

    def write(self, folder: tuple[str, ...], name: str, data: bytes, fsync: bool = True) -> None:
        """Write ``data`` to ``folder/name`` atomically (temporary name, then rename over)."""
        self.write_many(folder, {name: data}, fsync)

    def write_many(self, folder: tuple[str, ...], files: dict[str, bytes], fsync: bool = True) -> None:
        """Write each file atomically, in the order given (temporary name, then rename over)."""
        for name in files:
            _check_name(name)
        fd = self._open_dir(folder, create=True)
        try:
            for name, data in files.items():
                tmp = f".{name}.{secrets.token_hex(4)}.tmp"
                out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE,
                              dir_fd=fd)
                try:
                    os.fchmod(out, FILE_MODE)
                    view = memoryview(data)
                    while view:
                        view = view[os.write(out, view):]
                    if fsync:
                        os.fsync(out)
                finally:
                    os.close(out)
                os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)  # replaces a link itself, never its target
        finally:
            os.close(fd)

    def rename(self, folder: tuple[str, ...], name: str, new_folder: tuple[str, ...], new_name: str) -> bool:
        """Move a plain file (not a link); False when there is nothing to move."""
        _check_name(name)
        _check_name(new_name)
        src = self._open_dir(folder, create=False)
        try:
            dst = self._open_dir(new_folder, create=True)
            try:
                try:
                    st = os.stat(name, dir_fd=src, follow_symlinks=False)
                except FileNotFoundError:
                    return False
                if not os.path.stat.S_ISREG(st.st_mode):
                    raise UnsafePath(errno.ELOOP, f"{'/'.join(folder + (name,))} is not a plain file")
                os.replace(name, new_name, src_dir_fd=src, dst_dir_fd=dst)
                return True
            finally:
                os.close(dst)
        finally:
            os.close(src)

    def remove(self, folder: tuple[str, ...], name: str) -> int:
        """Delete a file (a link is removed itself); its size in bytes, 0 when it was not there."""
        _check_name(name)
        try:
            fd = self._open_dir(folder, create=False)
        except FileNotFoundError:
            return 0
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            os.unlink(name, dir_fd=fd)
            return st.st_size
        except FileNotFoundError:
            return 0
        finally:
            os.close(fd)

    def open_read(self, folder: tuple[str, ...], name: str):
        """A binary file object for reading a plain file (never through a link)."""
        _check_name(name)
        fd = self._open_dir(folder, create=False)
        try:
            out = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        finally:
            os.close(fd)
        return os.fdopen(out, "rb")
