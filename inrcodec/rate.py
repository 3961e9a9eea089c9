"""Rate planning: network widths for a target bits per pixel.

A supermask method's file size is known before fitting: its levels cost the entropy of the level
distribution the sparsities imply, and everything else (header, scales, counts) is fixed by the
network's shape. The trained methods' bits per weight depend on the trained weights, so for them
this is a first guess (`inrcodec bench` corrects it by re-encoding). Widths are the preset's,
scaled on a fine grid, so that the network has the weight count the target asks for.
"""

from __future__ import annotations

import math

import numpy as np

from .bitstream import Header, LayerPayload, Segment, write_slt
from .bitstream.format import QUANT_METHODS
from .encoder import EncodeOptions
from .model.config import PRESETS, plan_network
from .video.clip import Clip

# First guesses of coded bits per weight for the trained methods (8-bit quantisation, entropy
# coded); replaced by the measured figure after each method's first real encode.
GUESS_BITS = {"dense": 6.0, "sparse": 4.5}  # keyed by QUANT_METHODS
GUESS_OVERHEAD = 1100  # bytes per layer of a trained method's value histogram (first guess)

# The rate of an encode that names no rate, preset or width, as CRF 23 is x264's: x264's CRF 23
# lands at 0.07-0.25 bpp on our clips, and our fits gain little past 0.2 (docs/results.md).
DEFAULT_BPP = 0.2


def level_entropy_bits(sparsity: tuple[float, ...]) -> float:
    """Bits per weight of the levels a supermask method codes: H(P(level = j))."""
    density = [1.0] + [1.0 - s for s in sparsity] + [0.0]
    probs = [density[j] - density[j + 1] for j in range(len(sparsity) + 1)]
    return -sum(p * math.log2(p) for p in probs if p > 0)


def candidate_widths(preset: str) -> list[dict]:
    """Width overrides around the preset's ratios: feature widths and stem width scaled on two
    fine geometric grids, so some candidate lands near any weight count."""
    p = PRESETS[preset]
    out = {}
    for i in range(-160, 120):
        s = 1.03**i
        for j in range(-6, 7):
            t = s * 1.06**j
            w = (max(1, round(p.stem_hidden * t)), max(1, round(p.c0 * s)), max(1, round(p.c_min * s)))
            out[w] = {"stem_hidden": w[0], "c0": w[1], "c_min": w[2]}
    return list(out.values())


def widths_for_weights(width: int, height: int, preset: str, target_weights: float) -> dict:
    """Width overrides whose network has the weight count closest to `target_weights`."""
    best, best_err = None, math.inf
    for cand in candidate_widths(preset):
        n = plan_network(width, height, preset, **cand).num_weights()
        err = abs(math.log(n / max(target_weights, 1.0)))
        if err < best_err:
            best, best_err = cand, err
    assert best is not None
    return best


def supermask_overhead_bytes(clip: Clip, opts: EncodeOptions) -> int:
    """Exact bytes of a supermask-method file besides its coded level words (header, segment
    table, scales, counts, word counts, CRC): the size of a file whose levels are all zero."""
    cfg = opts.network(clip.info.width, clip.info.height)
    k = len(opts.resolved_sparsity())
    header = Header(width=clip.info.width, height=clip.info.height, frames=len(clip), fps=clip.info.fps,
                    method=opts.method, sparsity=opts.resolved_sparsity(), network=cfg)
    layers = [LayerPayload(np.ones(k, np.float32), np.zeros(math.prod(shape), np.uint8)) for _, shape in cfg.layer_shapes()]
    return len(write_slt(header, [Segment(0, len(clip), 0, layers)]))


def first_estimate(clip: Clip, opts: EncodeOptions) -> tuple[float, float]:
    """(bits per weight, bytes besides the weights) of a file of this method: exact for the
    supermask methods (up to each layer's last coded word), a guess for dense and sparse."""
    layers = len(opts.network(clip.info.width, clip.info.height).layer_shapes())
    if opts.method in QUANT_METHODS:
        return GUESS_BITS[opts.method], 100 + GUESS_OVERHEAD * layers
    return level_entropy_bits(opts.resolved_sparsity()), supermask_overhead_bytes(clip, opts) + 2 * layers


def widths_for_bpp(clip: Clip, opts: EncodeOptions, bpp: float, bits_per_weight: float | None = None,
                   overhead: float | None = None) -> dict:
    """Width overrides (stem_hidden, c0, c_min) putting the file near `bpp` for this clip."""
    if bits_per_weight is None or overhead is None:
        bits_per_weight, overhead = first_estimate(clip, opts)
    target_bytes = bpp * clip.info.width * clip.info.height * len(clip) / 8
    weights = max(8 * (target_bytes - overhead), 64.0) / bits_per_weight
    return widths_for_weights(clip.info.width, clip.info.height, opts.preset_name, weights)
