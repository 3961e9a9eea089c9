"""The Python API: what the CLI calls and what a notebook can call.

encode(): read a video, fit every segment, write the .slt atomically, then decode the written file
and measure what `decode` will really produce. decode(): read a .slt, regenerate the weights, render
the requested frames into MP4/MKV/YUV/Y4M or PNG images. info(): the header and a size breakdown.
Progress reaches a caller through a `progress` callback, warnings through Python's warnings
(inrcodec.progress).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from dataclasses import replace
from fractions import Fraction


import numpy as np

from .atomic import atomic_output
from .bitstream import Header, read_slt
from .bitstream.format import LazySegment, open_slt
from .bitstream.stream import read_slt_bytes
from .decoder import Decoder, parse_frame_range, payload_frames
from .devices import resolve_device
from .bitstream import write_file
from .encoder import SPOOL_SUFFIX, CheckpointOptions, EncodeOptions, encode_clip, file_header, fit_segments
from .spool import DirSpool
from .fit.checkpoint import peek_fingerprint
from .errors import InputError
from .fit.trainer import EpochReport
from .metrics.video import Comparison, compare
from .progress import ProgressCallback, Throttle, quiet_warnings, warn
from .rate import DEFAULT_BPP, Extent, checkpoint_widths, encode_at_bpp, widths_for_bpp
from .model.config import NetworkConfig
from .segment import SegmentJob, segment_seed
from .video.io import RAW_EXTS, STREAM_FORMATS, guess_format, open_video, open_writer, output_paths, read_video
from .video.raw import write_all
from .video.y4m import MAGIC as Y4M_MAGIC


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


def remove_checkpoint(ckpt: str) -> None:
    """Delete a finished encode's checkpoint and the spool of payloads beside it."""
    if os.path.exists(ckpt):
        os.remove(ckpt)
    DirSpool(ckpt + SPOOL_SUFFIX).remove()


def check_overwrite(path: str, overwrite: bool, how: str = "overwrite=True") -> None:
    """Like ffmpeg: never replace an existing output unless told to (`how` names the way to)."""
    if path == "-":
        return
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory")
    if os.path.exists(path) and not overwrite:
        raise InputError(f"{path} already exists (pass {how} to replace it)")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise InputError(f"{path}: directory {parent} does not exist")


def bits_per_pixel(num_bytes: int, width: int, height: int, frames: int) -> float:
    return 8.0 * num_bytes / (width * height * frames)


def input_bits_per_pixel(path: str, clip_frames: int, whole: bool) -> float | None:
    """The bpp of a compressed input file (not raw, not Y4M) that was read whole; None otherwise
    (a container's own frame count can be wrong: tree.avi's header says 444 frames, 68 decode)."""
    if not whole or path == "-" or Path(path).suffix.lower() in RAW_EXTS or not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        if f.read(len(Y4M_MAGIC)) == Y4M_MAGIC:
            return None
    import av

    try:
        with av.open(path) as c:
            st = c.streams.video[0]
            frames = clip_frames
            w, h = st.codec_context.width, st.codec_context.height
    except (av.FFmpegError, OSError, IndexError):
        return None
    return bits_per_pixel(os.path.getsize(path), w, h, frames) if frames and w and h else None


def _measured(frames: Iterator[np.ndarray], total: int, tell: Throttle) -> Iterator[np.ndarray]:
    """Pass rendered batches through, reporting the frames measured so far ("measure" events)."""
    done = 0
    tell("measure", 0, total)
    for batch in frames:
        yield batch
        done += batch.shape[0]
        tell("measure", done, total)


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
    progress: ProgressCallback | None = None,
    quiet: bool = False,
    overwrite_hint: str = "overwrite=True",
) -> dict:
    """Encode a video file (or '-' for stdin) into a .slt file (or '-' for stdout); returns the
    report, measured by decoding the written bytes.

    The rate: `bpp` when given; else, when `options` choose no preset and no width, rate control at
    DEFAULT_BPP (0.2); else the network the options choose. `frames` beyond the clip encode the
    frames there are, with a warning. `progress` receives Progress events (reading, fitting,
    measuring); warnings (InrcodecWarning) are silenced by `quiet`.

    The fit is checkpointed to `checkpoint` (default OUTPUT.ckpt; none for stdout without one)
    every `checkpoint_minutes` and on Ctrl-C; `resume=True` continues from it. The checkpoint is
    deleted once the output is written."""
    with quiet_warnings(quiet):
        return _encode(input, output, size=size, fps=fps, frames=frames, start=start, matrix=matrix,
                       full_range=full_range, bpp=bpp, options=options or EncodeOptions(), overwrite=overwrite,
                       on_epoch=on_epoch, checkpoint=checkpoint, resume=resume,
                       checkpoint_minutes=checkpoint_minutes, stdin=stdin, stdout=stdout,
                       tell=Throttle(progress), overwrite_hint=overwrite_hint)


def _encode(input, output, *, size, fps, frames, start, matrix, full_range, bpp, options, overwrite, on_epoch,
            checkpoint, resume, checkpoint_minutes, stdin, stdout, tell: Throttle, overwrite_hint) -> dict:
    if bpp is not None:
        if not (isinstance(bpp, (int, float)) and math.isfinite(bpp) and bpp > 0):
            raise InputError(f"--bpp must be a positive number, got {bpp}")
        if any(v is not None for v in (options.stem_hidden, options.c0, options.c_min)):
            raise InputError("--bpp chooses the widths itself: drop --stem-hidden/--channels/--min-channels")
        if options.lmbda is not None and options.method_impl.rate_overrides(bpp, []) is not None:
            raise InputError("--bpp searches --lambda itself: give one of them")
    target = bpp if bpp is not None else (None if options.fixed_network() else DEFAULT_BPP)
    check_overwrite(output, overwrite, overwrite_hint)
    options.validate()  # every option check before the (possibly long) read and fit
    device = resolve_device(options.device)
    ckpt = checkpoint or (output + ".ckpt" if output != "-" else None)
    if resume and ckpt is None:
        raise InputError("--resume needs --checkpoint PATH when the output is stdout")
    if ckpt is not None and not resume and os.path.exists(ckpt) and not overwrite:
        raise InputError(f"{ckpt} holds an interrupted encode: add --resume to continue it, or -y to start over")
    if options.segment_frames is not None:  # read, fit and measure one segment at a time
        return _encode_streaming(input, output, size=size, fps=fps, frames=frames, start=start, matrix=matrix,
                                 full_range=full_range, target=target, options=options, on_epoch=on_epoch,
                                 ckpt=ckpt, resume=resume, checkpoint_minutes=checkpoint_minutes, stdin=stdin,
                                 stdout=stdout, tell=tell, device=device)
    tell("read", 0, frames)
    clip = read_video(input, size=size, fps=fps, start=start, frames=frames, matrix=matrix,
                      full_range=full_range, stdin=stdin, on_frames=lambda n: tell("read", n, frames))
    tell("read", len(clip), len(clip), force=True)
    _warn_short(len(clip), frames, start)
    t0 = time.perf_counter()
    fitted: list[int] = []

    def encode_with(trial: EncodeOptions, trial_no: int = 0) -> bytes:
        plan = CheckpointOptions(ckpt, resume and trial_no == 0, checkpoint_minutes) if ckpt is not None else None
        fitted.clear()
        return encode_clip(clip, trial, on_epoch, checkpoint=plan,
                           on_progress=lambda done, total, status: tell("fit", done, total, status),
                           on_segment=lambda index, psnr: fitted.append(index))

    if target is not None:  # rate control (rate.py): the preset's widths scaled to land near the target
        resumed = checkpoint_widths(peek_fingerprint(ckpt)) if resume and ckpt is not None else None
        data, options, _ = encode_at_bpp(clip, options, target, encode_with, start=resumed)
    else:
        data = encode_with(options)
    fit_seconds = time.perf_counter() - t0
    if output == "-":
        write_all(stdout or sys.stdout.buffer, data)
        (stdout or sys.stdout.buffer).flush()
    else:
        with atomic_output(output) as f:
            f.write(data)
        if os.path.isfile(output) and not os.path.realpath(output).startswith("/proc/"):
            with open(output, "rb") as f:  # measure what is on disk, not what we meant to write
                data = f.read()
    if ckpt is not None:
        remove_checkpoint(ckpt)
    header, segments, _ = read_slt(data)
    rendered = Decoder(header, segments, device).render(range(len(clip)))
    figures = compare(clip, _measured(rendered, len(clip), tell))
    return _report(input, len(data), clip.info, len(clip), header, len(segments), target, fit_seconds, device,
                   fitted, frames is None and start == 0, figures)


def _report(input, nbytes: int, info, frames: int, header: Header, segments: int, target, fit_seconds: float,
            device, fitted: list[int], whole: bool, figures: dict) -> dict:
    """encode's report (`figures`: the measured quality), with the warning when the output is
    larger than a compressed input read `whole`."""
    report = {
        "bytes": nbytes,
        "bpp": bits_per_pixel(nbytes, info.width, info.height, frames),
        "target_bpp": target,
        "frames": frames,
        "width": info.width,
        "height": info.height,
        "fit_seconds": fit_seconds,  # a streamed encode: reading, fitting and measuring, interleaved
        "weights": header.network.num_weights() * segments,
        "device": str(device),
        "segments_fitted": sorted(fitted),  # the segments this call fitted (a resume skips finished ones)
        "input_bpp": input_bits_per_pixel(input, frames, whole),
        **figures,
    }
    if report["input_bpp"] is not None and report["bpp"] > report["input_bpp"]:
        warn(f"the output ({report['bpp']:.3f} bpp) is larger than the input file ({report['input_bpp']:.3f} bpp); "
             f"a lower --bpp makes it smaller")
    return report


def _warn_short(read: int, frames: int | None, start: int) -> None:
    if frames is not None and read < frames:
        warn(f"only {read} frames from frame {start} (asked for {frames}); encoding those")


def _encode_streaming(input, output, *, size, fps, frames, start, matrix, full_range, target, options, on_epoch,
                      ckpt, resume, checkpoint_minutes, stdin, stdout, tell: Throttle, device) -> dict:
    """encode with --segment-frames: the input is read one segment at a time (open_video's chunks),
    each segment is fitted (here or on Ray), its payload goes to a spool beside the output (the
    system's temporary folder for stdout without a checkpoint) and it is measured by decoding that
    payload as it finishes; the file is then written from the spool. Memory depends on the segment,
    not on the clip. Rate control sizes the network for one segment (every segment has the same
    network): exact for the supermask methods, the first guess for the others (a streamed input
    cannot be encoded again to correct it)."""
    seg = options.segment_frames
    t0 = time.perf_counter()
    read = 0

    def on_frames(n: int) -> None:
        tell("read", n, frames)

    with open_video(input, size=size, fps=fps, start=start, frames=frames, matrix=matrix, full_range=full_range,
                    stdin=stdin, on_frames=on_frames) as src:
        info = src.info
        total = src.count if src.count is not None else None
        if target is not None:
            resumed = checkpoint_widths(peek_fingerprint(ckpt)) if resume and ckpt is not None else None
            first = options.method_impl.rate_overrides(target, [])  # a method's own first guess (slt-grid: lambda)
            options = replace(options, **(resumed or first or widths_for_bpp(Extent(info, seg), options, target)))
        layout = file_header(info, seg, options)  # the payloads' layout; the frame count comes at the end
        if ckpt is not None:
            spool = DirSpool(ckpt + SPOOL_SUFFIX)
            if not resume:
                spool.remove()
        else:
            spool = DirSpool()  # -o - without a checkpoint: a temporary folder
        measured = Comparison(info)
        fitted: list[int] = []

        def segments():
            nonlocal read
            for i, chunk in enumerate(src.chunks(seg)):
                job = SegmentJob(i, read, len(chunk), segment_seed(options.seed, i))
                read += len(chunk)
                yield job, chunk

        def measure(job, chunk, payload) -> None:
            for off, batch in _batches(payload_frames(layout, job, payload, device)):
                measured.add(chunk[off : off + batch.shape[0]], batch)
            tell("measure", measured.frames, total)

        plan = CheckpointOptions(ckpt, resume, checkpoint_minutes) if ckpt is not None else None
        try:
            jobs = fit_segments(segments(), layout, options, spool, checkpoint=plan, frames=total, on_epoch=on_epoch,
                                on_progress=lambda done, all_, status: tell("fit", done, all_, status),
                                on_segment=lambda index, psnr: fitted.append(index), on_payload=measure)
        except BaseException:
            if ckpt is None:
                spool.remove()
            raise
    steps = sum(-(-j.frame_count // options.fit.batch_size) * options.fit.epochs for j in jobs)
    tell("read", read, read, force=True)  # the totals are known now (a pipe's were not)
    tell("fit", steps, steps, f"{len(jobs)} segments", force=True)
    tell("measure", measured.frames, read, force=True)
    _warn_short(read, frames, start)
    header = file_header(info, read, options)
    table = [(j.first_frame, j.frame_count, j.seed, spool.size(j.index)) for j in jobs]
    payloads = (spool.get(j.index) for j in jobs)
    if output == "-":
        out = stdout or sys.stdout.buffer
        size_bytes = write_file(_Writer(out), header, table, payloads)
        out.flush()
    else:
        with atomic_output(output) as f:
            size_bytes = write_file(f, header, table, payloads)
    fit_seconds = time.perf_counter() - t0
    if ckpt is not None:
        remove_checkpoint(ckpt)
    else:
        spool.remove()
    return _report(input, size_bytes, info, read, header, len(jobs), target, fit_seconds, device, fitted,
                   frames is None and start == 0, measured.result())


class _Writer:
    """A binary stream whose writes all go through write_all (a pipe takes them whole or fails)."""

    def __init__(self, f) -> None:
        self.f = f

    def write(self, b: bytes) -> int:
        write_all(self.f, b)
        return len(b)


def _batches(rendered: Iterator[np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
    """(offset within the segment, batch) of a segment's rendered batches."""
    off = 0
    for batch in rendered:
        yield off, batch
        off += batch.shape[0]


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
    progress: ProgressCallback | None = None,
    quiet: bool = False,
    overwrite_hint: str = "overwrite=True",
) -> dict:
    """Decode a .slt file (or '-') into MP4/MKV/YUV/Y4M/PNG (or '-' for stdout). `frames` is a
    range 'a:b' (clamped to the clip, with a warning) or one frame index. `progress` receives
    "decode" events; warnings are silenced by `quiet`."""
    with quiet_warnings(quiet):
        fmt = format or (guess_format(output) if output != "-" else None)
        if fmt is None:
            raise InputError(f"writing to stdout needs --format ({', '.join(STREAM_FORMATS[:-1])} or {STREAM_FORMATS[-1]})")
        dev = resolve_device(device)
        data, header, segments, _ = load_slt(input, stdin)
        selected = parse_frame_range(frames, header.frames)
        for path in output_paths(output, fmt, len(selected)):
            check_overwrite(path, overwrite, overwrite_hint)
        decoder = Decoder(header, segments, dev)
        tell = Throttle(progress)
        t0 = time.perf_counter()
        count = 0
        tell("decode", 0, len(selected))
        with open_writer(output, fmt, decoder.info, crf=crf, stdout=stdout, frames=len(selected)) as writer:
            for batch in decoder.render(selected):
                writer.write(batch)
                count += batch.shape[0]
                tell("decode", count, len(selected))
        seconds = time.perf_counter() - t0
        speed = count / seconds if seconds > 0 else math.inf
        return {
            "bpp": bits_per_pixel(len(data), header.width, header.height, header.frames),
            "frames": count,
            "fps": speed,  # the render speed (kept for scripts; see render_fps and frame_rate)
            "render_fps": speed,
            "frame_rate": str(header.fps),
            "seconds": seconds,
            "width": header.width,
            "height": header.height,
            "format": fmt,
        }


def info(input: str, stdin=None) -> dict:
    data, header, segments, sections = load_slt(input, stdin)
    return {
        "version": header.version,  # the file's format version
        "method": header.method,
        "width": header.width,
        "height": header.height,
        "frames": header.frames,
        "fps": str(header.fps),  # the frame rate (decode's "fps" is its render speed: see frame_rate there)
        "frame_rate": str(header.fps),
        "pix_fmt": header.pix_fmt,
        "matrix": header.matrix,
        "full_range": header.full_range,
        "seed": segments[0].seed,
        "segments": [{"first_frame": s.first_frame, "frames": s.frame_count, "seed": s.seed} for s in segments],
        "generator": header.generator,
        "levels": len(header.sparsity),
        "sparsity": [float(str(np.float32(v))) for v in header.sparsity],  # as stored: float32, shortest form
        "network": network_summary(header.network),
        "weights": header.network.num_weights() * len(segments),
        "bytes": len(data),
        "bpp": bits_per_pixel(len(data), header.width, header.height, header.frames),
        "sections": sections,
    }


def network_summary(config: NetworkConfig) -> dict:
    if not isinstance(config, NetworkConfig):  # slt-grid's GridConfig
        return config.summary()
    return {
        "pe_levels": config.pe_levels,
        "stem_hidden": config.stem_hidden,
        "grid": [config.grid_h, config.grid_w],
        "strides": list(config.strides),
        "channels": list(config.channels),
        "kernel": config.kernel,
    }
