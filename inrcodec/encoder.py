"""Encoding an in-memory clip: the options, then every segment fitted (segment.py) with progress,
checkpoints and Ctrl-C, then the file assembled. What each method does is its own
(inrcodec/methods); this module names none of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import torch

from . import methods
from .bitstream import Header, assemble, validate_header
from .devices import resolve_device
from .errors import InputError
from .fit.checkpoint import Checkpointer, Interrupted, ctrl_c_requests_stop, fingerprint
from .fit.trainer import EpochReport, FitOptions
from .methods.supermask import check_sparsity, default_sparsity  # noqa: F401  (kept importable from here)
from .methods.trained import global_prune_masks  # noqa: F401
from .model.config import DEFAULT_PRESET, NetworkConfig, plan_network  # noqa: F401  (plan_network kept importable)
from .model.rng import GENERATOR
from .segment import FitHooks, SegmentJob, Stopped, fit_segment, frames_digest, segment_jobs, segment_payload
from .segment import segment_seed as _segment_seed
from .threads import parse_threads
from .video.clip import Clip

METHODS = methods.names()


@dataclass
class EncodeOptions:
    """Everything an encode is asked for, as the CLI and the API take it. The method reads its own
    options from here (Method.config: its dataclass, validated by the method); the network shape,
    seed, segments, device and FitOptions are shared by all."""

    method: str = "slt"
    preset: str | None = None  # None: the default preset's shape, its widths chosen by rate control (api.encode)
    levels: int | None = None
    sparsity: tuple[float, ...] | None = None
    seed: int = 0
    device: str = "auto"
    segment_frames: int | None = None  # frames per independently coded segment; None = one segment
    stem_hidden: int | None = None
    c0: int | None = None
    c_min: int | None = None
    fixed_gain: float = 1.0  # slt-fixed: sigma as a multiple of the Kaiming-preserving scale
    quant_bits: int = 8  # dense, sparse: bits of the per-layer uniform quantisation
    prune: float = 0.4  # sparse: fraction of the weights pruned (global magnitude pruning), as in NeRV
    finetune: float = 0.2  # sparse: fraction of the epochs spent fine-tuning after pruning
    lmbda: float | None = None  # slt-grid: the rate-distortion weight (None: its default, or rate control's)
    fit: FitOptions = field(default_factory=FitOptions)

    @property
    def method_impl(self) -> methods.Method:
        if self.method not in methods.names():
            raise InputError(f"unknown method {self.method!r} (choose from {', '.join(methods.names())})")
        return methods.get(self.method)

    def method_config(self):
        """The method's own options, validated by it."""
        return self.method_impl.config(self)

    def header_sparsity(self) -> tuple[float, ...]:
        """What the header stores in its sparsity field (the method decides)."""
        return self.method_impl.header_sparsity(self.method_config())

    def validate(self) -> None:
        """Refuse bad options up front, before any input is read or any fitting starts."""
        self.method_config()
        if self.fit.epochs < 1:
            raise InputError("--epochs must be at least 1")
        if self.fit.batch_size < 1:
            raise InputError("--batch-size must be at least 1")
        parse_threads(self.fit.threads, "--threads")
        if self.fit.activation_mib is not None and self.fit.activation_mib < 1:
            raise InputError("the activation budget must be at least 1 MiB")
        if self.segment_frames is not None and self.segment_frames < 1:
            raise InputError("--segment-frames must be at least 1")
        self.network(16, 16)
        device = resolve_device(self.device)
        if self.fit.amp and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise InputError("--amp needs bfloat16 support: a GPU of the Ampere generation or newer")

    @property
    def preset_name(self) -> str:
        return self.preset or DEFAULT_PRESET

    def fixed_network(self) -> bool:
        """Whether the caller chose the network (a preset or a width): then no default rate applies."""
        return (self.preset is not None or self.lmbda is not None
                or any(v is not None for v in (self.stem_hidden, self.c0, self.c_min)))

    def network(self, width: int, height: int) -> NetworkConfig:
        """The network config these options store (the method's: the preset's NeRV plan but for slt-grid)."""
        return self.method_impl.network(self, width, height)

    def settings(self) -> dict:
        """Everything that shapes the fitted result (what a resume must match)."""
        return {"method": self.method, "preset": self.preset_name, "seed": self.seed,
                "segment_frames": self.segment_frames, "widths": (self.stem_hidden, self.c0, self.c_min),
                **self.method_impl.settings(self.method_config()), "fit": self.fit}


@dataclass
class CheckpointOptions:
    path: str
    resume: bool = False
    minutes: float = 5.0


def segment_ranges(frames: int, segment_frames: int | None) -> list[tuple[int, int]]:
    """(first, count) of each segment."""
    return [(j.first_frame, j.frame_count) for j in segment_jobs(frames, segment_frames, 0)]


def segment_seed(options: EncodeOptions, segment: int) -> int:
    """Each segment's network seed: the base seed plus the segment index, as a u64."""
    return _segment_seed(options.seed, segment)


def file_header(info, frames: int, options: EncodeOptions) -> Header:
    """The header of the file these options write for a clip of `frames` frames, validated against
    the decoder's limits (never fit what cannot be written)."""
    header = Header(
        width=info.width, height=info.height, frames=frames, fps=Fraction(info.fps),
        pix_fmt="yuv420p", matrix=info.matrix, full_range=info.full_range, method=options.method,
        generator=GENERATOR, sparsity=options.header_sparsity(), network=options.network(info.width, info.height),
    )
    validate_header(header)
    return header


class FitProgress:
    """Turns one segment fit's epochs and steps into whole-encode figures: `on_epoch(segment,
    segments, report)` per epoch, and `on_progress(steps done, steps total, status)` after every
    step of every segment (its receiver throttles)."""

    def __init__(self, jobs: list[SegmentJob], options: EncodeOptions,
                 on_epoch: Callable[[int, int, EpochReport], None] | None,
                 on_progress: Callable[[int, int, str], None] | None) -> None:
        per_epoch = [-(-j.frame_count // options.fit.batch_size) for j in jobs]
        self.per_epoch = per_epoch
        self.base = [sum(s * options.fit.epochs for s in per_epoch[:i]) for i in range(len(jobs))]
        self.total = sum(s * options.fit.epochs for s in per_epoch)
        self.on_epoch, self.on_progress = on_epoch, on_progress
        self.status = ""

    def epoch(self, si: int, segments: int, report: EpochReport) -> None:
        psnr = f"{report.best_psnr:.2f} dB" if report.best_psnr is not None else "-"
        seg = f"seg {si + 1}/{segments} " if segments > 1 else ""
        self.status = f"{seg}epoch {report.epoch}/{report.epochs} loss {report.loss:.5f} best PSNR {psnr}"
        if self.on_epoch:
            self.on_epoch(si, segments, report)
        if self.on_progress:
            self.on_progress(self.base[si] + report.epoch * self.per_epoch[si], self.total, self.status)

    def stepper(self, si: int) -> Callable[[int], None] | None:
        """The segment's on_step (steps done in segment `si`)."""
        if self.on_progress is None:
            return None
        return lambda step: self.on_progress(self.base[si] + step, self.total, self.status)


def encode_clip(
    clip: Clip,
    options: EncodeOptions,
    on_epoch: Callable[[int, int, EpochReport], None] | None = None,
    checkpoint: CheckpointOptions | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> bytes:
    """Fit every segment of an in-memory clip and return the .slt bytes. With a checkpoint, the
    finished segments' payloads and the running segment's state are saved every few minutes and on
    Ctrl-C (then Interrupted is raised), and --resume skips the finished segments and continues the
    running one bit-exactly. `on_progress(steps done, steps total, status)` follows every step."""
    info = clip.info
    options.validate()
    header = file_header(info, len(clip), options)
    jobs = segment_jobs(len(clip), options.segment_frames, options.seed)
    saver, finished, running = None, {}, None
    if checkpoint is not None:
        settings = {**options.settings(), "size": (info.width, info.height, len(clip))}
        saver = Checkpointer(checkpoint.path, fingerprint(settings), checkpoint.minutes)
        if checkpoint.resume:
            finished, running = saver.load()
    progress = FitProgress(jobs, options, on_epoch, on_progress)
    with ctrl_c_requests_stop() as stop_flag:
        for job in jobs:
            frames = clip.frames[job.first_frame : job.first_frame + job.frame_count]
            digest = frames_digest(frames)
            if job.index in finished:
                _same_frames(finished[job.index]["frames_sha256"], digest)
                continue
            state = None
            if running is not None and running["index"] == job.index:
                _same_frames(running["frames_sha256"], digest)
                state = running["state"]

            def save(fit_state: dict, job=job, digest=digest) -> None:
                saver.save(finished, {"index": job.index, "frames_sha256": digest, "state": fit_state})

            hooks = FitHooks(on_epoch=lambda r, i=job.index: progress.epoch(i, len(jobs), r),
                             on_step=progress.stepper(job.index), should_stop=stop_flag.is_set,
                             save_due=saver.due if saver is not None else None, save=save if saver else None)
            try:
                result = fit_segment(job, frames, info, options, state, hooks)
            except Stopped as stop:
                if saver is None:
                    raise Interrupted("interrupted (no checkpoint: use -o FILE or --checkpoint PATH to be able to resume)") from None
                save(stop.state)
                raise Interrupted(f"interrupted; progress saved to {saver.path}: run the same command with --resume to continue") from None
            finished[job.index] = {"frames_sha256": digest, "payload": segment_payload(header, result)}
    return assemble(header, [(j.first_frame, j.frame_count, j.seed, finished[j.index]["payload"]) for j in jobs])


def _same_frames(saved: str, now: str) -> None:
    if saved != now:
        raise InputError("--resume: the checkpoint was made with different input frames")
