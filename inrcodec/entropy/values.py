"""Quantisation of trained weights (the dense and sparse baselines) and entropy coding of the
quantised integers with constriction's ANS coder.

Quantisation is per layer, uniform and symmetric: with ``qmax = 2^(bits-1) - 1`` and
``step = float32(max|w| / qmax)`` every weight becomes ``q = clip(rint(w / step), -qmax, qmax)`` and
is reconstructed as ``float32(q) * step`` (float32 arithmetic, so the decoder rebuilds exactly the
weights the encoder evaluated). Zero is a quantisation level, so pruned weights stay exactly zero.

The integers are coded under a static categorical model whose parameters are their histogram over
the range they use, ``[lo, lo + len(counts) - 1]`` (stored: lo and the counts, 4 bytes per bin).
Measured against constriction's QuantizedLaplace / QuantizedGaussian (mean 0, MLE scale, ~12 bytes of
parameters) on the weights of the `small` preset trained 60 epochs on tree.avi (594,608 weights,
8 bits; docs/usage.md, "Baselines"): dense, histogram 502.6 kB, Gaussian 498.0 kB (-0.9 %), Laplace
503.0 kB; sparse (40 % pruned, non-zero values only), histogram 292.7 kB, Gaussian 315.1 kB (+7.6 %),
Laplace 326.4 kB. The histogram codes at the empirical entropy; what it loses on dense weights is its
~1 kB of counts per layer (trained weights stay close to their Gaussian initialisation), and it is
the only one of the three that fits the sparse method's non-zero values, which have a hole around
zero. It is also built from integer counts by exact arithmetic (as for the mask levels), so it is
bit-identical on every platform without relying on a library's erf/exp, and it lets the decoder check
the decoded histogram against the counts, which rejects corrupt data early.
"""

from __future__ import annotations

import numpy as np

from ..errors import BitstreamError
from .categorical import Names, decode_symbols, encode_symbols

_NAMES = Names("quantised values", "value", "value")

MIN_BITS = 2
MAX_BITS = 16  # quantised values fit in int16: |q| <= 2^15 - 1


def qmax(bits: int) -> int:
    """Largest quantised magnitude for ``bits`` bits: 2^(bits-1) - 1."""
    if not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"quantisation bits must be in {MIN_BITS}..{MAX_BITS}, got {bits}")
    return (1 << (bits - 1)) - 1


def quantize(weight: np.ndarray, bits: int) -> tuple[float, np.ndarray]:
    """Per-layer uniform symmetric quantisation. Returns (step as a float32-exact python float,
    int16 values of the weight's shape). A layer of zeros gets step 1."""
    w = np.asarray(weight, dtype=np.float32)
    top = qmax(bits)
    if not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite")
    peak = float(np.abs(w).max()) if w.size else 0.0
    step = np.float32(peak / top) if peak > 0 else np.float32(1.0)
    if not (np.isfinite(step) and step > 0):  # max|w| / qmax underflowed float32
        step = np.float32(np.finfo(np.float32).smallest_subnormal)
    q = np.clip(np.rint(w / step), -top, top).astype(np.int16)
    return float(step), q


def dequantize(values: np.ndarray, step: float) -> np.ndarray:
    """float32(q) * float32(step): the weights the decoder uses. (A file may store an absurd finite
    step; the product then overflows to inf like any float32 product, without a warning.)"""
    with np.errstate(over="ignore"):
        return np.asarray(values).astype(np.float32) * np.float32(step)


def value_histogram(values: np.ndarray) -> tuple[int, np.ndarray]:
    """(lo, counts): the histogram of integer ``values`` over [min, max] as uint32. Empty input
    gives (0, no counts)."""
    v = np.asarray(values).reshape(-1)
    if v.size == 0:
        return 0, np.zeros(0, dtype=np.uint32)
    if v.size >= 2**32:
        raise ValueError("too many values for uint32 counts")
    lo = int(v.min())
    counts = np.bincount((v.astype(np.int64) - lo).astype(np.intp), minlength=int(v.max()) - lo + 1)
    return lo, counts.astype(np.uint32)


def encode_values(values: np.ndarray, lo: int, counts: np.ndarray) -> np.ndarray:
    """Code a 1-D integer array whose histogram over [lo, lo + len(counts) - 1] is ``counts``.
    Returns uint32 words (none when the counts determine the values)."""
    v = np.asarray(values)
    counts = np.asarray(counts, dtype=np.uint32)
    if v.ndim != 1 or not np.issubdtype(v.dtype, np.integer):
        raise ValueError("values must be a 1-D integer array")
    if counts.ndim != 1:
        raise ValueError("counts must be a 1-D array")
    if v.size == 0 and counts.size == 0:
        return np.zeros(0, dtype=np.uint32)
    got_lo, got = value_histogram(v)
    # the stored range may be wider than the used one (zero counts at either end)
    if v.size == 0 or got_lo < lo or got_lo + got.size > lo + counts.size:
        raise ValueError("counts are not the histogram of values")
    full = np.zeros(counts.size, dtype=np.uint32)
    full[got_lo - lo : got_lo - lo + got.size] = got
    if not np.array_equal(full, counts):
        raise ValueError("counts are not the histogram of values")
    return encode_symbols(v.astype(np.int64) - lo, counts)


def decode_values(words: np.ndarray, lo: int, counts: np.ndarray, n: int, what: str = "layer") -> np.ndarray:
    """Decode ``n`` values coded by :func:`encode_values` with the same ``lo`` and ``counts``;
    returns int16 (n,). ``lo + len(counts) - 1`` must fit in int16.

    Any inconsistency (counts not summing to ``n``, invalid or leftover coded data, a decoded
    histogram different from ``counts``) raises BitstreamError naming ``what``. Decoding runs in
    chunks against a running histogram, so corrupt data is rejected as soon as a value exceeds its
    count and the only allocation proportional to ``n`` is the output.
    """
    counts = np.asarray(counts, dtype=np.uint32)
    if counts.ndim != 1:
        raise BitstreamError(f"{what}: invalid value counts")
    if counts.size and not (-(2**15) <= lo and lo + counts.size - 1 < 2**15):
        raise BitstreamError(f"{what}: value range outside int16")
    symbols = decode_symbols(words, counts, n, np.uint16, what, _NAMES)
    out = np.empty(n, dtype=np.int16)
    np.add(symbols, np.int32(lo), out=out, casting="unsafe")  # within int16: checked above
    return out
