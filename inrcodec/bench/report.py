"""Writing a benchmark's results: bench.json (list of rows), bench.csv, BD-rate and BD-PSNR of every
method against x264, and, with matplotlib installed (extra `plot`), a rate-distortion PNG."""

from __future__ import annotations

import csv
import json
import math
import os

from .bdrate import bd_detail, bd_rate

# New columns go at the end: scripts read these by name and position.
COLUMNS = ("method", "target_bpp", "bpp", "bytes", "psnr_rgb", "psnr_y", "ms_ssim", "flip", "encode_seconds",
           "decode_fps", "weights", "file", "setting", "rate_miss", "ladder", "psnr_yuv")


def _clean(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


def curve(rows: list[dict], method: str) -> tuple[list[float], list[float]]:
    """(bpps, RGB PSNRs) of one method's rows, by rising bpp (CRF-ladder rows included)."""
    pts = sorted((r["bpp"], r["psnr_rgb"]) for r in rows if r["method"] == method)
    return [p[0] for p in pts], [p[1] for p in pts]


def bd_rates(rows: list[dict], anchor: str = "x264") -> dict[str, float | None]:
    """BD-rate (%, RGB PSNR) of each method against the anchor; None with fewer than 2 points or
    no shared PSNR interval (`bd_details` says which)."""
    ra, pa = curve(rows, anchor)
    out = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        if method == anchor:
            continue
        rb, pb = curve(rows, method)
        out[method] = bd_rate(ra, pa, rb, pb) if len(ra) >= 2 and len(rb) >= 2 else None
    return out


def bd_details(rows: list[dict], anchor: str = "x264") -> dict:
    """bd.json: the anchor, the metric and, per method, `bdrate.bd_detail` against the anchor (BD-rate,
    BD-PSNR, the shared PSNR and bpp intervals, the points used, a note when a delta is missing)."""
    ra, pa = curve(rows, anchor)
    methods = {m: bd_detail(ra, pa, *curve(rows, m)) for m in dict.fromkeys(r["method"] for r in rows) if m != anchor}
    return {"anchor": anchor, "metric": "psnr_rgb", "rate": "bpp", "methods": methods}


def plot_unavailable_reason() -> str | None:
    """Why bench.png cannot be drawn here (None when it can)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "matplotlib is not installed (pip install 'inrcodec[plot]')"
    return None


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
    if plot_unavailable_reason() is not None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
