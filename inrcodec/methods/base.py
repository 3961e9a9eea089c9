"""What a method is: everything inrcodec does differently for it, behind one interface.

A method owns its options (its own validated dataclass, read from the user-facing EncodeOptions),
how its network is built and fitted for one segment, how its layers are written to and read from a
segment's payload, how the decoder rebuilds its network, its size estimate for rate control and
its decode cost. Nothing outside inrcodec/methods names a method; docs/architecture.md says how
to add one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..bitstream.cursor import Cursor, fail
from ..bitstream.limits import DecodeCost, nerv_cost
from ..model.config import NetworkConfig


@dataclass
class FitContext:
    """One segment's fit, as a method receives it: nothing global, all of it picklable but `run`."""

    frames: np.ndarray  # uint8 I420 frames of the segment (T, H*W*3/2)
    info: Any  # video.clip.VideoInfo
    network: NetworkConfig
    seed: int
    fit: Any  # fit.trainer.FitOptions
    device: torch.device
    state: dict | None  # a checkpointed state of this segment's fit, to continue from
    # run(fitter, extra_state, epochs): fit to the end with progress, periodic checkpoints of
    # {fitter state, **extra_state} and stopping on request; `epochs` = (offset, total) renumbers
    # the reported epochs when a segment is fitted in stages
    run: Callable[..., None]


@dataclass
class FitOutcome:
    layers: list  # the method's payload layers, in network.layer_shapes() order
    psnr: float  # the fit's best RGB PSNR (of the fitted network, not of a decoded file)
    seconds: float


class Method:
    """The interface; see supermask.py and trained.py for the two families."""

    name: str
    id: int  # the bitstream's method id (registry order, fixed forever)
    summary: str  # one line for --help
    options_used: tuple[str, ...] = ()  # EncodeOptions fields it reads (others warn on the CLI)
    lr_option: str = "lr_scores"  # the FitOptions learning rate that --lr sets
    exact_rate: bool = False  # whether size_estimate is exact (no correcting re-encodes needed)
    coded_weights: str = "coded weights"  # what its payload codes per weight, for messages
    # its own tuning for comparisons (bench), measured in docs/results.md ("Tuning each method"):
    # FitOptions and EncodeOptions fields on top of the shared settings
    tuned_fit: dict = {}
    tuned_options: dict = {}
    rate_sections: tuple[str, ...] = ()  # prefixes of the size-breakdown sections that grow with the weights
    min_version = 1  # the first bitstream version that can hold this method
    default_segment_frames: int | None = None  # frames per segment without --segment-frames (None: one segment)
    group_plan = None  # a gop.GroupPlan: without --segment-frames, segments split by content instead
    config_fields = "nerv"  # which network fields its header holds (bitstream/fields.py, CONFIG_FIELDS)

    def network(self, options, width: int, height: int):
        """The network config of an encode (stored in the header): the preset's NeRV plan."""
        from ..model.config import plan_network

        return plan_network(width, height, options.preset_name, stem_hidden=options.stem_hidden, c0=options.c0,
                            c_min=options.c_min)

    def validate_network(self, net, width: int, height: int) -> None:
        """BitstreamError when the header's network config is not a valid one of this method."""
        from ..bitstream.header import validate_nerv_network
        from ..model.config import NetworkConfig

        if not isinstance(net, NetworkConfig):
            fail(f"method {self.name!r} needs a NeRV network config")
        validate_nerv_network(net, width, height)

    def rate_overrides(self, bpp: float, tries: list[tuple[dict, float]]) -> dict | None:
        """Rate control's next trial as EncodeOptions overrides, given the earlier trials'
        (overrides, real bpp); None: the widths are searched (rate.py), as for the NeRV methods."""
        return None

    def config(self, options) -> Any:
        """The method's own options from EncodeOptions, validated (InputError)."""
        raise NotImplementedError

    def header_sparsity(self, cfg) -> tuple[float, ...]:
        """What the header's sparsity field holds for this method."""
        raise NotImplementedError

    def check_sparsity_count(self, k: int) -> None:
        """BitstreamError when the header's K is not one this method stores."""
        raise NotImplementedError

    def settings(self, cfg) -> dict:
        """Everything of its options that shapes the fitted result (what a resume must match)."""
        raise NotImplementedError

    def fit(self, ctx: FitContext, cfg) -> FitOutcome:
        raise NotImplementedError

    def write_layer(self, header, where: str, shape: tuple[int, ...], layer) -> bytes:
        """One layer's payload bytes (ValueError for a malformed layer)."""
        raise NotImplementedError

    def read_layer(self, cur: Cursor, header, where: str, name: str, n: int, sizes: dict, decode: bool):
        """Validate (and with `decode`, entropy-decode) one layer at the cursor, adding its bytes to
        `sizes`; None without `decode`."""
        raise NotImplementedError

    def write_payload(self, header, index: int, layers: list, frames: int | None = None) -> bytes:
        """One segment's payload: its layers in the network's order, each written by write_layer."""
        shapes = header.network.layer_shapes()
        if len(layers) != len(shapes):
            raise ValueError(f"segment {index} has {len(layers)} layers, the network has {len(shapes)}")
        out = bytearray()
        for (name, shape), layer in zip(shapes, layers):
            out += self.write_layer(header, f"segment {index} layer {name}", shape, layer)
        return bytes(out)

    def read_payload(self, cur: Cursor, header, index: int, frames: int, sizes: dict, decode: bool) -> list:
        """Walk (and with `decode`, decode) one segment's payload at the cursor: its layers in the
        network's order, each read by read_layer."""
        return [self.read_layer(cur, header, f"segment {index} layer {name}", name, math.prod(shape), sizes, decode)
                for name, shape in header.network.layer_shapes()]

    def render(self, net, t: torch.Tensor, budget: int) -> torch.Tensor:
        """Frames at positions t from the decoder's network, activations within `budget` bytes."""
        from ..model.strips import render

        return render(net, t, budget)

    def sections(self, header) -> dict[str, int]:
        """The size breakdown's payload sections, in order, all at zero."""
        raise NotImplementedError

    def decoder_network(self, header, seed: int, layers: list, device: torch.device) -> torch.nn.Module:
        raise NotImplementedError

    def size_estimate(self, width: int, height: int, frames: int, options, cfg) -> tuple[float, float]:
        """(coded bits per weight, bytes besides the weights) of a file of these options."""
        raise NotImplementedError

    def weight_bits(self, cfg) -> Callable | None:
        """network -> coded bits of its weights, where the bits per weight differ between layers
        (rate control then sizes the network by it); None: size_estimate's bits per weight hold
        for every layer."""
        return None

    def decode_cost(self, config: NetworkConfig, width: int, height: int) -> DecodeCost:
        return nerv_cost(config, width, height)


def flat_integers(array, shape: tuple[int, ...], what: str) -> np.ndarray:
    """An integer payload array given flat (n,) or in the weight's shape, returned flat."""
    a = np.asarray(array)
    n = math.prod(shape)
    if a.shape not in ((n,), tuple(shape)) or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{what} must be integers of shape ({n},) or {tuple(shape)}, got {a.dtype} {a.shape}")
    return a.reshape(-1)


__all__ = ["FitContext", "FitOutcome", "Method", "fail", "flat_integers"]
