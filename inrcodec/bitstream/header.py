"""The parsed header (`Header`), its mapping to the declared fields (fields.py) and its validation:
every field against its limits and what the fields imply together, the method's own rules and the
decode cost. The writer validates with the same functions as the reader, so it never writes a file
the reader refuses."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..model.config import NetworkConfig
from . import limits as L
from .cursor import fail
from ..video.clip import VideoInfo
from .fields import FLAG_FULL_RANGE, GENERATORS, GRID_V2, GRID_V3, GRID_V4, GRID_V5, HEADER_V1, MAGIC, MATRICES, PIX_FMTS, check_range, check_ranges, lookup


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
    # K increasing values in (0, 1), stored as f32; what they mean is the method's (methods/): the
    # K mask sparsities, none (dense) or the pruned fraction (sparse).
    sparsity: tuple[float, ...] = (0.5, 0.8, 0.92)
    network: NetworkConfig = field(kw_only=True)  # slt-grid: a model.grid.GridConfig (version 2 on)
    version: int = field(default=5, kw_only=True)  # the file's format version (what `info` shows); default: format.VERSION

    @property
    def num_levels(self) -> int:
        """K, the number of non-zero mask levels."""
        return len(self.sparsity)

    def video_info(self) -> VideoInfo:
        """The geometry, rate and colour of the frames the file decodes to."""
        return VideoInfo(self.width, self.height, self.fps, self.matrix, self.full_range)


def to_float32(x: float) -> float:
    """The python float of x rounded to float32: the value a reader gets back for an f32 field."""
    return float(np.float32(x))


def _methods():
    from .. import methods

    return methods


_DECLARED = {f.name: f for f in HEADER_V1}


def _in_range(name: str, value: int) -> None:
    check_range(_DECLARED[name], value)


def header_values(h: Header, version: int) -> dict:
    """The declared fields' values of a valid header."""
    fps, net = Fraction(h.fps), h.network
    common = {
        "magic": MAGIC, "version": version, "method": _methods().get(h.method).id,
        "generator": GENERATORS.index(h.generator), "pix_fmt": PIX_FMTS.index(h.pix_fmt),
        "matrix": MATRICES.index(h.matrix), "flags": FLAG_FULL_RANGE if h.full_range else 0,
        "width": h.width, "height": h.height, "frames": h.frames,
        "fps_num": fps.numerator, "fps_den": fps.denominator, "k": len(h.sparsity), "sparsity": tuple(h.sparsity),
    }
    if not isinstance(net, NetworkConfig):  # slt-grid's GridConfig
        return {**common, "grid_first": net.first, "grid_levels": net.levels, "grid_channels": net.channels,
                "hidden": net.hidden, "synth_layers": net.layers, "synth_kernel": net.kernel, "grid_shared": net.shared,
                "grid_residual": int(net.residual), "grid_context": int(net.context),
                "grid_motion": int(net.motion)}  # (earlier versions write fewer)
    return {
        **common, "pe_levels": net.pe_levels, "pe_base": net.pe_base, "stem_hidden": net.stem_hidden,
        "grid_h": net.grid_h, "grid_w": net.grid_w, "kernel": net.kernel, "n_blocks": len(net.strides),
        "strides": tuple(net.strides), "channels": tuple(net.channels),
    }


def header_from_values(v: dict) -> Header:
    """The Header of read field values (ids looked up; nothing else checked yet)."""
    if v["flags"] & ~FLAG_FULL_RANGE:
        fail(f"unknown header flags 0x{v['flags']:02x}")
    if v["fps_num"] == 0 or v["fps_den"] == 0:
        fail(f"frame rate {v['fps_num']}/{v['fps_den']} is not positive")
    if "hidden" in v:  # version 2 on, slt-grid (version 2 has no grid_residual, 2-3 no grid_context, 2-4 no grid_motion)
        from ..model.grid import GridConfig

        check_ranges(GRID_V5 if "grid_motion" in v else GRID_V4 if "grid_context" in v else GRID_V3 if "grid_residual" in v else GRID_V2, v)
        network = GridConfig(first=v["grid_first"], levels=v["grid_levels"], channels=v["grid_channels"],
                             hidden=v["hidden"], layers=v["synth_layers"], kernel=v["synth_kernel"], shared=v["grid_shared"],
                             residual=bool(v.get("grid_residual", 0)), context=bool(v.get("grid_context", 0)),
                             motion=bool(v.get("grid_motion", 0)))
    else:
        network = _nerv_config(v)
    return Header(
        width=v["width"], height=v["height"], frames=v["frames"], fps=Fraction(v["fps_num"], v["fps_den"]),
        pix_fmt=lookup(PIX_FMTS, v["pix_fmt"], "pixel format"),
        matrix=lookup(MATRICES, v["matrix"], "colour matrix"),
        full_range=bool(v["flags"] & FLAG_FULL_RANGE),
        method=_methods().from_id(v["method"]).name,
        generator=lookup(GENERATORS, v["generator"], "weight generator"),
        sparsity=tuple(float(s) for s in v["sparsity"]), network=network, version=v["version"],
    )


def _nerv_config(v: dict) -> NetworkConfig:
    return NetworkConfig(
        pe_levels=v["pe_levels"], pe_base=v["pe_base"], stem_hidden=v["stem_hidden"], grid_h=v["grid_h"],
        grid_w=v["grid_w"], kernel=v["kernel"], strides=tuple(v["strides"]), channels=tuple(v["channels"]),
    )


def validate_nerv_network(net: NetworkConfig, width: int, height: int) -> None:
    _in_range("pe_levels", net.pe_levels)
    if not (math.isfinite(net.pe_base) and 0.0 < net.pe_base <= L.MAX_PE_BASE):
        fail(f"network pe_base {net.pe_base} outside (0, {L.MAX_PE_BASE:g}]")
    _in_range("stem_hidden", net.stem_hidden)
    if not (1 <= net.grid_h <= L.MAX_GRID and 1 <= net.grid_w <= L.MAX_GRID):
        fail(f"network grid {net.grid_h}x{net.grid_w} outside 1..{L.MAX_GRID}")
    if not (1 <= net.kernel <= L.MAX_KERNEL and net.kernel % 2 == 1):
        fail(f"network kernel {net.kernel} is not odd in 1..{L.MAX_KERNEL}")
    if len(net.strides) > L.MAX_BLOCKS:
        fail(f"network has {len(net.strides)} blocks, more than {L.MAX_BLOCKS}")
    if len(net.channels) != len(net.strides) + 1:
        fail("network channels must have one more entry than strides")
    if any(not 1 <= s <= L.MAX_STRIDE for s in net.strides):
        fail(f"network strides {tuple(net.strides)} outside 1..{L.MAX_STRIDE}")
    if any(not 1 <= c <= L.MAX_WIDTH for c in net.channels):
        fail(f"network channels {tuple(net.channels)} outside 1..{L.MAX_WIDTH}")
    if not (height <= net.out_h <= L.MAX_OUT_DIM and width <= net.out_w <= L.MAX_OUT_DIM):
        fail(f"network output {net.out_w}x{net.out_h} does not cover the {width}x{height} frame "
             f"within {L.MAX_OUT_DIM}x{L.MAX_OUT_DIM}")
    total = 0
    for name, shape in net.layer_shapes():
        n = math.prod(shape)
        if n > L.MAX_LAYER_WEIGHTS:
            fail(f"network layer {name} has {n} weights, more than {L.MAX_LAYER_WEIGHTS}")
        total += n
    if total > L.MAX_TOTAL_WEIGHTS:
        fail(f"network has {total} weights, more than {L.MAX_TOTAL_WEIGHTS}")


def validate_header(h: Header) -> None:
    """Check every header field against the format, the method's rules and the decoder's limits
    (BitstreamError)."""
    methods = _methods()
    if h.method not in methods.names():
        fail(f"unknown method {h.method!r}")
    method = methods.get(h.method)
    if h.generator not in GENERATORS:
        fail(f"unknown weight generator {h.generator!r}")
    if h.pix_fmt not in PIX_FMTS:
        fail(f"unknown pixel format {h.pix_fmt!r}")
    if h.matrix not in MATRICES:
        fail(f"unknown colour matrix {h.matrix!r}")
    for name, v in (("width", h.width), ("height", h.height)):
        if not (L.MIN_DIM <= v <= L.MAX_DIM and v % 2 == 0):
            fail(f"{name} {v} is not even in {L.MIN_DIM}..{L.MAX_DIM}")
    _in_range("frames", h.frames)
    fps = Fraction(h.fps)
    if fps <= 0 or fps.numerator >= 2**32 or fps.denominator >= 2**32:
        fail(f"frame rate {fps} is not a positive ratio of 32-bit integers")
    method.check_sparsity_count(len(h.sparsity))
    sp = [to_float32(s) for s in h.sparsity]
    if not all(0.0 < s < 1.0 for s in sp) or any(b <= a for a, b in zip(sp, sp[1:])):
        fail(f"sparsities {tuple(sp)} are not strictly increasing in (0, 1)")
    method.validate_network(h.network, h.width, h.height)
    L.check_cost(method.decode_cost, h.network, h.width, h.height)


def validate_segment_table(frames: int, table: list[tuple[int, int]]) -> None:
    if not 1 <= len(table) <= L.MAX_SEGMENTS:
        fail(f"segment count {len(table)} outside 1..{L.MAX_SEGMENTS}")
    expect = 0
    for i, (first, count) in enumerate(table):
        if first != expect:
            fail(f"segment {i} starts at frame {first}, expected {expect} (segments must be contiguous)")
        if count < 1:
            fail(f"segment {i} has no frames")
        expect = first + count
    if expect != frames:
        fail(f"segments cover {expect} frames, header says {frames}")
