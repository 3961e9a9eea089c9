"""Entropy coding of per-weight mask levels (uint8 symbols 0..K) with constriction's ANS coder.

Each layer is coded with a static categorical model whose parameters are the layer's level
histogram (``counts``), stored verbatim in the bitstream. Both sides build the model from the
integer counts with the same deterministic function (`categorical.model`), so it is bit-exact.

Special cases:

* a layer with no weights, or whose weights all share one level, is fully determined by its counts
  and is coded as zero words;
* symbols whose count is 0 get the leaky model's minimal probability; they never occur in a
  valid stream, and if corrupt data decodes to one, the histogram check rejects it.

Decoding runs in chunks against a running histogram, so corrupt data is rejected as soon as a level
exceeds its count, and the only allocation proportional to the layer is the uint8 output.
"""

from __future__ import annotations

import numpy as np

from ..errors import BitstreamError
from .categorical import Names, decode_symbols, encode_symbols

_NAMES = Names("mask levels", "mask level", "mask")


def level_counts(levels: np.ndarray, num_symbols: int) -> np.ndarray:
    """Histogram of ``levels`` (values 0..num_symbols-1) as uint32, length ``num_symbols``."""
    levels = np.asarray(levels)
    if num_symbols < 1:
        raise ValueError("num_symbols must be positive")
    flat = levels.reshape(-1)
    if flat.size and (int(flat.min()) < 0 or int(flat.max()) >= num_symbols):
        raise ValueError(f"levels must lie in 0..{num_symbols - 1}")
    if flat.size >= 2**32:
        raise ValueError("too many levels for uint32 counts")
    return np.bincount(flat.astype(np.intp, copy=False), minlength=num_symbols).astype(np.uint32)


def encode_levels(levels: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Code a 1-D uint8 level array; ``counts`` must be its histogram. Returns uint32 words."""
    levels = np.asarray(levels)
    counts = np.asarray(counts, dtype=np.uint32)
    if levels.ndim != 1:
        raise ValueError("levels must be a 1-D array")
    if counts.ndim != 1 or counts.size < 1:
        raise ValueError("counts must be a non-empty 1-D array")
    if not np.array_equal(level_counts(levels, counts.size), counts):
        raise ValueError("counts are not the histogram of levels")
    return encode_symbols(levels, counts)


def decode_levels(words: np.ndarray, counts: np.ndarray, n: int, what: str = "layer") -> np.ndarray:
    """Decode ``n`` levels coded by :func:`encode_levels` with the same ``counts`` (uint8 output).

    Any inconsistency (counts not summing to ``n``, invalid or leftover coded data, a decoded
    histogram different from ``counts``) raises BitstreamError; ``what`` names the layer in the
    message.
    """
    counts = np.asarray(counts, dtype=np.uint32)
    if counts.ndim != 1 or counts.size < 1:
        raise BitstreamError(f"{what}: invalid level counts")
    if counts.size > 256:
        raise BitstreamError(f"{what}: too many mask levels")
    return decode_symbols(words, counts, n, np.uint8, what, _NAMES)
