"""The latent-grid network of `slt-grid`: per frame, multi-resolution 2-D grids of integer latents,
each upsampled (bilinear) to the frame, stacked, then a small convolutional synthesis whose weights
are random from the seed and selected by hierarchical supermasks with learned scales (the same
SupermaskWeight layers as the NeRV methods). The frame index only picks the frame's latents.

    latents (levels x channels grids, the finest 2^-first of the frame, each half the last)
      -> bilinear upsampling to H x W -> stack (levels * channels maps)
      -> 1x1 conv to `hidden` -> GELU -> `layers` x (1x1 conv hidden -> hidden -> GELU)
      -> kernel x kernel conv hidden -> 3 (zero padding) -> + 0.5

No biases, no normalisation: what the network computes comes from the seeded signs, the stored
levels and scales, and the stored latents.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

GELU_GAIN = 1.534  # as model/nerv.py: keeps the activations' RMS through a GELU layer


@dataclass(frozen=True)
class GridConfig:
    """The shape of an slt-grid network (stored in a version-2 header in place of NeRV's fields)."""

    first: int  # log2 of the finest grid's downsampling (0: full resolution)
    levels: int  # grids per frame, each half the resolution of the last
    channels: int  # latent channels per grid
    hidden: int  # synthesis width
    layers: int  # hidden 1x1 layers after the first
    kernel: int  # the last convolution's kernel (odd)
    shared: int = 0  # the coarsest grids held once per segment, for all its frames (0: every grid per frame)
    residual: bool = False  # per-frame grids coded as differences from the frame before (version 3 on)
    context: bool = False  # zero-inflated laws, the differences' chosen by temporal context (version 4 on; needs residual)
    motion: bool = False  # a segment may hold frame offsets: its grids are a canvas that the camera moves over (version 5 on)

    def residual_grid(self, level: int) -> bool:
        """Whether grid `level` is coded as frame differences (a per-frame grid of a residual config)."""
        return self.residual and level < self.levels - self.shared

    def laws(self, level: int) -> int:
        """Laws a context config stores for each channel of grid `level`: one, or for a residual
        grid CONTEXT_LAWS (the first frame, the first difference, then one per context)."""
        return CONTEXT_LAWS if self.context and self.residual_grid(level) else 1

    def coded(self, level: int, grid):
        """The values a file codes for grid `level` (T, C, h, w) of integers: the grid itself, or for
        a residual per-frame grid its first frame and then each frame's difference from the one
        before (numpy or torch)."""
        if not self.residual_grid(level):
            return grid
        cat = torch.cat if isinstance(grid, torch.Tensor) else np.concatenate
        return cat([grid[:1], grid[1:] - grid[:-1]], 0)

    def uncoded(self, level: int, coded: np.ndarray) -> np.ndarray:
        """The grid whose coded values are `coded` (int64: the running sum over frames)."""
        if not self.residual_grid(level):
            return coded
        return np.cumsum(coded.astype(np.int64), axis=0)

    def grid_frames(self, level: int, frames: int) -> int:
        """Frames of latents grid `level` holds in a segment of `frames` frames (1 when shared)."""
        return 1 if level >= self.levels - self.shared else frames

    def segment_latents(self, width: int, height: int, frames: int, span: tuple[int, int] = (0, 0)) -> int:
        return self.channels * sum(self.grid_frames(li, frames) * h * w
                                   for li, (h, w) in enumerate(self.canvas_shapes(width, height, span)))

    def canvas_shapes(self, width: int, height: int, span: tuple[int, int] = (0, 0)) -> list[tuple[int, int]]:
        """(rows, columns) of each grid of a segment whose frames' offsets reach span = (x, y)
        pixels: the grids cover the canvas of width + x by height + y pixels (span (0, 0): the frame)."""
        return self.grid_shapes(width + span[0], height + span[1])

    def grid_shapes(self, width: int, height: int) -> list[tuple[int, int]]:
        """(rows, columns) of each grid: ceil(frame / 2^(first + level))."""
        return [(-(-height // (1 << s)), -(-width // (1 << s))) for s in range(self.first, self.first + self.levels)]

    def latents_per_frame(self, width: int, height: int) -> int:
        return self.channels * sum(h * w for h, w in self.grid_shapes(width, height))

    def layer_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """(name, weight shape) of every masked layer, in bitstream order (conv weights: out, in, k, k)."""
        c_in, k = self.levels * self.channels, self.kernel
        shapes = [("in", (self.hidden, c_in, 1, 1))]
        shapes += [(f"hidden{i}", (self.hidden, self.hidden, 1, 1)) for i in range(self.layers)]
        shapes.append(("out", (3, self.hidden, k, k)))
        return shapes

    def num_weights(self) -> int:
        return sum(math.prod(shape) for _, shape in self.layer_shapes())

    def macs_per_pixel(self) -> int:
        """Multiply-adds per output pixel: 4 per upsampled map (bilinear) plus the convolutions."""
        c_in = self.levels * self.channels
        return 4 * c_in + self.hidden * c_in + self.layers * self.hidden**2 + 3 * self.hidden * self.kernel**2

    def summary(self) -> dict:
        return {"grid_first": self.first, "grid_levels": self.levels, "grid_channels": self.channels, "grid_shared": self.shared,
                "hidden": self.hidden, "layers": self.layers, "kernel": self.kernel, "grid_residual": int(self.residual),
                "grid_context": int(self.context), "grid_motion": int(self.motion)}


CONTEXT_LAWS = 5  # per residual grid and channel: law 0 codes d_0, law 1 d_1, law 2 + k the cells of context k
CONTEXTS = 3  # a cell of d_t (t >= 2) is in context 0, 1 or 2 when 0, 1-2 or >= 3 of its 3x3 neighbours in d_(t-1) are non-zero


def difference_contexts(prev):
    """The context (0, 1, 2) of every cell of a frame difference d_t from the one before, `prev`
    (integers, (..., rows, columns), numpy or torch): how many of the 3x3 cells around it (zero
    outside the grid) are non-zero in d_(t-1), in buckets 0 / 1-2 / 3+. Motion persists, so a
    difference is likely where the last one was."""
    if isinstance(prev, torch.Tensor):
        nz = (prev != 0).to(torch.float32)
        shape = nz.shape
        count = F.conv2d(nz.reshape(-1, 1, *shape[-2:]), nz.new_ones((1, 1, 3, 3)), padding=1).reshape(shape)
        return (count >= 1).to(torch.long) + (count >= 3).to(torch.long)
    nz = np.pad((np.asarray(prev) != 0).astype(np.int64), [(0, 0)] * (np.ndim(prev) - 2) + [(1, 1), (1, 1)])
    h, w = np.shape(prev)[-2:]
    count = sum(nz[..., dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3))
    return (count >= 1).astype(np.int64) + (count >= 3).astype(np.int64)


def offset_span(offsets) -> tuple[int, int]:
    """(x, y): the largest frame offsets of a segment ((frames, 2) integers), (0, 0) without motion;
    its canvas is the frame plus this (GridConfig.canvas_shapes)."""
    if offsets is None:
        return 0, 0
    off = np.asarray(offsets)
    return int(off[:, 0].max()), int(off[:, 1].max())


def _taps(start: int, count: int, scale: int, cells: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bilinear taps of `count` output pixels from pixel `start` along an axis of `cells` cells
    upsampled by `scale` (align_corners False): source (p + 0.5) / scale - 0.5, clamped at 0,
    its two cells (the second clamped at the edge) and the second one's weight, as torch's
    bilinear interpolation computes them."""
    p = torch.arange(start, start + count, device=device, dtype=torch.float32)
    src = ((p + 0.5) / scale - 0.5).clamp_(min=0.0)
    i0 = src.floor().clamp_(max=cells - 1)
    frac = src - i0
    i0 = i0.long()
    return i0, (i0 + 1).clamp_(max=cells - 1), frac


def canvas_window(g: torch.Tensor, scale: int, offset: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """The (rows, columns) = size window at pixel offset (x, y) of canvas grid g (1, C, h, w)
    upsampled bilinearly by exactly `scale` (align_corners False, so pixel p samples the canvas at
    (p + 0.5) / scale - 0.5): separable taps, so the work and memory are those of the window
    whatever the scale (a file's header cannot make it upsample a whole canvas)."""
    (x, y), (rows, cols) = offset, size
    h, w = g.shape[-2:]
    c0, c1, fc = _taps(x, cols, scale, w, g.device)
    r0, r1, fr = _taps(y, rows, scale, h, g.device)
    across = g.index_select(-1, c0) * (1 - fc) + g.index_select(-1, c1) * fc  # (1, C, h, cols)
    return across.index_select(-2, r0) * (1 - fr)[:, None] + across.index_select(-2, r1) * fr[:, None]


def layer_gains(config: GridConfig) -> list[float]:
    return [GELU_GAIN] * (len(config.layer_shapes()) - 1) + [1.0]


class GridSynthesis(nn.Module):
    """The synthesis network; `weights` holds one module per layer that returns its weight when
    called (SupermaskWeight while fitting, FixedWeight when decoding)."""

    def __init__(self, config: GridConfig, width: int, height: int, weights: Sequence[nn.Module]) -> None:
        super().__init__()
        self.config, self.width, self.height = config, width, height
        self.weights = nn.ModuleList(weights)

    def layer_weights(self) -> list[torch.Tensor]:
        return [m() for m in self.weights]

    def upsampled(self, grids: Sequence[torch.Tensor], offsets: Sequence[tuple[int, int]] | None = None) -> torch.Tensor:
        """The grids (each (B, C, h, w)) upsampled to the frame and stacked: (B, levels * C, H, W).
        With offsets (one (x, y) per frame of the batch) the grids are a canvas: frame b is the
        window of the canvas upsampled by exactly 2^(first + level) whose top-left pixel is
        offsets[b] (canvas_window)."""
        size = (self.height, self.width)
        if offsets is not None:
            return torch.cat([torch.cat([canvas_window(g[b : b + 1], 1 << (self.config.first + li), o, size)
                                         for li, g in enumerate(grids)], 1) for b, o in enumerate(offsets)], 0)
        return torch.cat([g if tuple(g.shape[-2:]) == size else
                          F.interpolate(g, size=size, mode="bilinear", align_corners=False) for g in grids], 1)

    def hidden_maps(self, x: torch.Tensor, w: Sequence[torch.Tensor]) -> torch.Tensor:
        for wi in w[:-1]:
            x = F.gelu(F.conv2d(x, wi))
        return x

    def synthesize(self, grids: Sequence[torch.Tensor], w: Sequence[torch.Tensor] | None = None,
                   offsets: Sequence[tuple[int, int]] | None = None) -> torch.Tensor:
        """RGB (B, 3, H, W) of the frames whose grids (and canvas offsets) are given, the whole frame in one pass."""
        w = self.layer_weights() if w is None else w
        x = self.hidden_maps(self.upsampled(grids, offsets), w)
        return F.conv2d(x, w[-1], padding=self.config.kernel // 2) + 0.5

    def render_rows(self, grids: Sequence[torch.Tensor], budget: int, offsets=None) -> torch.Tensor:
        """The same as synthesize (without gradients) in bands of rows whose activations fit
        `budget` bytes: the hidden maps of a band and its halo, then the last convolution with the
        frame's zero padding where the band touches the frame's edge."""
        w = self.layer_weights()
        x = self.upsampled(grids, offsets)
        b, c_in, h, width = x.shape
        pad = self.config.kernel // 2
        per_row = 4 * b * width * (c_in + 2 * self.config.hidden + 3)
        rows = max(1, budget // per_row - 2 * pad)
        if rows >= h:
            return F.conv2d(self.hidden_maps(x, w), w[-1], padding=pad) + 0.5
        out = x.new_empty((b, 3, h, width))
        for a in range(0, h, rows):
            e = min(h, a + rows)
            lo, hi = max(0, a - pad), min(h, e + pad)
            y = self.hidden_maps(x[:, :, lo:hi], w)
            y = F.pad(y, (pad, pad, pad - (a - lo), pad - (hi - e)))
            out[:, :, a:e] = F.conv2d(y, w[-1]) + 0.5
        return out


class GridDecoderNet(nn.Module):
    """A decoded segment: its latents (float32, per grid (T, C, h, w), or (1, C, h, w) for a grid
    shared by the segment's frames), its frames' canvas offsets (or None) and its folded synthesis.
    Called with frame positions t in [0, 1] (decoder.py), it renders those frames."""

    def __init__(self, synthesis: GridSynthesis, latents: Sequence[torch.Tensor], offsets=None) -> None:
        super().__init__()
        self.synthesis = synthesis
        self.latents = list(latents)
        self.offsets = None if offsets is None else [(int(x), int(y)) for x, y in offsets]
        self.frames = max([int(g.shape[0]) for g in latents] + ([] if offsets is None else [len(self.offsets)]))

    def indices(self, t: torch.Tensor) -> torch.Tensor:
        return torch.round(t.double() * max(self.frames - 1, 1)).long().clamp_(0, self.frames - 1)

    def render(self, t: torch.Tensor, budget: int) -> torch.Tensor:
        idx = self.indices(t).to(self.latents[0].device)
        grids = [g.index_select(0, idx if g.shape[0] == self.frames else torch.zeros_like(idx)) for g in self.latents]
        offsets = None if self.offsets is None else [self.offsets[i] for i in idx.tolist()]
        return self.synthesis.render_rows(grids, budget, offsets)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.render(t, 1 << 62)
