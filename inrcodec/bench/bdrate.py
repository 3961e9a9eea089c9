"""Bjøntegaard deltas (VCEG-M33): average rate / PSNR difference between two rate-distortion curves.

BD-rate: fit log(rate) as a polynomial in PSNR for each curve, integrate both over the PSNR interval
the curves share, and turn the mean log-rate difference into a percentage: negative means curve B
needs fewer bits than curve A for the same quality. BD-PSNR swaps the axes (PSNR as a polynomial in
log(rate), integrated over the shared log-rate interval) and gives B's mean PSNR gain in dB.

Polynomial degree: cubic, as in VCEG-M33, when a curve has 4 or more points. With fewer points a
cubic is underdetermined, so the fit drops to the interpolating polynomial: quadratic for 3 points
and a straight line (plain linear interpolation between the two points, extrapolated nowhere since
only the shared interval is integrated) for exactly 2. Fewer than 2 usable points on either curve,
or curves whose intervals do not overlap, give None.

Points with a non-finite PSNR (lossless encodes) or a non-finite rate are dropped before fitting:
they have no place on the curve. Rates must be positive (any unit: bits, bytes, bpp, kbps, as long
as both curves use the same one).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def _points(rates: Sequence[float], psnr: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(rates, dtype=np.float64).ravel()
    p = np.asarray(psnr, dtype=np.float64).ravel()
    if r.shape != p.shape:
        raise ValueError(f"rates and PSNRs differ in length ({r.size} vs {p.size})")
    keep = np.isfinite(r) & np.isfinite(p)
    r, p = r[keep], p[keep]
    if np.any(r <= 0):
        raise ValueError("rates must be positive")
    return np.log(r), p


def _mean_over(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Mean of the polynomial fit y(x) over [lo, hi]."""
    degree = min(3, len(x) - 1)
    poly = np.polynomial.Polynomial.fit(x, y, degree)  # scaled domain: well conditioned
    integral = poly.integ()
    return float((integral(hi) - integral(lo)) / (hi - lo))


def _delta(xa, ya, xb, yb) -> float | None:
    """Mean of (fit_b - fit_a) over the shared x interval; None when it cannot be computed."""
    for x in (xa, xb):
        if len(x) < 2 or len(np.unique(x)) < 2:
            return None
    lo = max(xa.min(), xb.min())
    hi = min(xa.max(), xb.max())
    if not hi > lo:
        return None
    return _mean_over(xb, yb, lo, hi) - _mean_over(xa, ya, lo, hi)


def bd_rate(
    rates_a: Sequence[float], psnr_a: Sequence[float], rates_b: Sequence[float], psnr_b: Sequence[float]
) -> float | None:
    """Bjøntegaard delta rate of curve B relative to curve A, in percent (negative = B saves bits).

    Exactly -20.0 when B reaches every PSNR of A with 0.8x its rate."""
    la, pa = _points(rates_a, psnr_a)
    lb, pb = _points(rates_b, psnr_b)
    d = _delta(pa, la, pb, lb)  # x = PSNR, y = log rate
    return None if d is None else (math.exp(d) - 1.0) * 100.0


def bd_psnr(
    rates_a: Sequence[float], psnr_a: Sequence[float], rates_b: Sequence[float], psnr_b: Sequence[float]
) -> float | None:
    """Bjøntegaard delta PSNR of curve B relative to curve A, in dB (positive = B is better)."""
    la, pa = _points(rates_a, psnr_a)
    lb, pb = _points(rates_b, psnr_b)
    return _delta(la, pa, lb, pb)  # x = log rate, y = PSNR
