"""`inrcodec bench`: every neural method and the standard codecs on the same frames at matched bpp,
all measured the same way from decoded output.

Matching the rate: each neural method's widths (stem, first and narrowest feature widths, scaled by
one factor from the preset) are chosen so that its estimated file size hits the target bpp. The
supermask methods' size is known in advance (the entropy of the level distribution their
sparsities imply); the trained methods' bits per weight depend on the trained weights, so they
start from a guess and are re-encoded with the width corrected by the measured bits per weight
while the real bpp is more than 5 % off (at most `max_tries` encodes). Reported bpp is always the
real file size.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from ..bitstream import Header, LayerPayload, Segment, read_slt, write_slt
from ..decoder import Decoder
from ..encoder import EncodeOptions, encode_clip, resolve_device
from ..metrics.video import compare
from ..model.config import PRESETS, plan_network
from ..video.clip import Clip
from .standard import CODECS, encode_standard

NEURAL_METHODS = ("slt", "slt-fixed", "supermask", "dense", "sparse")
STANDARD_CODECS = tuple(c for c in ("x264", "x265", "svtav1") if c in CODECS)
TOLERANCE = 0.05
# First guesses of coded bits per weight for the trained methods (8-bit quantisation, entropy
# coded); replaced by the measured figure after each method's first real encode.
GUESS_BITS = {"dense": 6.0, "sparse": 4.5}
GUESS_OVERHEAD = 1100  # bytes per layer of a trained method's value histogram (first guess)


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


# Each method's own tuning (docs/results.md, "Tuning each method"): 16 frames of tree.avi, 20 epochs,
# learning rates 0.05 / 0.1 / 0.2 for the scores and fixed gains 0.7 / 1 / sqrt(3) (Okoshi et al.'s
# sigma, which saturates); dense and sparse use FitOptions.lr_weights (tuned separately).
TUNED = {"slt": {"lr_scores": 0.1}, "slt-fixed": {"lr_scores": 0.1}, "supermask": {"lr_scores": 0.2}}
TUNED_OPTIONS = {"slt-fixed": {"fixed_gain": 0.7}}


def method_options(base: EncodeOptions, method: str) -> EncodeOptions:
    """The method's own tuned settings on top of the shared ones (epochs, batch, device, preset)."""
    opts = replace(base, method=method, levels=None, sparsity=None, **TUNED_OPTIONS.get(method, {}))
    if method == "supermask":
        opts = replace(opts, sparsity=(0.5,))
    return replace(opts, fit=replace(opts.fit, **TUNED.get(method, {})))


def supermask_overhead_bytes(clip: Clip, opts: EncodeOptions) -> int:
    """Exact bytes of a supermask-method file besides its coded level words (header, segment
    table, scales, counts, word counts, CRC): the size of a file whose levels are all zero."""
    cfg = opts.network(clip.info.width, clip.info.height)
    k = len(opts.resolved_sparsity())
    header = Header(width=clip.info.width, height=clip.info.height, frames=len(clip), fps=clip.info.fps,
                    method=opts.method, sparsity=opts.resolved_sparsity(), network=cfg)
    layers = [LayerPayload(np.ones(k, np.float32), np.zeros(math.prod(shape), np.uint8)) for _, shape in cfg.layer_shapes()]
    return len(write_slt(header, [Segment(0, len(clip), 0, layers)]))


def encode_at_bpp(clip: Clip, opts: EncodeOptions, bpp: float, max_tries: int = 3) -> tuple[bytes, EncodeOptions, float]:
    """Encode with widths chosen to land within TOLERANCE of `bpp`; returns (data, options,
    encode seconds of the kept encode). Supermask methods: the size is predicted exactly up to
    the coder's last word per layer. Trained methods: bits per weight and the fixed part are taken
    from the previous encode's size breakdown and the widths corrected."""
    info = clip.info
    pixels = info.width * info.height * len(clip)
    target_bytes = bpp * pixels / 8
    layers = len(opts.network(info.width, info.height).layer_shapes())
    if opts.method in GUESS_BITS:
        bits_per_weight, overhead = GUESS_BITS[opts.method], 100 + GUESS_OVERHEAD * layers
    else:
        bits_per_weight, overhead = level_entropy_bits(opts.resolved_sparsity()), supermask_overhead_bytes(clip, opts) + 2 * layers
    best = None
    for _ in range(max_tries):
        weights = max(8 * (target_bytes - overhead), 64.0) / bits_per_weight
        trial = replace(opts, **widths_for_weights(info.width, info.height, opts.preset, weights))
        t0 = time.perf_counter()
        data = encode_clip(clip, trial)
        seconds = time.perf_counter() - t0
        real = 8 * len(data) / pixels
        if best is None or abs(real / bpp - 1) < abs(best[2] / bpp - 1):
            best = (data, trial, real, seconds)
        if abs(real / bpp - 1) <= TOLERANCE:
            break
        _, _, sections = read_slt(data)
        payload = sum(v for k, v in sections.items() if k.startswith(("masks/", "values/")))
        bits_per_weight = max(0.05, 8 * payload / trial.network(info.width, info.height).num_weights())
        overhead = len(data) - payload
    assert best is not None
    return best[0], best[1], best[3]


def decode_all(data: bytes, device) -> tuple[list[np.ndarray], float]:
    header, segments, _ = read_slt(data)
    t0 = time.perf_counter()
    frames = list(Decoder(header, segments, device).render(range(header.frames)))
    return frames, header.frames / max(time.perf_counter() - t0, 1e-9)


def run_bench(
    clip: Clip,
    bpps: list[float],
    base: EncodeOptions,
    methods: tuple[str, ...] = NEURAL_METHODS,
    codecs: tuple[str, ...] = STANDARD_CODECS,
    with_flip: bool = True,
    on_row: Callable[[dict], None] | None = None,
    keep_files: str | None = None,
) -> list[dict]:
    """All rows (one per method/codec and target bpp)."""
    device = resolve_device(base.device)
    rows = []
    for bpp in bpps:
        for method in methods:
            data, opts, enc_s = encode_at_bpp(clip, method_options(base, method), bpp)
            frames, fps = decode_all(data, device)
            row = {"method": method, "target_bpp": bpp, "bpp": 8 * len(data) / (clip.info.width * clip.info.height * len(clip)),
                   "bytes": len(data), "weights": opts.network(clip.info.width, clip.info.height).num_weights(),
                   **compare(clip, frames, with_flip=with_flip), "encode_seconds": enc_s, "decode_fps": fps, "file": None}
            if keep_files:
                row["file"] = f"{keep_files}/{method}_{bpp:g}.slt"
                with open(row["file"], "wb") as f:
                    f.write(data)
            rows.append(row)
            if on_row:
                on_row(row)
        for codec in codecs:
            res = encode_standard(clip, codec, bpp=bpp)
            row = {"method": codec, "target_bpp": bpp, "bpp": res.bpp, "bytes": res.bytes, "weights": None,
                   **compare(clip, [res.frames], with_flip=with_flip), "encode_seconds": res.encode_seconds,
                   "decode_fps": res.decode_fps, "file": None, "setting": f"crf {res.crf}"}
            rows.append(row)
            if on_row:
                on_row(row)
    return rows
