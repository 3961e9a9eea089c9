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

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from ..api import bits_per_pixel
from ..bitstream import read_slt
from ..decoder import Decoder
from ..encoder import EncodeOptions, encode_clip, resolve_device
from ..metrics.video import compare
from ..rate import first_estimate, widths_for_bpp
from ..video.clip import Clip
from .standard import CODECS, encode_standard

NEURAL_METHODS = ("slt", "slt-fixed", "supermask", "dense", "sparse")
STANDARD_CODECS = tuple(c for c in ("x264", "x265", "svtav1") if c in CODECS)
TOLERANCE = 0.05
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


def encode_at_bpp(clip: Clip, opts: EncodeOptions, bpp: float, max_tries: int = 3) -> tuple[bytes, EncodeOptions, float]:
    """Encode with widths chosen to land within TOLERANCE of `bpp`; returns (data, options,
    encode seconds of the kept encode). Supermask methods: the size is predicted exactly up to
    the coder's last word per layer. Trained methods: bits per weight and the fixed part are taken
    from the previous encode's size breakdown and the widths corrected."""
    info = clip.info
    pixels = info.width * info.height * len(clip)
    bits_per_weight, overhead = first_estimate(clip, opts)
    best = None
    for _ in range(max_tries):
        trial = replace(opts, **widths_for_bpp(clip, opts, bpp, bits_per_weight, overhead))
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
            row = {"method": method, "target_bpp": bpp, "bpp": bits_per_pixel(len(data), clip.info.width, clip.info.height, len(clip)),
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
