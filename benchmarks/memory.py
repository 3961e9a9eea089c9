"""Peak memory of an encode: peak resident memory for encoding a clip (default cup.mp4, 217 frames
of 640x480) against the parts it should consist of: the runtime's baseline after imports, the clip
as uint8, and the model state (signs, scores, levels, Adam moments). Prints its figures last.

    python benchmarks/memory.py [--input ../shared/data/cup.mp4] [--epochs 1] [--preset small]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile

import torch

import inrcodec
from inrcodec.encoder import EncodeOptions
from inrcodec.fit.trainer import FitOptions
from inrcodec.model.config import plan_network
from inrcodec.video.io import read_video


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default="../shared/data/cup.mp4")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch", type=int, default=FitOptions.batch_size)
    args = ap.parse_args()
    torch.zeros(1)  # make sure torch's runtime is loaded before the baseline
    baseline = rss_mb()
    clip = read_video(args.input)
    frames_mb = clip.frames.nbytes / 2**20
    after_read = peak_mb()
    cfg = plan_network(clip.info.width, clip.info.height, args.preset)
    n = cfg.num_weights()
    # signs f32 + scores f32 + score grad f32 + two Adam moments f32 + levels int64
    model_mb = n * (4 * 5 + 8) / 2**20
    with tempfile.TemporaryDirectory() as tmp:
        report = inrcodec.encode(args.input, os.path.join(tmp, "m.slt"), options=EncodeOptions(
            preset=args.preset, device="cpu", fit=FitOptions(epochs=args.epochs, batch_size=args.batch)))
    peak = peak_mb()
    goal = 1.5 * frames_mb + model_mb + baseline
    print(f"input {args.input}: {report['frames']} frames {report['width']}x{report['height']}, preset {args.preset}, "
          f"{n} weights, batch {args.batch}, {args.epochs} epoch(s)")
    print(f"runtime baseline after imports: {baseline:.0f} MiB")
    print(f"clip as uint8: {frames_mb:.0f} MiB (peak after reading: {after_read:.0f} MiB)")
    print(f"model state estimate: {model_mb:.0f} MiB")
    print(f"peak resident memory: {peak:.0f} MiB; goal 1.5 x frames + model + baseline = {goal:.0f} MiB "
          f"-> {'met' if peak <= goal else 'NOT met'}")


if __name__ == "__main__":
    main()
