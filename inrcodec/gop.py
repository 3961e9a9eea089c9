"""Where a clip's groups of pictures (segments) start, chosen from its content.

slt-grid codes each segment as a residual chain under shared coarse grids: a long group spreads its
fixed costs (the first frame, the synthesis masks, the shared grids) over many frames, which pays on
still content, but its shared grids fit moving content badly (docs/results.md, issue 14: one
32-frame group beat two of 16 on tree.avi's still frames; one 68-frame group lost 1.6 dB on the
whole clip). So the split is a dynamic programme over the clip, as x264 places keyframes by cost
rather than by a fixed interval: it minimises the sum over groups of `cut_cost` plus the group's
change, the mean absolute deviation of each frame's coarse luma from the group's mean coarse luma,
summed over the group's frames. The coarse luma (block means, about ANALYSIS_ROWS rows) is the
scale of the shared grids and ignores noise. With motion (slt-grid's canvas, motion.py) the change
is measured after the camera's global motion: each frame's coarse luma is placed on the scene's
coarse canvas at its position, and a frame deviates from the group's mean only where it sees the
canvas, so a pan is as cheap to keep in one group as the still scene it pans over (up to
motion.MAX_SPAN, beyond which a group would be coded without motion). Only the encoder plans; the segment table stores the
result, so the decoder and every earlier file are untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ANALYSIS_ROWS = 32  # rows of the coarse luma the change is measured on (about)


@dataclass(frozen=True)
class GroupPlan:
    max_frames: int  # the longest group (as x264's --keyint)
    cut_cost: float  # what starting a group costs, in the change's unit (luma levels 0-255 times frames)
    motion: bool = False  # measure the change after global motion (the method codes it: slt-grid's canvas)


def block_factor(width: int, height: int) -> int:
    """The power of two the coarse luma is downsampled by (1 for frames under 2 * ANALYSIS_ROWS)."""
    return 1 << max(0, round(math.log2(max(1, min(width, height)) / ANALYSIS_ROWS)))


def coarse_luma(frames: np.ndarray, width: int, height: int, batch: int = 16) -> np.ndarray:
    """(n, rows, columns) float64 block means of the luma of uint8 I420 frames (n, frame_bytes),
    a few frames at a time so a long clip needs no float copy of itself."""
    k = block_factor(width, height)
    rows, cols = max(1, height // k), max(1, width // k)
    k_rows, k_cols = height // rows, width // cols
    out = np.empty((len(frames), rows, cols), np.float64)
    for i in range(0, len(frames), batch):
        y = frames[i : i + batch, : width * height].reshape(-1, height, width)[:, : rows * k_rows, : cols * k_cols]
        out[i : i + batch] = y.reshape(-1, rows, k_rows, cols, k_cols).mean(axis=(2, 4))
    return out


def _still_changes(flat: np.ndarray, prefix: np.ndarray, starts: np.ndarray, end: int) -> np.ndarray:
    """(start, frame) mean absolute deviation of frames starts[0] .. end - 1 from the mean of the
    group starting at each candidate start (0 before it)."""
    means = (prefix[end] - prefix[starts]) / (end - starts)[:, None]
    window = flat[starts[0] : end]
    return np.abs(window[None, :, :] - means[:, None, :]).mean(axis=2)


def _moving_changes(coarse: np.ndarray, offsets: np.ndarray, starts: np.ndarray, end: int, max_span) -> np.ndarray:
    """As _still_changes, each frame's coarse luma placed on the window's canvas at its offset
    (block units) and compared with the group's mean where it sees the canvas; a group whose
    offsets span more than max_span (x, y) blocks costs infinity."""
    window, off = coarse[starts[0] : end], offsets[starts[0] : end]
    m, rows, cols = window.shape
    # a group's canvas is placed by its own minimum offset, so measure from the window's
    off = off - off.min(axis=0)
    canvas = np.zeros((m, rows + int(off[:, 1].max()), cols + int(off[:, 0].max())))
    seen = np.zeros(canvas.shape, dtype=bool)
    for i, (x, y) in enumerate(off):
        canvas[i, y : y + rows, x : x + cols] = window[i]
        seen[i, y : y + rows, x : x + cols] = True
    # suffix sums: the group from window position j to the end
    sums = np.cumsum(canvas[::-1], axis=0)[::-1]
    counts = np.cumsum(seen[::-1], axis=0)[::-1]
    j = starts - starts[0]
    means = sums[j] / np.maximum(counts[j], 1)  # (start, canvas)
    dev = (np.abs(canvas[None] - means[:, None]) * seen[None]).sum(axis=(2, 3)) / (rows * cols)
    # each group's span: the largest minus the smallest offset from its start on
    hi = np.maximum.accumulate(off[::-1], axis=0)[::-1][j]
    lo = np.minimum.accumulate(off[::-1], axis=0)[::-1][j]
    wide = ((hi - lo) > np.asarray(max_span)).any(axis=1)
    dev[wide] = np.inf
    return dev


def plan_lengths(coarse: np.ndarray, plan: GroupPlan, offsets: np.ndarray | None = None,
                 max_span: tuple[int, int] = (0, 0)) -> list[int]:
    """The group lengths (in frame order, summing to len(coarse), none over plan.max_frames) that
    minimise the sum of plan.cut_cost plus each group's change; among equal costs the earlier
    groups are the longer (still frames split as fixed segments of max_frames would), so the split
    is a function of the frames alone. With offsets ((n, 2) integer (x, y) positions of the
    frames in coarse blocks) the change is measured after that motion, groups spanning at most
    max_span blocks."""
    n = len(coarse)
    if n == 0:
        return []
    flat = coarse.reshape(n, -1)
    prefix = np.concatenate([np.zeros((1, flat.shape[1])), np.cumsum(flat, axis=0)])
    best = np.zeros(n + 1)
    start = np.zeros(n + 1, dtype=np.int64)
    for end in range(1, n + 1):
        starts = np.arange(max(0, end - plan.max_frames), end)
        moving = offsets is not None and bool((offsets[starts[0] : end] != offsets[starts[0]]).any())
        dev = (_moving_changes(coarse, offsets, starts, end, max_span) if moving
               else _still_changes(flat, prefix, starts, end))
        inside = np.arange(starts[0], end)[None, :] >= starts[:, None]
        cost = best[starts] + plan.cut_cost + np.where(inside, dev, 0.0).sum(axis=1)
        j = len(cost) - 1 - int(np.argmin(cost[::-1]))  # the last minimum: the latest start
        best[end], start[end] = cost[j], starts[j]
    lengths, end = [], n
    while end > 0:
        lengths.append(int(end - start[end]))
        end = int(start[end])
    return lengths[::-1]


def plan_groups(frames: np.ndarray, width: int, height: int, plan: GroupPlan) -> list[int]:
    """The group lengths of uint8 I420 frames (n, frame_bytes) of a width x height clip."""
    coarse = coarse_luma(frames, width, height)
    if not plan.motion or len(frames) < 2:
        return plan_lengths(coarse, plan)
    from .motion import MAX_SPAN, positions

    k = block_factor(width, height)
    blocks = np.round(positions(frames[:, : width * height].reshape(-1, height, width)) / k).astype(np.int64)
    return plan_lengths(coarse, plan, blocks, ((width // MAX_SPAN) // k, (height // MAX_SPAN) // k))
