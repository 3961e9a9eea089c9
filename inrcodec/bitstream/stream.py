"""Reading an .slt file or stream by its own sizes: the magic number and version from the first
bytes, then the header and segment table, then exactly the bytes they describe. Anything that is
not an .slt file is refused after a few bytes (`decode /dev/zero`), a stream longer or shorter than
its header says is refused with a message, and nothing beyond MAX_FILE_BYTES is ever read."""

from __future__ import annotations

from typing import BinaryIO

from ..errors import BitstreamError
from .fields import ENTRY_V1, HEADER_V1, TABLE_V1, max_bytes
from .format import check_magic, file_size
from .limits import MAX_SEGMENTS

MAX_FILE_BYTES = 1 << 32  # 4 GiB: a segment's payload length is a u32; levels of 2^30 weights fit
_HEAD_MAX = max_bytes(HEADER_V1) + max_bytes(TABLE_V1) + MAX_SEGMENTS * max_bytes(ENTRY_V1)  # the longest header + table
_CHUNK = 1 << 16


def _read_upto(f: BinaryIO, n: int) -> bytes:
    """Up to n bytes (fewer only at the end of the stream), in bounded reads."""
    parts, got = [], 0
    while got < n:
        b = f.read(min(n - got, 1 << 24))
        if not b:
            break
        parts.append(b)
        got += len(b)
    return b"".join(parts)


def read_slt_bytes(f: BinaryIO) -> bytes:
    """The bytes of one .slt file from a binary stream (BitstreamError when they are not one)."""
    data = _read_upto(f, 5)
    check_magic(data)
    size = None
    while size is None:
        more = _read_upto(f, min(_CHUNK, _HEAD_MAX - len(data) + 1))
        data += more
        size = file_size(data)
        if size is None and (not more or len(data) > _HEAD_MAX):
            raise BitstreamError(f"truncated: file of {len(data)} bytes ends inside its header or segment table")
    if size > MAX_FILE_BYTES:
        raise BitstreamError(f"segment table describes a file of {size} bytes, more than {MAX_FILE_BYTES}")
    if len(data) < size:
        data += _read_upto(f, size - len(data))
        if len(data) < size:
            raise BitstreamError(f"truncated: file has {len(data)} bytes, its segment table needs {size}")
    extra = len(data) - size if len(data) > size else len(f.read(1))
    if extra:
        raise BitstreamError(f"trailing garbage: more bytes after the {size} that the segment table describes")
    return data
