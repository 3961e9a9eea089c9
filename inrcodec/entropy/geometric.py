"""The latents' probability model: a zero-mean two-sided geometric distribution (a discrete
Laplace), P(v) proportional to theta^|v| on -m..m, one per grid and channel, coded with
constriction's ANS coder.

The decoder's frequency tables must be bit-identical on every machine, so they are computed from
the stored integers alone, with integer arithmetic (never a float exp or log):

    theta_q in 1..65535 (theta = theta_q / 2^16), m = the largest |latent| (0..MAX_MAGNITUDE)
    q_0 = 2^30,  q_(k+1) = floor(q_k * theta_q / 2^16)          (exact in Python integers)
    weight(v) = q_|v| + 1  for v in -m..m                         (every symbol stays codable)
    P(v) = weight(v) / sum(weights)                               (one IEEE float64 division each)

The weights sum to less than 2^44, so each probability is one correctly rounded division of two
exactly representable integers: the same on every CPU and GPU host. constriction then turns these
floats into its fixed-point model with its own deterministic arithmetic (as for the mask levels).
A grid whose m is 0 holds only zeros and costs no words.

The encoder chooses theta_q from its latents (the maximum-likelihood theta of their mean |v|);
only the decoder's side needs to be exact.
"""

from __future__ import annotations

import math

import constriction
import numpy as np

from ..errors import BitstreamError

THETA_ONE = 1 << 16  # theta_q's unit
TABLE_ONE = 1 << 30  # q_0
MAX_MAGNITUDE = 4095  # the largest |latent| a file may code
_AnsCoder = constriction.stream.stack.AnsCoder
_Categorical = constriction.stream.model.Categorical


def table_weights(theta_q: int, m: int) -> np.ndarray:
    """The integer weights of symbols -m..m (int64, length 2m + 1), as documented above."""
    if not 1 <= theta_q < THETA_ONE or not 0 <= m <= MAX_MAGNITUDE:
        raise ValueError(f"theta_q {theta_q} or magnitude {m} out of range")
    q = [TABLE_ONE]
    for _ in range(m):
        q.append((q[-1] * theta_q) >> 16)
    half = np.array(q, dtype=np.int64) + 1
    return np.concatenate([half[:0:-1], half])


def probabilities(theta_q: int, m: int) -> np.ndarray:
    w = table_weights(theta_q, m)
    return w.astype(np.float64) / float(int(w.sum()))


def fit_theta(values: np.ndarray) -> int:
    """The encoder's theta_q for integer latents: the maximum-likelihood theta of a two-sided
    geometric law (E|v| = 2 theta / (1 - theta^2)), rounded to 1..65535."""
    mu = float(np.abs(np.asarray(values, dtype=np.float64)).mean()) if np.size(values) else 0.0
    theta = (math.sqrt(1.0 + mu * mu) - 1.0) / mu if mu > 0 else 0.0
    return int(min(THETA_ONE - 1, max(1, round(theta * THETA_ONE))))


def encode_grids(grids: list[tuple[np.ndarray, int, int]]) -> np.ndarray:
    """uint32 words coding each (integer values, theta_q, m) in order, |values| <= m."""
    coder = _AnsCoder()
    for values, theta_q, m in reversed(grids):
        v = np.asarray(values).reshape(-1)
        if v.size and int(np.abs(v).max()) > m:
            raise ValueError(f"latents exceed their magnitude {m}")
        if m == 0:
            continue
        coder.encode_reverse(np.ascontiguousarray(v + m, dtype=np.int32), _Categorical(probabilities(theta_q, m), perfect=False))
    return np.asarray(coder.get_compressed(), dtype=np.uint32)


def decode_grids(words: np.ndarray, grids: list[tuple[int, int, int]], what: str) -> list[np.ndarray]:
    """Decode what encode_grids coded: for each (count, theta_q, m) an int16 array of `count`
    values, each grid in one vectorised call. Corrupt data raises a one-line BitstreamError."""
    try:
        coder = _AnsCoder(np.ascontiguousarray(words, dtype=np.uint32))
    except Exception as exc:  # constriction reports invalid data as ValueError and friends
        raise BitstreamError(f"{what}: invalid coded latents ({_first_line(exc)})") from None
    out = []
    for n, theta_q, m in grids:
        if m == 0:
            out.append(np.zeros(n, dtype=np.int16))
            continue
        try:
            sym = np.asarray(coder.decode(_Categorical(probabilities(theta_q, m), perfect=False), n))
        except Exception as exc:
            raise BitstreamError(f"{what}: invalid coded latents ({_first_line(exc)})") from None
        if sym.shape != (n,) or (n and (int(sym.min()) < 0 or int(sym.max()) > 2 * m)):
            raise BitstreamError(f"{what}: decoded latents out of range (corrupt data)")
        out.append((sym.astype(np.int32) - m).astype(np.int16))
    if not coder.is_empty():
        raise BitstreamError(f"{what}: coded latent data not fully consumed (corrupt data)")
    return out


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
