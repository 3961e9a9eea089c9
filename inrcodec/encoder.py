"""Encoding an in-memory clip: the options, then every segment fitted (segment.py) with progress,
checkpoints and Ctrl-C, then the file assembled. What each method does is its own
(inrcodec/methods); this module names none of them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import torch

from . import methods
from .bitstream import Header, assemble, validate_header
from .devices import resolve_device
from .errors import InputError
from .fit.checkpoint import Checkpointer, Interrupted, ctrl_c_requests_stop, fingerprint
from .fit.trainer import EpochReport, FitOptions
from .model.config import DEFAULT_PRESET, NetworkConfig, plan_network  # noqa: F401  (plan_network kept importable)
from .model.rng import GENERATOR
from .gop import plan_groups
from .segment import (FitHooks, SegmentJob, Stopped, fit_segment, frames_digest, jobs_of_lengths, segment_jobs,
                      segment_payload)
from .spool import DirSpool, MemorySpool
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
    layer_sparsity: tuple[tuple[str, tuple[float, ...]], ...] = ()  # per-layer schedules: (name or prefix, K values)
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
    # where segments run (not what they produce: outside settings()): a local Ray runtime with this
    # many workers, or an existing Ray cluster (cluster.py); neither = in this process, in order
    workers: int | None = None
    ray_address: str | None = None

    @property
    def segment_length(self) -> int | None:
        """Frames per segment: --segment-frames, else the method's default (None: one segment; with a
        group plan, the longest segment)."""
        if self.segment_frames is not None:
            return self.segment_frames
        plan = self.group_plan
        return plan.max_frames if plan is not None else self.method_impl.default_segment_frames

    @property
    def group_plan(self):
        """The content-adaptive split of an in-memory clip (gop.py): the method's, unless
        --segment-frames fixes the segments."""
        return self.method_impl.group_plan if self.segment_frames is None else None

    def on_ray(self) -> bool:
        return self.workers is not None or bool(self.ray_address)

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
        if self.workers is not None and not 1 <= self.workers <= 4096:
            raise InputError(f"--workers must be between 1 and 4096, got {self.workers}")
        if self.on_ray():
            from .cluster import require_ray

            require_ray()
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
                "segment_frames": self.segment_length, "group_plan": self.group_plan, "widths": (self.stem_hidden, self.c0, self.c_min),
                **self.method_impl.settings(self.method_config()), "fit": self.fit}


@dataclass
class CheckpointOptions:
    path: str
    resume: bool = False
    minutes: float = 5.0


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
    step of every segment (its receiver throttles). The segments have the frame counts `lengths`
    when known (a planned split), else every one but the last has `segment` frames; with `frames`
    unknown (a streamed pipe) the total is None."""

    def __init__(self, frames: int | None, segment: int, options: EncodeOptions,
                 on_epoch: Callable[[int, int, EpochReport], None] | None,
                 on_progress: Callable[[int, int | None, str], None] | None,
                 lengths: list[int] | None = None) -> None:
        self.batch, self.epochs, self.segment = options.fit.batch_size, options.fit.epochs, segment
        if lengths is None and frames:
            lengths = [j.frame_count for j in segment_jobs(frames, segment, 0)]
        self.segments = len(lengths) if lengths else None
        self.before = None  # steps of the segments before each one, when the lengths are known
        if lengths:
            self.before = np.concatenate([[0], np.cumsum([self.steps(n) for n in lengths])]).tolist()
        self.total = self.before[-1] if self.before else None
        self.on_epoch, self.on_progress = on_epoch, on_progress
        self.status = ""

    def per_epoch(self, count: int) -> int:
        return -(-count // self.batch)

    def steps(self, count: int) -> int:
        """Steps of the whole fit of a segment of `count` frames."""
        return self.per_epoch(count) * self.epochs

    def segment_steps(self, si: int) -> int:
        """Steps of segment `si`'s whole fit."""
        if self.before is not None and si + 1 < len(self.before):
            return self.before[si + 1] - self.before[si]
        return self.steps(self.segment)

    def base(self, si: int) -> int:
        """Steps of the segments before segment `si`."""
        if self.before is not None and si < len(self.before):
            return self.before[si]
        return si * self.steps(self.segment)

    def epoch(self, si: int, count: int, report: EpochReport) -> None:
        psnr = f"{report.best_psnr:.2f} dB" if report.best_psnr is not None else "-"
        of = f"/{self.segments}" if self.segments else ""
        seg = f"seg {si + 1}{of} " if self.segments != 1 else ""
        self.status = f"{seg}epoch {report.epoch}/{report.epochs} loss {report.loss:.5f} best PSNR {psnr}"
        if self.on_epoch:
            self.on_epoch(si, self.segments or si + 1, report)
        if self.on_progress:
            self.on_progress(self.base(si) + report.epoch * self.per_epoch(count), self.total, self.status)

    def stepper(self, si: int) -> Callable[[int], None] | None:
        """The segment's on_step (steps done in segment `si`)."""
        if self.on_progress is None:
            return None
        return lambda step: self.on_progress(self.base(si) + step, self.total, self.status)


def clip_jobs(clip: Clip, options: EncodeOptions) -> list[SegmentJob]:
    """The segments of an in-memory clip: split by its content under the method's group plan
    (gop.py), else of options.segment_length frames."""
    plan = options.group_plan
    if plan is not None:
        return jobs_of_lengths(plan_groups(clip.frames, clip.info.width, clip.info.height, plan), options.seed)
    return segment_jobs(len(clip), options.segment_length, options.seed)


def clip_segments(clip: Clip, jobs: list[SegmentJob]) -> Iterator[tuple[SegmentJob, np.ndarray]]:
    """The segments of an in-memory clip with their frames (views, no copies)."""
    for job in jobs:
        yield job, clip.frames[job.first_frame : job.first_frame + job.frame_count]


def encode_clip(
    clip: Clip,
    options: EncodeOptions,
    on_epoch: Callable[[int, int, EpochReport], None] | None = None,
    checkpoint: CheckpointOptions | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
    on_segment: Callable[[int, float], None] | None = None,
) -> bytes:
    """Fit every segment of an in-memory clip and return the .slt bytes (fit_segments: checkpoints,
    resume, Ray, progress)."""
    info = clip.info
    options.validate()
    header = file_header(info, len(clip), options)
    spool = DirSpool(checkpoint.path + SPOOL_SUFFIX) if checkpoint is not None else MemorySpool()
    if checkpoint is not None and not checkpoint.resume:
        spool.remove()  # a stale spool of an encode that is started over
    planned = clip_jobs(clip, options)
    jobs = fit_segments(clip_segments(clip, planned), header, options, spool, checkpoint=checkpoint,
                        frames=len(clip), lengths=[j.frame_count for j in planned], on_epoch=on_epoch, on_progress=on_progress, on_segment=on_segment)
    return assemble(header, [(j.first_frame, j.frame_count, j.seed, spool.get(j.index)) for j in jobs])


SPOOL_SUFFIX = ".spool"  # a checkpoint's finished payloads: CHECKPOINT.spool/ beside it


def fit_segments(
    segments: Iterable[tuple[SegmentJob, np.ndarray]],
    header: Header,
    options: EncodeOptions,
    spool,
    *,
    checkpoint: CheckpointOptions | None = None,
    frames: int | None = None,
    lengths: list[int] | None = None,
    on_epoch: Callable[[int, int, EpochReport], None] | None = None,
    on_progress: Callable[[int, int | None, str], None] | None = None,
    on_segment: Callable[[int, float], None] | None = None,
    on_payload: Callable[[SegmentJob, np.ndarray, bytes], None] | None = None,
) -> list[SegmentJob]:
    """Fit the segments as `segments` yields them (job, frames), in this process in order or on Ray
    (options.workers / ray_address, cluster.py), putting each payload into `spool`; returns the
    jobs in order. `header` gives the payloads' layout (its frame count is not used). With a
    checkpoint, the finished segments (their payloads stay in the spool, the checkpoint records
    their hashes) and, in this process, the running segment's state are saved every few minutes
    and on Ctrl-C (then Interrupted is raised); --resume skips the finished segments and continues
    the running one bit-exactly. `on_segment(index, fit PSNR)` follows each segment this call fits,
    `on_payload(job, frames, payload)` every segment's payload, fitted or resumed, in frame order
    in this process (out of order on Ray). The same options give the same bytes either way."""
    saver, finished, running = None, {}, None
    if checkpoint is not None:
        size = (header.width, header.height) + ((frames,) if frames is not None else ())
        saver = Checkpointer(checkpoint.path, fingerprint({**options.settings(), "size": size}), checkpoint.minutes)
        if checkpoint.resume:
            finished, running = saver.load()
    progress = FitProgress(frames, options.segment_length or frames or 1, options, on_epoch, on_progress, lengths)
    jobs: list[SegmentJob] = []
    done: dict[int, dict] = {}  # finished segments: index -> frames and payload hashes

    def todo() -> Iterator[tuple[SegmentJob, np.ndarray, str]]:
        for job, seg_frames in segments:
            jobs.append(job)
            digest = frames_digest(seg_frames) if saver is not None else None  # what a resume matches
            meta = finished.get(job.index)
            if meta is not None and spool.verify(job.index, meta["payload_sha256"]):
                _same_frames(meta["frames_sha256"], digest)
                done[job.index] = meta
                if on_payload is not None:
                    on_payload(job, seg_frames, spool.get(job.index))
                continue
            yield job, seg_frames, digest

    def finish(job: SegmentJob, seg_frames: np.ndarray, digest: str | None, payload: bytes, psnr: float) -> None:
        done[job.index] = {"frames_sha256": digest, "payload_sha256": spool.put(job.index, payload)}
        if saver is not None:
            saver.save(done, None)
        if on_segment is not None:
            on_segment(job.index, psnr)
        if on_payload is not None:
            on_payload(job, seg_frames, payload)

    with ctrl_c_requests_stop() as stop_flag:
        if options.on_ray():
            from .cluster import fit_on_ray

            fit_on_ray(header, todo(), options, done, saver, stop_flag.is_set, progress, finish)
        else:
            for job, seg_frames, digest in todo():
                _fit_here(header, job, seg_frames, digest, options, done, running, saver, stop_flag.is_set,
                          progress, finish)
    return jobs


def _fit_here(header, job, frames, digest, options, done, running, saver, should_stop, progress, finish) -> None:
    """Fit one segment in this process, continuing `running` when it is this one."""
    info = header.video_info()
    state = None
    if running is not None and running["index"] == job.index:
        _same_frames(running["frames_sha256"], digest)
        state = running["state"]

    def save(fit_state: dict) -> None:
        saver.save(done, {"index": job.index, "frames_sha256": digest, "state": fit_state})

    hooks = FitHooks(on_epoch=lambda r: progress.epoch(job.index, job.frame_count, r),
                     on_step=progress.stepper(job.index), should_stop=should_stop,
                     save_due=saver.due if saver is not None else None, save=save if saver is not None else None)
    try:
        result = fit_segment(job, frames, info, options, state, hooks)
    except Stopped as stop:
        if saver is None:
            raise Interrupted(NO_CHECKPOINT) from None
        save(stop.state)
        raise Interrupted(saved_message(saver.path)) from None
    finish(job, frames, digest, segment_payload(header, result), result.psnr)


NO_CHECKPOINT = "interrupted (no checkpoint: use -o FILE or --checkpoint PATH to be able to resume)"


def saved_message(path: str) -> str:
    return f"interrupted; progress saved to {path}: run the same command with --resume to continue"


def _same_frames(saved: str, now: str) -> None:
    if saved != now:
        raise InputError("--resume: the checkpoint was made with different input frames")
