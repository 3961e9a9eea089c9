"""Long videos (issue 15): peak memory of a streamed encode (--segment-frames) at 1x and 8x the
clip length with the same segment size, and wall time of the same segments fitted in order and
on a local Ray with two workers. Each encode runs in its own process; peak RSS is the child's
maximum resident set (getrusage). Prints a table last.

    python benchmarks/long_video.py memory [--size 176x144] [--frames 64] [--segment 16]
    python benchmarks/long_video.py workers --input ../shared/data/cup.mp4 [--frames 64] [--segment 16] [--epochs 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def synthetic_y4m(path: str, width: int, height: int, frames: int) -> None:
    from fractions import Fraction

    from inrcodec.video.clip import Clip, VideoInfo
    from inrcodec.video.io import write_video

    rng = np.random.default_rng(0)
    base = rng.integers(16, 235, size=(1, width * height * 3 // 2), dtype=np.uint8)
    shifts = [np.roll(base, 7 * t, axis=1) for t in range(frames)]
    write_video(path, Clip(VideoInfo(width, height, Fraction(25)), np.concatenate(shifts)), "y4m")


def memory(a) -> None:
    w, h = (int(v) for v in a.size.split("x"))
    env = {**os.environ, "INRCODEC_THREADS": "1", "OMP_NUM_THREADS": "1"}
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for mult in (1, 8):
            src = os.path.join(d, f"x{mult}.y4m")
            synthetic_y4m(src, w, h, a.frames * mult)
            # each measurement in a process of its own: RUSAGE_CHILDREN's maximum is per waited child
            code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
                    "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
                    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")
            cmd = [sys.executable, "-m", "inrcodec", "encode", src, "-o", os.path.join(d, "o.slt"), "-y", "-q",
                   "--preset", "tiny", "--epochs", "1", "--device", "cpu", "--segment-frames", str(a.segment)]
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", code, *cmd], env=env, capture_output=True, text=True, check=True)
            rows.append((mult, a.frames * mult, float(out.stdout.strip()), time.perf_counter() - t0))
    print("| clip | frames | segment | peak RSS MiB | wall s |\n|---|---|---|---|---|")
    for mult, n, rss, wall in rows:
        print(f"| {mult}x | {n} | {a.segment} | {rss:.0f} | {wall:.1f} |")
    print(f"8x / 1x peak RSS: {rows[1][2] / rows[0][2]:.3f}")


def workers(a) -> None:
    env = {**os.environ, "INRCODEC_THREADS": "1", "OMP_NUM_THREADS": "1"}
    common = ["encode", a.input, "--frames", str(a.frames), "--segment-frames", str(a.segment), "--epochs",
              str(a.epochs), "--device", "cpu", "--threads", "1", "-y", "-q"]
    with tempfile.TemporaryDirectory() as d:
        times = {}
        for label, extra in (("sequential", []), ("--workers 2", ["--workers", "2"])) * a.rounds:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "inrcodec", *common, "-o", os.path.join(d, f"{len(times)}.slt"),
                            *extra], env=env, check=True, stdout=subprocess.DEVNULL)
            times.setdefault(label, []).append(time.perf_counter() - t0)
        files = sorted(os.listdir(d))
        same = len({open(os.path.join(d, f), "rb").read() for f in files}) == 1
    print("| run | wall s (each round) | best |\n|---|---|---|")
    for label, ts in times.items():
        print(f"| {label} | {' / '.join(f'{t:.1f}' for t in ts)} | {min(ts):.1f} |")
    print(f"ratio (best): {min(times['--workers 2']) / min(times['sequential']):.2f}; files identical: {same}")


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    m = sub.add_parser("memory")
    m.add_argument("--size", default="176x144")
    m.add_argument("--frames", type=int, default=64)
    m.add_argument("--segment", type=int, default=16)
    w = sub.add_parser("workers")
    w.add_argument("--input", default="../shared/data/cup.mp4")
    w.add_argument("--frames", type=int, default=64)
    w.add_argument("--segment", type=int, default=16)
    w.add_argument("--epochs", type=int, default=3)
    w.add_argument("--rounds", type=int, default=1)
    a = ap.parse_args()
    memory(a) if a.what == "memory" else workers(a)


if __name__ == "__main__":
    main()
