"""Fitting one segment's network to its frames.

One loop for every method: what it optimises, what runs around a step and what it keeps as the best
come from the method's parts (fit/parts.py). The loop keeps the frames as uint8 and converts each batch on the fly, never
calls .item() inside an epoch (so a CUDA run has no per-step host round trips), and keeps the best
levels and scales (or weights) seen at the evaluation points, not just the last ones.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..allocator import tune_allocator
from ..metrics.quality import mse_to_psnr
from ..model.nerv import NeRV, frame_positions, inference_batch
from .parts import FitParts, parts_for
from ..model.strips import activation_budget, mse_backward, render
from ..video.clip import VideoInfo
from ..video.colour import through_420, yuv420_to_rgb
from ..threads import FIT_THREADS


@dataclass
class FitOptions:
    """Optimiser settings. Defaults are the measured best (docs/results.md)."""

    epochs: int = 100
    batch_size: int = 1  # measured: 1 beats 2 and 4 at equal epochs for every method (docs/results.md)
    lr_scores: float = 0.1
    lr_scales: float = 0.05  # relative: the scales are parametrised as alpha0 * rel
    lr_weights: float | None = None  # dense and sparse: Adam on the weights; None: by the fit's length (weights_lr)
    warmup: float = 0.1  # fraction of the steps with a linear warm-up, then cosine decay
    exact_thresholds: bool = False  # every step: exact selection instead of the sampled estimate (docs/results.md)
    eval_every: int = 0  # epochs between full evaluations; 0 = about ten per fit
    activation_mib: int | None = None  # activations per pass (row strips beyond it); None: by device
    amp: bool = False  # fitting steps' forward in bfloat16 autocast (evaluations stay float32)
    # the loss on the output as the file holds it (through_420: chroma as 2x2 means) rather than on
    # full-resolution RGB: +0.28 dB for slt over two seeds (docs/results.md); False is the paper's RGB MSE
    loss_420: bool = True
    seed: int = 0
    threads: int = FIT_THREADS  # CPU threads of the fit: results depend on it (inrcodec/threads.py)


@dataclass
class EpochReport:
    epoch: int
    epochs: int
    loss: float
    psnr: float | None  # full-clip PSNR when this epoch was evaluated
    best_psnr: float | None


@dataclass
class FitResult:
    levels: list[np.ndarray]  # supermask methods; empty for a dense network
    scales: list[np.ndarray]  # supermask methods; empty for a dense network
    psnr: float
    seconds: float
    history: list[EpochReport] = field(default_factory=list)
    weights: list[np.ndarray] = field(default_factory=list)  # dense network: float32 weights per layer


def lr_factor(step: int, total: int, warmup: float) -> float:
    """Linear warm-up over the first `warmup` fraction of steps, then cosine decay towards zero."""
    warm = max(1, int(round(total * warmup)))
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class Fitter:
    """Fits one segment: the one fitting loop of every method. Holds all state that a checkpoint
    needs (see state_dict). What differs between methods (parameters, what runs around a step, the
    snapshot of the best and its export) comes from `parts` (fit/parts.py); without them the parts
    follow from the network's layers, and ``masks`` (dense networks only, one bool tensor per layer)
    fixes a pruning pattern."""

    def __init__(self, net: NeRV, frames: np.ndarray, info: VideoInfo, opts: FitOptions, device: torch.device,
                 masks: list[torch.Tensor] | None = None, parts: FitParts | None = None) -> None:
        self.net, self.info, self.opts, self.device = net, info, opts, device
        tune_allocator()  # steps allocate and free tens of MiB: reuse them instead of faulting in fresh pages
        self.frames = torch.from_numpy(frames).to(device)  # uint8, (T, H*W*3/2)
        self.count = frames.shape[0]
        self.parts = parts if parts is not None else parts_for(net, device, masks)
        self.optimizer = torch.optim.Adam(self.parts.param_groups(opts))
        self.steps_per_epoch = math.ceil(self.count / opts.batch_size)
        self.total_steps = self.steps_per_epoch * opts.epochs
        self.generator = torch.Generator().manual_seed(opts.seed)
        self.epoch = 0
        self.step = 0
        self.best_psnr = -math.inf
        self.best: dict[str, list[torch.Tensor]] | None = None
        self.history: list[EpochReport] = []
        self.seconds = 0.0
        self.perm: torch.Tensor | None = None  # this epoch's frame order, None between epochs
        self.pos = 0  # next batch of the epoch
        self.epoch_loss = torch.zeros((), device=device)
        # activation budgets of a fitting step and of an evaluation pass (FitOptions overrides both)
        given = None if opts.activation_mib is None else opts.activation_mib << 20
        self.budget = given or activation_budget(device)
        self.render_budget = given or activation_budget(device, training=False)

    def _targets(self, idx: torch.Tensor) -> torch.Tensor:
        return yuv420_to_rgb(self.frames[idx], self.info)

    def _as_decoded(self, out: torch.Tensor) -> torch.Tensor:
        """The output as the file will hold it (before rounding), when the fit measures that."""
        return through_420(out, self.info) if self.opts.loss_420 else out

    def _positions(self, idx: torch.Tensor) -> torch.Tensor:
        return frame_positions(idx.to(self.device), self.count)

    def _set_lr(self) -> None:
        f = lr_factor(self.step, self.total_steps, self.opts.warmup)
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * f

    def train_steps(self, should_stop: Callable[[], bool] | None = None,
                    on_step: Callable[[int], None] | None = None) -> bool:
        """Run the rest of the current epoch; False when should_stop() interrupted it. The epoch's
        permutation and position are fitter state, so an interrupted epoch resumes exactly.
        `on_step(steps done)` follows every step (it must not read tensors: no host round trips)."""
        self.net.train()
        if self.perm is None:
            self.perm = torch.randperm(self.count, generator=self.generator)
            self.pos = 0
            self.epoch_loss = torch.zeros((), device=self.device)
        bs = self.opts.batch_size
        while self.pos < self.steps_per_epoch:
            if should_stop is not None and should_stop():
                return False
            idx = self.perm[self.pos * bs : (self.pos + 1) * bs].to(self.device)
            self.parts.before_step(self.opts)
            self._set_lr()
            self.optimizer.zero_grad(set_to_none=True)
            loss = mse_backward(self.net, self._positions(idx), self._targets(idx), self.budget, self.opts.amp,
                                self._as_decoded if self.opts.loss_420 else None)
            self.optimizer.step()
            self.parts.after_step()
            self.epoch_loss += loss.detach() * idx.numel()
            self.step += 1
            self.pos += 1
            if on_step is not None:
                on_step(self.step)
        return True

    @torch.no_grad()
    def evaluate(self) -> float:
        """RGB PSNR of the whole segment with the levels from the current scores, thresholds
        selected as in the fitting steps (the evaluated masks are the trained ones)."""
        self.net.eval()
        self.parts.before_step(self.opts)
        se = torch.zeros((), dtype=torch.float64, device=self.device)
        step = inference_batch(self.info.width, self.info.height)
        for start in range(0, self.count, step):
            idx = torch.arange(start, min(self.count, start + step))
            out = self._as_decoded(render(self.net, self._positions(idx), self.render_budget))
            # in place, no float64 copy of the batch: torch's float32 sum is cascaded (accurate)
            se += out.sub_(self._targets(idx.to(self.device))).square_().sum().double()
        pixels = self.count * 3 * self.info.width * self.info.height
        return mse_to_psnr(float(se) / pixels)

    def _snapshot(self) -> None:
        self.best = self.parts.snapshot()

    def run(self, on_epoch: Callable[[EpochReport], None] | None = None, should_stop: Callable[[], bool] | None = None,
            on_step: Callable[[int], None] | None = None) -> bool:
        """Train from where the fitter is to opts.epochs. Returns False when should_stop() asked it
        to stop early (checked before every step); the state is then consistent for a checkpoint."""
        every = self.opts.eval_every or max(1, self.opts.epochs // 10)
        while self.epoch < self.opts.epochs:
            t0 = time.perf_counter()
            done = self.train_steps(should_stop, on_step)
            self.seconds += time.perf_counter() - t0
            if not done:
                return False
            t0 = time.perf_counter()
            loss = float(self.epoch_loss) / self.count
            self.perm = None
            self.epoch += 1
            psnr = None
            if self.epoch % every == 0 or self.epoch == self.opts.epochs:
                psnr = self.evaluate()
                if psnr > self.best_psnr:
                    self.best_psnr = psnr
                    self._snapshot()
            self.seconds += time.perf_counter() - t0
            report = EpochReport(self.epoch, self.opts.epochs, loss, psnr, self.best_psnr if self.best else None)
            self.history.append(report)
            if on_epoch:
                on_epoch(report)
        return True

    def state_dict(self) -> dict:
        """Everything needed to continue this fit bit-exactly: tensors and plain values only (the
        checkpoint loads with torch.load(weights_only=True)); "best" is the parts' snapshot ({}
        before the first evaluation), the parts add their own state (a pruning mask)."""
        return {
            "net": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "epoch": self.epoch,
            "step": self.step,
            "perm": self.perm.cpu() if self.perm is not None else torch.empty(0, dtype=torch.long),
            "pos": self.pos,
            "epoch_loss": float(self.epoch_loss),
            "best_psnr": self.best_psnr,
            "best": {k: [t.cpu() for t in v] for k, v in self.best.items()} if self.best else {},
            "seconds": self.seconds,
            "history": [[r.epoch, r.epochs, r.loss, r.psnr, r.best_psnr] for r in self.history],
            **self.parts.state(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.epoch, self.step, self.pos = int(state["epoch"]), int(state["step"]), int(state["pos"])
        self.perm = state["perm"] if state["perm"].numel() else None
        self.epoch_loss = torch.tensor(float(state["epoch_loss"]), device=self.device)
        self.best_psnr = float(state["best_psnr"])
        if state["best"]:
            self.best = {k: [t.to(self.device) for t in v] for k, v in state["best"].items()}
        self.parts.load_state(state, self.device)
        self.seconds = float(state["seconds"])
        self.history = [EpochReport(*row) for row in state["history"]]

    def result(self) -> FitResult:
        """The best state seen, installed into the network (the supermask layers frozen at their
        best levels), and exported: levels and scales, or weights, as float32 / uint8 arrays."""
        if self.best is None:
            self.best_psnr = self.evaluate()
            self._snapshot()
        assert self.best is not None
        self.parts.install(self.best)
        return FitResult(
            levels=[lv.to("cpu", torch.uint8).numpy().reshape(-1) for lv in self.best.get("levels", [])],
            scales=[sc.to("cpu", torch.float32).numpy() for sc in self.best.get("scales", [])],
            psnr=self.best_psnr,
            seconds=self.seconds,
            history=self.history,
            weights=[w.to("cpu", torch.float32).numpy().copy() for w in self.best.get("weights", [])],
        )
