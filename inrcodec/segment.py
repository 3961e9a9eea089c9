"""A segment is the unit of work: its frames, the options and its seed are all a fit needs, and its
payload bytes are all the file needs of it. `fit_segment` takes nothing global and returns nothing
that cannot be pickled, so a segment can be fitted in this process, another one or on another
machine; `segment_payload` serialises its result and `bitstream.assemble` puts payloads (in frame
order, whatever order they finished in) into a file."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import methods
from .bitstream import Header, payload_bytes
from .devices import resolve_device
from .fit.trainer import EpochReport
from .methods.base import FitContext
from .threads import fixed_threads


@dataclass(frozen=True)
class SegmentJob:
    index: int
    first_frame: int
    frame_count: int
    seed: int  # the segment's network seed (segment_seed)


@dataclass
class SegmentResult:
    job: SegmentJob
    layers: list  # the method's payload layers
    psnr: float  # the fit's best RGB PSNR (the file's quality is measured by decoding it)
    seconds: float


class Stopped(Exception):
    """The fit stopped on request (Ctrl-C); `state` continues it bit-exactly (fit_segment(state=))."""

    def __init__(self, state: dict) -> None:
        super().__init__("stopped")
        self.state = state


@dataclass
class FitHooks:
    """How a caller follows and steers one segment's fit (all optional)."""

    on_epoch: Callable[[EpochReport], None] | None = None
    on_step: Callable[[int], None] | None = None  # steps done in this segment (no tensor reads)
    should_stop: Callable[[], bool] | None = None  # checked before every step
    save_due: Callable[[], bool] | None = None  # after every epoch: is a checkpoint due?
    save: Callable[[dict], None] | None = None  # ... then it receives the fit's state


def segment_seed(seed: int, index: int) -> int:
    """Each segment's network seed: the base seed plus the segment index, as a u64."""
    return (int(seed) + index) % (1 << 64)


def segment_jobs(frames: int, segment_frames: int | None, seed: int) -> list[SegmentJob]:
    """The segments of a clip of `frames` frames: `segment_frames` each (the last may be shorter)."""
    size = frames if not segment_frames else int(segment_frames)
    return jobs_of_lengths([min(size, frames - s) for s in range(0, frames, size)], seed)


def jobs_of_lengths(lengths: list[int], seed: int) -> list[SegmentJob]:
    """The segments of consecutive groups of `lengths` frames (fixed, or a planned split: gop.py)."""
    starts = itertools.accumulate(lengths[:-1], initial=0)
    return [SegmentJob(i, int(s), int(n), segment_seed(seed, i)) for i, (s, n) in enumerate(zip(starts, lengths))]


def frames_digest(frames: np.ndarray) -> str:
    """SHA-256 of a segment's frames: what a resumed segment must match."""
    return hashlib.sha256(memoryview(np.ascontiguousarray(frames)).cast("B")).hexdigest()


def fit_segment(job: SegmentJob, frames: np.ndarray, info, options, state: dict | None = None,
                hooks: FitHooks | None = None) -> SegmentResult:
    """Fit one segment's network to its frames (uint8 I420, (frame_count, H*W*3/2)) with the
    options' method. `state` (from Stopped) continues an interrupted fit; the CPU threads are the
    options' (a result never depends on where it runs). Raises Stopped when hooks.should_stop()."""
    hooks = hooks or FitHooks()
    method = methods.get(options.method)
    cfg = method.config(options)
    device = resolve_device(options.device)

    def run(fitter, extra: dict | None = None, epochs: tuple[int, int] | None = None) -> None:
        def after_epoch(report: EpochReport) -> None:
            if epochs is not None:
                report = EpochReport(epochs[0] + report.epoch, epochs[1], report.loss, report.psnr, report.best_psnr)
            if hooks.on_epoch:
                hooks.on_epoch(report)
            if hooks.save is not None and hooks.save_due is not None and hooks.save_due():
                hooks.save({**fitter.state_dict(), **(extra or {})})

        offset = (epochs[0] if epochs is not None else 0) * fitter.steps_per_epoch
        on_step = (lambda step: hooks.on_step(offset + step)) if hooks.on_step else None
        if not fitter.run(on_epoch=after_epoch, should_stop=hooks.should_stop, on_step=on_step):
            raise Stopped({**fitter.state_dict(), **(extra or {})})

    ctx = FitContext(frames=frames, info=info, network=options.network(info.width, info.height), seed=job.seed,
                     fit=options.fit, device=device, state=state, run=run)
    with fixed_threads(options.fit.threads):
        outcome = method.fit(ctx, cfg)
    return SegmentResult(job, outcome.layers, outcome.psnr, outcome.seconds)


def segment_payload(header: Header, result: SegmentResult) -> bytes:
    """The segment's payload bytes in the file `header` describes."""
    return payload_bytes(header, result.job.index, result.layers, result.job.frame_count)
