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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import torch

from .atomic import atomic_output
from .bitstream import Header, LayerPayload, Segment, read_slt, write_slt
from .errors import BitstreamError, InputError
from .fit.trainer import EpochReport, Fitter, FitOptions
from .metrics.quality import ms_ssim, mse_to_psnr
from .model.config import DEFAULT_PRESET, NetworkConfig, plan_network
from .model.nerv import build_decoder_nerv, build_supermask_nerv, frame_positions
from .model.rng import GENERATOR
from .video.clip import Clip, VideoInfo
from .video.colour import rgb_to_yuv420, yuv420_to_rgb
from .video.io import guess_format, open_writer, read_video

METHOD = "slt"
RENDER_BATCH = 8


def default_sparsity(levels: int) -> tuple[float, ...]:
    """K increasing sparsities from 0.5: 1 - 0.5 * 0.16^((k-1)/(K-1)); K=3 gives 0.5, 0.8, 0.92."""
    if levels < 1 or levels > 8:
        raise InputError(f"--levels must be between 1 and 8, got {levels}")
    if levels == 1:
        return (0.5,)
    return tuple(round(1.0 - 0.5 * 0.16 ** ((k - 1) / (levels - 1)), 4) for k in range(1, levels + 1))


def check_sparsity(sparsity: tuple[float, ...]) -> tuple[float, ...]:
    if not 1 <= len(sparsity) <= 8:
        raise InputError(f"--sparsity needs 1 to 8 values, got {len(sparsity)}")
    if any(not 0.0 < s < 1.0 for s in sparsity) or any(b <= a for a, b in zip(sparsity, sparsity[1:])):
        raise InputError("--sparsity values must be strictly increasing and between 0 and 1")
    return tuple(float(np.float32(s)) for s in sparsity)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda requested but no CUDA device is available")
    if name not in ("cpu", "cuda"):
        raise InputError(f"unknown device {name!r} (auto, cpu or cuda)")
    return torch.device(name)


@dataclass
class EncodeOptions:
    preset: str = DEFAULT_PRESET
    levels: int | None = None
    sparsity: tuple[float, ...] | None = None
    seed: int = 0
    device: str = "auto"
    segment_frames: int | None = None  # frames per independently coded segment; None = one segment
    stem_hidden: int | None = None
    c0: int | None = None
    c_min: int | None = None
    fit: FitOptions = field(default_factory=FitOptions)

    def resolved_sparsity(self) -> tuple[float, ...]:
        if self.sparsity is not None:
            sp = check_sparsity(tuple(self.sparsity))
            if self.levels is not None and self.levels != len(sp):
                raise InputError(f"--levels {self.levels} does not match the {len(sp)} --sparsity values")
            return sp
        return check_sparsity(default_sparsity(3 if self.levels is None else self.levels))

    def validate(self) -> None:
        """Refuse bad options up front, before any input is read or any fitting starts."""
        self.resolved_sparsity()
        if self.fit.epochs < 1:
            raise InputError("--epochs must be at least 1")
        if self.fit.batch_size < 1:
            raise InputError("--batch-size must be at least 1")
        if self.segment_frames is not None and self.segment_frames < 1:
            raise InputError("--segment-frames must be at least 1")
        plan_network(16, 16, self.preset, stem_hidden=self.stem_hidden, c0=self.c0, c_min=self.c_min)
        resolve_device(self.device)


def segment_ranges(frames: int, segment_frames: int | None) -> list[tuple[int, int]]:
    """(first, count) of each segment."""
    size = frames if not segment_frames else max(1, int(segment_frames))
    return [(s, min(size, frames - s)) for s in range(0, frames, size)]


def encode_clip(
    clip: Clip,
    options: EncodeOptions,
    on_epoch: Callable[[int, int, EpochReport], None] | None = None,
) -> bytes:
    """Fit every segment of an in-memory clip and return the .slt bytes."""
    info = clip.info
    options.validate()
    sparsity = options.resolved_sparsity()
    device = resolve_device(options.device)
    config = plan_network(
        info.width, info.height, options.preset,
        stem_hidden=options.stem_hidden, c0=options.c0, c_min=options.c_min,
    )
    header = Header(
        width=info.width, height=info.height, frames=len(clip), fps=Fraction(info.fps),
        pix_fmt="yuv420p", matrix=info.matrix, full_range=info.full_range, method=METHOD,
        generator=GENERATOR, sparsity=sparsity, network=config,
    )
    segments = []
    ranges = segment_ranges(len(clip), options.segment_frames)
    for si, (first, count) in enumerate(ranges):
        seed = (int(options.seed) + si) % (1 << 64)
        net = build_supermask_nerv(config, info.width, info.height, seed, sparsity, device)
        fitter = Fitter(net, clip.frames[first : first + count], info, options.fit, device)
        fitter.run(on_epoch=(lambda r, si=si: on_epoch(si, len(ranges), r)) if on_epoch else None)
        result = fitter.result()
        layers = [LayerPayload(scales=sc.astype(np.float32), levels=lv) for sc, lv in zip(result.scales, result.levels)]
        segments.append(Segment(first_frame=first, frame_count=count, seed=seed, layers=layers))
    return write_slt(header, segments)


def parse_frame_range(spec: str | None, total: int) -> range:
    """'a:b' (b exclusive, either side optional) or a single index -> the frames to render."""
    if spec is None or spec == "":
        return range(total)
    try:
        if ":" in spec:
            a, b = spec.split(":", 1)
            start = int(a) if a.strip() else 0
            stop = int(b) if b.strip() else total
        else:
            start = int(spec)
            stop = start + 1
    except ValueError:
        raise InputError(f"--frames must look like a:b, got {spec!r}") from None
    if start < 0 or stop > total or start >= stop:
        raise InputError(f"--frames {spec} is outside the clip's {total} frames (0:{total})")
    return range(start, stop)


class Decoder:
    """Renders frames of a parsed .slt. Each segment's network is built (weights regenerated and
    folded) only when one of its frames is first needed, so a range touches no other segment."""

    def __init__(self, header: Header, segments: list[Segment], device: torch.device) -> None:
        self.header, self.segments, self.device = header, segments, device
        self.info = VideoInfo(
            width=header.width, height=header.height, fps=header.fps,
            matrix=header.matrix, full_range=header.full_range,
        )
        self._nets: dict[int, torch.nn.Module] = {}

    def _net(self, si: int) -> torch.nn.Module:
        if si not in self._nets:
            seg = self.segments[si]
            self._nets = {si: build_decoder_nerv(
                self.header.network, self.header.width, self.header.height, seg.seed,
                [layer.levels for layer in seg.layers], [layer.scales for layer in seg.layers], self.device,
            ).eval()}
        return self._nets[si]

    @torch.inference_mode()
    def render_rgb(self, frames: range, batch: int = RENDER_BATCH) -> Iterator[torch.Tensor]:
        """RGB float batches (B, 3, H, W) for the given frame indices, in order."""
        for si, seg in enumerate(self.segments):
            lo = max(frames.start, seg.first_frame)
            hi = min(frames.stop, seg.first_frame + seg.frame_count)
            for start in range(lo, hi, batch):
                idx = torch.arange(start, min(hi, start + batch), device=self.device) - seg.first_frame
                yield self._net(si)(frame_positions(idx, seg.frame_count))

    def render(self, frames: range, batch: int = RENDER_BATCH) -> Iterator[np.ndarray]:
        """uint8 I420 batches (B, H*W*3/2), exactly what every output format receives."""
        for rgb in self.render_rgb(frames, batch):
            yield rgb_to_yuv420(rgb, self.info).cpu().numpy()


def load_slt(path: str, stdin=None) -> tuple[bytes, Header, list[Segment], dict[str, int]]:
    if path == "-":
        data = (stdin or sys.stdin.buffer).read()
    else:
        if os.path.isdir(path):
            raise InputError(f"{path}: is a directory")
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise InputError(f"{path}: {e.strerror or e}") from None
    header, segments, sections = read_slt(data)
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


def bpp(num_bytes: int, width: int, height: int, frames: int) -> float:
    return 8.0 * num_bytes / (width * height * frames)


def measure(decoder: Decoder, clip: Clip) -> dict[str, float]:
    """PSNR (RGB, Y) and MS-SSIM of the decoded uint8 frames against the source, batch by batch."""
    info = clip.info
    ysize = info.width * info.height
    se_rgb = se_y = 0.0
    ssim_sum = 0.0
    ssim_ok = min(info.width, info.height) >= 11
    index = 0
    for out in decoder.render(range(len(clip))):
        src = clip.frames[index : index + out.shape[0]]
        dy = src[:, :ysize].astype(np.float64) - out[:, :ysize].astype(np.float64)
        se_y += float((dy * dy).sum())
        a = yuv420_to_rgb(torch.from_numpy(src), info)
        b = yuv420_to_rgb(torch.from_numpy(out), info)
        se_rgb += float(((a.double() - b.double()) ** 2).sum())
        if ssim_ok:
            ssim_sum += float(ms_ssim(a, b).sum())
        index += out.shape[0]
    n = len(clip)
    return {
        "psnr_rgb": mse_to_psnr(se_rgb / (n * 3 * ysize)),
        "psnr_y": mse_to_psnr(se_y / (n * ysize), 255.0),
        "ms_ssim": ssim_sum / n if ssim_ok else None,
    }


def encode(
    input: str,
    output: str,
    *,
    size: tuple[int, int] | None = None,
    fps: Fraction | None = None,
    frames: int | None = None,
    start: int = 0,
    options: EncodeOptions | None = None,
    overwrite: bool = False,
    on_epoch: Callable[[int, int, EpochReport], None] | None = None,
    stdin=None,
    stdout=None,
) -> dict:
    """Encode a video file (or '-' for stdin) into a .slt file (or '-' for stdout); returns the
    report, measured by decoding the written bytes."""
    options = options or EncodeOptions()
    check_overwrite(output, overwrite)
    options.validate()  # every option check before the (possibly long) read and fit
    device = resolve_device(options.device)
    clip = read_video(input, size=size, fps=fps, start=start, frames=frames, stdin=stdin)
    t0 = time.perf_counter()
    data = encode_clip(clip, options, on_epoch)
    fit_seconds = time.perf_counter() - t0
    if output == "-":
        (stdout or sys.stdout.buffer).write(data)
        (stdout or sys.stdout.buffer).flush()
    else:
        with atomic_output(output) as f:
            f.write(data)
        with open(output, "rb") as f:  # measure what is on disk, not what we meant to write
            data = f.read()
    header, segments, _ = read_slt(data)
    report = {
        "bytes": len(data),
        "bpp": bpp(len(data), clip.info.width, clip.info.height, len(clip)),
        "frames": len(clip),
        "width": clip.info.width,
        "height": clip.info.height,
        "fit_seconds": fit_seconds,
        "weights": header.network.num_weights() * len(segments),
        "device": str(device),
    }
    report.update(measure(Decoder(header, segments, device), clip))
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
        "bpp": bpp(len(data), header.width, header.height, header.frames),
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
        "version": 1,
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
        "bpp": bpp(len(data), header.width, header.height, header.frames),
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
