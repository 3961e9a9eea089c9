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


def frame_shift(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """(x, y) such that b[p] ~ a[p + (x, y)]: how far the camera moved from frame a to frame b,
    in pixels, or (0, 0) where no translation explains the change."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    h, w = a.shape
    win = np.outer(np.hanning(h), np.hanning(w))
    fa, fb = np.fft.rfft2((a - a.mean()) * win), np.fft.rfft2((b - b.mean()) * win)
    cross = fa * np.conj(fb)
    corr = np.fft.irfft2(cross / (np.abs(cross) + 1e-9), s=(h, w))
    y, x = np.unravel_index(int(np.argmax(corr)), corr.shape)
    y, x = (y - h if y > h // 2 else y), (x - w if x > w // 2 else x)
    limit = max(1, min(h, w) // MAX_STEP)
    if (x == 0 and y == 0) or abs(x) > limit or abs(y) > limit:
        return 0, 0
    # the overlap: b's pixel p against a's pixel p + (x, y)
    ya, yb = (slice(y, h), slice(0, h - y)) if y >= 0 else (slice(0, h + y), slice(-y, h))
    xa, xb = (slice(x, w), slice(0, w - x)) if x >= 0 else (slice(0, w + x), slice(-x, w))
    moved = np.abs(a[ya, xa] - b[yb, xb]).mean()
    still = np.abs(a[ya, xa] - b[ya, xa]).mean()
    return (int(x), int(y)) if moved < ACCEPT * still else (0, 0)


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
