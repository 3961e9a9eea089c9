"""The `inrcodec` command: a thin shell over inrcodec.api. Errors a user can cause print one line
and exit with code 2; progress and summaries go to stderr so stdout can carry video or JSON."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import warnings

import click

from ..threads import FIT_THREADS, decode_threads, prepare_environment, requested_threads, set_threads

prepare_environment()  # before torch loads: OpenMP threads sleep, not spin, while they wait

from .. import api  # noqa: E402
from ..errors import InrcodecError
from ..fit.schedule import DENSE_LR_BY_EPOCHS, SPARSE_LR_BY_EPOCHS, describe
from ..fit.trainer import FitOptions
from .. import methods
from ..encoder import EncodeOptions
from ..frame_range import encode_span
from ..model.config import DEFAULT_PRESET, PRESETS
from ..progress import InrcodecWarning, warn
from ..rate import DEFAULT_BPP
from ..video.clip import MATRICES
from ..video.io import FORMATS, guess_format, parse_fps, parse_size
from .report import PhaseProgress, print_table
from . import guard

EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of standard output closed it


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


def _parse_layer_sparsity(items: tuple[str, ...]) -> tuple[tuple[str, tuple[float, ...]], ...]:
    out = []
    for item in items:
        name, sep, values = item.partition("=")
        sp = _parse_sparsity(values) if sep else None
        if not sp:
            raise InrcodecError(f"--layer-sparsity wants LAYER=S1,..,SK, got {item!r}")
        out.append((name.strip(), sp))
    return tuple(out)


def _parse_sparsity(text: str | None) -> tuple[float, ...] | None:
    if not text:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InrcodecError(f"--sparsity must be comma-separated numbers, got {text!r}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@click.version_option(package_name="inrcodec")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """inrcodec: a neural video codec that stores a video as a seeded random network plus the
    learned-scale hierarchical supermasks that select a good subnetwork of it."""
    warnings.showwarning = _show_warning
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


DEVICE_HELP = "auto (a CUDA GPU if there is one), cpu, cuda, or cuda:N for the N-th GPU."

# Encode options that only some methods use (each method lists its own): given on the command line
# with another method, they have no effect, and the encode says so.
METHOD_OPTIONS = {name: tuple(m.name for m in methods.REGISTRY if name in m.options_used)
                  for name in dict.fromkeys(o for m in methods.REGISTRY for o in m.options_used)}


FLAGS = {"lmbda": "--lambda", "c0": "--channels"}  # options whose flag is not their field's name


def _given(ctx: click.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source not in (None, click.core.ParameterSource.DEFAULT)


def _warn_unused(ctx: click.Context, method: str) -> None:
    for name, users in METHOD_OPTIONS.items():
        if _given(ctx, name) and method not in users:
            flag = FLAGS.get(name, "--" + name.replace("_", "-"))
            warn(f"{flag} has no effect with --method {method} (it applies to {', '.join(users)})")


class StdoutClosed(Exception):
    """The reader of standard output went away (click turns a BrokenPipeError into exit 1)."""


@contextlib.contextmanager
def _stdout_may_close():
    try:
        yield
    except BrokenPipeError:
        raise StdoutClosed() from None


def _refuse_terminal(output: str) -> None:
    if output == "-" and sys.stdout.isatty():
        raise InrcodecError("refusing to write binary data to a terminal: redirect standard output (> FILE) or pipe it")


@cli.command()
@click.argument("input")
@click.option("-o", "--output", required=True, help="Output .slt file, or - for stdout.")
@click.option("--size", help="Frame size WxH (required for raw YUV input).")
@click.option("--fps", help="Frame rate (25, 30000/1001, 29.97); overrides the input's rate.")
@click.option("--matrix", type=click.Choice(list(MATRICES)), help="Colour matrix of the input (default: its tag, else bt601).")
@click.option("--range", "colour_range", type=click.Choice(["limited", "full"]), help="Colour range of the input (default: its tag, else limited).")
@click.option("--frames", help="N: the first N frames (from --start); a:b: frames a to b-1 (no --start then).")
@click.option("--start", type=int, help="First frame to encode, with --frames N  [default: 0]")
@click.option("--method", default="slt", show_default=True, type=click.Choice(list(methods.names())),
              help="; ".join(f"{m.name}: {m.summary}" for m in methods.REGISTRY) + ".")
@click.option("--preset", help=f"Network size: {', '.join(PRESETS)} (fixed widths). Default: the {DEFAULT_PRESET} "
              f"preset's shape with widths chosen by rate control at {DEFAULT_BPP:g} bpp.")
@click.option("--epochs", type=int, default=FitOptions.epochs, show_default=True, help="Passes over the clip.")
@click.option("--levels", type=int, help="Number of nested masks K (default 3; not for dense, sparse).")
@click.option("--sparsity", help="K increasing sparsities, e.g. 0.5,0.8,0.92 (not for dense, sparse).")
@click.option("--layer-sparsity", multiple=True, metavar="LAYER=S1,..,SK",
              help="Sparsities of one layer or group in place of --sparsity's (stem0, stem1, stem, block, blockN, "
                   "head; repeatable, the first that names a layer applies), e.g. stem1=0.8,0.95,0.99. Rate control "
                   "sizes the network by every layer's own bits per weight.")
@click.option("--quant-bits", type=int, default=EncodeOptions.quant_bits, show_default=True,
              help="dense, sparse: bits of the per-layer uniform weight quantisation (2..16).")
@click.option("--prune", type=float, default=EncodeOptions.prune, show_default=True,
              help="sparse: fraction of the weights pruned (global magnitude pruning).")
@click.option("--finetune", type=float, default=EncodeOptions.finetune, show_default=True,
              help="sparse: fraction of the epochs spent fine-tuning after pruning.")
@click.option("--seed", type=click.IntRange(0, 2**64 - 1), default=0, show_default=True, help="Seed of the random network.")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--batch-size", type=int, default=FitOptions.batch_size, show_default=True, help="Frames per step.")
@click.option("--threads", metavar="N", help=f"CPU threads of the fit (default: $INRCODEC_THREADS, else {FIT_THREADS}: "
              "the fit's result depends on it, so it never comes from the machine) and of the measuring decode.")
@click.option("--lr", type=float, default=None,
              help=f"Learning rate of the scores (slt methods, default {FitOptions.lr_scores:g}) or of the weights "
                   f"(dense, sparse, default by the fit's length as measured: dense {describe(DENSE_LR_BY_EPOCHS)}; "
                   f"sparse {describe(SPARSE_LR_BY_EPOCHS)}; log-linear between).")
@click.option("--lr-scales", type=float, default=FitOptions.lr_scales, show_default=True, help="Learning rate of the (relative) scales.")
@click.option("--amp", is_flag=True, help="Fit with the forward pass in bfloat16 autocast (faster; evaluation and decoding stay float32).")
@click.option("--segment-frames", type=int, help="Frames per independently coded segment (default: one segment; slt-grid: groups of up to 32 frames "
              "that start where the content changes).")
@click.option("--workers", type=int, help="Fit the segments in parallel on a local Ray runtime with N workers, each with "
              "--threads threads or one GPU (needs inrcodec[cluster]); the file is the same as without.")
@click.option("--ray-address", envvar="RAY_ADDRESS", metavar="ADDR",
              help="Fit the segments on an existing Ray cluster (default: $RAY_ADDRESS); its workers need inrcodec installed.")
@click.option("--bpp", type=float, help="Target bits per pixel: the preset's widths are scaled so the file lands near it "
              "(within a few percent for slt, slt-fixed, supermask; dense, sparse: up to 3 encodes, each corrected by the last's size; "
              "slt-grid: up to 3 encodes searching --lambda instead). "
              f"Default: {DEFAULT_BPP:g} unless --preset or a width is given.")
@click.option("--stem-hidden", type=int, help="Override the preset's MLP width.")
@click.option("--channels", "c0", type=int, help="Override the preset's first feature width.")
@click.option("--min-channels", "c_min", type=int, help="Override the preset's narrowest feature width.")
@click.option("--lambda", "lmbda", type=float, help="slt-grid: the rate-distortion weight lambda of MSE + lambda * bpp; "
              "it fixes the rate (no rate control then). Without it, slt-grid searches lambda for --bpp.")
@click.option("--fixed-gain", type=float, default=1.0, show_default=True,
              help="slt-fixed: the fixed scale as a multiple of the activation-preserving one.")
@click.option("--checkpoint", help="Where to save the fit's state (default OUTPUT.ckpt).")
@click.option("--checkpoint-minutes", type=float, default=5.0, show_default=True, help="Minutes between checkpoints (0: every epoch).")
@click.option("--resume", is_flag=True, help="Continue an interrupted encode from its checkpoint.")
@click.option("-y", "--overwrite", is_flag=True, help="Overwrite the output (and a stale checkpoint) if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the figures (instead of the summary table).")
@click.option("-q", "--quiet", is_flag=True, help="No progress display or summary (warnings still print).")
@click.pass_context
def encode(ctx, input, output, size, fps, matrix, colour_range, frames, start, method, preset, epochs, levels, sparsity, layer_sparsity, quant_bits,
           prune, finetune, seed, device, batch_size, threads, lr, lr_scales, amp, segment_frames, workers, ray_address, bpp,
           stem_hidden, c0, c_min, lmbda, fixed_gain, checkpoint, checkpoint_minutes, resume, overwrite, as_json, quiet):
    """Fit a video (file, or - for stdin) and write the .slt bitstream."""
    start, frames = encode_span(frames, start)
    _refuse_terminal(output)
    _warn_unused(ctx, method)
    lrs = {}
    if lr is not None:  # the weights' rate for dense and sparse, the scores' rate otherwise
        lrs[methods.get(method).lr_option] = lr
    options = api.EncodeOptions(
        method=method, fixed_gain=fixed_gain, preset=preset, levels=levels, sparsity=_parse_sparsity(sparsity),
        layer_sparsity=_parse_layer_sparsity(layer_sparsity), seed=seed, device=device,
        segment_frames=segment_frames, workers=workers, ray_address=ray_address, stem_hidden=stem_hidden, c0=c0, c_min=c_min,
        quant_bits=quant_bits, prune=prune,
        finetune=finetune, lmbda=lmbda, fit=FitOptions(epochs=epochs, batch_size=batch_size, lr_scales=lr_scales, amp=amp, seed=seed,
                                          threads=requested_threads(threads) or FIT_THREADS, **lrs),
    )
    set_threads(decode_threads(threads))
    with _stdout_may_close(), PhaseProgress(enabled=not quiet) as progress:
        report = api.encode(
            input, output, size=parse_size(size) if size else None, fps=parse_fps(fps) if fps else None,
            matrix=matrix, full_range=None if colour_range is None else colour_range == "full", bpp=bpp,
            frames=frames, start=start, options=options, overwrite=overwrite, progress=progress.update,
            checkpoint=checkpoint, resume=resume, checkpoint_minutes=checkpoint_minutes, overwrite_hint="-y",
        )
    if not quiet and not as_json:
        print_table("encode", report, ["bytes", "bpp", "target_bpp", "psnr_rgb", "psnr_y", "psnr_yuv", "ms_ssim", "frames", "fit_seconds"])
    if as_json:
        _emit_json(report, to_stderr=output == "-")


@cli.command()
@click.argument("input")
@click.option("-o", "--output", required=True,
              help="Output video (.mp4, .mkv, .yuv, .y4m), PNG images (frames/%04d.png), or - for stdout.")
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), help="Output format (default: from the extension).")
@click.option("--frames", "frame_range", help="a:b: frames a to b-1 (clamped to the clip); N: frame N alone.")
@click.option("--crf", type=click.IntRange(0, 51), default=16, show_default=True, help="x264 quality for MP4/MKV (lower is better).")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--threads", metavar="N", help="CPU threads (default: $INRCODEC_THREADS, else the CPUs this process may use: "
              "affinity and cgroup quota).")
@click.option("-y", "--overwrite", is_flag=True, help="Overwrite the output if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the figures (instead of the summary table).")
@click.option("-q", "--quiet", is_flag=True, help="No progress display or summary (warnings still print).")
def decode(input, output, fmt, frame_range, crf, device, threads, overwrite, as_json, quiet):
    """Render a .slt file (or - for stdin) to video or images."""
    _refuse_terminal(output)
    set_threads(decode_threads(threads))
    if _given(click.get_current_context(), "crf") and (fmt or (guess_format(output) if output != "-" else None)) \
            not in ("mp4", "mkv"):
        warn("--crf has no effect: it sets x264's quality for MP4 and MKV output only")
    with _stdout_may_close(), PhaseProgress(enabled=not quiet) as progress:
        report = api.decode(input, output, format=fmt, frames=frame_range, crf=crf, device=device, overwrite=overwrite,
                            progress=progress.update, overwrite_hint="-y")
    if not quiet and not as_json:
        print_table("decode", report, ["bpp", "frames", "frame_rate", "render_fps", "format"])
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


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    if issubclass(category, InrcodecWarning):
        sys.stderr.write(f"inrcodec: warning: {str(message).splitlines()[0]}\n")
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors with exit code 2 instead of tracebacks; warnings as one line."""
    warnings.showwarning = _show_warning
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
    except (BrokenPipeError, StdoutClosed):
        # The reader went away (`| head`): stop quietly, with the status a shell gives a process
        # that SIGPIPE ended. Standard output is pointed at /dev/null so the final flush is silent.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_BROKEN_PIPE)
    except OSError as e:
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        _fail(f"{where}{e.strerror or e}")


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    sys.stderr.write(f"inrcodec: error: {message.splitlines()[0] if message else 'failed'}\n")
    sys.exit(code)


if __name__ == "__main__":
    main()
