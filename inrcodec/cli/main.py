"""The `inrcodec` command: a thin shell over inrcodec.api. Errors a user can cause print one line
and exit with code 2; progress and summaries go to stderr so stdout can carry video or JSON."""

from __future__ import annotations

import json
import math
import sys

import click

from ..threads import FIT_THREADS, decode_threads, prepare_environment, requested_threads, set_threads

prepare_environment()  # before torch loads: OpenMP threads sleep, not spin, while they wait

from .. import api  # noqa: E402
from ..errors import InrcodecError
from ..fit.trainer import FitOptions
from ..bitstream.format import QUANT_METHODS
from ..encoder import METHODS, EncodeOptions
from ..model.config import DEFAULT_PRESET, PRESETS
from ..video.io import parse_fps, parse_size
from . import guard
from .report import EpochProgress, print_table

EXIT_USAGE = 2


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _emit_json(report: dict, to_stderr: bool) -> None:
    stream = sys.stderr if to_stderr else sys.stdout
    stream.write(json.dumps(_json_safe(report), sort_keys=True) + "\n")
    stream.flush()


def _parse_sparsity(text: str | None) -> tuple[float, ...] | None:
    if not text:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InrcodecError(f"--sparsity must be comma-separated numbers, got {text!r}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="inrcodec")
def cli() -> None:
    """inrcodec: a neural video codec that stores a video as a seeded random network plus the
    learned-scale hierarchical supermasks that select a good subnetwork of it."""


@cli.command()
@click.argument("input")
@click.option("-o", "--output", required=True, help="Output .slt file, or - for stdout.")
@click.option("--size", help="Frame size WxH (required for raw YUV input).")
@click.option("--fps", help="Frame rate (25, 30000/1001, 29.97); overrides the input's rate.")
@click.option("--matrix", type=click.Choice(["bt601", "bt709"]), help="Colour matrix of the input (default: its tag, else bt601).")
@click.option("--range", "colour_range", type=click.Choice(["limited", "full"]), help="Colour range of the input (default: its tag, else limited).")
@click.option("--frames", type=int, help="Encode at most N frames.")
@click.option("--start", type=int, default=0, show_default=True, help="First frame to encode.")
@click.option("--method", default="slt", show_default=True, type=click.Choice(list(METHODS)),
              help="slt: learned scales (the paper); slt-fixed: one fixed scale; supermask: a single mask; "
                   "dense: NeRV with trained, quantised weights; sparse: dense plus global magnitude pruning.")
@click.option("--preset", default=DEFAULT_PRESET, show_default=True, help=f"Network size: {', '.join(PRESETS)}.")
@click.option("--epochs", type=int, default=FitOptions.epochs, show_default=True, help="Passes over the clip.")
@click.option("--levels", type=int, help="Number of nested masks K (default 3; not for dense, sparse).")
@click.option("--sparsity", help="K increasing sparsities, e.g. 0.5,0.8,0.92 (not for dense, sparse).")
@click.option("--quant-bits", type=int, default=EncodeOptions.quant_bits, show_default=True,
              help="dense, sparse: bits of the per-layer uniform weight quantisation (2..16).")
@click.option("--prune", type=float, default=EncodeOptions.prune, show_default=True,
              help="sparse: fraction of the weights pruned (global magnitude pruning).")
@click.option("--finetune", type=float, default=EncodeOptions.finetune, show_default=True,
              help="sparse: fraction of the epochs spent fine-tuning after pruning.")
@click.option("--seed", type=click.IntRange(0, 2**64 - 1), default=0, show_default=True, help="Seed of the random network.")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--batch-size", type=int, default=FitOptions.batch_size, show_default=True, help="Frames per step.")
@click.option("--threads", metavar="N", help=f"CPU threads of the fit (default: $INRCODEC_THREADS, else {FIT_THREADS}: "
              "the fit's result depends on it, so it never comes from the machine) and of the measuring decode.")
@click.option("--lr", type=float, default=None,
              help=f"Learning rate of the scores (slt methods, default {FitOptions.lr_scores:g}) or of the weights "
                   f"(dense, sparse, default {FitOptions.lr_weights:g}).")
@click.option("--lr-scales", type=float, default=FitOptions.lr_scales, show_default=True, help="Learning rate of the (relative) scales.")
@click.option("--amp", is_flag=True, help="Fit with the forward pass in bfloat16 autocast (faster; evaluation and decoding stay float32).")
@click.option("--segment-frames", type=int, help="Frames per independently coded segment (default: one segment).")
@click.option("--bpp", type=float, help="Target bits per pixel: the preset's widths are scaled so the file lands near it "
              "(within a few %% for slt, slt-fixed, supermask; a first guess for dense, sparse).")
@click.option("--stem-hidden", type=int, help="Override the preset's MLP width.")
@click.option("--channels", "c0", type=int, help="Override the preset's first feature width.")
@click.option("--min-channels", "c_min", type=int, help="Override the preset's narrowest feature width.")
@click.option("--fixed-gain", type=float, default=1.0, show_default=True,
              help="slt-fixed: the fixed scale as a multiple of the activation-preserving one.")
@click.option("--checkpoint", help="Where to save the fit's state (default OUTPUT.ckpt).")
@click.option("--checkpoint-minutes", type=float, default=5.0, show_default=True, help="Minutes between checkpoints (0: every epoch).")
@click.option("--resume", is_flag=True, help="Continue an interrupted encode from its checkpoint.")
@click.option("-y", "--overwrite", is_flag=True, help="Overwrite the output (and a stale checkpoint) if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the figures.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def encode(input, output, size, fps, matrix, colour_range, frames, start, method, preset, epochs, levels, sparsity, quant_bits, prune,
           finetune, seed, device, batch_size, threads, lr, lr_scales, amp, segment_frames, bpp, stem_hidden, c0, c_min, fixed_gain,
           checkpoint, checkpoint_minutes, resume, overwrite, as_json, quiet):
    """Fit a video (file, or - for stdin) and write the .slt bitstream."""
    if frames is not None and frames < 1:
        raise InrcodecError("--frames must be at least 1")
    if start < 0:
        raise InrcodecError("--start must be 0 or more")
    lrs = {}
    if lr is not None:  # the weights' rate for dense and sparse, the scores' rate otherwise
        lrs["lr_weights" if method in QUANT_METHODS else "lr_scores"] = lr
    options = api.EncodeOptions(
        method=method, fixed_gain=fixed_gain, preset=preset, levels=levels, sparsity=_parse_sparsity(sparsity), seed=seed, device=device,
        segment_frames=segment_frames, stem_hidden=stem_hidden, c0=c0, c_min=c_min, quant_bits=quant_bits, prune=prune,
        finetune=finetune, fit=FitOptions(epochs=epochs, batch_size=batch_size, lr_scales=lr_scales, amp=amp, seed=seed,
                                          threads=requested_threads(threads) or FIT_THREADS, **lrs),
    )
    set_threads(decode_threads(threads))
    with EpochProgress(enabled=not quiet) as progress:
        report = api.encode(
            input, output, size=parse_size(size) if size else None, fps=parse_fps(fps) if fps else None,
            matrix=matrix, full_range=None if colour_range is None else colour_range == "full", bpp=bpp,
            frames=frames, start=start, options=options, overwrite=overwrite, on_epoch=progress.update,
            checkpoint=checkpoint, resume=resume, checkpoint_minutes=checkpoint_minutes,
        )
    if not quiet:
        print_table("encode", report, ["bytes", "bpp", "psnr_rgb", "psnr_y", "ms_ssim", "frames", "fit_seconds"])
    if as_json:
        _emit_json(report, to_stderr=output == "-")


@cli.command()
@click.argument("input")
@click.option("-o", "--output", required=True, help="Output video (.mp4, .mkv, .yuv, .y4m), or - for stdout.")
@click.option("--format", "fmt", type=click.Choice(["mp4", "mkv", "yuv", "y4m"]), help="Output format (default: from the extension).")
@click.option("--frames", "frame_range", help="Frames a:b to render (b exclusive).")
@click.option("--crf", type=click.IntRange(0, 51), default=16, show_default=True, help="x264 quality for MP4/MKV (lower is better).")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--threads", metavar="N", help="CPU threads (default: $INRCODEC_THREADS, else the CPUs this process may use: "
              "affinity and cgroup quota).")
@click.option("-y", "--overwrite", is_flag=True, help="Overwrite the output if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the figures.")
@click.option("-q", "--quiet", is_flag=True, help="No summary.")
def decode(input, output, fmt, frame_range, crf, device, threads, overwrite, as_json, quiet):
    """Render a .slt file (or - for stdin) to video."""
    set_threads(decode_threads(threads))
    report = api.decode(input, output, format=fmt, frames=frame_range, crf=crf, device=device, overwrite=overwrite)
    if not quiet:
        print_table("decode", report, ["bpp", "frames", "fps", "format"])
    if as_json:
        _emit_json(report, to_stderr=output == "-")


@cli.command()
@click.argument("input")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def info(input, as_json):
    """Show a .slt file's header and size breakdown."""
    report = api.info(input)
    if as_json:
        _emit_json(report, to_stderr=False)
        return
    from .report import print_info

    print_info(report)


from .bench import bench  # noqa: E402

cli.add_command(bench)


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors with exit code 2 instead of tracebacks."""
    guard.install()
    try:
        guard.run(lambda: cli.main(args=argv, prog_name="inrcodec", standalone_mode=False))
    except InrcodecError as e:
        _fail(str(e), code=getattr(e, "exit_code", EXIT_USAGE))
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        _fail("interrupted", code=130)
    except click.ClickException as e:
        _fail(e.format_message())
    except KeyboardInterrupt:
        _fail("interrupted", code=130)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(1)
    except OSError as e:
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        _fail(f"{where}{e.strerror or e}")


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    sys.stderr.write(f"inrcodec: error: {message.splitlines()[0] if message else 'failed'}\n")
    sys.exit(code)


if __name__ == "__main__":
    main()
