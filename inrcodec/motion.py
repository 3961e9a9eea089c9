"""Global motion of a group of pictures, for slt-grid's canvas (format version 5).

A camera that pans moves the whole picture by a few pixels a frame; latents stored per frame on the
frame's own grid then have to redraw every moved edge as a frame difference. Stored instead on a
canvas fixed to the scene, with each frame an integer-pixel window of it, still scene content has
zero difference while the camera moves. This module finds those windows: the translation between
consecutive frames' luma by phase correlation (the peak of the normalised cross-power spectrum),
kept only where it explains the change better than no motion, summed into each frame's offset.
Encoder only: the decoder reads the offsets from the file.
"""

from __future__ import annotations

import numpy as np

ACCEPT = 0.85  # a shift is kept when the shifted frame's mean absolute difference is below this share of the unshifted one's
MAX_STEP = 8  # the largest shift per frame, as a fraction of the frame's shorter side (1/8)
MAX_SPAN = 2  # offsets reach at most 1/2 of the frame on each axis (beyond: the group is coded without motion)
MAX_SIDE = 640  # larger frames are correlated at 1/f size (f = ceil(shorter side / MAX_SIDE)), then refined at full size


def _peak(a: np.ndarray, b: np.ndarray) -> tuple[int, int, float, float]:
    """(x, y) of the phase-correlation peak between a and b, and its parabolic sub-pixel offset."""
    h, w = a.shape
    win = np.outer(np.hanning(h), np.hanning(w))
    fa, fb = np.fft.rfft2((a - a.mean()) * win), np.fft.rfft2((b - b.mean()) * win)
    cross = fa * np.conj(fb)
    corr = np.fft.irfft2(cross / (np.abs(cross) + 1e-9), s=(h, w))
    y, x = np.unravel_index(int(np.argmax(corr)), corr.shape)

    def sub(m, c, p):  # vertex of the parabola through the peak and its two neighbours
        d = m - 2 * c + p
        return 0.0 if d >= 0 else float(np.clip(0.5 * (m - p) / d, -0.5, 0.5))

    fy = sub(corr[y - 1, x], corr[y, x], corr[(y + 1) % h, x])
    fx = sub(corr[y, x - 1], corr[y, x], corr[y, (x + 1) % w])
    y, x = (y - h if y > h // 2 else y), (x - w if x > w // 2 else x)
    return int(x), int(y), fx, fy


def _overlap(h: int, w: int, x: int, y: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """The slices of a and of b that meet when b[p] ~ a[p + (x, y)]."""
    ya, yb = (slice(y, h), slice(0, h - y)) if y >= 0 else (slice(0, h + y), slice(-y, h))
    xa, xb = (slice(x, w), slice(0, w - x)) if x >= 0 else (slice(0, w + x), slice(-x, w))
    return (ya, xa), (yb, xb)


def _mad(a: np.ndarray, b: np.ndarray, x: int, y: int, step: int = 1) -> float:
    sa, sb = _overlap(*a.shape, x, y)
    return float(np.abs(a[sa][::step, ::step] - b[sb][::step, ::step]).mean())


def _decimate(a: np.ndarray, f: int) -> np.ndarray:
    h, w = a.shape[0] // f * f, a.shape[1] // f * f
    return a[:h, :w].reshape(h // f, f, w // f, f).mean(axis=(1, 3))


def frame_shift(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """(x, y) such that b[p] ~ a[p + (x, y)]: how far the camera moved from frame a to frame b,
    in pixels, or (0, 0) where no translation explains the change. Frames past MAX_SIDE are
    correlated box-decimated (an HD frame costs a 540 x 960 FFT, not a whole-frame one) and the
    shift is then chosen at full size among the pixels the decimated peak leaves open."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    h, w = a.shape
    limit = max(1, min(h, w) // MAX_STEP)
    f = -(-min(h, w) // MAX_SIDE)
    if f == 1:
        x, y, _, _ = _peak(a, b)
    else:
        dx, dy, fx, fy = _peak(_decimate(a, f), _decimate(b, f))
        cx, cy, r = int(round(f * (dx + fx))), int(round(f * (dy + fy))), max(1, f // 2)
        cands = [(cx + i, cy + j) for j in range(-r, r + 1) for i in range(-r, r + 1)
                 if abs(cx + i) <= limit and abs(cy + j) <= limit]
        x, y = min(cands, key=lambda c: _mad(a, b, *c, step=2)) if cands else (0, 0)
    if (x == 0 and y == 0) or abs(x) > limit or abs(y) > limit:
        return 0, 0
    sa, _ = _overlap(h, w, x, y)
    still = np.abs(a[sa] - b[sa]).mean()  # the same pixels of a against b unshifted
    return (int(x), int(y)) if _mad(a, b, x, y) < ACCEPT * still else (0, 0)


def positions(luma: np.ndarray) -> np.ndarray:
    """(frames, 2) integer (x, y) pixel positions of the camera over luma planes (frames, h, w):
    the shifts between consecutive frames, summed from 0."""
    pos = np.zeros((len(luma), 2), dtype=np.int64)
    for i in range(1, len(luma)):
        pos[i] = pos[i - 1] + frame_shift(luma[i - 1], luma[i])
    return pos


def global_offsets(luma: np.ndarray) -> np.ndarray | None:
    """Each frame's window on the group's canvas, (frames, 2) integer (x, y) pixels with the
    smallest 0 on each axis, or None when the camera does not move (or moves beyond MAX_SPAN)."""
    luma = np.asarray(luma)
    _, h, w = luma.shape
    pos = positions(luma)
    pos -= pos.min(axis=0)
    span = pos.max(axis=0)
    if not span.any() or span[0] > w // MAX_SPAN or span[1] > h // MAX_SPAN:
        return None
    return pos
