"""Entropy coding of per-weight mask levels (uint8 symbols 0..K) with constriction's ANS coder.

Each layer is coded with a static categorical model whose parameters are the layer's level
histogram (``counts``), stored verbatim in the bitstream. Both sides build the model from the
integer counts with the same deterministic function (:func:`_model`), so it is bit-exact.

Special cases:

* a layer with no weights, or whose weights all share one level, is fully determined by its counts
  and is coded as zero words;
* symbols whose count is 0 get the leaky model's minimal probability; they never occur in a
  valid stream, and if corrupt data decodes to one, the histogram check rejects it.

Decoding runs in chunks against a running histogram, so corrupt data is rejected as soon as a level
exceeds its count, and the only allocation proportional to the layer is the uint8 output.
"""

from __future__ import annotations

from typing import NoReturn

import constriction
import numpy as np

from ..errors import BitstreamError

_AnsCoder = constriction.stream.stack.AnsCoder
_Categorical = constriction.stream.model.Categorical
_CHUNK = 1 << 16  # symbols decoded per call (bounds the temporaries of decode_levels)


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


def _model(counts: np.ndarray):
    """The categorical model of a layer, from its integer counts (identical on both sides)."""
    c = np.asarray(counts, dtype=np.float64)
    return _Categorical(c / c.sum(), perfect=False)


def _trivial(counts: np.ndarray) -> bool:
    """True when the counts alone determine the levels (no weights, or a single used level)."""
    return int(np.count_nonzero(counts)) <= 1


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
    if _trivial(counts):
        return np.zeros(0, dtype=np.uint32)
    coder = _AnsCoder()
    coder.encode_reverse(np.ascontiguousarray(levels, dtype=np.int32), _model(counts))
    return np.asarray(coder.get_compressed(), dtype=np.uint32)


def decode_levels(words: np.ndarray, counts: np.ndarray, n: int, what: str = "layer") -> np.ndarray:
    """Decode ``n`` levels coded by :func:`encode_levels` with the same ``counts``.

    Any inconsistency (counts not summing to ``n``, invalid or leftover coded data, a decoded
    histogram different from ``counts``) raises BitstreamError; ``what`` names the layer in the
    message.
    """
    counts = np.asarray(counts, dtype=np.uint32)
    words = np.asarray(words)
    if counts.ndim != 1 or counts.size < 1:
        raise BitstreamError(f"{what}: invalid level counts")
    if int(counts.sum(dtype=np.uint64)) != n:
        raise BitstreamError(f"{what}: mask level counts sum to {int(counts.sum(dtype=np.uint64))}, expected {n}")
    if _trivial(counts):
        if words.size:
            raise BitstreamError(f"{what}: unexpected coded data for a constant layer (corrupt data)")
        level = int(np.flatnonzero(counts)[0]) if n else 0
        return np.full(n, level, dtype=np.uint8)
    if counts.size > 256:
        raise BitstreamError(f"{what}: too many mask levels")
    # Decode in chunks, keeping a running histogram: the output is the only allocation of size n
    # (one-shot decoding held n int32 symbols plus an n-sized intp copy for the histogram, ~13 bytes
    # per weight), and corrupt data is rejected as soon as a level occurs more often than its count
    # instead of after decoding up to MAX_LAYER_WEIGHTS symbols.
    try:
        coder = _AnsCoder(np.ascontiguousarray(words, dtype=np.uint32))
        model = _model(counts)
    except Exception as exc:  # constriction reports invalid data as ValueError and friends
        _invalid(what, exc)
    if coder.is_empty():  # it would decode only level 0 (see below), but at least two counts are > 0
        raise BitstreamError(f"{what}: mask levels do not match their counts (corrupt data)")
    levels = np.empty(n, dtype=np.uint8)
    seen = np.zeros(counts.size, dtype=np.int64)
    limit = counts.astype(np.int64)
    pos = 0
    while pos < n:
        if coder.is_empty():
            # An empty coder (no words left, state 0) decodes level 0 forever without changing; a
            # valid stream only gets here when all its remaining levels are 0. Skip decoding them.
            seen[0] += n - pos
            if not np.array_equal(seen, limit):
                raise BitstreamError(f"{what}: mask levels do not match their counts (corrupt data)")
            levels[pos:] = 0
            return levels
        m = min(_CHUNK, n - pos)
        try:
            out = np.asarray(coder.decode(model, m))
        except Exception as exc:
            _invalid(what, exc)
        if out.shape != (m,):
            raise BitstreamError(f"{what}: decoded {out.size} mask levels, expected {m} (corrupt data)")
        if int(out.min()) < 0 or int(out.max()) >= counts.size:
            raise BitstreamError(f"{what}: decoded mask level out of range (corrupt data)")
        levels[pos : pos + m] = out
        seen += np.bincount(out, minlength=counts.size)
        if np.any(seen > limit):
            raise BitstreamError(f"{what}: mask levels do not match their counts (corrupt data)")
        pos += m
    if not coder.is_empty():
        raise BitstreamError(f"{what}: coded mask data not fully consumed (corrupt data)")
    if not np.array_equal(seen, limit):
        raise BitstreamError(f"{what}: mask levels do not match their counts (corrupt data)")
    return levels


def _invalid(what: str, exc: Exception) -> NoReturn:
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    raise BitstreamError(f"{what}: invalid coded mask data ({msg})") from None
