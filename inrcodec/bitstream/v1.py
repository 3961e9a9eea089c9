"""Version 1 of the .slt layout: the header (fields.HEADER_V1), the segment table (TABLE_V1, one
ENTRY_V1 per segment), one payload per segment (each layer written and read by the file's method)
and a CRC32 of everything before it. A later version is a module beside this one, registered in
format.READERS; this one stays as it is so that version-1 files keep decoding."""

from __future__ import annotations

import io
import math
import struct
import zlib

from .cursor import Cursor, Tally, fail
from .fields import CRC_BYTES, ENTRY_V1, HEADER_V1, TABLE_V1, read_fields, write_fields
from .header import Header, header_from_values, header_values, validate_header
from .limits import MAX_FILE_WEIGHTS

VERSION = 1
_CRC = struct.Struct("<I")


def _method(header: Header):
    from .. import methods

    return methods.get(header.method)


def header_bytes(header: Header) -> bytes:
    return write_fields(HEADER_V1, header_values(header, VERSION))


def payload_bytes(header: Header, index: int, layers: list) -> bytes:
    """One segment's payload: its layers in the network's order, each written by the method."""
    shapes = header.network.layer_shapes()
    if len(layers) != len(shapes):
        raise ValueError(f"segment {index} has {len(layers)} layers, the network has {len(shapes)}")
    method = _method(header)
    out = bytearray()
    for (name, shape), layer in zip(shapes, layers):
        out += method.write_layer(header, f"segment {index} layer {name}", shape, layer)
    if len(out) >= 2**32:
        raise ValueError(f"segment {index}: payload of {len(out)} bytes is too large")
    return bytes(out)


def assemble(header: Header, entries: list[tuple[int, int, int, bytes]]) -> bytes:
    """The file of a validated header and its segments, in order: (first frame, frame count, seed,
    payload bytes) each."""
    out = io.BytesIO()
    write(out, header, [(first, count, seed, len(p)) for first, count, seed, p in entries], (p for *_, p in entries))
    return out.getvalue()


def write(f, header: Header, table: list[tuple[int, int, int, int]], payloads) -> int:
    """Stream the file into `f`: the header, the segment table (first frame, frame count, seed,
    payload length), the payloads as `payloads` yields them (each of its table's length) and the
    CRC, computed on the way; returns the bytes written. Nothing is held but one payload."""
    crc, written = 0, 0

    def put(b: bytes) -> None:
        nonlocal crc, written
        crc = zlib.crc32(b, crc)
        f.write(b)
        written += len(b)

    put(header_bytes(header))
    put(write_fields(TABLE_V1, {"segments": len(table)}))
    for first, count, seed, length in table:
        put(write_fields(ENTRY_V1, {"first_frame": first, "frame_count": count, "seed": seed, "payload_bytes": length}))
    for (_, _, _, length), payload in zip(table, payloads, strict=True):
        if len(payload) != length:
            raise ValueError(f"a payload of {len(payload)} bytes where the segment table says {length}")
        put(payload)
    f.write(_CRC.pack(crc))
    return written + _CRC.size


def front(data: bytes) -> tuple[dict, list[tuple[int, int, int, int]], int, int]:
    """The header's field values, the segment table, the offset of the first payload and the file
    length they imply; raises Truncated when `data` ends before the segment table does."""
    cur = Cursor(data, len(data))
    values = read_fields(cur, HEADER_V1)
    (n_seg,) = cur.fmt("H", "segment table")
    table = [tuple(read_fields(cur, ENTRY_V1).values()) for _ in range(n_seg)]
    expected = cur.pos + sum(t[3] for t in table) + CRC_BYTES
    return values, table, cur.pos, expected


def parse(data: bytes) -> tuple[Header, list[tuple[int, int, int, int]], int]:
    """Parse and validate everything but the payloads: structure and lengths, the CRC, then every
    field. Returns the header, the segment table (first_frame, frame_count, seed, payload length)
    and the offset of the first payload."""
    from .header import validate_segment_table

    values, table, payload_start, expected = front(data)
    if len(data) < expected:
        fail(f"truncated: file has {len(data)} bytes, its segment table needs {expected}")
    if len(data) > expected:
        fail(f"trailing garbage: {len(data) - expected} bytes after the end of the file")
    (crc,) = _CRC.unpack_from(data, len(data) - 4)
    if zlib.crc32(memoryview(data)[:-4]) != crc:
        fail("CRC mismatch: file is corrupt")
    header = header_from_values(values)
    validate_header(header)
    validate_segment_table(header.frames, [(t[0], t[1]) for t in table])
    weights = header.network.num_weights() * len(table)
    if weights > MAX_FILE_WEIGHTS:
        fail(f"file holds {weights} {_method(header).coded_weights}, more than {MAX_FILE_WEIGHTS}")
    return header, table, payload_start


def read_payload(data: bytes, header: Header, i: int, pos: int, length: int, sizes: dict | None,
                 decode: bool) -> list:
    """Walk (and with `decode`, entropy-decode) segment i's payload at `pos`, adding its sections
    to `sizes` (when given); without `decode` the layers come back as None."""
    sizes = sizes if sizes is not None else Tally()
    method = _method(header)
    cur = Cursor(data, pos + length, pos)
    layers = [method.read_layer(cur, header, f"segment {i} layer {name}", name, math.prod(shape), sizes, decode)
              for name, shape in header.network.layer_shapes()]
    if cur.pos != cur.end:
        fail(f"segment {i}: payload length {length} does not match its contents ({cur.pos - pos} bytes)")
    return layers


def size_sections(header: Header, segments: int) -> dict[str, int]:
    """The size breakdown's sections before any payload is walked: the header, the segment table
    and the method's payload sections at zero."""
    head = len(header_bytes(header))
    table = struct.calcsize("<H") + sum(f.size for f in ENTRY_V1) * segments
    return {"header": head, "segment_table": table, **_method(header).sections(header)}
