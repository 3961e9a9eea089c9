"""Bjøntegaard deltas (VCEG-M33): average rate / PSNR difference between two rate-distortion curves.

BD-rate: fit log(rate) as a polynomial in PSNR for each curve, integrate both over the PSNR interval
the curves share, and turn the mean log-rate difference into a percentage: negative means curve B
needs fewer bits than curve A for the same quality. BD-PSNR swaps the axes (PSNR as a polynomial in
log(rate), integrated over the shared log-rate interval) and gives B's mean PSNR gain in dB.

Polynomial degree: cubic, as in VCEG-M33, when a curve has 4 or more points. With fewer points a
cubic is underdetermined, so the fit drops to the interpolating polynomial: quadratic for 3 points
and a straight line (plain linear interpolation between the two points, extrapolated nowhere since
only the shared interval is integrated) for exactly 2. Fewer than 2 usable points on either curve,
or curves whose intervals do not overlap, give None; `bd_detail` returns both deltas together with
the intervals they were integrated over, and says in words why one is missing.

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


def _shared(xa, xb) -> tuple[float, float] | str:
    """The x interval both curves cover, or why there is none."""
    for x in (xa, xb):
        if len(x) < 2 or len(np.unique(x)) < 2:
            return "needs 2+ distinct points on each curve"
    lo = max(xa.min(), xb.min())
    hi = min(xa.max(), xb.max())
    if not hi > lo:
        return "the curves do not overlap"
    return float(lo), float(hi)


def _delta(xa, ya, xb, yb) -> float | None:
    """Mean of (fit_b - fit_a) over the shared x interval; None when it cannot be computed."""
    span = _shared(xa, xb)
    if isinstance(span, str):
        return None
    lo, hi = span
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


def bd_detail(
    rates_a: Sequence[float], psnr_a: Sequence[float], rates_b: Sequence[float], psnr_b: Sequence[float]
) -> dict:
    """BD-rate and BD-PSNR of B against A with the intervals they were computed over.

    Keys: bd_rate (%), bd_psnr (dB), psnr_interval ([lo, hi] dB, the BD-rate integral's range),
    rate_interval ([lo, hi] in the rates' unit, the BD-PSNR integral's range), points_a, points_b
    (finite points used), notes ({"bd_rate": why it is missing or None, "bd_psnr": likewise}) and
    note: None when both deltas exist, otherwise the notes in one line."""
    la, pa = _points(rates_a, psnr_a)
    lb, pb = _points(rates_b, psnr_b)
    by_psnr, by_rate = _shared(pa, pb), _shared(la, lb)
    out = {"bd_rate": bd_rate(rates_a, psnr_a, rates_b, psnr_b), "bd_psnr": bd_psnr(rates_a, psnr_a, rates_b, psnr_b),
           "psnr_interval": None, "rate_interval": None, "points_a": int(len(la)), "points_b": int(len(lb)), "note": None}
    if not isinstance(by_psnr, str):
        out["psnr_interval"] = [by_psnr[0], by_psnr[1]]
    if not isinstance(by_rate, str):
        out["rate_interval"] = [math.exp(by_rate[0]), math.exp(by_rate[1])]
    if by_psnr == "the curves do not overlap":
        by_psnr += f" (A {pa.min():.2f}-{pa.max():.2f} dB, B {pb.min():.2f}-{pb.max():.2f} dB)"
    if by_rate == "the curves do not overlap":
        by_rate += f" (A {math.exp(la.min()):.4g}-{math.exp(la.max()):.4g}, B {math.exp(lb.min()):.4g}-{math.exp(lb.max()):.4g})"
    out["notes"] = {"bd_rate": by_psnr if isinstance(by_psnr, str) else None,
                    "bd_psnr": by_rate if isinstance(by_rate, str) else None}
    if isinstance(by_psnr, str) and by_psnr == by_rate:
        out["note"] = by_psnr
    else:
        labels = {"bd_rate": "BD-rate", "bd_psnr": "BD-PSNR"}
        notes = [f"{labels[name]}: {why}" for name, why in out["notes"].items() if why]
        out["note"] = "; ".join(notes) or None
    return out
