"""The .slt bitstream (format version 1): see format.py and docs/bitstream.md."""

from .format import (
    GENERATORS,
    MATRICES,
    METHODS,
    PIX_FMTS,
    SUPPORTED_METHODS,
    VERSION,
    Header,
    LayerPayload,
    Segment,
    read_header,
    read_slt,
    to_float32,
    validate_header,
    write_slt,
)

__all__ = [
    "GENERATORS",
    "MATRICES",
    "METHODS",
    "PIX_FMTS",
    "SUPPORTED_METHODS",
    "VERSION",
    "Header",
    "LayerPayload",
    "Segment",
    "read_header",
    "read_slt",
    "to_float32",
    "validate_header",
    "write_slt",
]
