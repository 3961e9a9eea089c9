"""`inrcodec bench`: every neural method and the standard codecs on the same frames at matched bpp,
all measured the same way from decoded output.

Matching the rate is rate.py's (the same loop as encode --bpp): each neural method's widths are
chosen so that its estimated file size hits the target bpp, and re-encoded with the measured bits
per weight while the real bpp is more than 5 % off (at most `max_tries` encodes, for every method
here). Reported bpp is always the real file size.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from .. import methods, rate
from ..api import bits_per_pixel
from ..bitstream import read_slt
from ..decoder import Decoder
from ..devices import resolve_device
from ..encoder import EncodeOptions, encode_clip
from ..metrics.video import compare
from ..video.clip import Clip
from .standard import CODECS, encode_standard

NEURAL_METHODS = methods.names()
STANDARD_CODECS = tuple(c for c in ("x264", "x265", "svtav1") if c in CODECS)
TOLERANCE = rate.TOLERANCE
LADDER_STEP = 4.0  # CRF step of the standard codecs' extra rows (x264: about 0.6x the rate per step)


def method_options(base: EncodeOptions, method: str) -> EncodeOptions:
    """The method's own tuned settings (Method.tuned_fit / tuned_options) on top of the shared ones
    (epochs, batch, device, preset)."""
    m = methods.get(method)
    opts = replace(base, method=method, levels=None, sparsity=None, **m.tuned_options)
    return replace(opts, fit=replace(opts.fit, **m.tuned_fit))


def encode_at_bpp(clip: Clip, opts: EncodeOptions, bpp: float, max_tries: int = rate.MAX_TRIES) -> tuple[bytes, EncodeOptions, float]:
    """Encode with widths chosen to land within TOLERANCE of `bpp` (rate.encode_at_bpp, up to
    `max_tries` encodes for every method); returns (data, options, encode seconds of the kept one)."""
    return rate.encode_at_bpp(clip, opts, bpp, lambda trial, _: encode_clip(clip, trial), max_tries=max_tries)


def decode_all(data: bytes, device) -> tuple[list[np.ndarray], float]:
    header, segments, _ = read_slt(data)
    t0 = time.perf_counter()
    frames = list(Decoder(header, segments, device).render(range(header.frames)))
    return frames, header.frames / max(time.perf_counter() - t0, 1e-9)


def standard_row(clip: Clip, res, with_flip: bool, ladder: bool) -> dict:
    """One bench row of a StandardResult, measured from its decoded frames."""
    return {"method": res.codec, "target_bpp": None if ladder else res.target_bpp, "bpp": res.bpp, "bytes": res.bytes,
            "weights": None, **compare(clip, [res.frames], with_flip=with_flip), "encode_seconds": res.encode_seconds,
            "decode_fps": res.decode_fps, "file": None, "setting": f"crf {res.crf:g}", "crf": res.crf, "rate_miss": res.rate_miss,
            "miss": res.miss, "ladder": ladder}


def neural_row(clip: Clip, opts: EncodeOptions, bpp: float, device, with_flip: bool, keep_files: str | None = None) -> dict:
    """Encode with `opts` at `bpp` (encode_at_bpp), decode the file and measure it: one bench row.
    With `keep_files`, the file is written there as METHOD_BPP.slt."""
    data, opts, enc_s = encode_at_bpp(clip, opts, bpp)
    frames, fps = decode_all(data, device)
    real = bits_per_pixel(len(data), clip.info.width, clip.info.height, len(clip))
    row = {"method": opts.method, "target_bpp": bpp, "bpp": real,
           "bytes": len(data), "weights": opts.network(clip.info.width, clip.info.height).num_weights(),
           **compare(clip, frames, with_flip=with_flip), "encode_seconds": enc_s, "decode_fps": fps, "file": None,
           "rate_miss": abs(real / bpp - 1) > TOLERANCE, "ladder": False}
    row["miss"] = f"{real:.4g} bpp for {bpp:g}: the closest of the width searches" if row["rate_miss"] else None
    if keep_files:
        row["file"] = os.path.join(os.path.normpath(keep_files), f"{opts.method}_{bpp:g}.slt")
        with open(row["file"], "wb") as f:
            f.write(data)
    return row


def ladder_crfs(codec: str, tried: list[float], lower_rates: bool) -> list[float]:
    """The CRF ladder beyond the CRFs `tried`: LADDER_STEP apart, towards the top of the codec's CRF
    range (lower rates) or the bottom (higher rates), ending on the range's end."""
    spec = CODECS[codec]
    sign, end = (1, spec.crf_max) if lower_rates else (-1, spec.crf_min)
    edge = max(tried) if lower_rates else min(tried)
    out = [float(c) for c in np.arange(edge + sign * LADDER_STEP, end, sign * LADDER_STEP)]
    return out + ([float(end)] if edge != end else [])


def extend_ladder(clip: Clip, codec: str, rows: list[dict], low: float, high: float, with_flip: bool,
                  add: Callable[[dict], None], step: Callable[[str, int], None] | None = None) -> None:
    """Run `codec` at more CRFs until its rows in `rows` cover the RGB PSNR interval [low, high]:
    up the CRF ladder (lower rates) until one row is at or below `low`, down it (higher rates)
    until one is at or above `high`, each direction stopping at the end of the CRF range. Each new
    row (`ladder`: True, `target_bpp`: None) goes to `add`, which must append it to `rows`;
    `step` gets (what runs next, ladder rows still planned in this direction) before each."""
    for lower_rates in (True, False):
        def covered(p: float) -> bool:
            return p <= low if lower_rates else p >= high

        own = [r for r in rows if r["method"] == codec]
        if any(covered(r["psnr_rgb"]) for r in own):
            continue
        crfs = ladder_crfs(codec, [r["crf"] for r in own], lower_rates)
        for i, crf in enumerate(crfs):
            if step:
                step(f"{codec} ladder crf {crf:g}", len(crfs) - i)
            add(standard_row(clip, encode_standard(clip, codec, crf=crf), with_flip, True))
            if covered(rows[-1]["psnr_rgb"]):
                break


def run_bench(
    clip: Clip,
    bpps: list[float],
    base: EncodeOptions,
    methods: tuple[str, ...] = NEURAL_METHODS,
    codecs: tuple[str, ...] = STANDARD_CODECS,
    with_flip: bool = True,
    on_row: Callable[[dict], None] | None = None,
    keep_files: str | None = None,
    ladder: bool = True,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> list[dict]:
    """All rows: one per method/codec and target bpp, then (with `ladder`, neural methods and two or
    more targets) each standard codec's CRF-ladder rows (`extend_ladder`) at the rates its curve
    needs to cover the neural methods' RGB PSNR range, so BD-rate against it exists. `on_progress`
    gets (rows done, rows known so far, what runs next) before each row and once at the end."""
    device = resolve_device(base.device)
    rows: list[dict] = []
    total = len(bpps) * (len(methods) + len(codecs))

    def add(row: dict) -> None:
        rows.append(row)
        if on_row:
            on_row(row)

    def step(label: str, ladder_left: int = 0) -> None:
        if on_progress:
            on_progress(len(rows), max(total, len(rows) + ladder_left), label)

    for bpp in bpps:
        for method in methods:
            step(f"{method} @ {bpp:g} bpp")
            add(neural_row(clip, method_options(base, method), bpp, device, with_flip, keep_files))
        for codec in codecs:
            step(f"{codec} @ {bpp:g} bpp")
            add(standard_row(clip, encode_standard(clip, codec, bpp=bpp, tolerance=TOLERANCE), with_flip, False))
    neural = [r["psnr_rgb"] for r in rows if r["method"] in methods and math.isfinite(r["psnr_rgb"])]
    if ladder and neural and len(bpps) >= 2:  # one target gives one-point curves: no BD either way
        for codec in codecs:
            extend_ladder(clip, codec, rows, min(neural), max(neural), with_flip, add, step)
    step("done")
    return rows
