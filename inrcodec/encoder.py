"""Encoding an in-memory clip: options, methods, segments, checkpoints -> .slt bytes.

Methods that share the supermask payload (scales + levels per layer):
- `slt`: K nested masks, a learned scale per layer and level (the paper);
- `slt-fixed`: the same masks with one fixed scale for every level (multicoated supermasks,
  Okoshi et al. 2022): w = sign * sigma * (number of masks kept);
- `supermask`: a single mask (edge-popup style) with a learned scale.

The NeRV baselines, same architecture with trained weights (quantised payload per layer):
- `dense`: Adam on the weights, then per-layer uniform quantisation to `quant_bits` bits and
  entropy coding of the quantised integers;
- `sparse`: the same, with global magnitude pruning of the `prune` fraction of the weights after
  the first (1 - `finetune`) of the epochs and fine-tuning under the fixed mask for the rest; the
  zero pattern and the non-zero values are coded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np
import torch

from .bitstream import Header, LayerPayload, Segment, validate_header, write_slt
from .bitstream.format import QUANT_METHODS, QuantLayer
from .entropy.values import MAX_BITS, MIN_BITS, quantize
from .errors import InputError
from .fit.checkpoint import Checkpointer, Interrupted, ctrl_c_requests_stop, fingerprint
from .fit.trainer import EpochReport, Fitter, FitOptions
from .model.config import DEFAULT_PRESET, NetworkConfig, plan_network
from .model.nerv import build_dense_nerv, build_supermask_nerv
from .model.rng import GENERATOR
from .video.clip import Clip
from .threads import fixed_threads, parse_threads

METHODS = ("slt", "slt-fixed", "supermask", "dense", "sparse")


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
    """'auto' (the first CUDA GPU if there is one, else the CPU), 'cpu', 'cuda' or 'cuda:N'."""
    name = str(name).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    m = re.fullmatch(r"cuda(?::([0-9]+))?", name)
    if m is None:
        raise InputError(f"unknown device {name!r} (auto, cpu, cuda or cuda:N)")
    if not torch.cuda.is_available():
        raise InputError(f"--device {name} requested but no CUDA device is available")
    if m.group(1) is not None and int(m.group(1)) >= torch.cuda.device_count():
        raise InputError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                         f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return torch.device(name)


@dataclass
class EncodeOptions:
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
    fit: FitOptions = field(default_factory=FitOptions)

    def header_sparsity(self) -> tuple[float, ...]:
        """What the header stores: the K sparsities (supermask methods), none (dense) or the
        pruned fraction (sparse)."""
        if self.method == "dense":
            return ()
        if self.method == "sparse":
            return (float(np.float32(self.prune)),)
        return self.resolved_sparsity()

    def epoch_split(self) -> tuple[int, int]:
        """(training epochs, fine-tuning epochs): sparse fine-tunes round(epochs * finetune) of
        them (at least one epoch is left for training); the other methods only train."""
        epochs = self.fit.epochs
        if self.method != "sparse":
            return epochs, 0
        tune = min(epochs - 1, int(round(epochs * self.finetune)))
        return epochs - tune, tune

    def resolved_sparsity(self) -> tuple[float, ...]:
        if self.sparsity is not None:
            sp = check_sparsity(tuple(self.sparsity))
            if self.levels is not None and self.levels != len(sp):
                raise InputError(f"--levels {self.levels} does not match the {len(sp)} --sparsity values")
        else:
            default_levels = 1 if self.method == "supermask" else 3
            sp = check_sparsity(default_sparsity(default_levels if self.levels is None else self.levels))
        if self.method == "supermask" and len(sp) != 1:
            raise InputError("--method supermask uses a single mask level (one --sparsity value)")
        return sp

    def validate(self) -> None:
        """Refuse bad options up front, before any input is read or any fitting starts."""
        if self.method not in METHODS:
            raise InputError(f"unknown method {self.method!r} (choose from {', '.join(METHODS)})")
        if self.method in QUANT_METHODS:  # --levels and --sparsity do not apply
            if not (isinstance(self.quant_bits, (int, np.integer)) and MIN_BITS <= self.quant_bits <= MAX_BITS):
                raise InputError(f"--quant-bits must be between {MIN_BITS} and {MAX_BITS}, got {self.quant_bits}")
            if not 0.0 < self.prune < 1.0:
                raise InputError(f"--prune must be between 0 and 1 (exclusive), got {self.prune}")
            if not 0.0 <= self.finetune < 1.0:
                raise InputError(f"--finetune must be at least 0 and below 1, got {self.finetune}")
            if not self.fit.lr_weights > 0:
                raise InputError("--lr must be positive")
        else:
            self.resolved_sparsity()
        if self.fit.epochs < 1:
            raise InputError("--epochs must be at least 1")
        if self.fit.batch_size < 1:
            raise InputError("--batch-size must be at least 1")
        parse_threads(self.fit.threads, "--threads")
        if self.fit.activation_mib is not None and self.fit.activation_mib < 1:
            raise InputError("the activation budget must be at least 1 MiB")
        if self.segment_frames is not None and self.segment_frames < 1:
            raise InputError("--segment-frames must be at least 1")
        if not self.fixed_gain > 0:
            raise InputError("--fixed-gain must be positive")
        self.network(16, 16)
        device = resolve_device(self.device)
        if self.fit.amp and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise InputError("--amp needs bfloat16 support: a GPU of the Ampere generation or newer")

    @property
    def preset_name(self) -> str:
        return self.preset or DEFAULT_PRESET

    def fixed_network(self) -> bool:
        """Whether the caller chose the network (a preset or a width): then no default rate applies."""
        return self.preset is not None or any(v is not None for v in (self.stem_hidden, self.c0, self.c_min))

    def network(self, width: int, height: int) -> NetworkConfig:
        return plan_network(width, height, self.preset_name, stem_hidden=self.stem_hidden, c0=self.c0, c_min=self.c_min)

    def settings(self) -> dict:
        """Everything that shapes the fitted result (what a resume must match)."""
        if self.method in QUANT_METHODS:
            return {"method": self.method, "preset": self.preset_name, "seed": self.seed,
                    "segment_frames": self.segment_frames, "widths": (self.stem_hidden, self.c0, self.c_min),
                    "quant_bits": self.quant_bits, "prune": self.prune if self.method == "sparse" else None,
                    "finetune": self.finetune if self.method == "sparse" else None, "fit": self.fit}
        return {"method": self.method, "preset": self.preset_name, "sparsity": self.resolved_sparsity(), "seed": self.seed,
                "segment_frames": self.segment_frames, "widths": (self.stem_hidden, self.c0, self.c_min),
                "fixed_gain": self.fixed_gain, "fit": self.fit}


def segment_ranges(frames: int, segment_frames: int | None) -> list[tuple[int, int]]:
    """(first, count) of each segment."""
    size = frames if not segment_frames else int(segment_frames)
    return [(s, min(size, frames - s)) for s in range(0, frames, size)]


def build_network(options: EncodeOptions, config: NetworkConfig, width: int, height: int, seed: int,
                  device: torch.device):
    """The method's network to fit, freshly initialised from the seed."""
    if options.method in QUANT_METHODS:
        return build_dense_nerv(config, width, height, seed, device)
    sparsity = options.resolved_sparsity()
    net = build_supermask_nerv(config, width, height, seed, sparsity, device,
                               learn_scales=options.method != "slt-fixed")
    if options.method == "slt-fixed":
        # alpha0 is the Kaiming-preserving scale; Okoshi et al.'s sigma = gain / sqrt(fan_in (1 - p_1))
        # is fixed_gain = sqrt(sum_j P(level j) j^2 / (1 - p_1)) (sqrt(3) for 0.5/0.8/0.92).
        for m in net.weights:
            m.alpha0.mul_(options.fixed_gain)
    return net


def global_prune_masks(weights: list[np.ndarray], fraction: float) -> list[np.ndarray]:
    """NeRV's global magnitude pruning: keep-masks (bool, per layer) that drop the floor(fraction * N)
    weights of smallest magnitude over the whole network (ties broken by position)."""
    mags = np.concatenate([np.abs(np.asarray(w, dtype=np.float32)).reshape(-1) for w in weights])
    k = int(np.floor(fraction * mags.size))
    keep = np.ones(mags.size, dtype=bool)
    keep[np.argsort(mags, kind="stable")[:k]] = False
    masks, pos = [], 0
    for w in weights:
        masks.append(keep[pos : pos + w.size].reshape(w.shape))
        pos += w.size
    return masks


@dataclass
class CheckpointOptions:
    path: str
    resume: bool = False
    minutes: float = 5.0


def segment_seed(options: EncodeOptions, segment: int) -> int:
    """Each segment's network seed: the base seed plus the segment index, as a u64."""
    return (int(options.seed) + segment) % (1 << 64)


class FitProgress:
    """Turns one segment fit's epochs and steps into whole-encode figures: `on_epoch(segment,
    segments, report)` per epoch, and `on_progress(steps done, steps total, status)` after every
    step of every segment (its receiver throttles)."""

    def __init__(self, ranges: list[tuple[int, int]], options: EncodeOptions,
                 on_epoch: Callable[[int, int, EpochReport], None] | None,
                 on_progress: Callable[[int, int, str], None] | None) -> None:
        per_epoch = [-(-count // options.fit.batch_size) for _, count in ranges]
        self.per_epoch = per_epoch
        self.base = [sum(s * options.fit.epochs for s in per_epoch[:i]) for i in range(len(ranges))]
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

    def stepper(self, si: int, epoch_offset: int = 0) -> Callable[[int], None] | None:
        """The fitter's on_step for segment `si` (a stage starting `epoch_offset` epochs in)."""
        if self.on_progress is None:
            return None
        base = self.base[si] + epoch_offset * self.per_epoch[si]
        return lambda step: self.on_progress(base + step, self.total, self.status)


def _run_stage(
    fitter: Fitter,
    where: tuple[int, int],
    done: list[dict],
    saver: Checkpointer | None,
    progress: FitProgress,
    should_stop: Callable[[], bool],
    extra_state: dict | None = None,
    epochs: tuple[int, int] | None = None,
) -> None:
    """Run one fit with progress reports, periodic checkpoints and Ctrl-C handling (checkpoint,
    then Interrupted). `extra_state` joins the saved fitter state; `epochs` = (offset, total)
    renumbers the reported epochs when a segment is fitted in stages."""
    si, n_segments = where

    def state() -> dict:
        return {**fitter.state_dict(), **(extra_state or {})}

    def after_epoch(report: EpochReport) -> None:
        if epochs is not None:
            report = EpochReport(epochs[0] + report.epoch, epochs[1], report.loss, report.psnr, report.best_psnr)
        progress.epoch(si, n_segments, report)
        if saver is not None and saver.due():
            saver.save(si, done, state())

    on_step = progress.stepper(si, epochs[0] if epochs is not None else 0)
    if not fitter.run(on_epoch=after_epoch, should_stop=should_stop, on_step=on_step):
        if saver is None:
            raise Interrupted("interrupted (no checkpoint: use -o FILE or --checkpoint PATH to be able to resume)")
        saver.save(si, done, state())
        raise Interrupted(f"interrupted; progress saved to {saver.path}: run the same command with --resume to continue")


def encode_clip(
    clip: Clip,
    options: EncodeOptions,
    on_epoch: Callable[[int, int, EpochReport], None] | None = None,
    checkpoint: CheckpointOptions | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> bytes:
    """Fit every segment of an in-memory clip and return the .slt bytes. With a checkpoint, the
    state is saved every few minutes and on Ctrl-C (then Interrupted is raised), and --resume
    continues a saved encode bit-exactly. `on_progress(steps done, steps total, status)` follows
    every fitting step."""
    info = clip.info
    options.validate()
    sparsity = options.header_sparsity()
    device = resolve_device(options.device)
    config = options.network(info.width, info.height)
    header = Header(
        width=info.width, height=info.height, frames=len(clip), fps=Fraction(info.fps),
        pix_fmt="yuv420p", matrix=info.matrix, full_range=info.full_range, method=options.method,
        generator=GENERATOR, sparsity=sparsity, network=config,
    )
    validate_header(header)  # the decoder's limits, before the fit: never fit what cannot be written
    saver = None
    state = None
    if checkpoint is not None:
        settings = {**options.settings(), "size": (info.width, info.height, len(clip))}
        saver = Checkpointer(checkpoint.path, fingerprint(clip.frames, settings), checkpoint.minutes)
        if checkpoint.resume:
            state = saver.load()
    done: list[dict] = state["done"] if state else []
    ranges = segment_ranges(len(clip), options.segment_frames)
    progress = FitProgress(ranges, options, on_epoch, on_progress)
    with ctrl_c_requests_stop() as stop_flag, fixed_threads(options.fit.threads):
        for si in range(len(done), len(ranges)):
            first, count = ranges[si]
            seed = segment_seed(options, si)
            if options.method in QUANT_METHODS:
                resume = state["fitter"] if state is not None and int(state["segment"]) == si else None
                done.append(_fit_quantised(clip, options, config, (si, len(ranges)), seed, device, done, resume,
                                           saver, progress, stop_flag.is_set))
                continue
            net = build_network(options, config, info.width, info.height, seed, device)
            fitter = Fitter(net, clip.frames[first : first + count], info, options.fit, device)
            if state is not None and int(state["segment"]) == si:
                fitter.load_state_dict(state["fitter"])
            _run_stage(fitter, (si, len(ranges)), done, saver, progress, stop_flag.is_set)
            result = fitter.result()
            done.append({"levels": [torch.from_numpy(lv) for lv in result.levels],
                         "scales": [torch.from_numpy(sc) for sc in result.scales]})
    segments = []
    for si, ((first, count), seg) in enumerate(zip(ranges, done)):
        if options.method in QUANT_METHODS:
            layers = [QuantLayer(step=float(st), values=v.numpy(), bits=options.quant_bits)
                      for st, v in zip(seg["steps"].tolist(), seg["values"])]
        else:
            layers = [LayerPayload(scales=sc.numpy().astype(np.float32), levels=lv.numpy())
                      for sc, lv in zip(seg["scales"], seg["levels"])]
        segments.append(Segment(first_frame=first, frame_count=count, seed=segment_seed(options, si), layers=layers))
    return write_slt(header, segments)


def _fit_quantised(
    clip: Clip,
    options: EncodeOptions,
    config: NetworkConfig,
    where: tuple[int, int],
    seed: int,
    device: torch.device,
    done: list[dict],
    resume: dict | None,
    saver: Checkpointer | None,
    progress: FitProgress,
    should_stop: Callable[[], bool],
) -> dict:
    """One segment of the dense or sparse baseline: train (stage 1); for sparse, prune globally and
    fine-tune under the fixed mask (stage 2); quantise. Returns the finished segment's entry of
    `done` ({"steps": float32 (L,), "values": int16 per layer}). A checkpointed state carries its
    "stage" and, in stage 2, the masks (the Fitter's state)."""
    si, _ = where
    first, count = segment_ranges(len(clip), options.segment_frames)[si]
    frames = clip.frames[first : first + count]
    train, tune = options.epoch_split()
    net = build_network(options, config, clip.info.width, clip.info.height, seed, device)

    def run(fitter: Fitter, stage: int, offset: int) -> None:
        _run_stage(fitter, where, done, saver, progress, should_stop, {"stage": stage}, (offset, train + tune))

    masks = None
    if resume is not None and int(resume.get("stage", 1)) == 2:
        masks = [t.numpy().astype(bool) for t in resume["masks"]]
    else:
        fitter = Fitter(net, frames, clip.info, replace(options.fit, epochs=train), device)
        if resume is not None:
            fitter.load_state_dict(resume)
            resume = None
        run(fitter, 1, 0)
        weights = fitter.result().weights
        if options.method == "sparse":
            masks = global_prune_masks(weights, options.prune)
    if masks is not None:
        if tune > 0:
            fitter = Fitter(net, frames, clip.info, replace(options.fit, epochs=tune), device,
                            masks=[torch.from_numpy(m) for m in masks])
            if resume is not None:
                fitter.load_state_dict(resume)
            run(fitter, 2, train)
            weights = fitter.result().weights
        else:
            weights = [w * m for w, m in zip(weights, masks)]
    steps, values = [], []
    for w in weights:
        step, q = quantize(w, options.quant_bits)
        steps.append(step)
        values.append(torch.from_numpy(q.reshape(-1)))
    return {"steps": torch.tensor(steps, dtype=torch.float32), "values": values}
