"""`inrcodec bench`: the paper's comparison on the user's own video, in one command."""

from __future__ import annotations

import json
import os

import click
from rich.table import Table

from ..bench.report import _clean, bd_rates, write_outputs
from ..bench.run import NEURAL_METHODS, STANDARD_CODECS, run_bench
from ..encoder import EncodeOptions
from ..errors import InrcodecError
from ..fit.trainer import FitOptions
from ..metrics.flip import flip_unavailable_reason
from ..model.config import DEFAULT_PRESET
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
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--no-flip", is_flag=True, help="Skip FLIP (the slowest metric).")
@click.option("--quick", is_flag=True, help=f"Small fast run for smoke tests: {QUICK['frames']} frames, {QUICK['epochs']} epochs, tiny preset.")
@click.option("--out", "out_dir", help="Write bench.json, bench.csv, the .slt files and (with matplotlib) bench.png here.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON on stdout.")
def bench(input, bpp, size, fps, frames, start, epochs, preset, methods, codecs, device, no_flip, quick, out_dir, as_json):
    """Compare all methods and x264/x265/SVT-AV1 on INPUT at matched bpp."""
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
                         fit=FitOptions(epochs=epochs or FitOptions.epochs))
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
        console.print(f"{row['method']:>10} @ {row['target_bpp']:g} bpp: {row['bpp']:.4f} bpp, "
                      f"{row['psnr_rgb']:.2f} dB RGB, {row['encode_seconds']:.1f} s")

    rows = run_bench(clip, targets, base, method_list, codec_list, with_flip=with_flip, on_row=show, keep_files=out_dir)
    table = Table(title=f"{input}: {len(clip)} frames {clip.info.width}x{clip.info.height}")
    for col in ("method", "target", "bpp", "PSNR RGB", "PSNR Y", "MS-SSIM", "FLIP", "enc s", "dec fps"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(r["method"], _fmt(r["target_bpp"], 3), _fmt(r["bpp"], 4), _fmt(r["psnr_rgb"]), _fmt(r["psnr_y"]),
                      _fmt(r["ms_ssim"], 4), _fmt(r.get("flip"), 4), _fmt(r["encode_seconds"], 1), _fmt(r["decode_fps"], 1))
    console.print(table)
    rates = bd_rates(rows) if "x264" in codec_list else {}
    if rates:
        console.print("BD-rate vs x264 (RGB PSNR): " + ", ".join(
            f"{m} {('%+.1f%%' % v) if v is not None else 'n/a (needs 2+ overlapping points)'}" for m, v in rates.items()))
    if out_dir:
        for path in write_outputs(rows, out_dir):
            console.print(f"wrote {path}")
        with open(os.path.join(out_dir, "bd_rate.json"), "w") as f:
            json.dump(rates, f, indent=1)
    if as_json:
        click.echo(json.dumps([{k: _clean(v) for k, v in r.items()} for r in rows]))
