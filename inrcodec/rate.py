"""Rate control, for every entry point (encode --bpp, the default rate, bench): network widths for a
target bits per pixel, and the correction loop that re-encodes when the file misses.

Each method supplies its size estimate (Method.size_estimate): exact for the supermask methods
(their levels cost the entropy the sparsities imply, everything else is fixed by the network's
shape), a first guess for the trained methods, whose bits per weight depend on the trained weights.
The widths are the preset's, scaled on a fine grid, so that the network has the weight count the
target asks for; after an encode that misses by more than TOLERANCE, the measured bits per weight
and fixed bytes replace the estimate and the widths are chosen again.
"""

from __future__ import annotations

import ast
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from .methods.supermask import level_entropy_bits  # noqa: F401  (part of the rate API)
from .model.config import PRESETS, plan_network
from .video.clip import Clip

# The rate of an encode that names no rate, preset or width, as CRF 23 is x264's: x264's CRF 23
# lands at 0.07-0.25 bpp on our clips, and our fits gain little past 0.2 (docs/results.md).
DEFAULT_BPP = 0.2
TOLERANCE = 0.05  # a file within 5 % of its target is on target
MAX_TRIES = 3  # encodes of a method whose estimate is a guess


@dataclass(frozen=True)
class Extent:
    """What rate control needs of a clip: its geometry and frame count (a streamed input's segment
    stands for the clip: every segment has the same network)."""

    info: object  # video.clip.VideoInfo
    frames: int

    def __len__(self) -> int:
        return self.frames


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
    return widths_for_bits(width, height, preset, target_weights, lambda net: net.num_weights())


def widths_for_bits(width: int, height: int, preset: str, target_bits: float, bits_of: Callable) -> dict:
    """Width overrides whose network's coded weight bits (`bits_of(network)`) are closest to
    `target_bits` (log distance): the search for every method, its bits per weight equal in every
    layer (widths_for_weights) or not."""
    best, best_err = None, math.inf
    for cand in candidate_widths(preset):
        err = abs(math.log(bits_of(plan_network(width, height, preset, **cand)) / max(target_bits, 1.0)))
        if err < best_err:
            best, best_err = cand, err
    assert best is not None
    return best


def first_estimate(clip: Clip | Extent, opts) -> tuple[float, float]:
    """(bits per weight, bytes besides the weights) of a file of these options, from the method."""
    return opts.method_impl.size_estimate(clip.info.width, clip.info.height, len(clip), opts, opts.method_config())


def measured_estimate(data: bytes, opts, width: int, height: int) -> tuple[float, float]:
    """(bits per weight, bytes besides the weights) measured on an encoded file: the method's
    weight sections of its size breakdown against everything else."""
    from .bitstream.format import open_slt

    _, _, sections = open_slt(data)
    payload = sum(v for k, v in sections.items() if k.startswith(opts.method_impl.rate_sections))
    return max(0.05, 8 * payload / opts.network(width, height).num_weights()), len(data) - payload


def widths_for_bpp(clip: Clip | Extent, opts, bpp: float, bits_per_weight: float | None = None,
                   overhead: float | None = None) -> dict:
    """Width overrides (stem_hidden, c0, c_min) putting the file near `bpp` for this clip: from the
    method's estimate, or from the bits per weight and fixed bytes measured on an earlier file."""
    first = bits_per_weight is None or overhead is None
    if first:
        bits_per_weight, overhead = first_estimate(clip, opts)
    target_bytes = bpp * clip.info.width * clip.info.height * len(clip) / 8
    bits = max(8 * (target_bytes - overhead), 64.0)
    bits_of = opts.method_impl.weight_bits(opts.method_config()) if first else None
    if bits_of is not None:
        return widths_for_bits(clip.info.width, clip.info.height, opts.preset_name, bits, bits_of)
    return widths_for_weights(clip.info.width, clip.info.height, opts.preset_name, bits / bits_per_weight)


def encode_at_bpp(clip: Clip, opts, bpp: float, encode: Callable[[object, int], bytes],
                  max_tries: int | None = None, start: dict | None = None) -> tuple[bytes, object, float]:
    """Encode (`encode(options, trial)`) with widths chosen to land within TOLERANCE of `bpp`;
    returns (data, options, seconds of the kept encode). A method with an exact estimate is encoded
    once unless `max_tries` says otherwise; the others up to MAX_TRIES times, each time with the
    bits per weight and fixed bytes measured on the previous file. `start` gives the first trial's
    widths (a resumed encode continues with the widths its checkpoint was made with)."""
    if max_tries is None:
        max_tries = 1 if opts.method_impl.exact_rate else MAX_TRIES
    info = clip.info
    pixels = info.width * info.height * len(clip)
    bits_per_weight = overhead = None  # the method's estimate first, then what the last file measured
    best, tries = None, []
    for trial_no in range(max_tries):
        widths = opts.method_impl.rate_overrides(bpp, tries)  # a method's own search (slt-grid: lambda)
        if widths is None:
            widths = start if trial_no == 0 and start else widths_for_bpp(clip, opts, bpp, bits_per_weight, overhead)
        trial = replace(opts, **widths)
        t0 = time.perf_counter()
        data = encode(trial, trial_no)
        seconds = time.perf_counter() - t0
        real = 8 * len(data) / pixels
        tries.append((widths, real))
        if best is None or abs(real / bpp - 1) < abs(best[2] / bpp - 1):
            best = (data, trial, real, seconds)
        if abs(real / bpp - 1) <= TOLERANCE:
            break
        bits_per_weight, overhead = measured_estimate(data, trial, info.width, info.height)
    assert best is not None
    return best[0], best[1], best[3]


def checkpoint_widths(fingerprint: dict) -> dict | None:
    """The widths a checkpoint's encode was made with (None when it chose none)."""
    try:
        widths = ast.literal_eval(fingerprint.get("widths", "None"))
    except (ValueError, SyntaxError):
        return None
    if not (isinstance(widths, tuple) and len(widths) == 3 and all(isinstance(w, int) for w in widths)):
        return None
    return dict(zip(("stem_hidden", "c0", "c_min"), widths))
