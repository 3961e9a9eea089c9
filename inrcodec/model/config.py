"""The network's shape, as explicit numbers. The bitstream stores a NetworkConfig verbatim, so the
decoder rebuilds exactly the encoder's network without knowing anything about presets."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..errors import InputError


@dataclass(frozen=True)
class NetworkConfig:
    """NeRV-style image-wise network.

    t -> PE (2*pe_levels values) -> Linear(2*pe_levels, stem_hidden) -> GELU
      -> Linear(stem_hidden, channels[0]*grid_h*grid_w) -> GELU -> reshape to a grid
      -> per block i: Conv(kernel) channels[i] -> channels[i+1]*strides[i]^2 -> PixelShuffle -> GELU
      -> Conv 1x1 channels[-1] -> 3 -> (tanh + 1) / 2, cropped to the frame size.
    """

    pe_levels: int
    pe_base: float
    stem_hidden: int
    grid_h: int
    grid_w: int
    kernel: int
    strides: tuple[int, ...]
    channels: tuple[int, ...]  # len(strides) + 1

    def __post_init__(self) -> None:
        if len(self.channels) != len(self.strides) + 1:
            raise ValueError("channels must have one more entry than strides")

    @property
    def out_h(self) -> int:
        return self.grid_h * math.prod(self.strides)

    @property
    def out_w(self) -> int:
        return self.grid_w * math.prod(self.strides)

    def layer_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """(name, weight shape) of every masked layer, in bitstream order. Linear weights are
        (out, in); conv weights are (out, in, k, k)."""
        c, k = self.channels, self.kernel
        shapes: list[tuple[str, tuple[int, ...]]] = [
            ("stem0", (self.stem_hidden, 2 * self.pe_levels)),
            ("stem1", (c[0] * self.grid_h * self.grid_w, self.stem_hidden)),
        ]
        for i, s in enumerate(self.strides):
            shapes.append((f"block{i}", (c[i + 1] * s * s, c[i], k, k)))
        shapes.append(("head", (3, c[-1], 1, 1)))
        return shapes

    def num_weights(self) -> int:
        return sum(math.prod(shape) for _, shape in self.layer_shapes())


@dataclass(frozen=True)
class Preset:
    """Widths of a size class; the strides and grid follow from the frame size."""

    stem_hidden: int
    c0: int
    c_min: int
    max_cells: int
    pe_levels: int = 32
    kernel: int = 3
    reduce: float = 2.0  # each block's channels: the previous block's divided by this (at least c_min)


PRESETS: dict[str, Preset] = {
    "tiny": Preset(stem_hidden=16, c0=8, c_min=4, max_cells=64, pe_levels=8),
    # small: the default shape; its channels fall by 1.2 per block (HNeRV's taper) where the others
    # halve them: +0.8 dB at equal rate on tree.avi (docs/results.md, "Densities and network balance")
    "small": Preset(stem_hidden=128, c0=48, c_min=16, max_cells=64, reduce=1.2),
    "medium": Preset(stem_hidden=192, c0=64, c_min=24, max_cells=64),
    "large": Preset(stem_hidden=256, c0=96, c_min=32, max_cells=64),
}
DEFAULT_PRESET = "small"


def choose_strides(width: int, height: int, max_cells: int) -> tuple[tuple[int, ...], int, int]:
    """Pick upsampling strides (one leading factor of 2..5, then 2s) so that the feature grid has at
    most max_cells cells and little padding. Returns (strides, grid_h, grid_w)."""
    best = None
    for n2 in range(0, 9):
        for first in (2, 3, 4, 5):
            strides = (first,) + (2,) * n2
            total = math.prod(strides)
            gh, gw = math.ceil(height / total), math.ceil(width / total)
            cells = gh * gw
            waste = (gh * gw * total * total) / (width * height) - 1.0
            fits = cells <= max_cells
            # Prefer: fits the cell budget, padding below 15%, then the most cells (fewest blocks).
            key = (fits, waste <= 0.15, cells if fits else -cells, -waste)
            if best is None or key > best[0]:
                best = (key, strides, gh, gw)
    assert best is not None
    return best[1], best[2], best[3]


def plan_network(
    width: int,
    height: int,
    preset: str = DEFAULT_PRESET,
    *,
    stem_hidden: int | None = None,
    c0: int | None = None,
    c_min: int | None = None,
    pe_levels: int | None = None,
) -> NetworkConfig:
    """Build the NetworkConfig for a frame size from a preset plus optional width overrides."""
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    p = PRESETS[preset]
    p = replace(
        p,
        stem_hidden=stem_hidden or p.stem_hidden,
        c0=c0 or p.c0,
        c_min=c_min or p.c_min,
        pe_levels=pe_levels or p.pe_levels,
    )
    if min(p.stem_hidden, p.c0, p.c_min, p.pe_levels) < 1:
        raise InputError("network widths must be positive")
    strides, gh, gw = choose_strides(width, height, p.max_cells)
    channels = [p.c0]
    for _ in strides:
        channels.append(max(p.c_min, int(channels[-1] / p.reduce)))
    return NetworkConfig(
        pe_levels=p.pe_levels,
        pe_base=1.25,
        stem_hidden=p.stem_hidden,
        grid_h=gh,
        grid_w=gw,
        kernel=p.kernel,
        strides=strides,
        channels=tuple(channels),
    )
