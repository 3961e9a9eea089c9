"""slt-grid's latent laws from format version 4 on: a zero-inflated two-sided geometric law,
P(0) = p0 and P(+-k) proportional to theta^(k-1) for k = 1..m, and a coder for runs of latents
under different laws in one ANS stream (so that a decoder can choose each run's law from what it
decoded before: methods/grid.py's temporal contexts).

Why two parameters: frame differences are mostly exact zeros with a heavy tail where things move;
one geometric law cannot fit both (on fitted files the extra parameter alone saved 17 % of cup.mp4's
latent bits, docs/results.md).

The decoder's tables come from stored integers with exact arithmetic only (never a float exp or log):

    p0_q, theta_q in 1..65535,  m the largest |v| coded with the law (1..MAX_MAGNITUDE)
    q_1 = 2^30,  q_(k+1) = floor(q_k * theta_q / 2^16)              (Python integers)
    w_k = q_k + 1 for k = 1..m,  S = 2 * sum(w_k)                    (S < 2^44)
    P(0) = p0_q / 2^16,  P(+-k) = ((2^16 - p0_q) * w_k) / (2^16 * S)

Every numerator and denominator is an integer below 2^53 (exact in float64), so each probability is
one correctly rounded IEEE division: the same on every CPU and GPU host. constriction turns them into
its fixed-point model deterministically, as for geometric.py's tables.
"""

from __future__ import annotations

import math

import constriction
import numpy as np

from ..errors import BitstreamError
from .geometric import MAX_MAGNITUDE, TABLE_ONE, THETA_ONE, _first_line

_AnsCoder = constriction.stream.stack.AnsCoder
_Categorical = constriction.stream.model.Categorical


def law_probabilities(p0_q: int, theta_q: int, m: int) -> np.ndarray:
    """P(v) for v in -m..m (float64, length 2m + 1), as documented above."""
    if not (1 <= p0_q < THETA_ONE and 1 <= theta_q < THETA_ONE and 1 <= m <= MAX_MAGNITUDE):
        raise ValueError(f"law p0_q {p0_q}, theta_q {theta_q} or magnitude {m} out of range")
    q = [TABLE_ONE]
    for _ in range(m - 1):
        q.append((q[-1] * theta_q) >> 16)
    w = np.array(q, dtype=np.int64) + 1
    den = float(2 * int(w.sum())) * float(THETA_ONE)
    pos = ((THETA_ONE - p0_q) * w).astype(np.float64) / den
    return np.concatenate([pos[::-1], [p0_q / float(THETA_ONE)], pos])


def fit_law(values: np.ndarray) -> tuple[int, int]:
    """The encoder's (p0_q, theta_q) for integer values: the maximum-likelihood P(0) and the
    maximum-likelihood theta of |v| - 1 over the non-zero values, each rounded to 1..65535."""
    v = np.abs(np.asarray(values, dtype=np.int64)).reshape(-1)
    if not v.size:
        return THETA_ONE - 1, 1
    nz = v[v != 0]
    p0 = 1.0 - nz.size / v.size
    a = float((nz - 1).mean()) if nz.size else 0.0
    theta = a / (1.0 + a)
    return (int(min(THETA_ONE - 1, max(1, round(p0 * THETA_ONE)))),
            int(min(THETA_ONE - 1, max(1, round(theta * THETA_ONE)))))


def law_bits(p0: float, theta: float, values: np.ndarray) -> float:
    """Ideal code length in bits of integer values under the law (no truncation at m)."""
    v = np.abs(np.asarray(values, dtype=np.int64)).reshape(-1)
    nz = v[v != 0]
    bits = -(v.size - nz.size) * math.log2(p0)
    if nz.size:
        bits += nz.size * (1.0 - math.log2(1.0 - p0) - math.log2(1.0 - theta)) - float((nz - 1).sum()) * math.log2(theta)
    return bits


class RunEncoder:
    """Collects runs of integers, each under its law (p0_q, theta_q, m), in decoding order; words()
    codes them into one ANS stream (encoded in reverse, as ANS decodes last-in first-out)."""

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, tuple[int, int, int]]] = []

    def add(self, values: np.ndarray, law: tuple[int, int, int]) -> None:
        v = np.asarray(values).reshape(-1)
        if v.size and int(np.abs(v).max()) > law[2]:
            raise ValueError(f"latents exceed their law's magnitude {law[2]}")
        if v.size and law[2]:
            self.runs.append((v, law))

    def words(self) -> np.ndarray:
        coder, tables = _AnsCoder(), {}
        for v, law in reversed(self.runs):
            if law not in tables:
                tables[law] = _Categorical(law_probabilities(*law), perfect=False)
            coder.encode_reverse(np.ascontiguousarray(v + law[2], dtype=np.int32), tables[law])
        return np.asarray(coder.get_compressed(), dtype=np.uint32)


class RunDecoder:
    """Decodes what RunEncoder coded, one run per take(); corrupt data raises a one-line
    BitstreamError naming `what`."""

    def __init__(self, words: np.ndarray, what: str) -> None:
        self.what, self.tables = what, {}
        try:
            self.coder = _AnsCoder(np.ascontiguousarray(words, dtype=np.uint32))
        except Exception as exc:  # constriction reports invalid data as ValueError and friends
            raise BitstreamError(f"{what}: invalid coded latents ({_first_line(exc)})") from None

    def take(self, n: int, law: tuple[int, int, int]) -> np.ndarray:
        """n values (int64) under law (p0_q, theta_q, m); a law of m = 0 holds only zeros."""
        m = law[2]
        if n == 0 or m == 0:
            return np.zeros(n, dtype=np.int64)
        if law not in self.tables:
            self.tables[law] = _Categorical(law_probabilities(*law), perfect=False)
        try:
            sym = np.asarray(self.coder.decode(self.tables[law], n))
        except Exception as exc:
            raise BitstreamError(f"{self.what}: invalid coded latents ({_first_line(exc)})") from None
        if sym.shape != (n,) or int(sym.min()) < 0 or int(sym.max()) > 2 * m:
            raise BitstreamError(f"{self.what}: decoded latents out of range (corrupt data)")
        return sym.astype(np.int64) - m

    def finish(self) -> None:
        if not self.coder.is_empty():
            raise BitstreamError(f"{self.what}: coded latent data not fully consumed (corrupt data)")

