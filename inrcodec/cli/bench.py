"""`inrcodec bench`: the paper's comparison on the user's own video, in one command."""

from __future__ import annotations

import json
import os

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..bench.report import _clean, bd_details, bd_rates, plot_unavailable_reason, write_outputs
from ..bench.run import NEURAL_METHODS, STANDARD_CODECS, run_bench
from ..encoder import EncodeOptions
from ..errors import InrcodecError
from ..fit.trainer import FitOptions
from ..metrics.flip import flip_unavailable_reason
from ..model.config import DEFAULT_PRESET
from ..threads import FIT_THREADS, requested_threads
from ..video.io import parse_fps, parse_size, read_video
from .report import console

# --quick: a smoke run. Tiny clips leave few bytes, so the trained methods quantise to 6 bits there
# (8-bit value histograms alone would exceed the budget).
QUICK = {"frames": 4, "epochs": 3, "bpp": "3", "preset": "tiny", "quant_bits": 6}


def _bpps(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InrcodecError(f"--bpp must be comma-separated numbers, got {text!r}") from None
    if not values or any(not v > 0 for v in values):
        raise InrcodecError("--bpp values must be positive")
    return values


def _fmt(v, digits=2):
    if v is None:
        return "-"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


# The table's columns: header, cell, and the order they are left out in when the terminal is too
# narrow (higher goes first; 0 always stays). Every value stays in bench.json / --json.
TABLE = (
    ("method", lambda r: r["method"], 0),
    ("target", lambda r: "ladder" if r.get("ladder") else _fmt(r["target_bpp"], 3), 1),
    ("bpp", lambda r: _fmt(r["bpp"], 4) + ("!" if r.get("rate_miss") else ""), 0),
    ("PSNR RGB", lambda r: _fmt(r["psnr_rgb"]), 0),
    ("PSNR Y", lambda r: _fmt(r["psnr_y"]), 4),
    ("PSNR YUV", lambda r: _fmt(r.get("psnr_yuv")), 7),
    ("MS-SSIM", lambda r: _fmt(r["ms_ssim"], 4), 2),
    ("FLIP", lambda r: _fmt(r.get("flip"), 4), 3),
    ("enc s", lambda r: _fmt(r["encode_seconds"], 1), 5),
    ("dec fps", lambda r: _fmt(r["decode_fps"], 1), 6),
)


def results_table(title: str, rows: list[dict], width: int) -> tuple[Table, list[str]]:
    """The rows as a table no wider than `width` columns: whole columns are left out, least
    important first, rather than cutting names or numbers. Returns (table, headers left out)."""
    cells = [(head, [cell(r) for r in rows], rank) for head, cell, rank in TABLE]
    dropped: list[str] = []

    def needed(cols) -> int:  # each column: its widest text and one space each side; borders
        return sum(2 + max(len(head), *map(len, texts)) for head, texts, _ in cols) + len(cols) + 1

    while needed(cells) > width and max(rank for *_, rank in cells) > 0:
        worst = max(cells, key=lambda c: c[2])
        cells.remove(worst)
        dropped.insert(0, worst[0])
    table = Table(title=title)
    for head, _, _ in cells:
        table.add_column(head, justify="right", no_wrap=True)
    for i in range(len(rows)):
        table.add_row(*(texts[i] for _, texts, _ in cells))
    return table, dropped


class RowProgress:
    """A rich progress bar of bench rows done / rows to do (the CRF ladder adds rows as it goes),
    on stderr like every progress display of the CLI."""

    def __init__(self, out: Console, enabled: bool = True) -> None:
        self.progress = Progress(TextColumn("[bold]bench"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
                                 TimeElapsedColumn(), TextColumn("{task.description}"), console=out,
                                 transient=True) if enabled else None
        self.task = None

    def __enter__(self) -> "RowProgress":
        if self.progress:
            self.progress.__enter__()
            self.task = self.progress.add_task("", total=None)
        return self

    def __call__(self, done: int, total: int, label: str) -> None:
        if self.progress:
            self.progress.update(self.task, completed=done, total=total, description=label)

    def __exit__(self, *exc) -> None:
        if self.progress:
            self.progress.__exit__(*exc)


def bd_line(method: str, d: dict) -> str:
    """One method's BD-rate / BD-PSNR against the anchor, with the interval it is taken over."""
    parts = []
    if d["bd_rate"] is not None:
        lo, hi = d["psnr_interval"]
        parts.append(f"BD-rate {d['bd_rate']:+.1f}% over {lo:.2f}-{hi:.2f} dB")
    if d["bd_psnr"] is not None:
        lo, hi = d["rate_interval"]
        parts.append(f"BD-PSNR {d['bd_psnr']:+.2f} dB over {lo:.4g}-{hi:.4g} bpp")
    if d["note"]:
        parts.append(f"n/a: {d['note']}")
    return f"  {method}: " + "; ".join(parts)


@click.command()
@click.argument("input")
@click.option("--bpp", help="Target bits per pixel, or a list 0.05,0.1,0.2 for a rate-distortion sweep [default: 0.1].")
@click.option("--size", help="Frame size WxH (raw YUV input).")
@click.option("--fps", help="Frame rate override.")
@click.option("--frames", type=int, help="Use at most N frames.")
@click.option("--start", type=int, default=0, show_default=True, help="First frame.")
@click.option("--epochs", type=int, help=f"Epochs for every neural method [default: {FitOptions.epochs}].")
@click.option("--preset", help=f"Preset whose width ratios are scaled to the target rate [default: {DEFAULT_PRESET}].")
@click.option("--methods", default=",".join(NEURAL_METHODS), show_default=True, help="Neural methods to run.")
@click.option("--codecs", default=",".join(STANDARD_CODECS), show_default=True, help="Standard codecs to run (empty for none).")
@click.option("--device", default="auto", show_default=True, help="auto (a CUDA GPU if there is one), cpu, cuda, or cuda:N.")
@click.option("--threads", metavar="N", help=f"CPU threads of each fit (default: $INRCODEC_THREADS, else {FIT_THREADS}).")
@click.option("--segment-frames", type=int, help="Frames per independently coded segment (default: one segment; slt-grid: groups of up to 32 frames "
              "that start where the content changes).")
@click.option("--workers", type=int, help="Fit segments in parallel on a local Ray runtime with N workers (inrcodec[cluster]).")
@click.option("--ray-address", envvar="RAY_ADDRESS", metavar="ADDR", help="Fit segments on an existing Ray cluster (default: $RAY_ADDRESS).")
@click.option("--no-flip", is_flag=True, help="Skip FLIP (the slowest metric).")
@click.option("--quick", is_flag=True, help=f"Small fast run for smoke tests: {QUICK['frames']} frames, {QUICK['epochs']} epochs, tiny preset.")
@click.option("--no-ladder", is_flag=True, help="No extra standard-codec rows at other CRFs (the ladder that makes "
              "their curves cover the neural methods' PSNR range for BD-rate).")
@click.option("--out", "out_dir", help="Write bench.json, bench.csv, bd_rate.json, bd.json, the .slt files and "
              "(with matplotlib) bench.png here.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no line per row (the table stays).")
def bench(input, bpp, size, fps, frames, start, epochs, preset, methods, codecs, device, threads, segment_frames, workers,
          ray_address, no_flip, quick, no_ladder, out_dir, as_json, quiet):
    """Compare all methods and x264/x265/SVT-AV1 on INPUT at matched bpp, with BD-rate and BD-PSNR
    against x264."""
    if quick:
        frames = frames or QUICK["frames"]
        epochs = epochs or QUICK["epochs"]
        bpp = bpp or QUICK["bpp"]
        preset = preset or QUICK["preset"]
    method_list = tuple(m for m in methods.split(",") if m)
    unknown = [m for m in method_list if m not in NEURAL_METHODS]
    if unknown:
        raise InrcodecError(f"unknown method {unknown[0]!r} (choose from {', '.join(NEURAL_METHODS)})")
    codec_list = tuple(c for c in codecs.split(",") if c)
    unknown = [c for c in codec_list if c not in STANDARD_CODECS]
    if unknown:
        raise InrcodecError(f"unknown codec {unknown[0]!r} (choose from {', '.join(STANDARD_CODECS)})")
    base = EncodeOptions(preset=preset or DEFAULT_PRESET, device=device, quant_bits=QUICK["quant_bits"] if quick else 8,
                         segment_frames=segment_frames, workers=workers, ray_address=ray_address,
                         fit=FitOptions(epochs=epochs or FitOptions.epochs, threads=requested_threads(threads) or FIT_THREADS))
    base.validate()
    targets = _bpps(bpp or "0.1")
    if out_dir and os.path.isfile(out_dir):
        raise InrcodecError(f"--out {out_dir} is a file")
    clip = read_video(input, size=parse_size(size) if size else None, fps=parse_fps(fps) if fps else None,
                      start=start, frames=frames)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    with_flip = not no_flip and flip_unavailable_reason() is None
    if not no_flip and not with_flip:
        console.print(f"[yellow]FLIP skipped: {flip_unavailable_reason()}")

    def show(row):
        if quiet:
            return
        where = row["setting"].replace("crf", "ladder crf") if row.get("ladder") else f"@ {row['target_bpp']:g} bpp"
        miss = f" [yellow](rate miss: {row['miss']})" if row.get("rate_miss") else ""
        console.print(f"{row['method']:>10} {where}: {row['bpp']:.4f} bpp, "
                      f"{row['psnr_rgb']:.2f} dB RGB, {row['encode_seconds']:.1f} s{miss}")

    with RowProgress(console, enabled=not quiet) as progress:
        rows = run_bench(clip, targets, base, method_list, codec_list, with_flip=with_flip, on_row=show,
                         keep_files=out_dir, ladder=not no_ladder, on_progress=progress)
    table, dropped = results_table(f"{input}: {len(clip)} frames {clip.info.width}x{clip.info.height}", rows, console.width)
    console.print(table)
    if dropped:
        console.print(f"(left out to fit {console.width} columns: {', '.join(dropped)}; all values are in "
                      f"{'bench.json' if out_dir else '--json'})")
    misses = [r for r in rows if r.get("rate_miss")]
    if misses:
        console.print("! rate miss (more than 5 % from the target): " + "; ".join(
            f"{r['method']} {r['miss']}" for r in misses))
    if any(r.get("ladder") for r in rows):
        console.print("ladder: extra standard-codec rows at other CRFs, so their curves cover the neural PSNR range")
    rates = bd_rates(rows) if "x264" in codec_list else {}
    details = bd_details(rows) if "x264" in codec_list else None
    if details:
        console.print("BD against x264 (RGB PSNR; BD-rate over the shared PSNR interval, BD-PSNR over the shared bpp "
                      "interval):")
        for method, d in details["methods"].items():
            console.print(bd_line(method, d))
    if out_dir:
        for path in write_outputs(rows, out_dir):
            console.print(f"wrote {path}")
        reason = plot_unavailable_reason()
        if reason:
            console.print(f"bench.png skipped: {reason}", style="yellow", markup=False)
        with open(os.path.join(out_dir, "bd_rate.json"), "w") as f:
            json.dump(rates, f, indent=1)
        if details:
            with open(os.path.join(out_dir, "bd.json"), "w") as f:
                json.dump(details, f, indent=1)
    if as_json:
        click.echo(json.dumps([{k: _clean(v) for k, v in r.items()} for r in rows]))
