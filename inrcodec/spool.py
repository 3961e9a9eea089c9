"""Where finished segments' payloads wait until the file is assembled: in memory (an in-memory
clip), or as one file per segment in a folder (a streamed encode, whose payloads can outgrow
memory, and every checkpointed encode: the checkpoint then records only their hashes). A segment
is in the spool only once its payload is complete (each file is written atomically)."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile

from .atomic import atomic_output


class MemorySpool:
    def __init__(self) -> None:
        self._payloads: dict[int, bytes] = {}

    def put(self, index: int, payload: bytes) -> str:
        self._payloads[index] = bytes(payload)
        return hashlib.sha256(payload).hexdigest()

    def get(self, index: int) -> bytes:
        return self._payloads[index]

    def size(self, index: int) -> int:
        return len(self._payloads[index])

    def verify(self, index: int, sha256: str) -> bool:
        return index in self._payloads and hashlib.sha256(self._payloads[index]).hexdigest() == sha256

    def remove(self) -> None:
        self._payloads.clear()


class DirSpool:
    """One file per segment in `path` (made when needed); `temporary` spools live in the system's
    temporary folder (an encode to stdout without a checkpoint)."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path if path is not None else tempfile.mkdtemp(prefix="inrcodec-spool-")

    def _file(self, index: int) -> str:
        return os.path.join(self.path, f"segment-{index:06d}.bin")

    def put(self, index: int, payload: bytes) -> str:
        os.makedirs(self.path, exist_ok=True)
        with atomic_output(self._file(index)) as f:
            f.write(payload)
        return hashlib.sha256(payload).hexdigest()

    def get(self, index: int) -> bytes:
        with open(self._file(index), "rb") as f:
            return f.read()

    def size(self, index: int) -> int:
        return os.path.getsize(self._file(index))

    def verify(self, index: int, sha256: str) -> bool:
        """Whether the spool holds this segment's payload with this hash (a resume's check)."""
        try:
            return hashlib.sha256(self.get(index)).hexdigest() == sha256
        except OSError:
            return False

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
