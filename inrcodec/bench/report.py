"""Writing a benchmark's results: bench.json (list of rows), bench.csv, BD-rate of every method
against x264, and, with matplotlib installed (extra `plot`), a rate-distortion PNG."""

from __future__ import annotations

import csv
import json
import math
import os

from .bdrate import bd_rate

COLUMNS = ("method", "target_bpp", "bpp", "bytes", "psnr_rgb", "psnr_y", "ms_ssim", "flip", "encode_seconds",
           "decode_fps", "weights", "file")


def _clean(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


def bd_rates(rows: list[dict], anchor: str = "x264") -> dict[str, float | None]:
    """BD-rate (%, RGB PSNR) of each method against the anchor; None with fewer than 2 points."""
    def curve(method):
        pts = sorted((r["bpp"], r["psnr_rgb"]) for r in rows if r["method"] == method)
        return [p[0] for p in pts], [p[1] for p in pts]

    ra, pa = curve(anchor)
    out = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        if method == anchor:
            continue
        rb, pb = curve(method)
        out[method] = bd_rate(ra, pa, rb, pb) if len(ra) >= 2 and len(rb) >= 2 else None
    return out


def write_outputs(rows: list[dict], out_dir: str, plot: bool = True) -> list[str]:
    """Write bench.json, bench.csv (and bench.png); returns the paths written."""
    os.makedirs(out_dir, exist_ok=True)
    written = []
    path = os.path.join(out_dir, "bench.json")
    with open(path, "w") as f:
        json.dump([{k: _clean(v) for k, v in r.items()} for r in rows], f, indent=1)
    written.append(path)
    path = os.path.join(out_dir, "bench.csv")
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: _clean(r.get(k)) for k in COLUMNS})
    written.append(path)
    if plot:
        png = plot_rd(rows, os.path.join(out_dir, "bench.png"))
        if png:
            written.append(png)
    return written


def plot_rd(rows: list[dict], path: str) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    for method in dict.fromkeys(r["method"] for r in rows):
        pts = sorted((r["bpp"], r["psnr_rgb"]) for r in rows if r["method"] == method and math.isfinite(r["psnr_rgb"]))
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=method)
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("RGB PSNR (dB)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
