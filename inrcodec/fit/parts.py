"""What one fitting loop (trainer.Fitter) fits, supplied by the method: its parameters, what runs
around each step, the snapshot of the best state and its export. The loop itself knows none of
the families; a method picks (or adds) the parts that describe its network.

- SupermaskParts: the supermask family (slt, slt-fixed, supermask): scores and relative scales are
  optimised, the levels re-selected from the scores before every step and evaluation; the best
  state is (levels, scales) per layer.
- WeightParts: the trained family (dense, sparse): the weights are optimised, optionally under a
  fixed pruning mask re-applied after every step; the best state is the weights per layer.
"""

from __future__ import annotations

import torch

from ..model.masked import DenseWeight, SupermaskWeight, refresh_masks
from ..model.nerv import NeRV, dense_layers, supermask_layers
from .schedule import weights_lr


class FitParts:
    """The interface the loop calls. `best` is a dict of tensor lists (checkpointable as is)."""

    def param_groups(self, opts) -> list[dict]:
        raise NotImplementedError

    def before_step(self, opts) -> None:
        """Before every fitting step (and every evaluation)."""

    def after_step(self) -> None:
        """After every optimiser step."""

    def snapshot(self) -> dict[str, list[torch.Tensor]]:
        raise NotImplementedError

    def install(self, best: dict[str, list[torch.Tensor]]) -> None:
        """Put a snapshot back into the network (the fit's result is the network at its best)."""
        raise NotImplementedError

    def state(self) -> dict:
        """Extra state a checkpoint needs beyond the network, optimiser and snapshot."""
        return {}

    def load_state(self, state: dict, device: torch.device) -> None:
        pass


class SupermaskParts(FitParts):
    def __init__(self, layers: list[SupermaskWeight]) -> None:
        self.layers = layers

    def param_groups(self, opts) -> list[dict]:
        groups = [{"params": [m.scores for m in self.layers], "lr": opts.lr_scores, "base_lr": opts.lr_scores}]
        scales = [m.rel for m in self.layers if m.rel.requires_grad]
        if scales:
            groups.append({"params": scales, "lr": opts.lr_scales, "base_lr": opts.lr_scales})
        return groups

    def before_step(self, opts) -> None:
        refresh_masks(self.layers, exact=opts.exact_thresholds)

    def snapshot(self) -> dict[str, list[torch.Tensor]]:
        return {"levels": [m.level.to(torch.uint8) for m in self.layers],
                "scales": [m.scales().detach().clone() for m in self.layers]}

    def install(self, best: dict[str, list[torch.Tensor]]) -> None:
        for m, lv, sc in zip(self.layers, best["levels"], best["scales"]):
            m.set_levels(lv)
            with torch.no_grad():
                m.rel.copy_(sc / m.alpha0)


class WeightParts(FitParts):
    """Trained weights; `masks` (one bool tensor per layer) fixes a pruning pattern: the weights are
    multiplied by it before training and after every step, so pruned weights stay exactly zero."""

    def __init__(self, layers: list[DenseWeight], masks: list[torch.Tensor] | None, device: torch.device) -> None:
        self.layers = layers
        self.masks = None
        if masks is not None:
            if len(masks) != len(layers) or any(mk.shape != m.weight.shape for mk, m in zip(masks, layers)):
                raise ValueError("one pruning mask of the weight's shape per layer is needed")
            self.masks = [mk.to(device=device, dtype=torch.bool) for mk in masks]
            self.after_step()

    def param_groups(self, opts) -> list[dict]:
        lr = weights_lr(opts)
        return [{"params": [m.weight for m in self.layers], "lr": lr, "base_lr": lr}]

    @torch.no_grad()
    def after_step(self) -> None:
        if self.masks is not None:
            for m, mask in zip(self.layers, self.masks):
                m.weight.mul_(mask)

    def snapshot(self) -> dict[str, list[torch.Tensor]]:
        return {"weights": [m.weight.detach().clone() for m in self.layers]}

    def install(self, best: dict[str, list[torch.Tensor]]) -> None:
        with torch.no_grad():
            for m, w in zip(self.layers, best["weights"]):
                m.weight.copy_(w)

    def state(self) -> dict:
        return {"masks": [mk.cpu() for mk in self.masks] if self.masks is not None else []}

    def load_state(self, state: dict, device: torch.device) -> None:
        if state.get("masks"):
            self.masks = [t.to(device=device, dtype=torch.bool) for t in state["masks"]]


def parts_for(net: NeRV, device: torch.device, masks: list[torch.Tensor] | None = None) -> FitParts:
    """The parts of a network built by model/nerv.py, by the kind of its layers."""
    layers = supermask_layers(net)
    if layers:
        if masks is not None:
            raise ValueError("pruning masks apply to dense networks only")
        return SupermaskParts(layers)
    dense = dense_layers(net)
    if dense:
        return WeightParts(dense, masks, device)
    raise ValueError("the network has neither supermask nor dense weights to fit")
