"""Reading bytes by declared structs, with one-line errors: the cursor every part of a file (the
header, the segment table, a method's payload) is read with."""

from __future__ import annotations

import struct
from typing import NoReturn

from ..errors import BitstreamError

TABLE_PARTS = ("header", "network config", "segment table")  # a stream reader reads on when these are cut


class Truncated(BitstreamError):
    """The bytes end inside the header or the segment table (a stream reader reads on)."""


def fail(msg: str) -> NoReturn:
    raise BitstreamError(msg)


class Cursor:
    """Reads `data` from `pos` up to `end` (a segment's payload ends before the file does)."""

    def __init__(self, data: bytes, end: int, pos: int = 0) -> None:
        self.data = data
        self.pos = pos
        self.end = end

    def unpack(self, st: struct.Struct, what: str) -> tuple:
        if self.pos + st.size > self.end:
            if self.end == len(self.data) and what in TABLE_PARTS:
                raise Truncated(f"truncated: file ends inside the {what}")
            fail(f"truncated: file ends inside the {what}")
        vals = st.unpack_from(self.data, self.pos)
        self.pos += st.size
        return vals

    def fmt(self, fmt: str, what: str) -> tuple:
        return self.unpack(struct.Struct("<" + fmt), what)

    def left(self) -> int:
        return self.end - self.pos

    def words(self, n: int, decode: bool):
        """The next n little-endian u32 words as a uint32 array (None without `decode`); the caller
        has checked that they fit."""
        import numpy as np

        out = np.frombuffer(self.data, dtype="<u4", count=n, offset=self.pos).astype(np.uint32) if decode else None
        self.pos += 4 * n
        return out


class Tally(dict):
    """A sizes dict that accepts any key (a re-walk that does not report sizes)."""

    def __missing__(self, key):
        return 0
