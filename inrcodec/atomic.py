"""Atomic file output: write to a hidden temporary file next to the destination and rename it onto
the destination only after everything succeeded, so an interrupted or failed run never leaves a
half-written file nor clobbers an existing one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

from inrcodec.errors import InputError


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


class AtomicFile:
    """A temporary file that becomes `path` on commit() and disappears on discard()."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
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
        self.file: BinaryIO = os.fdopen(fd, "wb")
        self.done = False

    def commit(self) -> None:
        """Flush, fsync and rename onto the destination (with normal, umask-based permissions)."""
        if self.done:
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
