"""Version 1 of the .slt layout: the header (fields.HEADER_V1), the segment table (TABLE_V1, one
ENTRY_V1 per segment), one payload per segment (written and read by the file's method) and a
CRC32 of everything before it. A later version is a module beside this one (v2.py: a `Layout`
whose header differs), registered in format.READERS; version 1's bytes stay as they are so that
version-1 files keep decoding."""

from __future__ import annotations

import io
import struct
import zlib

from .cursor import Cursor, Tally, fail
from .fields import CRC_BYTES, ENTRY_V1, HEADER_V1, TABLE_V1, read_fields, write_fields
from .header import Header, header_from_values, header_values, validate_header
from .limits import MAX_FILE_WEIGHTS

_CRC = struct.Struct("<I")


def _method(header: Header):
    from .. import methods

    return methods.get(header.method)


class Layout:
    """A version's layout. Everything after the header is the same in versions 1 and 2; a
    version's header is `header_fields` (what it writes) and `read_header` (what it reads)."""

    version = 1

    def header_fields(self, header: Header):
        return HEADER_V1

    def read_header(self, cur: Cursor) -> dict:
        return read_fields(cur, HEADER_V1)

    def header_bytes(self, header: Header) -> bytes:
        return write_fields(self.header_fields(header), header_values(header, self.version))

    def payload_bytes(self, header: Header, index: int, layers: list, frames: int | None = None) -> bytes:
        """One segment's payload, written by the method (Method.write_payload)."""
        out = _method(header).write_payload(header, index, layers, frames)
        if len(out) >= 2**32:
            raise ValueError(f"segment {index}: payload of {len(out)} bytes is too large")
        return bytes(out)

    def assemble(self, header: Header, entries: list[tuple[int, int, int, bytes]]) -> bytes:
        """The file of a validated header and its segments, in order: (first frame, frame count,
        seed, payload bytes) each."""
        out = io.BytesIO()
        self.write(out, header, [(first, count, seed, len(p)) for first, count, seed, p in entries],
                   (p for *_, p in entries))
        return out.getvalue()

    def write(self, f, header: Header, table: list[tuple[int, int, int, int]], payloads) -> int:
        """Stream the file into `f`: the header, the segment table (first frame, frame count, seed,
        payload length), the payloads as `payloads` yields them (each of its table's length) and
        the CRC, computed on the way; returns the bytes written. Nothing is held but one payload."""
        crc, written = 0, 0

        def put(b: bytes) -> None:
            nonlocal crc, written
            crc = zlib.crc32(b, crc)
            f.write(b)
            written += len(b)

        put(self.header_bytes(header))
        put(write_fields(TABLE_V1, {"segments": len(table)}))
        for first, count, seed, length in table:
            put(write_fields(ENTRY_V1, {"first_frame": first, "frame_count": count, "seed": seed,
                                        "payload_bytes": length}))
        for (_, _, _, length), payload in zip(table, payloads, strict=True):
            if len(payload) != length:
                raise ValueError(f"a payload of {len(payload)} bytes where the segment table says {length}")
            put(payload)
        f.write(_CRC.pack(crc))
        return written + _CRC.size

    def front(self, data: bytes) -> tuple[dict, list[tuple[int, int, int, int]], int, int]:
        """The header's field values, the segment table, the offset of the first payload and the
        file length they imply; raises Truncated when `data` ends before the segment table does."""
        cur = Cursor(data, len(data))
        values = self.read_header(cur)
        (n_seg,) = cur.fmt("H", "segment table")
        table = [tuple(read_fields(cur, ENTRY_V1).values()) for _ in range(n_seg)]
        expected = cur.pos + sum(t[3] for t in table) + CRC_BYTES
        return values, table, cur.pos, expected

    def parse(self, data: bytes) -> tuple[Header, list[tuple[int, int, int, int]], int]:
        """Parse and validate everything but the payloads: structure and lengths, the CRC, then
        every field. Returns the header, the segment table (first_frame, frame_count, seed, payload
        length) and the offset of the first payload."""
        from .header import validate_segment_table

        values, table, payload_start, expected = self.front(data)
        if len(data) < expected:
            fail(f"truncated: file has {len(data)} bytes, its segment table needs {expected}")
        if len(data) > expected:
            fail(f"trailing garbage: {len(data) - expected} bytes after the end of the file")
        (crc,) = _CRC.unpack_from(data, len(data) - 4)
        if zlib.crc32(memoryview(data)[:-4]) != crc:
            fail("CRC mismatch: file is corrupt")
        header = header_from_values(values)
        if _method(header).min_version > self.version:
            fail(f"method {header.method!r} needs format version {_method(header).min_version}, "
                 f"the file is version {self.version}")
        validate_header(header)
        validate_segment_table(header.frames, [(t[0], t[1]) for t in table])
        weights = header.network.num_weights() * len(table)
        if weights > MAX_FILE_WEIGHTS:
            fail(f"file holds {weights} {_method(header).coded_weights}, more than {MAX_FILE_WEIGHTS}")
        return header, table, payload_start

    def read_payload(self, data: bytes, header: Header, i: int, pos: int, length: int, sizes: dict | None,
                     decode: bool, frames: int = 0) -> list:
        """Walk (and with `decode`, entropy-decode) segment i's payload at `pos` (a segment of
        `frames` frames), adding its sections to `sizes` (when given); without `decode` the layers
        come back as None."""
        sizes = sizes if sizes is not None else Tally()
        cur = Cursor(data, pos + length, pos)
        layers = _method(header).read_payload(cur, header, i, frames, sizes, decode)
        if cur.pos != cur.end:
            fail(f"segment {i}: payload length {length} does not match its contents ({cur.pos - pos} bytes)")
        return layers

    def size_sections(self, header: Header, segments: int) -> dict[str, int]:
        """The size breakdown's sections before any payload is walked: the header, the segment
        table and the method's payload sections at zero."""
        head = len(self.header_bytes(header))
        table = struct.calcsize("<H") + sum(f.size for f in ENTRY_V1) * segments
        return {"header": head, "segment_table": table, **_method(header).sections(header)}


LAYOUT = Layout()
VERSION = LAYOUT.version
header_bytes, payload_bytes, assemble, write = LAYOUT.header_bytes, LAYOUT.payload_bytes, LAYOUT.assemble, LAYOUT.write
front, parse, read_payload, size_sections = LAYOUT.front, LAYOUT.parse, LAYOUT.read_payload, LAYOUT.size_sections
