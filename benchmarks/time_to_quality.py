"""Time to quality: fit a clip with one set of fitting options, evaluate the full clip every few
epochs, and print wall seconds (fitting only) to reach a target RGB PSNR and the final PSNR.

    python benchmarks/time_to_quality.py --input ../shared/data/tree.avi --epochs 40 \
        --lr 0.05 --lr-scales 0.05 --batch 1 [--exact-thresholds] [--fixed-scales] [--amp] [--target 24]

One JSON line per run is appended to --log (default: none) so sweeps can be tabulated.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from inrcodec.encoder import EncodeOptions, resolve_device
from inrcodec.fit.trainer import Fitter, FitOptions
from inrcodec.model.config import plan_network
from inrcodec.model.nerv import build_supermask_nerv
from inrcodec.video.io import read_video


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default="../shared/data/tree.avi")
    ap.add_argument("--frames", type=int)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--lr", type=float, default=FitOptions.lr_scores)
    ap.add_argument("--lr-scales", type=float, default=FitOptions.lr_scales)
    ap.add_argument("--batch", type=int, default=FitOptions.batch_size)
    ap.add_argument("--warmup", type=float, default=FitOptions.warmup)
    ap.add_argument("--exact-thresholds", action="store_true", help="exact thresholds every step (default: sampled)")
    ap.add_argument("--eval-every", type=int, default=2)
    ap.add_argument("--sparsity", default="0.5,0.8,0.92")
    ap.add_argument("--fixed-scales", action="store_true")
    ap.add_argument("--amp", action="store_true", help="bf16 autocast in the fitting steps (encode --amp)")
    ap.add_argument("--target", type=float, default=24.0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log")
    args = ap.parse_args()

    device = resolve_device(args.device)
    clip = read_video(args.input, frames=args.frames)
    info = clip.info
    sparsity = EncodeOptions(sparsity=tuple(float(v) for v in args.sparsity.split(","))).method_config().sparsity
    cfg = plan_network(info.width, info.height, args.preset)
    net = build_supermask_nerv(cfg, info.width, info.height, args.seed, sparsity, device, learn_scales=not args.fixed_scales)
    opts = FitOptions(epochs=args.epochs, batch_size=args.batch, lr_scores=args.lr, lr_scales=args.lr_scales,
                      warmup=args.warmup, exact_thresholds=args.exact_thresholds, eval_every=args.eval_every, amp=args.amp, seed=args.seed)
    fitter = Fitter(net, clip.frames, info, opts, device)
    reached = None
    curve = []

    def on_epoch(r):
        nonlocal reached
        if r.psnr is not None:
            curve.append((r.epoch, round(fitter.seconds, 1), round(r.psnr, 3)))
            if reached is None and r.psnr >= args.target:
                reached = fitter.seconds

    t0 = time.perf_counter()
    fitter.run(on_epoch=on_epoch)
    row = {
        "input": args.input, "preset": args.preset, "weights": cfg.num_weights(), "epochs": args.epochs,
        "lr": args.lr, "lr_scales": args.lr_scales, "batch": args.batch, "warmup": args.warmup,
        "exact_thresholds": args.exact_thresholds, "sparsity": args.sparsity, "fixed_scales": args.fixed_scales,
        "device": str(device), "threads": torch.get_num_threads(),
        "best_psnr": round(fitter.best_psnr, 3), "fit_seconds": round(fitter.seconds, 1),
        "wall_seconds": round(time.perf_counter() - t0, 1), "seconds_to_target": reached and round(reached, 1),
        "target": args.target, "curve": curve,
    }
    if args.log:
        with open(args.log, "a") as f:
            f.write(json.dumps(row) + "\n")
    print(json.dumps({k: v for k, v in row.items() if k != "curve"}))
    print(f"best PSNR {fitter.best_psnr:.2f} dB, seconds to {args.target} dB: {reached}")


if __name__ == "__main__":
    main()
