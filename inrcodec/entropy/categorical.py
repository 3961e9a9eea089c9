"""Coding symbols 0..S-1 under a static categorical model given by their histogram, with
constriction's ANS coder. Shared by the mask levels (levels.py) and the quantised values (values.py).

The model is built from the integer counts stored in the file by one deterministic function, so
both sides get bit-identical probabilities. Counts with at most one non-zero entry determine the
symbols alone and are coded as zero words. Decoding runs in chunks against a running histogram, so
corrupt data is rejected as soon as a symbol exceeds its count, and the only allocation
proportional to n is the output.
"""

from __future__ import annotations

from typing import NoReturn

import constriction
import numpy as np

from ..errors import BitstreamError

_AnsCoder = constriction.stream.stack.AnsCoder
_Categorical = constriction.stream.model.Categorical
CHUNK = 1 << 16  # symbols decoded per call (bounds the decoder's temporaries)


def model(counts: np.ndarray):
    """The categorical model of a histogram (identical on both sides)."""
    c = np.asarray(counts, dtype=np.float64)
    return _Categorical(c / c.sum(), perfect=False)


def trivial(counts: np.ndarray) -> bool:
    """True when the counts alone determine the symbols (none, or a single used symbol)."""
    return int(np.count_nonzero(counts)) <= 1


def encode_symbols(symbols: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """uint32 words for 1-D symbols whose histogram is `counts` (the caller has checked that)."""
    if trivial(counts):
        return np.zeros(0, dtype=np.uint32)
    coder = _AnsCoder()
    coder.encode_reverse(np.ascontiguousarray(symbols, dtype=np.int32), model(counts))
    return np.asarray(coder.get_compressed(), dtype=np.uint32)


class Names:
    """How errors name what is decoded, e.g. ('mask levels', 'mask level', 'mask')."""

    def __init__(self, plural: str, singular: str, data: str) -> None:
        self.plural, self.singular, self.data = plural, singular, data


def decode_symbols(words: np.ndarray, counts: np.ndarray, n: int, dtype, what: str, names: Names) -> np.ndarray:
    """Decode n symbols coded by encode_symbols with the same counts into an array of `dtype`.
    Every inconsistency raises a one-line BitstreamError that starts with `what`."""
    counts = np.asarray(counts, dtype=np.uint32)
    words = np.asarray(words)
    if counts.ndim != 1:
        raise BitstreamError(f"{what}: invalid {names.singular} counts")
    total = int(counts.sum(dtype=np.uint64))
    if total != n:
        raise BitstreamError(f"{what}: {names.singular} counts sum to {total}, expected {n}")
    if trivial(counts):
        if words.size:
            raise BitstreamError(f"{what}: unexpected coded data for a constant layer (corrupt data)")
        return np.full(n, int(np.flatnonzero(counts)[0]) if n else 0, dtype=dtype)
    mismatch = f"{what}: {names.plural} do not match their counts (corrupt data)"
    try:
        coder = _AnsCoder(np.ascontiguousarray(words, dtype=np.uint32))
        mdl = model(counts)
    except Exception as exc:  # constriction reports invalid data as ValueError and friends
        _invalid(what, names, exc)
    if coder.is_empty():  # it would decode only symbol 0 (see below), but two counts are > 0
        raise BitstreamError(mismatch)
    out = np.empty(n, dtype=dtype)
    seen = np.zeros(counts.size, dtype=np.int64)
    limit = counts.astype(np.int64)
    pos = 0
    while pos < n:
        if coder.is_empty():
            # An empty coder (no words left, state 0) decodes symbol 0 forever without changing; a
            # valid stream only gets here when all its remaining symbols are 0. Skip decoding them.
            seen[0] += n - pos
            if not np.array_equal(seen, limit):
                raise BitstreamError(mismatch)
            out[pos:] = 0
            return out
        m = min(CHUNK, n - pos)
        try:
            sym = np.asarray(coder.decode(mdl, m))
        except Exception as exc:
            _invalid(what, names, exc)
        if sym.shape != (m,):
            raise BitstreamError(f"{what}: decoded {sym.size} {names.plural}, expected {m} (corrupt data)")
        if int(sym.min()) < 0 or int(sym.max()) >= counts.size:
            raise BitstreamError(f"{what}: decoded {names.singular} out of range (corrupt data)")
        seen += np.bincount(sym, minlength=counts.size)
        if np.any(seen > limit):
            raise BitstreamError(mismatch)
        out[pos : pos + m] = sym
        pos += m
    if not coder.is_empty():
        raise BitstreamError(f"{what}: coded {names.data} data not fully consumed (corrupt data)")
    if not np.array_equal(seen, limit):
        raise BitstreamError(mismatch)
    return out


def _invalid(what: str, names: Names, exc: Exception) -> NoReturn:
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    raise BitstreamError(f"{what}: invalid coded {names.data} data ({msg})") from None
