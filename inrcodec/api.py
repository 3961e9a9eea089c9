"""The Python API: what the CLI calls and what a notebook can call.

encode(): read a video, fit every segment, write the .slt atomically, then decode the written file
and measure what `decode` will really produce. decode(): read a .slt, regenerate the weights, render
the requested frames into MP4/MKV/YUV/Y4M. info(): the header and a size breakdown.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction


from .atomic import atomic_output
from .bitstream import VERSION, Header, read_slt
from .bitstream.format import LazySegment, open_slt
from .bitstream.stream import read_slt_bytes
from .decoder import Decoder, parse_frame_range
from .encoder import CheckpointOptions, EncodeOptions, encode_clip, resolve_device
from .errors import InputError
from .fit.trainer import EpochReport
from .metrics.video import compare
from .rate import widths_for_bpp
from .model.config import NetworkConfig
from .video.io import guess_format, open_writer, read_video


def load_slt(path: str, stdin=None) -> tuple[bytes, Header, list[LazySegment], dict[str, int]]:
    """Read a .slt file (or '-'): only the bytes its header describes; every segment's levels are
    decoded later, when a frame of it is rendered."""
    if path == "-":
        data = read_slt_bytes(stdin or sys.stdin.buffer)
    else:
        if os.path.isdir(path):
            raise InputError(f"{path}: is a directory")
        try:
            with open(path, "rb") as f:
                data = read_slt_bytes(f)
        except OSError as e:
            raise InputError(f"{path}: {e.strerror or e}") from None
    header, segments, sections = open_slt(data)
    return data, header, segments, sections


def check_overwrite(path: str, overwrite: bool) -> None:
    """Like ffmpeg: never replace an existing output without -y."""
    if path == "-":
        return
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory")
    if os.path.exists(path) and not overwrite:
        raise InputError(f"{path} already exists (use -y to overwrite)")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise InputError(f"{path}: directory {parent} does not exist")


def bits_per_pixel(num_bytes: int, width: int, height: int, frames: int) -> float:
    return 8.0 * num_bytes / (width * height * frames)


def encode(
    input: str,
    output: str,
    *,
    size: tuple[int, int] | None = None,
    fps: Fraction | None = None,
    frames: int | None = None,
    start: int = 0,
    matrix: str | None = None,
    full_range: bool | None = None,
    bpp: float | None = None,
    options: EncodeOptions | None = None,
    overwrite: bool = False,
    on_epoch: Callable[[int, int, EpochReport], None] | None = None,
    checkpoint: str | None = None,
    resume: bool = False,
    checkpoint_minutes: float = 5.0,
    stdin=None,
    stdout=None,
) -> dict:
    """Encode a video file (or '-' for stdin) into a .slt file (or '-' for stdout); returns the
    report, measured by decoding the written bytes.

    The fit is checkpointed to `checkpoint` (default OUTPUT.ckpt; none for stdout without one)
    every `checkpoint_minutes` and on Ctrl-C; `resume=True` continues from it. The checkpoint is
    deleted once the output is written."""
    options = options or EncodeOptions()
    if bpp is not None:
        if not (isinstance(bpp, (int, float)) and math.isfinite(bpp) and bpp > 0):
            raise InputError(f"--bpp must be a positive number, got {bpp}")
        if any(v is not None for v in (options.stem_hidden, options.c0, options.c_min)):
            raise InputError("--bpp chooses the widths itself: drop --stem-hidden/--channels/--min-channels")
    check_overwrite(output, overwrite)
    options.validate()  # every option check before the (possibly long) read and fit
    device = resolve_device(options.device)
    ckpt = checkpoint or (output + ".ckpt" if output != "-" else None)
    if resume and ckpt is None:
        raise InputError("--resume needs --checkpoint PATH when the output is stdout")
    if ckpt is not None and not resume and os.path.exists(ckpt) and not overwrite:
        raise InputError(f"{ckpt} holds an interrupted encode: add --resume to continue it, or -y to start over")
    clip = read_video(input, size=size, fps=fps, start=start, frames=frames, matrix=matrix,
                      full_range=full_range, stdin=stdin)
    if frames is not None and len(clip) < frames:
        raise InputError(f"--frames {frames} is beyond the clip: only {len(clip)} frames from frame {start}")
    if bpp is not None:  # rate control: the preset's widths scaled to land near the target
        options = replace(options, **widths_for_bpp(clip, options, bpp))
    t0 = time.perf_counter()
    plan = CheckpointOptions(ckpt, resume, checkpoint_minutes) if ckpt is not None else None
    data = encode_clip(clip, options, on_epoch, checkpoint=plan)
    fit_seconds = time.perf_counter() - t0
    if output == "-":
        (stdout or sys.stdout.buffer).write(data)
        (stdout or sys.stdout.buffer).flush()
    else:
        with atomic_output(output) as f:
            f.write(data)
        if os.path.isfile(output) and not os.path.realpath(output).startswith("/proc/"):
            with open(output, "rb") as f:  # measure what is on disk, not what we meant to write
                data = f.read()
    if ckpt is not None and os.path.exists(ckpt):
        os.remove(ckpt)
    header, segments, _ = read_slt(data)
    report = {
        "bytes": len(data),
        "bpp": bits_per_pixel(len(data), clip.info.width, clip.info.height, len(clip)),
        "frames": len(clip),
        "width": clip.info.width,
        "height": clip.info.height,
        "fit_seconds": fit_seconds,
        "weights": header.network.num_weights() * len(segments),
        "device": str(device),
    }
    report.update(compare(clip, Decoder(header, segments, device).render(range(len(clip)))))
    return report


def decode(
    input: str,
    output: str,
    *,
    format: str | None = None,
    frames: str | None = None,
    crf: int = 16,
    device: str = "auto",
    overwrite: bool = False,
    stdin=None,
    stdout=None,
) -> dict:
    """Decode a .slt file (or '-') into MP4/MKV/YUV/Y4M (or '-' for stdout)."""
    fmt = format or (guess_format(output) if output != "-" else None)
    if fmt is None:
        raise InputError("writing to stdout needs --format (mp4, mkv, yuv or y4m)")
    check_overwrite(output, overwrite)
    dev = resolve_device(device)
    data, header, segments, _ = load_slt(input, stdin)
    selected = parse_frame_range(frames, header.frames)
    decoder = Decoder(header, segments, dev)
    t0 = time.perf_counter()
    count = 0
    with open_writer(output, fmt, decoder.info, crf=crf, stdout=stdout) as writer:
        for batch in decoder.render(selected):
            writer.write(batch)
            count += batch.shape[0]
    seconds = time.perf_counter() - t0
    return {
        "bpp": bits_per_pixel(len(data), header.width, header.height, header.frames),
        "frames": count,
        "fps": count / seconds if seconds > 0 else math.inf,
        "seconds": seconds,
        "width": header.width,
        "height": header.height,
        "format": fmt,
    }


def info(input: str, stdin=None) -> dict:
    data, header, segments, sections = load_slt(input, stdin)
    return {
        "version": VERSION,
        "method": header.method,
        "width": header.width,
        "height": header.height,
        "frames": header.frames,
        "fps": str(header.fps),
        "pix_fmt": header.pix_fmt,
        "matrix": header.matrix,
        "full_range": header.full_range,
        "seed": segments[0].seed,
        "segments": [{"first_frame": s.first_frame, "frames": s.frame_count, "seed": s.seed} for s in segments],
        "generator": header.generator,
        "levels": len(header.sparsity),
        "sparsity": list(header.sparsity),
        "network": network_summary(header.network),
        "weights": header.network.num_weights() * len(segments),
        "bytes": len(data),
        "bpp": bits_per_pixel(len(data), header.width, header.height, header.frames),
        "sections": sections,
    }


def network_summary(config: NetworkConfig) -> dict:
    return {
        "pe_levels": config.pe_levels,
        "stem_hidden": config.stem_hidden,
        "grid": [config.grid_h, config.grid_w],
        "strides": list(config.strides),
        "channels": list(config.channels),
        "kernel": config.kernel,
    }
