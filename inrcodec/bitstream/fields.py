"""The header and the segment table of an .slt file, declared once: each field's name, struct
type, place, array length and plain limits. The declarations drive the writer, the reader, the
range checks and the size breakdown of `info`; docs/bitstream.md is their prose. A new field is one
line here (in a new version's layout, so old files keep reading with theirs) plus its mapping to
the Header in header.py.

The enumerations (id = index, fixed forever: an id never changes meaning) live here too; the
methods' ids come from the registry (inrcodec/methods), the colour matrices' from video/clip.py.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from ..video.clip import MATRICES  # noqa: F401  the colour matrices the pipeline converts; id = index (append only)
from . import limits as L
from .cursor import Cursor, fail

MAGIC = b"SLTv"
GENERATORS = ("pcg64-sign-v1",)  # generator id = index
PIX_FMTS = ("yuv420p",)  # pix_fmt id = index
FLAG_FULL_RANGE = 1


@dataclass(frozen=True)
class Field:
    name: str
    code: str  # struct code of one value (little-endian)
    part: str  # "header", "network config" or "segment table": what a truncation message names
    count: Callable[[dict], int] | None = None  # arrays: their length from the fields before them
    max_count: int = 1  # arrays: the most values the count field can ask for
    label: str | None = None  # plain range check: "{label} {value} outside {lo}..{hi}"
    lo: int | None = None
    hi: int | None = None

    @property
    def size(self) -> int:
        return struct.calcsize("<" + self.code)


def _k(v: dict) -> int:
    return v["k"]


def _blocks(v: dict) -> int:
    return v["n_blocks"]


def _channels(v: dict) -> int:
    return v["n_blocks"] + 1


HEADER_V1 = (
    Field("magic", "4s", "header"),
    Field("version", "B", "header"),
    Field("method", "B", "header"),  # methods.REGISTRY id
    Field("generator", "B", "header"),  # GENERATORS
    Field("pix_fmt", "B", "header"),  # PIX_FMTS
    Field("matrix", "B", "header"),  # MATRICES
    Field("flags", "B", "header"),  # bit 0: full range
    Field("width", "H", "header"),
    Field("height", "H", "header"),
    Field("frames", "I", "header", label="frame count", lo=1, hi=L.MAX_FRAMES),
    Field("fps_num", "I", "header"),
    Field("fps_den", "I", "header"),
    Field("k", "B", "header"),  # number of sparsities
    Field("sparsity", "f", "header", count=_k, max_count=255),
    Field("pe_levels", "H", "network config", label="network pe_levels", lo=1, hi=L.MAX_PE_LEVELS),
    Field("pe_base", "f", "network config"),
    Field("stem_hidden", "I", "network config", label="network stem_hidden", lo=1, hi=L.MAX_WIDTH),
    Field("grid_h", "H", "network config"),
    Field("grid_w", "H", "network config"),
    Field("kernel", "B", "network config"),
    Field("n_blocks", "B", "network config"),
    Field("strides", "B", "network config", count=_blocks, max_count=255),
    Field("channels", "I", "network config", count=_channels, max_count=256),
)
HEADER_COMMON = HEADER_V1[:14]  # magic .. sparsity: every version's first fields
NERV_FIELDS = HEADER_V1[14:]  # the NeRV network config (pe_levels .. channels)
# Version 2, method slt-grid: its network config in place of NeRV's (model/grid.py, GridConfig).
GRID_V2 = (
    Field("grid_first", "B", "network config", label="network grid_first", lo=0, hi=L.MAX_GRID_FIRST),
    Field("grid_levels", "B", "network config", label="network grid_levels", lo=1, hi=L.MAX_GRID_LEVELS),
    Field("grid_channels", "B", "network config", label="network grid_channels", lo=1, hi=L.MAX_GRID_CHANNELS),
    Field("hidden", "H", "network config", label="network hidden", lo=1, hi=L.MAX_GRID_HIDDEN),
    Field("synth_layers", "B", "network config", label="network synth_layers", lo=0, hi=L.MAX_GRID_LAYERS),
    Field("synth_kernel", "B", "network config", label="network synth_kernel", lo=1, hi=L.MAX_KERNEL),
    Field("grid_shared", "B", "network config", label="network grid_shared", lo=0, hi=L.MAX_GRID_LEVELS),
)
# Version 3, method slt-grid: version 2's fields plus grid_residual (1: each per-frame grid after a
# segment's first frame is coded as its difference from the frame before; model/grid.py).
GRID_V3 = GRID_V2 + (
    Field("grid_residual", "B", "network config", label="network grid_residual", lo=0, hi=1),
)
# Version 4, method slt-grid: version 3's fields plus grid_context (1: every law zero-inflated, a
# residual grid's differences coded under laws chosen by temporal context; methods/grid.py).
GRID_V4 = GRID_V3 + (
    Field("grid_context", "B", "network config", label="network grid_context", lo=0, hi=1),
)
# Version 5, method slt-grid: version 4's fields plus grid_motion (1: each segment's payload holds a
# motion block, and a segment with frame offsets holds its grids as a canvas; methods/grid.py, motion.py).
GRID_V5 = GRID_V4 + (
    Field("grid_motion", "B", "network config", label="network grid_motion", lo=0, hi=1),
)
CONFIG_FIELDS = {"nerv": NERV_FIELDS, "grid": GRID_V2}  # version 2: a method's config_fields -> its header fields
CONFIG_FIELDS_V3 = {"nerv": NERV_FIELDS, "grid": GRID_V3}  # version 3: the same, slt-grid's with grid_residual
CONFIG_FIELDS_V4 = {"nerv": NERV_FIELDS, "grid": GRID_V4}  # version 4: and grid_context
CONFIG_FIELDS_V5 = {"nerv": NERV_FIELDS, "grid": GRID_V5}  # version 5: and grid_motion
TABLE_V1 = (Field("segments", "H", "segment table"),)
ENTRY_V1 = (
    Field("first_frame", "I", "segment table"),
    Field("frame_count", "I", "segment table"),
    Field("seed", "Q", "segment table"),
    Field("payload_bytes", "I", "segment table"),
)
CRC_BYTES = 4


def read_fields(cur: Cursor, fields: tuple[Field, ...]) -> dict:
    """The fields' values in order (arrays as tuples); Truncated when the bytes end among them."""
    values: dict = {}
    for f in fields:
        if f.count is None:
            (values[f.name],) = cur.fmt(f.code, f.part)
        else:
            values[f.name] = cur.fmt(f"{f.count(values)}{f.code}", f.part)
    return values


def write_fields(fields: tuple[Field, ...], values: dict) -> bytes:
    out = bytearray()
    for f in fields:
        v = values[f.name]
        out += struct.pack(f"<{len(v)}{f.code}", *v) if f.count is not None else struct.pack("<" + f.code, v)
    return bytes(out)


def check_range(f: Field, value) -> None:
    """A field's plain range check: "{label} {value} outside {lo}..{hi}"."""
    if not f.lo <= value <= f.hi:
        fail(f"{f.label} {value} outside {f.lo}..{f.hi}")


def check_ranges(fields: tuple[Field, ...], values: dict) -> None:
    """The plain range checks the declarations carry."""
    for f in fields:
        if f.label is not None:
            check_range(f, values[f.name])


def max_bytes(fields: tuple[Field, ...]) -> int:
    """The most bytes the fields can take (every array at its longest)."""
    return sum(f.size * (f.max_count if f.count is not None else 1) for f in fields)


def lookup(table: tuple[str, ...], idx: int, what: str) -> str:
    if idx >= len(table):
        fail(f"unknown {what} id {idx}")
    return table[idx]
