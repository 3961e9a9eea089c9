"""Global motion of a group of pictures, for slt-grid's canvas (format version 5).

A camera that pans moves the whole picture by a few pixels a frame; latents stored per frame on the
frame's own grid then have to redraw every moved edge as a frame difference. Stored instead on a
canvas fixed to the scene, with each frame an integer-pixel window of it, still scene content has
zero difference while the camera moves. This module finds those windows: the translation between
consecutive frames' luma to a fraction of a pixel by phase correlation (the peak of the normalised
cross-power spectrum and the parabola through it), kept only where it explains the change better
than no motion, summed, and each frame's sum rounded to its integer offset. A slow pan moves under a
pixel a frame: rounding each step instead would drop those steps and let the canvas drift off the
scene (docs/results.md, issue 14). Encoder only: the decoder reads the offsets from the file.
"""

from __future__ import annotations

import numpy as np

ACCEPT = 1.0  # a shift of a pixel or more is kept when the shifted frame's mean absolute difference is below this share of the unshifted one's
SHARP = 15.0  # ... and any shift only when the correlation peak stands this many deviations out (unrelated frames: about 6, cup.mp4's pairs: 26 to 670)
MAX_STEP = 8  # the largest shift per frame, as a fraction of the frame's shorter side (1/8)
MAX_SPAN = 2  # offsets reach at most 1/2 of the frame on each axis (beyond: the group is coded without motion)
MAX_SIDE = 640  # larger frames are correlated at 1/f size (f = ceil(shorter side / MAX_SIDE)), then refined at full size


def _peak(a: np.ndarray, b: np.ndarray) -> tuple[int, int, float, float, float]:
    """(x, y) of the phase-correlation peak between a and b, its parabolic sub-pixel offset and
    its height over the rest of the surface in standard deviations (the 5 x 5 around it left out)."""
    h, w = a.shape
    win = np.outer(np.hanning(h), np.hanning(w))
    fa, fb = np.fft.rfft2((a - a.mean()) * win), np.fft.rfft2((b - b.mean()) * win)
    cross = fa * np.conj(fb)
    corr = np.fft.irfft2(cross / (np.abs(cross) + 1e-9), s=(h, w))
    y, x = np.unravel_index(int(np.argmax(corr)), corr.shape)
    fy = _vertex(-corr[y - 1, x], -corr[y, x], -corr[(y + 1) % h, x])  # the peak is the negation's minimum
    fx = _vertex(-corr[y, x - 1], -corr[y, x], -corr[y, (x + 1) % w])
    rest = np.ones(corr.shape, dtype=bool)
    rest[np.ix_((y + np.arange(-2, 3)) % h, (x + np.arange(-2, 3)) % w)] = False
    sharp = float((corr[y, x] - corr[rest].mean()) / (corr[rest].std() + 1e-12))
    y, x = (y - h if y > h // 2 else y), (x - w if x > w // 2 else x)
    return int(x), int(y), fx, fy, sharp


def _overlap(h: int, w: int, x: int, y: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """The slices of a and of b that meet when b[p] ~ a[p + (x, y)]."""
    ya, yb = (slice(y, h), slice(0, h - y)) if y >= 0 else (slice(0, h + y), slice(-y, h))
    xa, xb = (slice(x, w), slice(0, w - x)) if x >= 0 else (slice(0, w + x), slice(-x, w))
    return (ya, xa), (yb, xb)


def _mad(a: np.ndarray, b: np.ndarray, x: int, y: int, step: int = 1) -> float:
    sa, sb = _overlap(*a.shape, x, y)
    return float(np.abs(a[sa][::step, ::step] - b[sb][::step, ::step]).mean())


def _shifted_mad(a: np.ndarray, b: np.ndarray, x: float, y: float) -> float:
    """The mean absolute difference of b[p] against a[p + (x, y)], a sampled bilinearly, over the
    pixels where all four of a's neighbours exist."""
    ix, iy = int(np.floor(x)), int(np.floor(y))
    fx, fy = x - ix, y - iy
    (ya, xa), (yb, xb) = _overlap(a.shape[0] - 1, a.shape[1] - 1, ix, iy)
    down, right = slice(ya.start + 1, ya.stop + 1), slice(xa.start + 1, xa.stop + 1)
    top = (1 - fx) * a[ya, xa] + fx * a[ya, right]
    bottom = (1 - fx) * a[down, xa] + fx * a[down, right]
    return float(np.abs((1 - fy) * top + fy * bottom - b[yb, xb]).mean())


def _vertex(m: float, c: float, p: float) -> float:
    """The vertex of the parabola through (-1, m), (0, c), (1, p), within half a step of 0 (0 when
    it does not open towards the middle value)."""
    d = m - 2 * c + p
    return 0.0 if d <= 0 else float(np.clip(0.5 * (m - p) / d, -0.5, 0.5))


def _decimate(a: np.ndarray, f: int) -> np.ndarray:
    h, w = a.shape[0] // f * f, a.shape[1] // f * f
    return a[:h, :w].reshape(h // f, f, w // f, f).mean(axis=(1, 3))


def frame_motion(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(x, y) such that b[p] ~ a[p + (x, y)]: how far the camera moved from frame a to frame b, in
    pixels to a fraction of one, or (0.0, 0.0) where no translation explains the change. Frames
    past MAX_SIDE are correlated box-decimated (an HD frame costs a 540 x 960 FFT, not a
    whole-frame one), the shift is then chosen at full size among the pixels the decimated peak
    leaves open, and its fraction from the parabola through the neighbours' differences."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    h, w = a.shape
    limit = max(1, min(h, w) // MAX_STEP)
    f = -(-min(h, w) // MAX_SIDE)
    if f == 1:
        x, y, fx, fy, sharp = _peak(a, b)
    else:
        dx, dy, fx, fy, sharp = _peak(_decimate(a, f), _decimate(b, f))
        cx, cy, r = int(round(f * (dx + fx))), int(round(f * (dy + fy))), max(1, f // 2)
        cands = [(cx + i, cy + j) for j in range(-r, r + 1) for i in range(-r, r + 1)
                 if abs(cx + i) <= limit and abs(cy + j) <= limit]
        if not cands:
            return 0.0, 0.0
        x, y = min(cands, key=lambda c: _mad(a, b, *c, step=2))
        c = _mad(a, b, x, y, step=2)
        fx = _vertex(_mad(a, b, x - 1, y, step=2), c, _mad(a, b, x + 1, y, step=2))
        fy = _vertex(_mad(a, b, x, y - 1, step=2), c, _mad(a, b, x, y + 1, step=2))
    sx, sy = x + fx, y + fy
    if sharp < SHARP or abs(sx) > limit or abs(sy) > limit or (abs(sx) < 0.05 and abs(sy) < 0.05):
        return 0.0, 0.0
    x, y = int(round(sx)), int(round(sy))
    if x == 0 and y == 0:  # under half a pixel: a still scene's fraction is about 0, a slow pan's is its motion
        return float(sx), float(sy)
    sa, _ = _overlap(h, w, x, y)
    still = np.abs(a[sa] - b[sa]).mean()  # the same pixels of a against b unshifted
    return (float(sx), float(sy)) if _mad(a, b, x, y) < ACCEPT * still else (0.0, 0.0)


def frame_shift(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """frame_motion rounded to whole pixels."""
    x, y = frame_motion(a, b)
    return int(round(x)), int(round(y))


def positions(luma: np.ndarray) -> np.ndarray:
    """(frames, 2) integer (x, y) pixel positions of the camera over luma planes (frames, h, w):
    the fractional shifts between consecutive frames summed from 0, each sum rounded."""
    pos = np.zeros((len(luma), 2), dtype=np.float64)
    for i in range(1, len(luma)):
        pos[i] = pos[i - 1] + frame_motion(luma[i - 1], luma[i])
    return np.round(pos).astype(np.int64)


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
