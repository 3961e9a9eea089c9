"""Sampled against exact mask thresholds along a fit: per layer and level, the threshold the fitting
step used, the exact one, and the density each realises, logged every few steps.

    python benchmarks/threshold_probe.py --sparsity 0.9,0.97,0.99 --frames 16 --bpp 0.1 --epochs 20 --log probe.jsonl

The fit itself is the ordinary one (`inrcodec.encode` with the given options): the probe wraps
inrcodec.fit.trainer's refresh_masks, runs it unchanged, and then reads the layers' scores (no
gradients, no random numbers), so the fit is the same with and without the probe.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

import inrcodec  # noqa: E402
import inrcodec.fit.trainer as trainer  # noqa: E402
from inrcodec.encoder import EncodeOptions  # noqa: E402
from inrcodec.fit.trainer import FitOptions  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default=os.path.join(ROOT, "..", "shared", "data", "tree.avi"))
    ap.add_argument("--sparsity", default="0.9,0.97,0.99")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--bpp", type=float, default=0.1)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--exact", action="store_true", help="fit with exact thresholds (FitOptions.exact_thresholds)")
    ap.add_argument("--every", type=int, default=20, help="fitting steps between records")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()

    sparsity = tuple(float(v) for v in args.sparsity.split(","))
    calls = [0]
    original = trainer.refresh_masks
    log = open(args.log, "a")

    @torch.no_grad()
    def probe(layers, exact=False):
        original(layers, exact=exact)
        calls[0] += 1
        if (calls[0] - 1) % args.every:
            return
        rec = {"call": calls[0] - 1, "layers": []}
        for i, m in enumerate(layers):
            a = m.scores.detach().abs().flatten()
            n = a.numel()
            used = m.coats.sum(1)  # weights each mask keeps now
            exact_t = m.thresholds(a)
            sample = a.index_select(0, m.sample)
            rec["layers"].append({
                "i": i, "n": n, "distinct_sample": int(torch.unique(m.sample).numel()),
                "kept": used.tolist(), "nominal": [n - d for d in m._drop],
                "t_exact": exact_t.tolist(),
                "sample_mean": float(sample.mean()), "all_mean": float(a.mean()),
                "sample_top": float(sample.max()), "all_top": float(a.max()),
                "scales": m.scales().detach().tolist(),
                # output channels (dim 0) whose every weight is at level 0: they compute nothing
                "dead_outputs": int((m.level.reshape(m.level.shape[0], -1).amax(1) == 0).sum()),
            })
        log.write(json.dumps(rec) + "\n")
        log.flush()

    trainer.refresh_masks = probe
    fit = FitOptions(epochs=args.epochs, threads=args.threads, seed=args.seed, exact_thresholds=args.exact)
    opts = EncodeOptions(sparsity=sparsity, seed=args.seed, device="cpu", fit=fit)
    with tempfile.TemporaryDirectory() as tmp:
        report = inrcodec.encode(args.input, os.path.join(tmp, "x.slt"), frames=args.frames, bpp=args.bpp,
                                 options=opts, quiet=True)
    log.write(json.dumps({"report": {k: v for k, v in report.items() if isinstance(v, (int, float, str))}}) + "\n")
    print(json.dumps({k: report.get(k) for k in ("bpp", "psnr_rgb", "weights")}))


if __name__ == "__main__":
    main()
