"""Probe slt-grid's fit settings (issue 14): one encode of tree.avi per call, with module constants
of inrcodec.methods.grid overridden (--set NAME=VALUE), measured from the decoded file; prints one
JSON line (docs/results.md, "Issue 14" subsections)."""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's inrcodec

from inrcodec import api  # noqa: E402
from inrcodec.encoder import EncodeOptions  # noqa: E402
from inrcodec.fit.trainer import FitOptions  # noqa: E402
from inrcodec.methods import grid  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--input", default="/work/shared/data/tree.avi")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--start", type=int, default=0, help="first frame of the input to encode")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--lambda", dest="lmbda", type=float, default=0.15)
    ap.add_argument("--set", action="append", default=[], help="NAME=VALUE of a grid.py constant")
    ap.add_argument("--segment-frames", type=int, default=None, help="frames per segment (default: the method's, 16)")
    ap.add_argument("--out", default="/tmp/grid_probe.slt")
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    for kv in a.set:
        name, value = kv.split("=", 1)
        if not hasattr(grid, name):
            raise SystemExit(f"grid.py has no {name}")
        setattr(grid, name, ast.literal_eval(value))
    opts = EncodeOptions(method="slt-grid", device="cpu", lmbda=a.lmbda, segment_frames=a.segment_frames,
                         fit=FitOptions(epochs=a.epochs, threads=int(os.environ.get("INRCODEC_THREADS", "1"))))
    t0 = time.perf_counter()
    rep = api.encode(a.input, a.out, frames=a.frames, start=a.start, options=opts, overwrite=True, quiet=True)
    print(json.dumps({"label": a.label, "set": a.set, "start": a.start, "frames": rep["frames"], "epochs": a.epochs, "lambda": a.lmbda,
                      "segment_frames": a.segment_frames,
                      "bpp": round(rep["bpp"], 4), "psnr_rgb": round(rep["psnr_rgb"], 2),
                      "encode_s": round(rep["fit_seconds"], 1), "wall_s": round(time.perf_counter() - t0, 1),
                      "load": os.getloadavg()[0]}), flush=True)


if __name__ == "__main__":
    main()
