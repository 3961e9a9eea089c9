"""The paper's three claims at a given fit length: every neural method with its tuned settings
(inrcodec/bench/run.py `method_options`) at one matched rate, measured from the decoded file as
`inrcodec bench` does (`neural_row`), with the fit's thread count fixed (the bench CLI fits at
FitOptions' default of 2 threads; on shared cores that oversubscribes them).

    python benchmarks/claims.py ../shared/data/tree.avi --bpp 0.1 --epochs 30 --threads 1 --log claims.jsonl
    python benchmarks/claims.py ../shared/data/cup.mp4 --frames 64 --bpp 0.1 --epochs 100 --methods slt --log c.jsonl

One JSON line per method is appended to --log as soon as its row is measured (so a long grid can
be run a method at a time); besides the bench row it records `tries` (encodes the width search
made: the trained methods re-encode until the rate is within 5 %) and `all_encode_seconds` (all of
them, against `encode_seconds`, the kept one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import inrcodec.bench.run as bench_run  # noqa: E402
from inrcodec.bench.run import NEURAL_METHODS, method_options, neural_row, standard_row  # noqa: E402
from inrcodec.bench.standard import encode_standard  # noqa: E402
from inrcodec.encoder import EncodeOptions, resolve_device  # noqa: E402
from inrcodec.fit.trainer import FitOptions  # noqa: E402
from inrcodec.threads import set_threads  # noqa: E402
from inrcodec.video.io import read_video  # noqa: E402


def one_rate_arguments(doc: str) -> argparse.ArgumentParser:
    """The arguments of a one-rate grid (this script, benchmarks/balance.py): clip, rate, fit."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--bpp", type=float, default=0.1)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default="small")
    return ap


def main() -> None:
    ap = one_rate_arguments(__doc__)
    ap.add_argument("--methods", default=",".join(NEURAL_METHODS))
    ap.add_argument("--codecs", default="x264")
    ap.add_argument("--log", required=True)
    args = ap.parse_args()

    set_threads(args.threads)  # decoding and metrics too
    clip = read_video(args.input, frames=args.frames)
    device = resolve_device("cpu")
    base = EncodeOptions(preset=args.preset, device="cpu", seed=args.seed,
                         fit=FitOptions(epochs=args.epochs, threads=args.threads, seed=args.seed))
    tries: list[float] = []
    encode = bench_run.encode_clip

    def counted(clip_, opts):
        t0 = time.perf_counter()
        try:
            return encode(clip_, opts)
        finally:
            tries.append(time.perf_counter() - t0)

    bench_run.encode_clip = counted
    common = {"input": os.path.basename(args.input), "frames": len(clip), "epochs": args.epochs,
              "threads": args.threads, "seed": args.seed, "preset": args.preset}
    for method in [m for m in args.methods.split(",") if m]:
        tries.clear()
        t0 = time.perf_counter()
        row = neural_row(clip, method_options(base, method), args.bpp, device, with_flip=False)
        row.update(common, tries=len(tries), all_encode_seconds=sum(tries), wall_seconds=time.perf_counter() - t0)
        with open(args.log, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{method:>10}: {row['bpp']:.4f} bpp, {row['psnr_rgb']:.2f} dB RGB, kept encode {row['encode_seconds']:.0f} s, "
              f"{len(tries)} encode(s) {sum(tries):.0f} s", flush=True)
    for codec in [c for c in args.codecs.split(",") if c]:
        row = standard_row(clip, encode_standard(clip, codec, bpp=args.bpp, tolerance=bench_run.TOLERANCE), False, False)
        row.update(common)
        with open(args.log, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{codec:>10}: {row['bpp']:.4f} bpp, {row['psnr_rgb']:.2f} dB RGB", flush=True)


if __name__ == "__main__":
    main()
