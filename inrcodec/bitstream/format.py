"""The .slt file format, version 1: reader and writer. The byte layout and every limit are
documented in docs/bitstream.md; keep the two in step.

Everything is little-endian and parsed with ``struct``. A file holds a header (frame geometry,
colour description, method, weight generator, sparsity schedule and the network configuration),
a segment table, one payload per segment and a CRC32 of everything before it. A payload holds, per
layer, for the supermask methods (slt, slt-fixed, supermask): K scales, the K+1 level counts that
parameterise the layer's categorical model, and the ANS-coded levels; for the dense baseline: the
quantisation step and the histogram-modelled, ANS-coded quantised weights; for the sparse baseline
the same plus the ANS-coded zero / non-zero pattern, with only the non-zero values coded.

Reading validates structure and lengths, then the CRC, then every field against the decoder's
limits and what they imply together (the cost limits of limits.py), all before allocating anything
whose size comes from the file; every failure is a one-line BitstreamError. open_slt validates
every segment but leaves its entropy decoding to the first read of its layers; read_slt decodes
all of them.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..entropy.levels import decode_levels, encode_levels, level_counts
from ..entropy.values import MAX_BITS, MIN_BITS, decode_values, encode_values, qmax, value_histogram
from ..errors import BitstreamError
from ..model.config import NetworkConfig
from .limits import MAX_WEIGHT, check_cost, quant_peak, scale_peak

MAGIC = b"SLTv"
VERSION = 1

METHODS = ("slt", "slt-fixed", "supermask", "dense", "sparse")  # method id = index
SUPPORTED_METHODS = ("slt", "slt-fixed", "supermask", "dense", "sparse")
SUPERMASK_METHODS = ("slt", "slt-fixed", "supermask")  # payload: K scales + levels per layer
QUANT_METHODS = ("dense", "sparse")  # payload: quantised weights per layer (sparse: + zero pattern)
GENERATORS = ("pcg64-sign-v1",)  # generator id = index
PIX_FMTS = ("yuv420p",)  # pix_fmt id = index
MATRICES = ("bt601", "bt709")  # matrix id = index

# Decoder limits (docs/bitstream.md, "Limits").
MIN_DIM = 2
MAX_DIM = 16384  # width and height: even, MIN_DIM..MAX_DIM
MAX_FRAMES = 10_000_000
MAX_K = 8  # number of non-zero mask levels (len(sparsity))
MAX_SEGMENTS = 65535
MAX_LAYER_WEIGHTS = 2**26  # weights of one masked layer (NeRV-L's largest layer has ~6 M)
MAX_TOTAL_WEIGHTS = 2**27  # weights of the whole network: at most 512 MiB of float32 when decoding
MAX_FILE_WEIGHTS = 2**30  # network weights x number of segments (levels held by a decoded file)
MAX_PE_LEVELS = 256
MAX_PE_BASE = 64.0  # pe_base must be finite and in (0, MAX_PE_BASE]
MAX_WIDTH = 65536  # stem_hidden and every channels entry: 1..MAX_WIDTH
MAX_GRID = 4096  # grid_h, grid_w: 1..MAX_GRID
MAX_KERNEL = 15  # kernel: odd, 1..MAX_KERNEL
MAX_BLOCKS = 16  # n_blocks: 0..MAX_BLOCKS
MAX_STRIDE = 8  # each stride: 1..MAX_STRIDE
MAX_OUT_DIM = 2 * MAX_DIM  # out_h, out_w (network output before cropping)

_FIXED = struct.Struct("<4sBBBBBBHHIIIB")  # magic .. K
_NET = struct.Struct("<HfIHHBB")  # pe_levels .. n_blocks
_SEG = struct.Struct("<IIQI")  # first_frame, frame_count, seed, payload length
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_QUANT = struct.Struct("<Bf")  # bits, step
_MASK = struct.Struct("<III")  # zeros, non-zeros, coded words
_VALUES = struct.Struct("<hH")  # lo, number of histogram bins


@dataclass
class LayerPayload:
    scales: np.ndarray  # float32 (K,): the per-level scales alpha_1..alpha_K
    levels: np.ndarray  # uint8 (n,): level 0..K per weight, C-order flattening of the weight shape

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LayerPayload):
            return NotImplemented
        return (
            np.asarray(self.scales).shape == np.asarray(other.scales).shape
            and np.array_equal(np.asarray(self.scales, np.float32), np.asarray(other.scales, np.float32))
            and np.array_equal(np.asarray(self.levels), np.asarray(other.levels))
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass
class QuantLayer:
    """A layer of the dense or sparse baseline: weight = float32(values) * float32(step)."""

    step: float  # quantisation step, finite and > 0 (stored as f32)
    values: np.ndarray  # integers in [-qmax(bits), qmax(bits)], C-order flattening of the weight shape
    bits: int = 8  # quantisation bits (2..16)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QuantLayer):
            return NotImplemented
        return (
            self.bits == other.bits
            and to_float32(self.step) == to_float32(other.step)
            and np.array_equal(np.asarray(self.values).reshape(-1), np.asarray(other.values).reshape(-1))
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass
class Segment:
    first_frame: int
    frame_count: int
    seed: int  # uint64 (the dense and sparse baselines store their initialisation seed; decoding ignores it)
    layers: list[LayerPayload] | list[QuantLayer]


@dataclass
class Header:
    width: int
    height: int
    frames: int
    fps: Fraction  # stored as uint32 numerator / denominator
    pix_fmt: str = "yuv420p"
    matrix: str = "bt601"
    full_range: bool = False
    method: str = "slt"
    generator: str = "pcg64-sign-v1"
    # K increasing values in (0, 1), stored as f32. dense: none (K = 0); sparse: one, the target
    # fraction of pruned (zero) weights.
    sparsity: tuple[float, ...] = (0.5, 0.8, 0.92)
    network: NetworkConfig = field(kw_only=True)

    @property
    def num_levels(self) -> int:
        """K, the number of non-zero mask levels."""
        return len(self.sparsity)


def to_float32(x: float) -> float:
    """The python float of x rounded to float32: the value a reader gets back for an f32 field."""
    return float(np.float32(x))


# --------------------------------------------------------------------------------------------
# Validation shared by the writer and the reader


def _fail(msg: str) -> None:
    raise BitstreamError(msg)


def _validate_network(net: NetworkConfig, width: int, height: int) -> None:
    if not 1 <= net.pe_levels <= MAX_PE_LEVELS:
        _fail(f"network pe_levels {net.pe_levels} outside 1..{MAX_PE_LEVELS}")
    if not (math.isfinite(net.pe_base) and 0.0 < net.pe_base <= MAX_PE_BASE):
        _fail(f"network pe_base {net.pe_base} outside (0, {MAX_PE_BASE:g}]")
    if not 1 <= net.stem_hidden <= MAX_WIDTH:
        _fail(f"network stem_hidden {net.stem_hidden} outside 1..{MAX_WIDTH}")
    if not (1 <= net.grid_h <= MAX_GRID and 1 <= net.grid_w <= MAX_GRID):
        _fail(f"network grid {net.grid_h}x{net.grid_w} outside 1..{MAX_GRID}")
    if not (1 <= net.kernel <= MAX_KERNEL and net.kernel % 2 == 1):
        _fail(f"network kernel {net.kernel} is not odd in 1..{MAX_KERNEL}")
    if len(net.strides) > MAX_BLOCKS:
        _fail(f"network has {len(net.strides)} blocks, more than {MAX_BLOCKS}")
    if len(net.channels) != len(net.strides) + 1:
        _fail("network channels must have one more entry than strides")
    if any(not 1 <= s <= MAX_STRIDE for s in net.strides):
        _fail(f"network strides {tuple(net.strides)} outside 1..{MAX_STRIDE}")
    if any(not 1 <= c <= MAX_WIDTH for c in net.channels):
        _fail(f"network channels {tuple(net.channels)} outside 1..{MAX_WIDTH}")
    if not (height <= net.out_h <= MAX_OUT_DIM and width <= net.out_w <= MAX_OUT_DIM):
        _fail(
            f"network output {net.out_w}x{net.out_h} does not cover the {width}x{height} frame "
            f"within {MAX_OUT_DIM}x{MAX_OUT_DIM}"
        )
    total = 0
    for name, shape in net.layer_shapes():
        n = math.prod(shape)
        if n > MAX_LAYER_WEIGHTS:
            _fail(f"network layer {name} has {n} weights, more than {MAX_LAYER_WEIGHTS}")
        total += n
    if total > MAX_TOTAL_WEIGHTS:
        _fail(f"network has {total} weights, more than {MAX_TOTAL_WEIGHTS}")


def _check_scales(where: str, scales) -> None:
    if not scale_peak(scales) <= MAX_WEIGHT:
        _fail(f"{where}: scales {tuple(float(s) for s in np.asarray(scales, np.float32))} fold to weights "
              f"that are not finite or exceed {MAX_WEIGHT:g} in magnitude")


def validate_header(h: Header) -> None:
    """Check every header field against the format and the decoder's limits (BitstreamError)."""
    if h.method not in METHODS:
        _fail(f"unknown method {h.method!r}")
    if h.method not in SUPPORTED_METHODS:
        _fail(f"method {h.method!r} not supported by this decoder (format version {VERSION})")
    if h.generator not in GENERATORS:
        _fail(f"unknown weight generator {h.generator!r}")
    if h.pix_fmt not in PIX_FMTS:
        _fail(f"unknown pixel format {h.pix_fmt!r}")
    if h.matrix not in MATRICES:
        _fail(f"unknown colour matrix {h.matrix!r}")
    for name, v in (("width", h.width), ("height", h.height)):
        if not (MIN_DIM <= v <= MAX_DIM and v % 2 == 0):
            _fail(f"{name} {v} is not even in {MIN_DIM}..{MAX_DIM}")
    if not 1 <= h.frames <= MAX_FRAMES:
        _fail(f"frame count {h.frames} outside 1..{MAX_FRAMES}")
    fps = Fraction(h.fps)
    if fps <= 0 or fps.numerator >= 2**32 or fps.denominator >= 2**32:
        _fail(f"frame rate {fps} is not a positive ratio of 32-bit integers")
    k = len(h.sparsity)
    if h.method == "dense":
        if k != 0:
            _fail(f"method 'dense' stores no sparsities (K must be 0), got K={k}")
    elif h.method == "sparse":
        if k != 1:
            _fail(f"method 'sparse' stores one sparsity (the pruned fraction, K=1), got K={k}")
    elif not 1 <= k <= MAX_K:
        _fail(f"number of mask levels K={k} outside 1..{MAX_K}")
    sp = [to_float32(s) for s in h.sparsity]
    if not all(0.0 < s < 1.0 for s in sp) or any(b <= a for a, b in zip(sp, sp[1:])):
        _fail(f"sparsities {tuple(sp)} are not strictly increasing in (0, 1)")
    _validate_network(h.network, h.width, h.height)
    check_cost(h.method, h.network, h.width, h.height)


def _validate_segment_table(frames: int, table: list[tuple[int, int]]) -> None:
    if not 1 <= len(table) <= MAX_SEGMENTS:
        _fail(f"segment count {len(table)} outside 1..{MAX_SEGMENTS}")
    expect = 0
    for i, (first, count) in enumerate(table):
        if first != expect:
            _fail(f"segment {i} starts at frame {first}, expected {expect} (segments must be contiguous)")
        if count < 1:
            _fail(f"segment {i} has no frames")
        expect = first + count
    if expect != frames:
        _fail(f"segments cover {expect} frames, header says {frames}")


# --------------------------------------------------------------------------------------------
# Writer


def _header_bytes(h: Header) -> bytes:
    fps = Fraction(h.fps)
    net = h.network
    out = bytearray(
        _FIXED.pack(
            MAGIC,
            VERSION,
            METHODS.index(h.method),
            GENERATORS.index(h.generator),
            PIX_FMTS.index(h.pix_fmt),
            MATRICES.index(h.matrix),
            1 if h.full_range else 0,
            h.width,
            h.height,
            h.frames,
            fps.numerator,
            fps.denominator,
            len(h.sparsity),
        )
    )
    out += struct.pack(f"<{len(h.sparsity)}f", *h.sparsity)
    out += _NET.pack(
        net.pe_levels, net.pe_base, net.stem_hidden, net.grid_h, net.grid_w, net.kernel, len(net.strides)
    )
    out += struct.pack(f"<{len(net.strides)}B{len(net.channels)}I", *net.strides, *net.channels)
    return bytes(out)


def _flat_integers(array, shape: tuple[int, ...], what: str) -> np.ndarray:
    """An integer payload array given flat (n,) or in the weight's shape, returned flat."""
    a = np.asarray(array)
    n = math.prod(shape)
    if a.shape not in ((n,), tuple(shape)) or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{what} must be integers of shape ({n},) or {tuple(shape)}, got {a.dtype} {a.shape}")
    return a.reshape(-1)


def _quant_layer_bytes(method: str, where: str, shape: tuple[int, ...], layer: QuantLayer) -> bytes:
    if not isinstance(layer, QuantLayer):
        raise ValueError(f"{where}: method {method!r} needs QuantLayer payloads, got {type(layer).__name__}")
    bits = layer.bits
    if not (isinstance(bits, (int, np.integer)) and MIN_BITS <= bits <= MAX_BITS):
        raise ValueError(f"{where}: quantisation bits must be in {MIN_BITS}..{MAX_BITS}, got {bits!r}")
    step = np.float32(layer.step)
    if not (np.isfinite(step) and step > 0):
        raise ValueError(f"{where}: quantisation step must be finite and positive, got {layer.step!r}")
    values = _flat_integers(layer.values, shape, f"{where}: values")
    top = qmax(int(bits))
    if values.size and (int(values.min()) < -top or int(values.max()) > top):
        raise ValueError(f"{where}: values must lie in -{top}..{top} for {bits} bits")
    if values.size and not quant_peak(float(step), int(values.min()), int(values.max())) <= MAX_WEIGHT:
        raise ValueError(f"{where}: step times values exceeds {MAX_WEIGHT:g} in magnitude")
    out = bytearray(_QUANT.pack(int(bits), step))
    if method == "sparse":
        nonzero = values != 0
        mask_counts = level_counts(nonzero.view(np.uint8), 2)
        words = encode_levels(nonzero.view(np.uint8), mask_counts)
        out += _MASK.pack(int(mask_counts[0]), int(mask_counts[1]), len(words))
        out += words.astype("<u4").tobytes()
        values = values[nonzero]
    lo, counts = value_histogram(values)
    words = encode_values(values, lo, counts)
    out += _VALUES.pack(lo, counts.size)
    out += counts.astype("<u4").tobytes()
    out += _U32.pack(len(words))
    out += words.astype("<u4").tobytes()
    return bytes(out)


def _payload_bytes(h: Header, seg_index: int, seg: Segment) -> bytes:
    k = len(h.sparsity)
    shapes = h.network.layer_shapes()
    if len(seg.layers) != len(shapes):
        raise ValueError(f"segment {seg_index} has {len(seg.layers)} layers, the network has {len(shapes)}")
    out = bytearray()
    for (name, shape), layer in zip(shapes, seg.layers):
        where = f"segment {seg_index} layer {name}"
        if h.method in QUANT_METHODS:
            out += _quant_layer_bytes(h.method, where, shape, layer)
            continue
        if not isinstance(layer, LayerPayload):
            raise ValueError(f"{where}: method {h.method!r} needs LayerPayload payloads, got {type(layer).__name__}")
        scales = np.asarray(layer.scales)
        if scales.shape != (k,):
            raise ValueError(f"{where}: scales must have shape ({k},), got {scales.shape}")
        scales = scales.astype("<f4")
        if not np.all(np.isfinite(scales)):
            raise ValueError(f"{where}: scales must be finite")
        if not scale_peak(scales) <= MAX_WEIGHT:
            raise ValueError(f"{where}: scales fold to weights beyond {MAX_WEIGHT:g} in magnitude")
        levels = _flat_integers(layer.levels, shape, f"{where}: levels")
        counts = level_counts(levels, k + 1)  # raises ValueError on levels outside 0..K
        levels = np.ascontiguousarray(levels, dtype=np.uint8).reshape(-1)
        words = encode_levels(levels, counts)
        out += scales.tobytes()
        out += counts.astype("<u4").tobytes()
        out += _U32.pack(len(words))
        out += words.astype("<u4").tobytes()
    return bytes(out)


def write_slt(header: Header, segments: list[Segment]) -> bytes:
    """Serialise a header and its segments to .slt bytes (format version 1).

    Header fields beyond the format or the decoder's limits raise BitstreamError (the writer
    never produces a file the reader refuses); malformed payloads (wrong payload type for the
    method, wrong shapes, dtypes, levels outside 0..K, non-finite scales, quantised values outside
    the bits' range, a step that is not finite and positive) raise ValueError. Levels and values may
    be given flat (n,) or in the weight's shape (flattened in C order), with any integer dtype; the
    reader returns uint8 levels / int16 values, flat (n,). ``pe_base`` must be exactly representable
    as float32, since the decoder rebuilds the network from the stored value.
    """
    validate_header(header)
    if to_float32(header.network.pe_base) != header.network.pe_base:
        raise ValueError(f"network pe_base {header.network.pe_base!r} is not exactly representable as float32")
    _validate_segment_table(header.frames, [(s.first_frame, s.frame_count) for s in segments])
    payloads = []
    for i, seg in enumerate(segments):
        if not 0 <= seg.seed < 2**64:
            raise ValueError(f"segment {i}: seed {seg.seed} is not a uint64")
        payload = _payload_bytes(header, i, seg)
        if len(payload) >= 2**32:
            raise ValueError(f"segment {i}: payload of {len(payload)} bytes is too large")
        payloads.append(payload)
    out = bytearray(_header_bytes(header))
    out += _U16.pack(len(segments))
    for seg, payload in zip(segments, payloads):
        out += _SEG.pack(seg.first_frame, seg.frame_count, seg.seed, len(payload))
    for payload in payloads:
        out += payload
    out += _U32.pack(zlib.crc32(out))
    return bytes(out)


# --------------------------------------------------------------------------------------------
# Reader


class Truncated(BitstreamError):
    """The bytes end inside the header or the segment table (a stream reader reads on)."""


class _Cursor:
    def __init__(self, data: bytes, end: int) -> None:
        self.data = data
        self.pos = 0
        self.end = end

    def unpack(self, st: struct.Struct, what: str) -> tuple:
        if self.pos + st.size > self.end:
            if self.end == len(self.data) and what in ("header", "network config", "segment table"):
                raise Truncated(f"truncated: file ends inside the {what}")
            _fail(f"truncated: file ends inside the {what}")
        vals = st.unpack_from(self.data, self.pos)
        self.pos += st.size
        return vals

    def fmt(self, fmt: str, what: str) -> tuple:
        return self.unpack(struct.Struct("<" + fmt), what)


def _lookup(table: tuple[str, ...], idx: int, what: str) -> str:
    if idx >= len(table):
        _fail(f"unknown {what} id {idx}")
    return table[idx]


def check_magic(data: bytes) -> None:
    """The first bytes of a file: the magic number and the format version (BitstreamError)."""
    if len(data) < len(MAGIC):
        if data and MAGIC.startswith(data):
            _fail("truncated: file ends inside the magic number")
        _fail("not an .slt file (too short)")
    if data[:4] != MAGIC:
        _fail("not an .slt file (wrong magic number)")
    if len(data) < 5:
        _fail("truncated: file ends before the format version")
    if data[4] != VERSION:
        _fail(f"unsupported .slt format version {data[4]} (this decoder reads version {VERSION})")


def _front(data: bytes) -> tuple[tuple, list[tuple[int, int, int, int]], int, int]:
    """The header's raw fields, the segment table, the offset of the first payload and the file
    length they imply; raises Truncated when `data` ends before the segment table does."""
    check_magic(data)
    cur = _Cursor(data, len(data))
    fixed = cur.unpack(_FIXED, "header")
    sparsity = cur.fmt(f"{fixed[-1]}f", "header")
    net = cur.unpack(_NET, "network config")
    strides = cur.fmt(f"{net[-1]}B", "network config")
    channels = cur.fmt(f"{net[-1] + 1}I", "network config")
    (n_seg,) = cur.unpack(_U16, "segment table")
    table = [cur.unpack(_SEG, "segment table") for _ in range(n_seg)]
    expected = cur.pos + sum(t[3] for t in table) + _U32.size
    return (fixed, sparsity, net, strides, channels), table, cur.pos, expected


def file_size(prefix: bytes) -> int | None:
    """The length a file must have, from its first bytes (the header and the segment table); None
    when `prefix` ends before them. Bad magic or version raise BitstreamError."""
    try:
        return _front(prefix)[3]
    except Truncated:
        return None


def _parse(data: bytes) -> tuple[Header, list[tuple[int, int, int, int]], int]:
    """Parse and validate everything but the payloads. Returns the header, the segment table
    (first_frame, frame_count, seed, payload length) and the offset of the first payload."""
    data = bytes(data)
    fields, table, payload_start, expected = _front(data)
    (_, _, method, gen, pix, matrix, flags, width, height, frames, fps_num, fps_den, k), sparsity = fields[:2]
    (pe_levels, pe_base, stem_hidden, grid_h, grid_w, kernel, n_blocks), strides, channels = fields[2:]
    if len(data) < expected:
        _fail(f"truncated: file has {len(data)} bytes, its segment table needs {expected}")
    if len(data) > expected:
        _fail(f"trailing garbage: {len(data) - expected} bytes after the end of the file")
    (crc,) = _U32.unpack_from(data, len(data) - 4)
    if zlib.crc32(memoryview(data)[:-4]) != crc:
        _fail("CRC mismatch: file is corrupt")

    if flags & ~1:
        _fail(f"unknown header flags 0x{flags:02x}")
    if fps_num == 0 or fps_den == 0:
        _fail(f"frame rate {fps_num}/{fps_den} is not positive")
    network = NetworkConfig(
        pe_levels=pe_levels,
        pe_base=pe_base,
        stem_hidden=stem_hidden,
        grid_h=grid_h,
        grid_w=grid_w,
        kernel=kernel,
        strides=tuple(strides),
        channels=tuple(channels),
    )
    header = Header(
        width=width,
        height=height,
        frames=frames,
        fps=Fraction(fps_num, fps_den),
        pix_fmt=_lookup(PIX_FMTS, pix, "pixel format"),
        matrix=_lookup(MATRICES, matrix, "colour matrix"),
        full_range=bool(flags & 1),
        method=_lookup(METHODS, method, "method"),
        generator=_lookup(GENERATORS, gen, "weight generator"),
        sparsity=tuple(float(s) for s in sparsity),
        network=network,
    )
    validate_header(header)
    _validate_segment_table(frames, [(t[0], t[1]) for t in table])
    if network.num_weights() * len(table) > MAX_FILE_WEIGHTS:
        what = "quantised weights" if header.method in QUANT_METHODS else "mask levels"
        _fail(f"file holds {network.num_weights() * len(table)} {what}, more than {MAX_FILE_WEIGHTS}")
    return header, table, payload_start


def read_header(data: bytes) -> Header:
    """Validate a whole .slt file (structure, CRC, limits) but decode no payload; return the header."""
    return _parse(data)[0]


def _read_quant_layer(data: bytes, cur: _Cursor, method: str, where: str, n: int, sizes: dict[str, int],
                      name: str, decode: bool = True) -> QuantLayer | None:
    bits, step = cur.unpack(_QUANT, f"payload of {where}")
    if not MIN_BITS <= bits <= MAX_BITS:
        _fail(f"{where}: quantisation bits {bits} outside {MIN_BITS}..{MAX_BITS}")
    if not (math.isfinite(step) and step > 0):
        _fail(f"{where}: quantisation step {step} is not finite and positive")
    sizes["quant"] += _QUANT.size
    nonzero = None
    n_values = n
    if method == "sparse":
        zeros, nonzeros, n_words = cur.unpack(_MASK, f"payload of {where}")
        if zeros + nonzeros != n:
            _fail(f"{where}: zero / non-zero counts sum to {zeros + nonzeros}, the layer has {n} weights")
        if n_words * 4 > cur.end - cur.pos:
            _fail(f"{where}: {n_words} coded mask words exceed the segment payload")
        if decode:
            words = np.frombuffer(data, dtype="<u4", count=n_words, offset=cur.pos).astype(np.uint32)
            nonzero = decode_levels(words, np.array([zeros, nonzeros], dtype=np.uint32), n, what=f"{where} (zero pattern)")
        cur.pos += n_words * 4
        n_values = nonzeros
        sizes["counts"] += _MASK.size
        sizes[f"masks/{name}"] += 4 * n_words
    lo, n_bins = cur.unpack(_VALUES, f"payload of {where}")
    top = qmax(bits)
    if n_bins == 0:
        if n_values != 0 or lo != 0:
            _fail(f"{where}: empty value histogram (it needs lo 0 and no values to code)")
    elif lo < -top or lo + n_bins - 1 > top:
        _fail(f"{where}: value range {lo}..{lo + n_bins - 1} outside -{top}..{top} for {bits} bits")
    if n_bins and not quant_peak(step, lo, lo + n_bins - 1) <= MAX_WEIGHT:
        _fail(f"{where}: step {step:g} times values up to {max(abs(lo), abs(lo + n_bins - 1))} exceeds "
              f"{MAX_WEIGHT:g} in magnitude")
    if (n_bins + 1) * 4 > cur.end - cur.pos:
        _fail(f"{where}: {n_bins} value histogram bins exceed the segment payload")
    counts = np.frombuffer(data, dtype="<u4", count=n_bins, offset=cur.pos).astype(np.uint32)
    cur.pos += 4 * n_bins
    (n_words,) = cur.unpack(_U32, f"payload of {where}")
    if int(counts.sum(dtype=np.uint64)) != n_values:
        _fail(f"{where}: value counts sum to {int(counts.sum(dtype=np.uint64))}, expected {n_values}")
    if method == "sparse" and lo <= 0 <= lo + n_bins - 1 and counts[-lo] != 0:
        _fail(f"{where}: the non-zero values' histogram counts zeros")
    if n_words * 4 > cur.end - cur.pos:
        _fail(f"{where}: {n_words} coded value words exceed the segment payload")
    words = np.frombuffer(data, dtype="<u4", count=n_words, offset=cur.pos) if decode else None
    cur.pos += n_words * 4
    sizes["counts"] += _VALUES.size + 4 * n_bins + _U32.size
    sizes[f"values/{name}"] += 4 * n_words
    if not decode:
        return None
    coded = decode_values(words.astype(np.uint32), lo, counts, n_values, what=where)
    if nonzero is None:
        return QuantLayer(step=step, values=coded, bits=bits)
    values = np.zeros(n, dtype=np.int16)
    values[nonzero.view(bool)] = coded
    return QuantLayer(step=step, values=values, bits=bits)


def read_slt(data: bytes) -> tuple[Header, list[Segment], dict[str, int]]:
    """Parse and fully validate .slt bytes. Returns the header, the segments with decoded payloads
    (LayerPayload per layer for the supermask methods, QuantLayer for dense and sparse), and a size
    breakdown (section -> bytes) whose values add up to ``len(data)``: "header", "segment_table",
    then for the supermask methods "scales", "counts" (level counts and word counts) and one
    "masks/<layer>" per masked layer (coded levels, summed over segments); for dense and sparse
    "quant" (bits and steps), "counts" (value histograms, zero / non-zero counts and word counts),
    for sparse one "masks/<layer>" per layer (the coded zero pattern) and one "values/<layer>" per
    layer (the coded quantised values); and "crc"."""
    header, lazy, sizes = open_slt(data)
    segments = [Segment(first_frame=s.first_frame, frame_count=s.frame_count, seed=s.seed, layers=s.layers)
                for s in lazy]
    return header, segments, sizes


class LazySegment:
    """A segment whose payload is validated (structure, counts, scales, lengths) but whose levels or
    values are entropy-decoded only when ``layers`` is read, each time it is read (nothing kept)."""

    def __init__(self, header: Header, data: bytes, index: int, entry: tuple[int, int, int, int], pos: int) -> None:
        self.first_frame, self.frame_count, self.seed, self.length = entry
        self._header, self._data, self._index, self._pos = header, data, index, pos

    @property
    def layers(self) -> list[LayerPayload] | list[QuantLayer]:
        return _segment_layers(self._data, self._header, self._index, self._pos, self.length, None, decode=True)


def _segment_layers(data: bytes, header: Header, i: int, pos: int, length: int, sizes: dict[str, int] | None,
                    decode: bool) -> list:
    """Walk (and with `decode`, entropy-decode) segment i's payload at `pos`, adding its sections
    to `sizes` (when given); without `decode` the layers come back as None."""
    sizes = sizes if sizes is not None else _Tally()
    k = header.num_levels
    layer_head = struct.Struct(f"<{k}f{k + 1}II")
    cur = _Cursor(data, pos + length)
    cur.pos = pos
    layers = []
    for name, shape in header.network.layer_shapes():
        where = f"segment {i} layer {name}"
        if header.method in QUANT_METHODS:
            layers.append(_read_quant_layer(data, cur, header.method, where, math.prod(shape), sizes, name, decode))
        else:
            layers.append(_read_supermask_layer(data, cur, k, layer_head, where, name, math.prod(shape), sizes, decode))
    if cur.pos != cur.end:
        _fail(f"segment {i}: payload length {length} does not match its contents ({cur.pos - pos} bytes)")
    return layers


class _Tally(dict):
    """A sizes dict that accepts any key (a re-walk that does not report sizes)."""

    def __missing__(self, key):
        return 0


def open_slt(data: bytes) -> tuple[Header, list[LazySegment], dict[str, int]]:
    """Like read_slt, but the levels or values are not entropy-decoded: each segment decodes them
    when its ``layers`` are read (``info`` and a frame range read only what they need). Everything
    else, the cost limits included, is validated here."""
    data = bytes(data)
    header, table, pos = _parse(data)
    shapes = header.network.layer_shapes()
    sizes = {"header": pos - _U16.size - _SEG.size * len(table), "segment_table": _U16.size + _SEG.size * len(table)}
    if header.method in QUANT_METHODS:
        sizes.update(quant=0, counts=0)
        if header.method == "sparse":
            sizes.update({f"masks/{name}": 0 for name, _ in shapes})
        sizes.update({f"values/{name}": 0 for name, _ in shapes})
    else:
        sizes.update(scales=0, counts=0)
        sizes.update({f"masks/{name}": 0 for name, _ in shapes})
    segments = []
    for i, entry in enumerate(table):
        _segment_layers(data, header, i, pos, entry[3], sizes, decode=False)
        segments.append(LazySegment(header, data, i, entry, pos))
        pos += entry[3]
    sizes["crc"] = _U32.size
    assert sum(sizes.values()) == len(data)
    return header, segments, sizes


def _read_supermask_layer(data: bytes, cur: "_Cursor", k: int, layer_head: struct.Struct, where: str, name: str,
                          n: int, sizes: dict[str, int], decode: bool = True) -> LayerPayload | None:
    """One layer of a supermask method: K scales, K+1 level counts, the coded levels."""
    vals = cur.unpack(layer_head, f"payload of {where}")
    scales = np.array(vals[:k], dtype=np.float32)
    counts = np.array(vals[k : 2 * k + 1], dtype=np.uint32)
    n_words = vals[-1]
    if not np.all(np.isfinite(scales)):
        _fail(f"{where}: non-finite scale")
    _check_scales(where, scales)
    if int(counts.sum(dtype=np.uint64)) != n:
        _fail(f"{where}: level counts sum to {int(counts.sum(dtype=np.uint64))}, the layer has {n} weights")
    if n_words * 4 > cur.end - cur.pos:
        _fail(f"{where}: {n_words} coded words exceed the segment payload")
    words = np.frombuffer(data, dtype="<u4", count=n_words, offset=cur.pos) if decode else None
    cur.pos += n_words * 4
    sizes["scales"] += 4 * k
    sizes["counts"] += 4 * (k + 1) + 4
    sizes[f"masks/{name}"] += 4 * n_words
    if not decode:
        return None
    return LayerPayload(scales=scales, levels=decode_levels(words.astype(np.uint32), counts, n, what=where))
