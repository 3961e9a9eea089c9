"""Where a clip's groups of pictures (segments) start, chosen from its content.

slt-grid codes each segment as a residual chain under shared coarse grids: a long group spreads its
fixed costs (the first frame, the synthesis masks, the shared grids) over many frames, which pays on
still content, but its shared grids fit moving content badly (docs/results.md, issue 14: one
32-frame group beat two of 16 on tree.avi's still frames; one 68-frame group lost 1.6 dB on the
whole clip). So the split is a dynamic programme over the clip, as x264 places keyframes by cost
rather than by a fixed interval: it minimises the sum over groups of `cut_cost` plus the group's
change, the mean absolute deviation of each frame's coarse luma from the group's mean coarse luma,
summed over the group's frames. The coarse luma (block means, about ANALYSIS_ROWS rows) is the
scale of the shared grids and ignores noise. Only the encoder plans; the segment table stores the
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


def plan_lengths(coarse: np.ndarray, plan: GroupPlan) -> list[int]:
    """The group lengths (in frame order, summing to len(coarse), none over plan.max_frames) that
    minimise the sum of plan.cut_cost plus each group's change; among equal costs the earlier
    groups are the longer (still frames split as fixed segments of max_frames would), so the split
    is a function of the frames alone."""
    n = len(coarse)
    if n == 0:
        return []
    flat = coarse.reshape(n, -1)
    prefix = np.concatenate([np.zeros((1, flat.shape[1])), np.cumsum(flat, axis=0)])
    best = np.zeros(n + 1)
    start = np.zeros(n + 1, dtype=np.int64)
    for end in range(1, n + 1):
        starts = np.arange(max(0, end - plan.max_frames), end)
        means = (prefix[end] - prefix[starts]) / (end - starts)[:, None]  # each candidate group's mean
        window = flat[starts[0] : end]  # frames starts[0] .. end - 1
        dev = np.abs(window[None, :, :] - means[:, None, :]).mean(axis=2)  # (start, frame)
        inside = np.arange(starts[0], end)[None, :] >= starts[:, None]
        cost = best[starts] + plan.cut_cost + (dev * inside).sum(axis=1)
        j = len(cost) - 1 - int(np.argmin(cost[::-1]))  # the last minimum: the latest start
        best[end], start[end] = cost[j], starts[j]
    lengths, end = [], n
    while end > 0:
        lengths.append(int(end - start[end]))
        end = int(start[end])
    return lengths[::-1]


def plan_groups(frames: np.ndarray, width: int, height: int, plan: GroupPlan) -> list[int]:
    """The group lengths of uint8 I420 frames (n, frame_bytes) of a width x height clip."""
    return plan_lengths(coarse_luma(frames, width, height), plan)
