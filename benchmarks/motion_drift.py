"""How well slt-grid's canvas follows the camera (issue 14, motion.py): the positions motion.py
finds over a clip's frames and, for every k-th frame, the mean absolute luma difference between it
and the group's first frame aligned by their position difference (on the overlap). A canvas that
drifts off the scene shows as differences that grow faster. Encoder side only; prints one table.

    python benchmarks/motion_drift.py --input ../shared/data/cup.mp4 --frames 30 --every 4
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's inrcodec

from inrcodec import motion  # noqa: E402
from inrcodec.video.io import read_video  # noqa: E402


def aligned_mad(a: np.ndarray, b: np.ndarray, x: int, y: int) -> float:
    """Mean |b[p] - a[p + (x, y)]| over the pixels both frames hold."""
    h, w = a.shape
    ya, yb = (slice(y, h), slice(0, h - y)) if y >= 0 else (slice(0, h + y), slice(-y, h))
    xa, xb = (slice(x, w), slice(0, w - x)) if x >= 0 else (slice(0, w + x), slice(-x, w))
    return float(np.abs(a[ya, xa] - b[yb, xb]).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default="/work/shared/data/cup.mp4")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--frames", type=int, default=30, help="the group: frames from --start")
    ap.add_argument("--every", type=int, default=4)
    a = ap.parse_args()
    clip = read_video(a.input, start=a.start, frames=a.frames)
    w, h = clip.info.width, clip.info.height
    luma = clip.frames[:, : w * h].reshape(-1, h, w).astype(np.float64)
    t = time.perf_counter()
    pos = motion.positions(luma)
    took = time.perf_counter() - t
    print(f"{a.input} frames {a.start}..{a.start + len(luma) - 1}: positions in {took:.2f} s")
    print("frame  position   MAD to the first frame")
    for i in range(1, len(luma), a.every):
        x, y = (pos[i] - pos[0]).tolist()
        print(f"{a.start + i:5d}  {x:+4d},{y:+4d}  {aligned_mad(luma[0], luma[i], x, y):7.3f}")


if __name__ == "__main__":
    main()
