"""Atomic file output: write to a hidden temporary file next to the destination and rename it onto
the destination only after everything succeeded, so an interrupted or failed run never leaves a
half-written file nor clobbers an existing one. Symlinks are followed (their target is replaced);
outputs that are not regular files (/dev/null, a FIFO, /dev/stdout) are written in place."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

from inrcodec.errors import InputError


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def _in_place(path: Path) -> bool:
    """Whether `path` is written in place: an existing output that is not a regular file (a device
    node, a FIFO, a socket: like ffmpeg, we write into it; renaming onto it would replace it), or a
    link into /proc (/dev/stdout, /dev/fd/N)."""
    try:
        st = os.stat(path)  # follows symlinks
    except OSError:
        return False
    return not stat.S_ISREG(st.st_mode) or os.path.realpath(path).startswith("/proc/")


class AtomicFile:
    """A temporary file that becomes `path` on commit() and disappears on discard(). A symlink is
    followed: its target is replaced atomically, the link stays. An output that is not a regular
    file is written in place (``in_place``); discard() then only closes it."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.in_place = _in_place(self.path)
        self.done = False
        if self.in_place:
            try:
                self.file: BinaryIO = open(self.path, "wb")
            except OSError as e:
                raise InputError(f"cannot write {self.path}: {e.strerror or e}") from None
            return
        if self.path.is_symlink():
            self.path = Path(os.path.realpath(self.path))
        directory = self.path.parent
        try:
            fd, tmp = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp", dir=str(directory)
            )
        except FileNotFoundError:
            raise InputError(f"cannot write {self.path}: directory {directory} does not exist") from None
        except OSError as e:
            raise InputError(f"cannot write {self.path}: {e.strerror or e}") from None
        self.tmp_path = Path(tmp)
        self.file = os.fdopen(fd, "wb")

    def commit(self) -> None:
        """Flush, fsync and rename onto the destination (with normal, umask-based permissions)."""
        if self.done:
            return
        if self.in_place:
            self.done = True
            self.file.close()
            return
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.chmod(self.tmp_path, 0o666 & ~_umask())
            os.replace(self.tmp_path, self.path)
        except BaseException:
            self.discard()
            raise
        self.done = True

    def discard(self) -> None:
        """Close and delete the temporary file; the destination is untouched."""
        if self.done:
            return
        self.done = True
        with contextlib.suppress(Exception):
            self.file.close()
        if self.in_place:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp_path)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Yield a binary file; on normal exit it replaces `path`, on any exception (including
    KeyboardInterrupt) the temporary file is deleted and `path` is left as it was."""
    af = AtomicFile(path)
    try:
        yield af.file
    except BaseException:
        af.discard()
        raise
    af.commit()
