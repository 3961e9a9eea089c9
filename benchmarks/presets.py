"""Every preset on one clip (default: all 68 frames of tree.avi) on this machine: bpp, PSNR (RGB,
Y), MS-SSIM, fit seconds per epoch, decode frames per second, peak memory. Each preset runs in its
own process so its peak resident memory is its own. Prints a Markdown table last.

    python benchmarks/presets.py [--input ../shared/data/tree.avi] [--epochs 40] [--presets small,medium,large]
    python benchmarks/presets.py --epochs 100,40,20    # one epoch count per preset
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile


def one(args) -> None:
    import inrcodec
    from inrcodec.encoder import EncodeOptions
    from inrcodec.fit.trainer import FitOptions

    with tempfile.TemporaryDirectory() as tmp:
        slt, y4m = os.path.join(tmp, "a.slt"), os.path.join(tmp, "a.y4m")
        enc = inrcodec.encode(args.input, slt, frames=args.frames, options=EncodeOptions(
            preset=args.one, device=args.device, fit=FitOptions(epochs=int(args.epochs))))
        dec = inrcodec.decode(slt, y4m, device=args.device)
    row = {"preset": args.one, "epochs": int(args.epochs), **{k: enc[k] for k in (
        "weights", "bytes", "bpp", "psnr_rgb", "psnr_y", "ms_ssim", "fit_seconds", "frames")},
        "fit_seconds_per_epoch": enc["fit_seconds"] / int(args.epochs), "decode_fps": dec["fps"],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    print(json.dumps(row))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default="../shared/data/tree.avi")
    ap.add_argument("--frames", type=int)
    ap.add_argument("--epochs", default="40")
    ap.add_argument("--presets", default="small,medium,large")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        return one(args)
    presets = args.presets.split(",")
    epochs = args.epochs.split(",")
    epochs = epochs * len(presets) if len(epochs) == 1 else epochs
    rows = []
    for preset, ep in zip(presets, epochs):
        cmd = [sys.executable, __file__, "--one", preset, "--input", args.input, "--epochs", ep, "--device", args.device]
        if args.frames:
            cmd += ["--frames", str(args.frames)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    print("\n| preset | weights | epochs | bytes | bpp | PSNR RGB | PSNR Y | MS-SSIM | fit s/epoch | fit s | decode fps | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['preset']} | {r['weights']:,} | {r['epochs']} | {r['bytes']:,} | {r['bpp']:.4f} | {r['psnr_rgb']:.2f} | "
              f"{r['psnr_y']:.2f} | {r['ms_ssim']:.4f} | {r['fit_seconds_per_epoch']:.2f} | {r['fit_seconds']:.0f} | "
              f"{r['decode_fps']:.1f} | {r['peak_rss_mib']:.0f} |")


if __name__ == "__main__":
    main()
