"""`slt-grid`: learned, entropy-coded latent grids feeding a random masked synthesis (issue 14).

Per frame, `levels` 2-D grids of integer latents (the finest at 2^-first of the frame, each next
one half as fine) are upsampled to the frame, stacked and turned into RGB by a small convolutional
network whose weights are random signs from the seed, selected by K nested supermasks with learned
per-level scales: the supermask family's layers, their levels and scales coded exactly as the slt
payload (this class inherits them from SupermaskMethod). Only the latents carry the content.

Fitting (GridFitter): each epoch visits every frame once, INNER steps per visit (one step per
visit left each frame's latents 20-30 steps in a whole fit, too few to trade rate for distortion:
docs/results.md), Adam on the frame's latents, the masks' scores and
scales, and each grid's probability model; loss MSE + lambda * R, R the latents' estimated bits
per pixel under the model (the masks' bits are fixed by the sparsities). The latents are trained
through additive uniform noise, then (the last LATE fraction of the steps) straight-through
rounding; the stored latents are the rounded values. With RESIDUAL (format version 3,
grid_residual), a per-frame grid's parameters are the frame differences themselves: frame t
renders from the rounded differences of frames 0..t-1 plus its own, and the rate is charged on
its own difference, so "as the frame before" costs nearly nothing and is where the rate pulls.
(Penalising differences of free per-frame latents instead left ~10 % of them flickering by +-1
at every lambda: docs/results.md.)

With CONTEXT (format version 4, grid_context), every law is zero-inflated (entropy/inflated.py) and
a residual grid has five per channel: its first frame, its first difference, and three for the
later differences chosen per cell by temporal context (model.grid.difference_contexts); the fit's
rate term is the same laws (inflated_bits).

With MOTION (format version 5, grid_motion), a group whose camera moves (motion.py) holds its
grids on a canvas fixed to the scene, each frame an integer-pixel window of it
(model.grid.canvas_window), so still content under a pan has zero difference.

Payload per segment: the synthesis layers (as slt), with grid_motion the motion block (a flag, then
each frame's (x, y) offset as u16), the probability model (per grid and channel:
theta_q, m as u16; with grid_context per law p0_q, theta_q, m), and per grid the ANS-coded latents
of all the segment's frames (docs/bitstream.md, "slt-grid").
"""

from __future__ import annotations

import math
import struct
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..bitstream.cursor import fail
from ..bitstream.limits import MAX_SEGMENT_LATENTS, DecodeCost
from ..entropy.geometric import MAX_MAGNITUDE, THETA_ONE, decode_grids, encode_grids, fit_theta
from ..entropy.inflated import RunDecoder, RunEncoder, fit_law
from ..errors import InputError
from ..gop import GroupPlan
from ..model.grid import offset_span
from .base import FitContext, FitOutcome
from .supermask import LayerPayload, SupermaskMethod, SupermaskOptions

_U32 = struct.Struct("<I")
DEFAULT_LAMBDA = 0.05  # MSE (RGB in [0, 1]) + lambda * bits per pixel
DEFAULT_HIDDEN = 24
# the synthesis' shape (GridConfig's header fields, so a change here needs no new format)
FIRST = 1  # log2 of the finest grid's downsampling
GRID_CHANNELS = 2  # latent channels per grid (2 against 1: +0.4-0.7 dB at equal rate, docs/results.md)
LAYERS = 1  # hidden 1x1 layers after the first
KERNEL = 3  # the last convolution's kernel
LATENT_LR = 0.3  # Adam's rate on the latents
INNER = 4  # optimiser steps per frame visit (an epoch still visits every frame once; docs/results.md measures 1, 2, 4)
WARM = False  # the first epoch visits frames in order, each frame's own latents starting from the last's
MODEL_LR = 0.05  # ... on the probability model's logits
SHARED = 3  # the coarsest grids shared by a segment's frames (the temporal path; docs/results.md measures 1, 2, 3)
RESIDUAL = True  # per-frame grids coded as each frame's difference from the last (format version 3; docs/results.md)
CONTEXT = True  # zero-inflated laws, the differences' chosen by temporal context (format version 4; needs RESIDUAL)
MOTION = True  # a group whose camera moves holds its grids as a canvas, each frame a window of it (format version 5; motion.py)
GROUP_FRAMES = 32  # the longest group of pictures without --segment-frames (gop.py)
CUT_COST = 40.0  # what starting a group costs in gop.py's change unit (tree.avi: 32, 22, 6, 8)
LATE = 0.3  # fraction of the steps with straight-through rounding instead of noise
# lambda(bpp) of rate control's first trial, measured on tree.avi (docs/results.md, issue 14)
LAMBDA_AT_01 = 0.019  # format version 4, planned groups, 30 epochs: whole clip, 0.076 bpp at 0.03, 0.129 at 0.012, 0.193 at 0.006
RATE_EXPONENT = 0.58  # bpp ~ lambda^-RATE_EXPONENT, for the first correction (the same points)


@dataclass
class GridLatents:
    """A segment's latents and their probability model."""

    theta: np.ndarray | None  # uint16 (levels, channels): theta_q of each grid's law (1..65535); None with grid_context
    grids: list  # per level an integer array (frames, channels, rows, columns), |v| <= MAX_MAGNITUDE
    laws: list | None = None  # with grid_context: per level uint16 (channels, laws, 2), each law's (p0_q, theta_q)
    offsets: np.ndarray | None = None  # with grid_motion: each frame's (x, y) window on the canvas, or None (no motion)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GridLatents):
            return NotImplemented
        def same(a, b):
            return (a is None) == (b is None) and (a is None or (len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))))
        def one(a):
            return None if a is None else [a]
        return (same(one(self.theta), one(other.theta)) and same(self.laws, other.laws) and same(self.grids, other.grids)
                and same(one(self.offsets), one(other.offsets)))

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class GridOptions(SupermaskOptions):
    lmbda: float = DEFAULT_LAMBDA


class GridMethod(SupermaskMethod):
    min_version = 2
    # groups of pictures (a residual chain over a whole clip fitted 1.5 dB worse than 16-frame
    # segments: docs/results.md, issue 14); without --segment-frames they follow the content
    # (gop.py), up to 32 frames on still content
    @property
    def group_plan(self) -> GroupPlan:  # docs/results.md, issue 14
        return GroupPlan(max_frames=GROUP_FRAMES, cut_cost=CUT_COST, motion=MOTION)
    config_fields = "grid"
    exact_rate = False
    rate_sections = ("latents/",)
    coded_weights = "mask levels"

    def __init__(self, name: str, id: int, summary: str, tuned_fit: dict | None = None) -> None:
        super().__init__(name, id, summary, tuned_fit=tuned_fit)
        self.options_used = ("levels", "sparsity", "lr_scales", "lmbda")  # and --channels, as every method

    # -- options ------------------------------------------------------------------------------
    def config(self, options) -> GridOptions:
        base = super().config(options)
        lmbda = DEFAULT_LAMBDA if options.lmbda is None else options.lmbda
        if not (isinstance(lmbda, (int, float)) and math.isfinite(lmbda) and lmbda > 0):
            raise InputError(f"--lambda must be a positive number, got {lmbda}")
        if options.c0 is not None and not 1 <= options.c0 <= 256:
            raise InputError(f"--channels must be between 1 and 256 for slt-grid, got {options.c0}")
        return GridOptions(sparsity=base.sparsity, fixed_gain=base.fixed_gain, lmbda=float(lmbda))

    def settings(self, cfg: GridOptions) -> dict:
        return {"sparsity": cfg.sparsity, "lambda": cfg.lmbda}

    def network(self, options, width: int, height: int):
        from ..model.grid import GridConfig

        # 2^-FIRST .. 2^-(FIRST+4) of the frame, stopping where the coarsest grid's shorter side is under 8 cells
        levels = max(1, min(5, int(math.log2(max(4, min(width, height)))) - 2 - FIRST))
        return GridConfig(first=FIRST, levels=levels, channels=GRID_CHANNELS, hidden=options.c0 or DEFAULT_HIDDEN,
                          layers=LAYERS, kernel=KERNEL, shared=min(SHARED, levels - 1), residual=RESIDUAL,
                          context=CONTEXT and RESIDUAL, motion=MOTION)

    def validate_network(self, net, width: int, height: int) -> None:
        from ..model.grid import GridConfig

        if not isinstance(net, GridConfig):
            fail(f"method {self.name!r} needs a grid network config")
        if net.first + net.levels > 15:
            fail(f"network grids 2^-{net.first} .. 2^-{net.first + net.levels - 1} go beyond 2^-14")
        if net.kernel % 2 != 1:
            fail(f"network synth_kernel {net.kernel} is not odd")
        if net.shared > net.levels:
            fail(f"network grid_shared {net.shared} exceeds its {net.levels} grids")
        if net.context and not net.residual:
            fail("network grid_context 1 needs grid_residual 1")

    def decode_cost(self, config, width: int, height: int) -> DecodeCost:
        """Whole-frame upsampling, then the synthesis in row bands: a band of one output row holds
        its rows of every map and hidden activation (with the last kernel's halo)."""
        c_in, halo = config.levels * config.channels, config.kernel
        band = 4 * width * (c_in + 2 * config.hidden) * halo + 4 * width * 3 + 4 * c_in * width * height
        return DecodeCost(float(config.macs_per_pixel()), band, config.num_weights(), width * height)

    # -- rate control: search lambda ----------------------------------------------------------
    def rate_overrides(self, bpp: float, tries: list[tuple[dict, float]]) -> dict:
        """lambda for the next trial: a first guess from bpp ~ lambda^-RATE_EXPONENT through a
        measured point, then the secant in log-log through the two closest trials."""
        if not tries:
            return {"lmbda": LAMBDA_AT_01 * (0.1 / bpp) ** (1 / RATE_EXPONENT)}
        pts = sorted(tries, key=lambda t: abs(math.log(t[1] / bpp)))[:2]
        (l1, r1), = [(pts[0][0]["lmbda"], pts[0][1])]
        slope = -RATE_EXPONENT
        if len(pts) == 2:
            l2, r2 = pts[1][0]["lmbda"], pts[1][1]
            if l1 != l2 and r1 != r2:
                slope = min(-0.2, max(-3.0, math.log(r1 / r2) / math.log(l1 / l2)))
        return {"lmbda": l1 * math.exp(math.log(bpp / r1) / slope)}

    def size_estimate(self, width: int, height: int, frames: int, options, cfg) -> tuple[float, float]:
        """A first guess only (the latents' bits are known after a fit): the bytes of the masks."""
        from .supermask import level_entropy_bits

        net = self.network(options, width, height)
        return level_entropy_bits(cfg.sparsity), 200.0 + 8 * len(net.layer_shapes())

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, ctx: FitContext, cfg: GridOptions) -> FitOutcome:
        from ..motion import global_offsets

        info = ctx.info
        net = build_grid_synthesis(ctx.network, info.width, info.height, ctx.seed, cfg.sparsity, ctx.device)
        luma = ctx.frames[:, : info.width * info.height].reshape(-1, info.height, info.width)
        offsets = global_offsets(luma) if ctx.network.motion and len(ctx.frames) > 1 else None
        fitter = GridFitter(net, ctx.frames, info, ctx.fit, cfg.lmbda, ctx.device, offsets=offsets)
        if ctx.state is not None:
            fitter.load_state_dict(ctx.state)
        ctx.run(fitter)
        return fitter.outcome()

    # -- payload ------------------------------------------------------------------------------
    def write_payload(self, header, index: int, layers: list, frames: int | None = None) -> bytes:
        net = header.network
        shapes = net.layer_shapes()
        if len(layers) != len(shapes) + 1 or not isinstance(layers[-1], GridLatents):
            raise ValueError(f"segment {index}: slt-grid needs {len(shapes)} LayerPayloads and one GridLatents")
        out = bytearray(super().write_payload(header, index, layers[:-1]))
        lat = layers[-1]
        if len(lat.grids) != net.levels:
            raise ValueError(f"segment {index}: {len(lat.grids)} latent grids, the network has {net.levels}")
        frames = np.asarray(lat.grids[0]).shape[0] if frames is None and net.shared < net.levels else (frames or 1)
        span = (0, 0)
        if lat.offsets is not None:
            off = np.asarray(lat.offsets)
            if not net.motion:
                raise ValueError(f"segment {index}: frame offsets need a grid_motion network")
            if off.shape != (frames, 2) or not np.issubdtype(off.dtype, np.integer) or int(off.min()) < 0 or (
                    int(off[:, 0].max()) > header.width or int(off[:, 1].max()) > header.height):
                raise ValueError(f"segment {index}: offsets must be ({frames}, 2) integers in 0..width, 0..height")
            span = offset_span(off)
            out += bytes([1]) + off.astype("<u2").tobytes()
        elif net.motion:
            out += bytes([0])
        grid_shapes = net.canvas_shapes(header.width, header.height, span)
        values = []
        for li, (g, (h, w)) in enumerate(zip(lat.grids, grid_shapes)):
            g = np.asarray(g)
            t = net.grid_frames(li, frames)
            if g.shape != (t, net.channels, h, w) or not np.issubdtype(g.dtype, np.integer):
                raise ValueError(f"segment {index}: latent grid {li} must be integers of shape "
                                 f"({t}, {net.channels}, {h}, {w}), got {g.dtype} {g.shape}")
            if g.size and int(np.abs(g).max()) > MAX_MAGNITUDE:
                raise ValueError(f"segment {index}: latents of grid {li} exceed {MAX_MAGNITUDE} in magnitude")
            g = net.coded(li, g.astype(np.int64))
            if g.size and int(np.abs(g).max()) > MAX_MAGNITUDE:
                raise ValueError(f"segment {index}: coded latents of grid {li} (frame differences) exceed {MAX_MAGNITUDE}")
            values.append(g)
        coded = _write_context_latents(net, lat, values, out, index) if net.context else \
            _write_geometric_latents(net, lat, values, out, index)
        for words in coded:
            out += _U32.pack(len(words)) + words.astype("<u4").tobytes()
        return bytes(out)

    def read_payload(self, cur, header, index: int, frames: int, sizes: dict, decode: bool) -> list:
        net = header.network
        where = f"segment {index}"

        def check_latents(span: tuple[int, int], on: str) -> None:  # before allocating: on the frame, then on the canvas
            total = net.segment_latents(header.width, header.height, frames, span)
            if total > MAX_SEGMENT_LATENTS:
                fail(f"{where}: {frames} frames hold {total} latents{on}, more than the limit of {MAX_SEGMENT_LATENTS}")

        check_latents((0, 0), "")
        layers = super().read_payload(cur, header, index, frames, sizes, decode)
        offsets = None
        if net.motion:
            offsets = _read_offsets(cur, header, frames, where)
            sizes["motion"] += 1 + (0 if offsets is None else 4 * frames)
            if offsets is not None:
                check_latents(offset_span(offsets), " on their canvas")
        span = offset_span(offsets)
        model = _read_context_model(cur, net, where) if net.context else _read_geometric_model(cur, net, where)
        sizes["model"] += model.bytes
        grids = []
        for li, (h, w) in enumerate(net.canvas_shapes(header.width, header.height, span)):
            (n_words,) = cur.unpack(_U32, f"payload of {where} (latents {li})")
            if n_words * 4 > cur.left():
                fail(f"{where}: {n_words} coded latent words of grid {li} exceed the segment payload")
            if n_words and not model.mags[li].any():
                fail(f"{where}: coded data for latent grid {li}, whose latents are all zero")
            words = cur.words(n_words, decode)
            sizes[f"latents/l{li}"] += 4 + 4 * n_words
            if decode:
                coded = model.decode(net, li, words, net.grid_frames(li, frames), h, w, f"{where} latent grid {li}")
                g = net.uncoded(li, coded)
                if g.size and int(np.abs(g).max()) > MAX_MAGNITUDE:
                    fail(f"{where}: latent grid {li} sums to more than {MAX_MAGNITUDE} in magnitude")
                grids.append(g.astype(np.int16, copy=False))
        if not decode:
            return None
        lat = model.latents(grids)
        lat.offsets = offsets
        return layers + [lat]

    def sections(self, header) -> dict[str, int]:
        net = header.network
        return {**super().sections(header), **({"motion": 0} if net.motion else {}), "model": 0,
                **{f"latents/l{i}": 0 for i in range(net.levels)}}

    # -- decoding -----------------------------------------------------------------------------
    def decoder_network(self, header, seed: int, layers: list, device):
        from ..model.grid import GridDecoderNet, GridSynthesis
        from ..model.masked import FixedWeight, fold_weight
        from ..model.rng import random_signs

        weights = []
        for i, ((_, shape), layer) in enumerate(zip(header.network.layer_shapes(), layers[:-1])):
            signs = torch.from_numpy(random_signs(seed, i, shape)).to(device)
            level = torch.from_numpy(np.ascontiguousarray(layer.levels, dtype=np.uint8)).to(device).reshape(shape)
            scale = torch.from_numpy(np.ascontiguousarray(layer.scales, dtype=np.float32)).to(device)
            weights.append(FixedWeight(fold_weight(signs, level, scale)))
        synthesis = GridSynthesis(header.network, header.width, header.height, weights)
        lat = layers[-1]
        latents = [torch.from_numpy(np.asarray(g, dtype=np.float32)).to(device) for g in lat.grids]
        return GridDecoderNet(synthesis, latents, lat.offsets)

    def render(self, net, t: torch.Tensor, budget: int) -> torch.Tensor:
        return net.render(t, budget)


# -- the latents' model in the payload: one geometric law per grid and channel (versions 2-3, and
# version 4 with grid_context 0), or zero-inflated laws chosen by temporal context (grid_context 1)

def _write_geometric_latents(net, lat: GridLatents, values: list, out: bytearray, index: int) -> list:
    theta = np.asarray(lat.theta)
    if theta.shape != (net.levels, net.channels) or not np.issubdtype(theta.dtype, np.integer) or (
            theta.size and (int(theta.min()) < 1 or int(theta.max()) >= THETA_ONE)):
        raise ValueError(f"segment {index}: theta must be ({net.levels}, {net.channels}) integers in 1..65535")
    mags = [[int(np.abs(g[:, c]).max()) if g.size else 0 for c in range(net.channels)] for g in values]
    out += struct.pack(f"<{2 * net.levels * net.channels}H",
                       *[v for li in range(net.levels) for c in range(net.channels) for v in (int(theta[li, c]), mags[li][c])])
    return [encode_grids([(g[:, c], int(theta[li, c]), mags[li][c]) for c in range(net.channels)])
            for li, g in enumerate(values)]


def law_runs(net, level: int, x: np.ndarray):
    """The runs of one channel's coded values x (frames, rows, columns) of grid `level`, in the
    order the file codes them: (law index, values). One law for a grid coded whole; for a residual
    grid d_0 under law 0, d_1 under law 1, then for each later frame its cells of context k
    (model.grid.difference_contexts of the frame before) in raster order under law 2 + k."""
    from ..model.grid import CONTEXTS, difference_contexts

    if net.laws(level) == 1:
        yield 0, x.reshape(-1)
        return
    for t in range(min(2, x.shape[0])):
        yield t, x[t].reshape(-1)
    for t in range(2, x.shape[0]):
        ctx = difference_contexts(x[t - 1])
        for k in range(CONTEXTS):
            yield 2 + k, x[t][ctx == k]


def _write_context_latents(net, lat: GridLatents, values: list, out: bytearray, index: int) -> list:
    laws = lat.laws
    if laws is None or len(laws) != net.levels:
        raise ValueError(f"segment {index}: grid_context needs {net.levels} law tables")
    coded = []
    for li, g in enumerate(values):
        p = np.asarray(laws[li])
        if p.shape != (net.channels, net.laws(li), 2) or not np.issubdtype(p.dtype, np.integer) or (
                int(p.min()) < 1 or int(p.max()) >= THETA_ONE):
            raise ValueError(f"segment {index}: grid {li}'s laws must be ({net.channels}, {net.laws(li)}, 2) integers in 1..65535")
        enc, table = RunEncoder(), []
        for c in range(net.channels):
            runs = list(law_runs(net, li, g[:, c]))
            mags = [max([int(np.abs(v).max()) for j, v in runs if j == law and v.size], default=0) for law in range(net.laws(li))]
            for law in range(net.laws(li)):
                table += [int(p[c, law, 0]), int(p[c, law, 1]), mags[law]]
            for law, v in runs:
                enc.add(v, (int(p[c, law, 0]), int(p[c, law, 1]), mags[law]))
        out += struct.pack(f"<{len(table)}H", *table)
        coded.append(enc.words())
    return coded


@dataclass
class _GeometricModel:
    theta: np.ndarray  # (levels, channels)
    mags: np.ndarray  # (levels, channels)
    bytes: int

    def decode(self, net, li: int, words, t: int, h: int, w: int, what: str) -> np.ndarray:
        got = decode_grids(words, [(t * h * w, int(self.theta[li, c]), int(self.mags[li, c])) for c in range(net.channels)], what)
        return np.stack([g.reshape(t, h, w) for g in got], axis=1)

    def latents(self, grids: list) -> GridLatents:
        return GridLatents(theta=self.theta, grids=grids)


def _read_geometric_model(cur, net, where: str) -> _GeometricModel:
    n = net.levels * net.channels
    vals = cur.fmt(f"{2 * n}H", f"payload of {where} (latent model)")
    theta = np.array(vals[0::2], dtype=np.uint16).reshape(net.levels, net.channels)
    mags = np.array(vals[1::2], dtype=np.int64).reshape(net.levels, net.channels)
    if int(theta.min()) < 1:
        fail(f"{where}: latent model theta 0 (must be 1..{THETA_ONE - 1})")
    if int(mags.max()) > MAX_MAGNITUDE:
        fail(f"{where}: latent magnitude {int(mags.max())} exceeds {MAX_MAGNITUDE}")
    return _GeometricModel(theta, mags, 4 * n)


@dataclass
class _ContextModel:
    laws: list  # per level uint16 (channels, laws, 2)
    mags: list  # per level int64 (channels, laws)
    bytes: int

    def decode(self, net, li: int, words, t: int, h: int, w: int, what: str) -> np.ndarray:
        """The mirror of law_runs: each run's size (a context's cells) known from the frame before."""
        from ..model.grid import CONTEXTS, difference_contexts

        dec, x = RunDecoder(words, what), np.zeros((t, net.channels, h, w), dtype=np.int64)
        for c in range(net.channels):
            law = [(int(p0), int(th), int(m)) for (p0, th), m in zip(self.laws[li][c], self.mags[li][c])]
            if net.laws(li) == 1:
                x[:, c] = dec.take(t * h * w, law[0]).reshape(t, h, w)
                continue
            for f in range(min(2, t)):
                x[f, c] = dec.take(h * w, law[f]).reshape(h, w)
            for f in range(2, t):
                ctx = difference_contexts(x[f - 1, c])
                for k in range(CONTEXTS):
                    cells = ctx == k
                    x[f, c][cells] = dec.take(int(cells.sum()), law[2 + k])
        dec.finish()
        return x

    def latents(self, grids: list) -> GridLatents:
        return GridLatents(theta=None, grids=grids, laws=self.laws)


def _read_offsets(cur, header, frames: int, where: str) -> np.ndarray | None:
    """grid_motion's block: u8 0 (no motion), or 1 and each frame's (x, y) window offset, u16 each,
    within the frame's width and height (so a canvas is at most twice the frame on each axis)."""
    (moving,) = cur.fmt("B", f"payload of {where} (motion)")
    if moving > 1:
        fail(f"{where}: motion flag {moving} (must be 0 or 1)")
    if not moving:
        return None
    off = np.array(cur.fmt(f"{2 * frames}H", f"payload of {where} (frame offsets)"), dtype=np.int64).reshape(frames, 2)
    if int(off[:, 0].max()) > header.width or int(off[:, 1].max()) > header.height:
        fail(f"{where}: frame offset ({int(off[:, 0].max())}, {int(off[:, 1].max())}) beyond the frame's "
             f"{header.width}x{header.height}")
    return off


def _read_context_model(cur, net, where: str) -> _ContextModel:
    laws, mags, size = [], [], 0
    for li in range(net.levels):
        n = net.channels * net.laws(li)
        vals = np.array(cur.fmt(f"{3 * n}H", f"payload of {where} (latent model {li})"), dtype=np.int64).reshape(net.channels, -1, 3)
        if int(vals[..., :2].min()) < 1:
            fail(f"{where}: latent law of grid {li} with p0 or theta 0 (must be 1..{THETA_ONE - 1})")
        if int(vals[..., 2].max()) > MAX_MAGNITUDE:
            fail(f"{where}: latent magnitude {int(vals[..., 2].max())} exceeds {MAX_MAGNITUDE}")
        laws.append(vals[..., :2].astype(np.uint16))
        mags.append(vals[..., 2])
        size += 6 * n
    return _ContextModel(laws, mags, size)


def build_grid_synthesis(config, width: int, height: int, seed: int, sparsity: tuple[float, ...], device):
    """A fresh synthesis for fitting: seeded signs (the decoder's), N(0, 1) scores from the seed."""
    from ..model.grid import GridSynthesis, layer_gains
    from ..model.masked import SupermaskWeight
    from ..model.rng import random_signs

    gen = torch.Generator().manual_seed(int(seed))
    weights = []
    for i, ((_, shape), gain) in enumerate(zip(config.layer_shapes(), layer_gains(config))):
        signs = torch.from_numpy(random_signs(seed, i, shape)).to(device)
        weights.append(SupermaskWeight(signs, sparsity, math.prod(shape[1:]), gain, generator=gen))
    return GridSynthesis(config, width, height, weights)


def inflated_bits(y: torch.Tensor, logits: torch.Tensor, law) -> torch.Tensor:
    """Bits of latents y (1, C, h, w) under zero-inflated laws (entropy/inflated.py) of
    p0 = sigmoid(logits[c, j, 0]), theta = sigmoid(logits[c, j, 1]), law j per cell (an int, or a
    (C, h, w) index tensor): exact at integers, linear in |y| between them (the noise proxy's
    continuous relaxation): b(0) = -log2 p0, b(1) = -log2((1 - p0) (1 - theta) / 2), slope -log2 theta beyond 1."""
    p = torch.sigmoid(logits).clamp(1e-6, 1 - 1e-6)
    p0, theta = p[..., 0], p[..., 1]
    b0, b1, slope = -torch.log2(p0), 1.0 - torch.log2((1 - p0) * (1 - theta)), -torch.log2(theta)
    if isinstance(law, int):
        b0, b1, slope = (v[:, law].view(1, -1, 1, 1) for v in (b0, b1, slope))
    else:
        idx = law.reshape(law.shape[0], -1)
        b0, b1, slope = (v.gather(1, idx).view(1, *law.shape) for v in (b0, b1, slope))
    a = y.abs()
    return (b0 + (b1 - b0) * a.clamp(max=1.0) + slope * (a - 1.0).clamp(min=0.0)).sum()


def latent_bits(y: torch.Tensor, logit: torch.Tensor) -> torch.Tensor:
    """Bits of latents y (B, C, h, w) under the two-sided geometric law of theta = sigmoid(logit)
    per channel: -log2((1 - theta) / (1 + theta)) - |y| log2(theta), summed."""
    theta = torch.sigmoid(logit).clamp(1e-6, 1 - 1e-6).view(1, -1, 1, 1)
    per = -torch.log2((1 - theta) / (1 + theta)) - y.abs() * torch.log2(theta)
    return per.sum()


class GridFitter(nn.Module):
    """Fits one segment's latents and masked synthesis; the duck-typed Fitter that FitContext.run
    drives (run, steps_per_epoch, state_dict, load_state_dict)."""

    def __init__(self, net, frames: np.ndarray, info, opts, lmbda: float, device: torch.device, offsets=None) -> None:
        super().__init__()
        from ..fit.parts import SupermaskParts
        from ..video.colour import through_420, yuv420_to_rgb

        self.net, self.info, self.opts, self.lmbda, self.device = net, info, opts, lmbda, device
        self._rgb = yuv420_to_rgb
        self._as_decoded = (lambda out: through_420(out, info)) if opts.loss_420 else (lambda out: out)
        self.frames = torch.from_numpy(frames).to(device)
        self.count = frames.shape[0]
        cfg = net.config
        # with motion the grids are the group's canvas, frame i its window at offsets[i]
        self.offsets = None if offsets is None else np.asarray(offsets, dtype=np.int64)
        self.shapes = cfg.canvas_shapes(info.width, info.height, offset_span(offsets))
        # grid li of frame i is latents[self.slot[li] + (i if the grid is per frame else 0)]
        self.held = [cfg.grid_frames(li, self.count) for li in range(cfg.levels)]
        self.slot = [sum(self.held[:li]) for li in range(cfg.levels)]
        self.latents = nn.ParameterList([nn.Parameter(torch.zeros((cfg.channels, h, w), device=device))
                                         for (h, w), t in zip(self.shapes, self.held) for _ in range(t)])
        from ..model.grid import CONTEXT_LAWS

        laws = (cfg.levels, cfg.channels, CONTEXT_LAWS, 2) if cfg.context else (cfg.levels, cfg.channels)
        self.logits = nn.Parameter(torch.zeros(laws, device=device))
        self.parts = SupermaskParts(list(net.weights))
        groups = self.parts.param_groups(opts)
        groups.append({"params": list(self.latents), "lr": LATENT_LR, "base_lr": LATENT_LR})
        groups.append({"params": [self.logits], "lr": MODEL_LR, "base_lr": MODEL_LR})
        self.optimizer = torch.optim.Adam(groups)
        self.inner = INNER
        self.steps_per_epoch = self.count  # frame visits, as progress counts them (each `inner` optimiser steps)
        self.total_steps = self.count * self.inner * opts.epochs
        self.generator = torch.Generator().manual_seed(opts.seed)
        self.noise = torch.Generator(device=device).manual_seed(opts.seed + 1)
        self.epoch, self.step, self.seconds = 0, 0, 0.0
        self.perm: torch.Tensor | None = None
        self.psnr = float("nan")

    def grids(self, i: int) -> list[torch.Tensor]:
        return [self.latents[self.slot[li] + (i if t > 1 else 0)] for li, t in enumerate(self.held)]

    @torch.no_grad()
    def _warm_start(self, i: int) -> None:
        """Frame i's per-frame latents start from frame i - 1's, fitted just before (consecutive
        frames look alike, so the visit starts near its answer)."""
        for li, t in enumerate(self.held):
            if t > 1 and not self.net.config.residual_grid(li):  # a residual grid's frames start at zero difference already
                self.latents[self.slot[li] + i].copy_(self.latents[self.slot[li] + i - 1])

    def _quantised(self, g: torch.Tensor) -> torch.Tensor:
        if self.step < (1.0 - LATE) * self.total_steps:
            return g + torch.rand(g.shape, generator=self.noise, device=g.device) - 0.5
        return g + (torch.round(g) - g).detach()

    def _frame_grids(self, i: int) -> list[torch.Tensor]:
        """Frame i's quantised grids (each (1, C, h, w)) and the values the file codes for them.
        A residual grid's parameters are the frame differences r_s themselves (so that a
        difference of zero is what the rate term pulls them to, exactly): frame i's latents are
        the rounded earlier differences (straight-through) plus its own, quantised as every grid's."""
        out = []
        for li, g in enumerate(self.grids(i)):
            q = self._quantised(g)[None]
            if self.net.config.residual_grid(li) and i > 0:
                past = torch.stack([self.latents[self.slot[li] + s] for s in range(i)])
                raw = past.sum(0)
                out.append((q + (raw + (torch.round(past).sum(0) - raw).detach())[None], q))
            else:
                out.append((q, q))
        return out

    def _bits(self, i: int, li: int, coded: torch.Tensor) -> torch.Tensor:
        """Estimated bits of frame i's coded values of grid li under the model the file will use."""
        from ..model.grid import difference_contexts

        cfg = self.net.config
        if not cfg.context:
            return latent_bits(coded, self.logits[li])
        if cfg.laws(li) == 1 or i < 2:
            return inflated_bits(coded, self.logits[li], 0 if cfg.laws(li) == 1 else i)
        prev = torch.round(self.latents[self.slot[li] + i - 1].detach())  # d_(i-1), as the decoder has it
        return inflated_bits(coded, self.logits[li], 2 + difference_contexts(prev))

    def train_step(self, i: int) -> torch.Tensor:
        from ..fit.trainer import lr_factor

        self.parts.before_step(self.opts)
        f = lr_factor(self.step, self.total_steps, self.opts.warmup)
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * f
        self.optimizer.zero_grad(set_to_none=True)
        target = self._rgb(self.frames[i : i + 1], self.info)
        pairs = self._frame_grids(i)
        out = self._as_decoded(self.net.synthesize([y for y, _ in pairs], offsets=self._window(i)))
        mse = F.mse_loss(out, target)
        # a shared grid's bits are paid once per segment: each frame's step carries its share
        bits = sum(self._bits(i, li, c) * (1.0 if t > 1 else 1.0 / self.count)
                   for li, ((_, c), t) in enumerate(zip(pairs, self.held)))
        loss = mse + self.lmbda * bits / (self.info.width * self.info.height)
        loss.backward()
        self.optimizer.step()
        self.step += 1
        return mse.detach()

    def _window(self, i: int):
        return None if self.offsets is None else [tuple(int(v) for v in self.offsets[i])]

    def run(self, on_epoch=None, should_stop=None, on_step=None) -> bool:
        from ..fit.trainer import EpochReport

        while self.epoch < self.opts.epochs:
            t0 = time.perf_counter()
            warm = WARM and self.epoch == 0
            if self.perm is None:  # this epoch's frame order (fitter state: a resumed epoch keeps it)
                self.perm = torch.arange(self.count) if warm else torch.randperm(self.count, generator=self.generator)
            total = torch.zeros((), device=self.device)
            # an epoch interrupted between frame visits resumes at the next one
            start = self.step // self.inner - self.epoch * self.count
            for pos in range(start, self.count):
                if should_stop is not None and should_stop():
                    self.seconds += time.perf_counter() - t0
                    return False
                i = int(self.perm[pos])
                if warm and i > 0:
                    self._warm_start(i)
                for _ in range(self.inner):
                    total += self.train_step(i)
                if on_step is not None:
                    on_step(self.step // self.inner)
            self.perm = None
            self.epoch += 1
            psnr = self.evaluate() if self.epoch == self.opts.epochs else None
            self.seconds += time.perf_counter() - t0
            if on_epoch is not None:
                on_epoch(EpochReport(self.epoch, self.opts.epochs, float(total) / (self.count * self.inner), psnr, psnr))
        return True

    # the stored state: frozen levels, scales, rounded latents
    def payload(self) -> list:
        from ..model.masked import refresh_masks

        refresh_masks(list(self.net.weights), exact=self.opts.exact_thresholds)
        layers = [LayerPayload(scales=m.scales().detach().cpu().numpy().astype(np.float32),
                               levels=m.level.to("cpu", torch.uint8).numpy().reshape(-1)) for m in self.net.weights]
        cfg = self.net.config
        n = len(self.shapes)
        grids, theta, laws = [], np.zeros((n, cfg.channels), dtype=np.uint16), []
        for li in range(n):
            g = torch.round(torch.stack([self.latents[self.slot[li] + i].detach() for i in range(self.held[li])]))
            bound = MAX_MAGNITUDE
            if cfg.residual_grid(li):  # the parameters are the differences
                g, bound = torch.cumsum(g, 0), MAX_MAGNITUDE // 2  # |y| <= 2047 keeps every difference codable
            g = g.clamp_(-bound, bound).to("cpu", torch.int16).numpy()
            grids.append(g)
            coded = cfg.coded(li, g.astype(np.int64))
            if cfg.context:  # each law fitted to the values it will code
                p = np.zeros((cfg.channels, cfg.laws(li), 2), dtype=np.uint16)
                for c in range(g.shape[1]):
                    runs = list(law_runs(cfg, li, coded[:, c]))
                    for law in range(cfg.laws(li)):
                        p[c, law] = fit_law(np.concatenate([v for j, v in runs if j == law] or [np.zeros(0, np.int64)]))
                laws.append(p)
            else:
                for c in range(g.shape[1]):
                    theta[li, c] = fit_theta(coded[:, c])
        offsets = None if self.offsets is None else self.offsets.copy()
        if cfg.context:
            return layers + [GridLatents(theta=None, grids=grids, laws=laws, offsets=offsets)]
        return layers + [GridLatents(theta=theta, grids=grids, offsets=offsets)]

    @torch.no_grad()
    def evaluate(self) -> float:
        """RGB PSNR of the segment as the decoder renders it (rounded latents, the current levels)."""
        from ..metrics.quality import mse_to_psnr
        from ..model.masked import fold_weight

        layers = self.payload()
        w = [fold_weight(m.signs, torch.from_numpy(lp.levels.astype(np.int64)).to(self.device).view(m.signs.shape),
                         torch.from_numpy(lp.scales).to(self.device)) for m, lp in zip(self.net.weights, layers)]
        se = 0.0
        for i in range(self.count):
            grids = [torch.from_numpy(g[i : i + 1] if g.shape[0] > 1 else g).float().to(self.device) for g in layers[-1].grids]
            out = self._as_decoded(self.net.synthesize(grids, w, self._window(i)).clamp_(0, 1))
            se += float((out - self._rgb(self.frames[i : i + 1], self.info)).square().sum())
        self.psnr = mse_to_psnr(se / (self.count * 3 * self.info.width * self.info.height))
        return self.psnr

    def outcome(self) -> FitOutcome:
        if math.isnan(self.psnr):
            self.evaluate()
        return FitOutcome(self.payload(), self.psnr, self.seconds)

    def state_dict(self, *args, **kwargs) -> dict:  # noqa: D401 - the checkpoint's state, not nn.Module's
        return {"params": {k: v.detach().cpu() for k, v in super().state_dict().items()},
                "optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state(),
                "noise": self.noise.get_state().cpu(), "epoch": self.epoch, "step": self.step, "seconds": self.seconds,
                "perm": self.perm if self.perm is not None else torch.empty(0, dtype=torch.long)}

    def load_state_dict(self, state: dict, *args, **kwargs) -> None:
        super().load_state_dict(state["params"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.noise.set_state(state["noise"])
        self.epoch, self.step, self.seconds = int(state["epoch"]), int(state["step"]), float(state["seconds"])
        self.perm = state["perm"] if state["perm"].numel() else None
