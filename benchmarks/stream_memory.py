"""Peak memory of streaming an input (issue 15): peak resident memory while open_video(...).chunks(n)
reads a clip front to back, chunks of the same size, for the clip at 1x and 8x its length. Streaming
is bounded when the 8x peak is within 1.1x of the 1x peak. For contrast, read_video (the whole clip
at once) on the same Y4M inputs. Each case runs in a fresh process; the peak counted is the one
after the process has imported, warmed up its decoder on the same input and reset its high-water
mark (/proc/self/clear_refs), and the baseline before it is printed too.

Inputs, written to --tmp: a Y4M of --frames synthetic 640x480 frames and its 8x version (read as a
file and through a `cat` pipe), and cup.mp4 remuxed 8 times over (ffmpeg -stream_loop 7 -c copy).

    python benchmarks/stream_memory.py [--input ../shared/data/cup.mp4] [--frames 217] [--chunk 32] [--tmp /tmp]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time


def status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def child(path: str, chunk: int, whole: bool) -> None:
    """Runs in the measured process: warm up on one frame, reset the peak, then read."""
    import numpy as np

    from inrcodec.video.io import open_video, read_video

    source = path if path != "-" else "-"
    if path != "-":
        with open_video(path, frames=1) as src:  # the decoder's code and tables, as every read loads them
            src.read()
    baseline = status_mb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        reset = True
    except OSError:
        reset = False
    t0 = time.perf_counter()
    frames, checksum = 0, 0
    if whole:
        clip = read_video(source)
        frames, checksum = len(clip), int(clip.frames[:, ::4096].sum())
        del clip
    else:
        with open_video(source) as src:
            chunks = src.chunks(chunk)
            while (c := next(chunks, None)) is not None:  # hold one chunk: drop it before the next
                frames += len(c)
                checksum += int(c[:, ::4096].sum())
                del c
    print(json.dumps({"frames": frames, "baseline": baseline, "peak": status_mb("VmHWM"), "reset": reset,
                      "seconds": time.perf_counter() - t0, "checksum": checksum}))


def measure(path: str, chunk: int, *, pipe: bool = False, whole: bool = False) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "-" if pipe else path, "--chunk", str(chunk)]
    if whole:
        cmd.append("--whole")
    env = dict(os.environ, INRCODEC_MAX_INPUT_MIB=os.environ.get("INRCODEC_MAX_INPUT_MIB", "4096"))
    if pipe:
        out = subprocess.run(f"cat {shlex.quote(path)} | {shlex.join(cmd)}", shell=True, check=True,
                             capture_output=True, text=True, env=env).stdout
    else:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def synthetic_y4m(path: str, frames: int, width: int = 640, height: int = 480) -> None:
    import numpy as np
    from fractions import Fraction

    from inrcodec.video.clip import VideoInfo
    from inrcodec.video.io import open_writer

    rng = np.random.default_rng(0)
    block = rng.integers(16, 236, (16, width * height * 3 // 2), dtype=np.uint8)
    with open_writer(path, "y4m", VideoInfo(width, height, Fraction(25))) as w:
        for i in range(0, frames, 16):
            w.write(np.roll(block, i, axis=1)[: min(16, frames - i)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default="../shared/data/cup.mp4")
    ap.add_argument("--frames", type=int, default=217, help="frames of the 1x synthetic Y4M (cup.mp4 has 217)")
    ap.add_argument("--chunk", type=int, default=32)
    ap.add_argument("--tmp", default="/tmp")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--whole", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.chunk, args.whole)
        return
    tmp = os.path.join(args.tmp, f"stream_memory_{os.getpid()}")
    os.makedirs(tmp)
    try:
        y1, y8 = os.path.join(tmp, "x1.y4m"), os.path.join(tmp, "x8.y4m")
        synthetic_y4m(y1, args.frames)
        synthetic_y4m(y8, 8 * args.frames)
        m8 = os.path.join(tmp, "x8.mp4")
        subprocess.run(["ffmpeg", "-v", "error", "-stream_loop", "7", "-i", args.input, "-map", "0:v", "-c", "copy",
                        m8], check=True)
        cases = [("Y4M file, chunks", y1, y8, {}), ("Y4M on a pipe, chunks", y1, y8, {"pipe": True}),
                 ("MP4 file (cup.mp4), chunks", args.input, m8, {}),
                 ("Y4M file, read_video (whole clip)", y1, y8, {"whole": True})]
        chunk_mb = args.chunk * 640 * 480 * 3 / 2 / 2**20
        print(f"chunks of {args.chunk} frames of 640x480 ({chunk_mb:.1f} MiB); peak RSS after warm-up, MiB")
        print("| input | frames 1x / 8x | baseline | peak 1x | peak 8x | 8x / 1x | read time 1x / 8x |")
        print("|---|---|---|---|---|---|---|")
        for label, p1, p8, kw in cases:
            a, b = measure(p1, args.chunk, **kw), measure(p8, args.chunk, **kw)
            ok = "" if a["reset"] and b["reset"] else " (peak not reset: since start-up)"
            print(f"| {label} | {a['frames']} / {b['frames']} | {a['baseline']:.0f} | {a['peak']:.0f} | "
                  f"{b['peak']:.0f} | {b['peak'] / a['peak']:.2f}{ok} | {a['seconds']:.1f} / {b['seconds']:.1f} s |")
    finally:
        for name in os.listdir(tmp):
            os.remove(os.path.join(tmp, name))
        os.rmdir(tmp)


if __name__ == "__main__":
    main()
