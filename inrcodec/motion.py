"""Global motion of a group of pictures, for slt-grid's canvas (format version 5).

A camera that pans moves the whole picture by a few pixels a frame; latents stored per frame on the
frame's own grid then have to redraw every moved edge as a frame difference. Stored instead on a
canvas fixed to the scene, with each frame an integer-pixel window of it, still scene content has
zero difference while the camera moves. This module finds those windows: the translation between
consecutive frames' luma by phase correlation (the peak of the normalised cross-power spectrum),
refined to a fraction of a pixel by Gauss-Newton steps on the frames' difference, kept only where it explains the change better
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


def _peak(a: np.ndarray, b: np.ndarray) -> tuple[int, int, float]:
    """(x, y) of the phase-correlation peak between a and b and its height over the rest of the
    surface in standard deviations (the 5 x 5 around it left out)."""
    h, w = a.shape
    win = np.outer(np.hanning(h), np.hanning(w))
    fa, fb = np.fft.rfft2((a - a.mean()) * win), np.fft.rfft2((b - b.mean()) * win)
    cross = fa * np.conj(fb)
    corr = np.fft.irfft2(cross / (np.abs(cross) + 1e-9), s=(h, w))
    y, x = np.unravel_index(int(np.argmax(corr)), corr.shape)
    rest = np.ones(corr.shape, dtype=bool)
    rest[np.ix_((y + np.arange(-2, 3)) % h, (x + np.arange(-2, 3)) % w)] = False
    sharp = float((corr[y, x] - corr[rest].mean()) / (corr[rest].std() + 1e-12))
    y, x = (y - h if y > h // 2 else y), (x - w if x > w // 2 else x)
    return int(x), int(y), sharp


def _overlap(h: int, w: int, x: int, y: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """The slices of a and of b that meet when b[p] ~ a[p + (x, y)]."""
    ya, yb = (slice(y, h), slice(0, h - y)) if y >= 0 else (slice(0, h + y), slice(-y, h))
    xa, xb = (slice(x, w), slice(0, w - x)) if x >= 0 else (slice(0, w + x), slice(-x, w))
    return (ya, xa), (yb, xb)


def _mad(a: np.ndarray, b: np.ndarray, x: int, y: int, step: int = 1) -> float:
    sa, sb = _overlap(*a.shape, x, y)
    return float(np.abs(a[sa][::step, ::step] - b[sb][::step, ::step]).mean())


def _sampler(h: int, w: int, x: float, y: float):
    """For b[p] against a[p + (x, y)] with a sampled bilinearly: the slices of b that meet and a
    function sampling a same-shaped array (a or its gradient) there, over the pixels where all
    four neighbours exist."""
    ix, iy = int(np.floor(x)), int(np.floor(y))
    fx, fy = x - ix, y - iy
    (ya, xa), sb = _overlap(h - 1, w - 1, ix, iy)
    down, right = slice(ya.start + 1, ya.stop + 1), slice(xa.start + 1, xa.stop + 1)

    def sample(m: np.ndarray) -> np.ndarray:
        return (1 - fy) * ((1 - fx) * m[ya, xa] + fx * m[ya, right]) + fy * ((1 - fx) * m[down, xa] + fx * m[down, right])

    return sb, sample


def _refine(a: np.ndarray, b: np.ndarray, x: int, y: int, steps: int = 2) -> tuple[float, float]:
    """The whole-pixel shift (x, y) refined to a fraction of a pixel by Gauss-Newton steps on the
    squared difference of b against a sampled at p + shift (Lucas-Kanade), within a pixel of it;
    unchanged where the frame has no gradient to go by. The peak's neighbours would give a
    fraction too, but a parabola through them is biased towards the whole pixel (0.4 reads as 0.3),
    and the sums of a pan's steps would drift by that."""
    gx, gy = np.zeros_like(a), np.zeros_like(a)
    gx[:, 1:-1], gy[1:-1] = (a[:, 2:] - a[:, :-2]) / 2, (a[2:] - a[:-2]) / 2
    d = np.zeros(2)
    for _ in range(steps):
        sb, sample = _sampler(*a.shape, x + d[0], y + d[1])
        inner = (slice(1, -1), slice(1, -1))  # central differences need both neighbours
        r = (b[sb] - sample(a))[inner]
        ga, gb = sample(gx)[inner], sample(gy)[inner]
        m = np.array([[(ga * ga).sum(), (ga * gb).sum()], [(ga * gb).sum(), (gb * gb).sum()]])
        if r.size == 0 or np.linalg.det(m) <= 1e-9 * max(1.0, float(np.trace(m))) ** 2:
            break
        d = np.clip(d + np.linalg.solve(m, [(ga * r).sum(), (gb * r).sum()]), -1.0, 1.0)
    return x + float(d[0]), y + float(d[1])


def _decimate(a: np.ndarray, f: int) -> np.ndarray:
    h, w = a.shape[0] // f * f, a.shape[1] // f * f
    return a[:h, :w].reshape(h // f, f, w // f, f).mean(axis=(1, 3))


def frame_motion(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(x, y) such that b[p] ~ a[p + (x, y)]: how far the camera moved from frame a to frame b, in
    pixels to a fraction of one, or (0.0, 0.0) where no translation explains the change. Frames
    past MAX_SIDE are correlated box-decimated (an HD frame costs a 540 x 960 FFT, not a
    whole-frame one) and the shift is then chosen at full size among the pixels the decimated peak
    leaves open; its fraction is _refine's."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    h, w = a.shape
    limit = max(1, min(h, w) // MAX_STEP)
    f = -(-min(h, w) // MAX_SIDE)
    if f == 1:
        x, y, sharp = _peak(a, b)
    else:
        dx, dy, sharp = _peak(_decimate(a, f), _decimate(b, f))
        r = max(1, f // 2)
        cands = [(f * dx + i, f * dy + j) for j in range(-r, r + 1) for i in range(-r, r + 1)
                 if abs(f * dx + i) <= limit and abs(f * dy + j) <= limit]
        if not cands:
            return 0.0, 0.0
        x, y = min(cands, key=lambda c: _mad(a, b, *c, step=2))
    if sharp < SHARP or abs(x) > limit or abs(y) > limit:
        return 0.0, 0.0
    sx, sy = _refine(a, b, x, y)
    if abs(sx) > limit or abs(sy) > limit or (abs(sx) < 0.05 and abs(sy) < 0.05):
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
    """(frames, 2) integer (x, y) pixel positions of the camera over luma planes (frames, h, w).
    Each frame's position is the last one plus the fractional shift between them, then measured
    again against an anchor frame (the first, and a new one each time the camera has moved a
    quarter of the frame from it) starting there, and rounded. Summed step by step, the small
    errors of a step (tree.avi's swaying leaves read as +0.1 pixel) would add up to whole pixels
    of drift; against the anchor they stay one frame's error."""
    luma = np.asarray(luma, dtype=np.float64)
    h, w = luma.shape[1:]
    pos = np.zeros((len(luma), 2), dtype=np.float64)
    anchor = 0
    for i in range(1, len(luma)):
        guess = pos[i - 1] + frame_motion(luma[i - 1], luma[i])
        x, y = np.round(guess - pos[anchor]).astype(int)
        if abs(x) < w // 2 and abs(y) < h // 2:
            again = np.array(_refine(luma[anchor], luma[i], int(x), int(y)))
            rx, ry = np.round(again).astype(int)
            if _mad(luma[anchor], luma[i], rx, ry, step=2) <= _mad(luma[anchor], luma[i], x, y, step=2):
                guess = pos[anchor] + again
        pos[i] = guess
        if (np.abs(pos[i] - pos[anchor]) * 4 >= (w, h)).any():
            anchor = i
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
