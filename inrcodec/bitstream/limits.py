"""The decoder's cost model: what decoding a file will need, computed from its header alone and
checked before anything whose size comes from the file is allocated (docs/bitstream.md, "Cost
limits").

The per-field limits in format.py bound each header field; these bound what the fields imply
together: the network output grid against the frame, the multiply-adds per output pixel, the
activation bytes of the thinnest band that row strips can render (one output row), the frame's
pixels, and the magnitude of the folded weights. They bound disproportion (work or memory per
output pixel), not honest size: every file the encoder writes at every preset and method up to 8K
frames passes with room to spare (tests/test_limits.py checks it).

Each method supplies its cost function (``Method.decode_cost``, for today's methods ``nerv_cost``);
a method with other sections or another network supplies its own, so the same limits cover it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import BitstreamError
from ..model.config import NetworkConfig

# Per-field limits of the header (docs/bitstream.md, "Limits"); fields.py declares which field
# each bounds.
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
MAX_GRID_FIRST = 8  # slt-grid: log2 of the finest grid's downsampling
MAX_GRID_LEVELS = 8  # slt-grid: grids per frame (grid_first + grid_levels <= 15)
MAX_GRID_CHANNELS = 8  # slt-grid: latent channels per grid
MAX_GRID_HIDDEN = 256  # slt-grid: synthesis width
MAX_GRID_LAYERS = 8  # slt-grid: hidden 1x1 layers
MAX_SEGMENT_LATENTS = 1 << 28  # slt-grid: latents of one segment (int16 when decoded, float32 when rendered)
MAX_OUT_DIM = 2 * MAX_DIM  # out_h, out_w (network output before cropping)

# Cost limits: what the fields imply together.
MAX_MACS_PER_PIXEL = 1 << 21  # multiply-adds per output pixel (the large preset needs ~13 k)
MAX_BAND_BYTES = 512 << 20  # activation bytes of a one-output-row band of one frame
MAX_FRAME_PIXELS = 1 << 26  # width x height (8192 x 8192; 8K UHD is 7680 x 4320 = 2^25 x 0.99)
MAX_WEIGHT = 65536.0  # |folded weight|: the largest |cumulative scale| or |quantised value x step|

_LIVE_MAPS = 3  # float32 maps a rendering block keeps alive (model/strips.py, _LIVE_MAPS[False])
# Measured peaks of decoding (benchmarks/fuzz.py --structured, docs/results.md): one 7680x4320
# frame takes 46 bytes per pixel over the process's baseline (the RGB output, the colour
# conversion's planes, the writer's copy); the weights about 10 per weight (the folded float32
# weights, the levels, and one layer's signs and generator bits while it is folded), up to 17 for a
# network of one huge layer.
FRAME_BYTES_PER_PIXEL = 48
WEIGHT_BYTES = 18


@dataclass(frozen=True)
class DecodeCost:
    """What decoding needs, from the header alone."""

    macs_per_pixel: float  # multiply-adds per output pixel of one frame (stem included)
    band_bytes: int  # activations of the thinnest band (one output row) of one frame, and the stem's grid
    weights: int  # weights of the network (folded to float32 when decoding)
    frame_pixels: int


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB" if n < 2**30 else f"{n / 2**30:.1f} GiB"


def _count(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f}"


def _band_rows(config: NetworkConfig) -> list[tuple[int, int]]:
    """(input rows, convolution output rows) of each block for one output row, at the worst
    alignment and away from the frame's edges (where the zero padding is not computed)."""
    pad = config.kernel // 2
    rows, out = 1, []
    for s in reversed(config.strides):
        conv = -(-rows // s) + 1
        out.append((conv + 2 * pad, conv))
        rows = conv + 2 * pad
    return out[::-1]


def nerv_cost(config: NetworkConfig, width: int, height: int) -> DecodeCost:
    """The NeRV network of every current method (model/nerv.py): stem, conv + PixelShuffle
    blocks, 1x1 head, each block computed over the whole (uncropped) output grid."""
    c, k = config.channels, config.kernel
    macs = config.stem_hidden * 2 * config.pe_levels + c[0] * config.grid_h * config.grid_w * config.stem_hidden
    h, w = config.grid_h, config.grid_w
    band = 8 * c[0] * h * w  # the stem's output grid, always whole (linear output and its GELU)
    for i, (s, (in_rows, conv_rows)) in enumerate(zip(config.strides, _band_rows(config))):
        macs += c[i + 1] * s * s * c[i] * k * k * h * w
        band += 4 * w * (c[i] * in_rows + _LIVE_MAPS * c[i + 1] * s * s * conv_rows)
        h, w = h * s, w * s
    macs += 3 * c[-1] * h * w
    band += 4 * w * (c[-1] + 2 * 3)  # the head's input row and output
    macs = max(macs, _banded_macs(config, height))
    return DecodeCost(macs / (width * height), band, config.num_weights(), width * height)


def _banded_macs(config: NetworkConfig, height: int) -> int:
    """Multiply-adds of a frame rendered in the row strips a CPU decode uses (its smallest
    activation budget, one frame per pass): thin bands recompute the rows their halo shares."""
    from ..model.strips import CPU_BUDGET, _needed_rows, level_shapes, plan_strips

    plan = plan_strips(config, height, 1, CPU_BUDGET[False], training=False)
    if plan.whole:
        return 0
    c, k = config.channels, config.kernel
    shapes = level_shapes(config)
    per_row = [c[j + 1] * s * s * c[j] * k * k * (shapes[j][2] // s) for j, s in enumerate(config.strides)]
    macs = 0
    for a, b in plan.bands:
        for j, (lo, hi) in zip(range(plan.first_block, len(config.strides)), _needed_rows(config, plan.first_block, a, b)):
            macs += (hi - lo) * per_row[j]
    early = sum(per_row[j] * shapes[j][1] // config.strides[j] for j in range(plan.first_block))
    return early + macs + 3 * c[-1] * height * shapes[-1][2]


def check_cost(cost_model: Callable[[NetworkConfig, int, int], DecodeCost], config: NetworkConfig, width: int,
               height: int) -> DecodeCost:
    """Refuse (BitstreamError, one line naming the limit and the excess) a header whose decoding
    would be out of proportion to its output; returns the cost (`cost_model` is the method's)."""
    if width * height > MAX_FRAME_PIXELS:
        raise BitstreamError(
            f"frame of {width}x{height} = {_count(width * height)} pixels exceeds the limit of "
            f"{_count(MAX_FRAME_PIXELS)} pixels")
    total = math.prod(getattr(config, "strides", ()))
    for side, out, frame in (() if not hasattr(config, "out_h") else  # NeRV configs: the output grid
                             (("rows", config.out_h, height), ("columns", config.out_w, width))):
        if out - frame >= total:  # choose_strides pads by less than one grid cell
            raise BitstreamError(
                f"network output {config.out_w}x{config.out_h} exceeds the {width}x{height} frame by "
                f"{out - frame} {side}, more than one grid cell ({total - 1})")
    cost = cost_model(config, width, height)
    if cost.macs_per_pixel > MAX_MACS_PER_PIXEL:
        raise BitstreamError(
            f"network needs {_count(cost.macs_per_pixel)} multiply-adds per pixel (limit "
            f"{_count(MAX_MACS_PER_PIXEL)}, {cost.macs_per_pixel / MAX_MACS_PER_PIXEL:.1f}x over)")
    if cost.band_bytes > MAX_BAND_BYTES:
        raise BitstreamError(
            f"network needs {_mib(cost.band_bytes)} of activations per output row (limit "
            f"{_mib(MAX_BAND_BYTES)}, {cost.band_bytes / MAX_BAND_BYTES:.1f}x over)")
    return cost


def scale_peak(scales) -> float:
    """The largest |folded weight| a layer's K scales give: max |cumulative sum| in float32 (inf
    or nan when they are not finite or overflow)."""
    with np.errstate(over="ignore", invalid="ignore"):
        t = np.cumsum(np.asarray(scales, dtype=np.float32), dtype=np.float32)
        return float(np.max(np.abs(t))) if t.size and np.all(np.isfinite(t)) else math.inf


def quant_peak(step: float, lo: int, hi: int) -> float:
    """The largest |weight| float32(q) * step gives for q in lo..hi."""
    with np.errstate(over="ignore"):
        peak = float(np.float32(max(abs(lo), abs(hi))) * np.float32(step)) if math.isfinite(step) else math.inf
    return peak if math.isfinite(peak) else math.inf


def memory_bound(cost: DecodeCost, budget: int, level_bytes: int) -> int:
    """Bytes decoding one segment may hold at its peak, over the process's own: the weights (folded
    float32 weights, and a layer's signs while it is folded), one segment's decoded levels or
    values, one band's activations within the budget (or the thinnest band if that is larger) and
    one frame's buffers."""
    return (WEIGHT_BYTES * cost.weights + level_bytes + max(budget, cost.band_bytes)
            + FRAME_BYTES_PER_PIXEL * cost.frame_pixels)


def decode_cost(method: str, config: NetworkConfig, width: int, height: int) -> DecodeCost:
    """The cost of decoding a file of the named method (its own cost model)."""
    from .. import methods

    return methods.get(method).decode_cost(config, width, height)
