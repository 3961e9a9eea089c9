"""The .slt bitstream: fields.py declares the header and the segment table, header.py validates,
v1.py is the version-1 layout, format.py writes the current version and reads every known one;
docs/bitstream.md is the prose."""

from .format import (
    GENERATORS,
    MATRICES,
    PIX_FMTS,
    READERS,
    VERSION,
    Header,
    Segment,
    assemble,
    payload_bytes,
    read_header,
    read_slt,
    to_float32,
    validate_header,
    write_file,
    write_slt,
)


def __getattr__(name: str):
    """Names that moved to inrcodec.methods (METHODS, LayerPayload, ...), still importable from here."""
    from . import format

    return getattr(format, name)


__all__ = ["GENERATORS", "MATRICES", "PIX_FMTS", "READERS", "VERSION", "Header", "Segment", "assemble",
           "payload_bytes", "read_header", "read_slt", "to_float32", "validate_header", "write_file", "write_slt"]
