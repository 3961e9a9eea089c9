"""The .slt file: writing the current version, reading any version this decoder knows. The byte
layout and every limit are documented in docs/bitstream.md; the fields are declared in fields.py,
the current layout is v1.py, and each method reads and writes its own layers (inrcodec/methods).

Reading validates structure and lengths, then the CRC, then every field against the decoder's
limits and what they imply together (the cost limits of limits.py), all before allocating anything
whose size comes from the file; every failure is a one-line BitstreamError. open_slt validates
every segment but leaves its entropy decoding to the first read of its layers; read_slt decodes
all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import v1, v2, v3, v4, v5
from .cursor import Truncated, fail
from .fields import GENERATORS, MAGIC, MATRICES, PIX_FMTS
from .header import Header, to_float32, validate_header, validate_segment_table

VERSION = 5  # the version this library writes
READERS = {1: v1, 2: v2, 3: v3, 4: v4, 5: v5}  # version -> its layout module (front, parse, read_payload, size_sections)
_WRITER = READERS[VERSION]


@dataclass
class Segment:
    first_frame: int
    frame_count: int
    seed: int  # uint64 (the trained methods store their initialisation seed; decoding ignores it)
    layers: list  # the method's payload layers (methods.supermask.LayerPayload, methods.trained.QuantLayer)


def __getattr__(name: str):
    """Names that moved to inrcodec.methods, still importable from here."""
    if name in ("METHODS", "SUPPORTED_METHODS"):
        from .. import methods

        return methods.names()
    if name == "LayerPayload":
        from ..methods.supermask import LayerPayload

        return LayerPayload
    if name == "QuantLayer":
        from ..methods.trained import QuantLayer

        return QuantLayer
    raise AttributeError(name)


# --------------------------------------------------------------------------------------------
# Writing


def header_bytes(header: Header) -> bytes:
    """The header's bytes in the current version (no checks)."""
    return _WRITER.header_bytes(header)


def check_header_for_writing(header: Header) -> None:
    validate_header(header)
    pe_base = getattr(header.network, "pe_base", None)  # NeRV configs only
    if pe_base is not None and to_float32(pe_base) != pe_base:
        raise ValueError(f"network pe_base {header.network.pe_base!r} is not exactly representable as float32")


def payload_bytes(header: Header, index: int, layers: list, frames: int | None = None) -> bytes:
    """One segment's payload bytes (ValueError for malformed layers): what a segment of `frames`
    frames fitted anywhere contributes to the file."""
    return _WRITER.payload_bytes(header, index, layers, frames)


def segment_layers(header: Header, index: int, payload: bytes, frames: int) -> list:
    """The decoded layers of one segment's payload (a segment of `frames` frames) in the current
    version (what a segment fitted elsewhere, or waiting in a spool, decodes to), validated as the
    reader validates."""
    payload = bytes(payload)
    return _WRITER.read_payload(payload, header, index, 0, len(payload), None, decode=True, frames=frames)


def assemble(header: Header, entries: list[tuple[int, int, int, bytes]]) -> bytes:
    """The .slt bytes of a header and its segments' (first frame, frame count, seed, payload) in
    frame order; everything is validated as the reader will."""
    check_header_for_writing(header)
    validate_segment_table(header.frames, [(first, count) for first, count, _, _ in entries])
    for i, (_, _, seed, _) in enumerate(entries):
        if not 0 <= seed < 2**64:
            raise ValueError(f"segment {i}: seed {seed} is not a uint64")
    return _WRITER.assemble(header, entries)


def write_file(f, header: Header, table: list[tuple[int, int, int, int]], payloads) -> int:
    """Stream a file into the binary file `f` from the segment table (first frame, frame count,
    seed, payload length) and an iterable of the payloads in that order (e.g. read one by one from
    a spool): a long video's file is never whole in memory. Validated as `assemble`."""
    check_header_for_writing(header)
    validate_segment_table(header.frames, [(first, count) for first, count, _, _ in table])
    for i, (_, _, seed, _) in enumerate(table):
        if not 0 <= seed < 2**64:
            raise ValueError(f"segment {i}: seed {seed} is not a uint64")
    return _WRITER.write(f, header, table, payloads)


def write_slt(header: Header, segments: list[Segment]) -> bytes:
    """Serialise a header and its segments to .slt bytes (the current format version).

    Header fields beyond the format or the decoder's limits raise BitstreamError (the writer
    never produces a file the reader refuses); malformed payloads (wrong payload type for the
    method, wrong shapes, dtypes, levels outside 0..K, non-finite scales, quantised values outside
    the bits' range, a step that is not finite and positive) raise ValueError. Levels and values may
    be given flat (n,) or in the weight's shape (flattened in C order), with any integer dtype; the
    reader returns uint8 levels / int16 values, flat (n,). ``pe_base`` must be exactly representable
    as float32, since the decoder rebuilds the network from the stored value.
    """
    check_header_for_writing(header)
    validate_segment_table(header.frames, [(s.first_frame, s.frame_count) for s in segments])
    for i, seg in enumerate(segments):
        if not 0 <= seg.seed < 2**64:
            raise ValueError(f"segment {i}: seed {seg.seed} is not a uint64")
    entries = [(s.first_frame, s.frame_count, s.seed, payload_bytes(header, i, s.layers, s.frame_count))
               for i, s in enumerate(segments)]
    return _WRITER.assemble(header, entries)


# --------------------------------------------------------------------------------------------
# Reading


def check_magic(data: bytes) -> None:
    """The first bytes of a file: the magic number and a format version this decoder reads."""
    if len(data) < len(MAGIC):
        if data and MAGIC.startswith(data):
            fail("truncated: file ends inside the magic number")
        fail("not an .slt file (too short)")
    if data[:4] != MAGIC:
        fail("not an .slt file (wrong magic number)")
    if len(data) < 5:
        fail("truncated: file ends before the format version")
    if data[4] not in READERS:
        known = ", ".join(str(v) for v in READERS)
        fail(f"unsupported .slt format version {data[4]} (this decoder reads version {known})")


def _layout(data: bytes):
    check_magic(data)
    return READERS[data[4]]


def file_size(prefix: bytes) -> int | None:
    """The length a file must have, from its first bytes (the header and the segment table); None
    when `prefix` ends before them. Bad magic or version raise BitstreamError."""
    try:
        return _layout(prefix).front(prefix)[3]
    except Truncated:
        return None


def parse(data: bytes):
    """Validate everything but the payloads: (header, segment table, offset of the first payload)."""
    data = bytes(data)
    return _layout(data).parse(data)


def read_header(data: bytes) -> Header:
    """Validate a whole .slt file (structure, CRC, limits) but decode no payload; return the header."""
    return parse(data)[0]


class LazySegment:
    """A segment whose payload is validated (structure, counts, scales, lengths) but whose levels or
    values are entropy-decoded only when ``layers`` is read, each time it is read (nothing kept)."""

    def __init__(self, header: Header, data: bytes, index: int, entry: tuple[int, int, int, int], pos: int) -> None:
        self.first_frame, self.frame_count, self.seed, self.length = entry
        self._header, self._data, self._index, self._pos = header, data, index, pos

    @property
    def layers(self) -> list:
        return READERS[self._header.version].read_payload(self._data, self._header, self._index, self._pos,
                                                          self.length, None, decode=True, frames=self.frame_count)


def open_slt(data: bytes) -> tuple[Header, list[LazySegment], dict[str, int]]:
    """Like read_slt, but the levels or values are not entropy-decoded: each segment decodes them
    when its ``layers`` are read (``info`` and a frame range read only what they need). Everything
    else, the cost limits included, is validated here."""
    data = bytes(data)
    layout = _layout(data)
    header, table, pos = layout.parse(data)
    sizes = layout.size_sections(header, len(table))
    segments = []
    for i, entry in enumerate(table):
        layout.read_payload(data, header, i, pos, entry[3], sizes, decode=False, frames=entry[1])
        segments.append(LazySegment(header, data, i, entry, pos))
        pos += entry[3]
    sizes["crc"] = 4
    assert sum(sizes.values()) == len(data)
    return header, segments, sizes


def read_slt(data: bytes) -> tuple[Header, list[Segment], dict[str, int]]:
    """Parse and fully validate .slt bytes. Returns the header, the segments with decoded payloads
    (the method's layers: LayerPayload for the supermask methods, QuantLayer for dense and sparse),
    and a size breakdown (section -> bytes) whose values add up to ``len(data)``: "header",
    "segment_table", the method's sections (supermask methods: "scales", "counts" and one
    "masks/<layer>" per layer; dense and sparse: "quant", "counts", for sparse one "masks/<layer>"
    per layer (the zero pattern), and one "values/<layer>" per layer), and "crc"."""
    header, lazy, sizes = open_slt(data)
    segments = [Segment(first_frame=s.first_frame, frame_count=s.frame_count, seed=s.seed, layers=s.layers)
                for s in lazy]
    return header, segments, sizes


__all__ = ["GENERATORS", "MAGIC", "MATRICES", "PIX_FMTS", "READERS", "VERSION", "Header", "LazySegment", "Segment",
           "assemble", "check_magic", "file_size", "write_file", "header_bytes", "open_slt", "parse", "payload_bytes",
           "read_header", "read_slt", "segment_layers", "to_float32", "validate_header", "write_slt"]
