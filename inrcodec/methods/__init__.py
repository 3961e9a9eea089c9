"""The registry of methods: the only list of methods anywhere. A method's bitstream id is its
position here and never changes; adding one is a new module and one line at the end of REGISTRY
(docs/architecture.md, "A new method")."""

from __future__ import annotations

from ..bitstream.cursor import fail
from ..fit.schedule import DENSE_LR_BY_EPOCHS, SPARSE_LR_BY_EPOCHS
from .base import FitContext, FitOutcome, Method
from .grid import GridMethod
from .supermask import SPARSE_SCHEDULE, SupermaskMethod
from .trained import TrainedMethod

# Tuned settings (docs/results.md, "Tuning each method"): 16 frames of tree.avi, 20 epochs, score
# learning rates 0.05 / 0.1 / 0.2 and fixed gains 0.7 / 1 / sqrt(3); the trained methods use
# their own weights' learning rate by fit length (fit/schedule.py, weights_lr; docs/results.md).
# slt and slt-fixed default to the sparse schedule 0.9 / 0.9684 / 0.99 (issue 13: at equal rate it
# buys 2.9x the weights for +0.7 dB on tree.avi); supermask keeps its single mask at 0.5.
REGISTRY: tuple[Method, ...] = (
    SupermaskMethod("slt", 0, "learned scales (the paper)", tuned_fit={"lr_scores": 0.1}, schedule=SPARSE_SCHEDULE),
    SupermaskMethod("slt-fixed", 1, "one fixed scale", learn_scales=False, fixed_scale=True,
                    tuned_fit={"lr_scores": 0.1}, tuned_options={"fixed_gain": 0.7}, schedule=SPARSE_SCHEDULE),
    SupermaskMethod("supermask", 2, "a single mask", single_level=True, tuned_fit={"lr_scores": 0.2}),
    TrainedMethod("dense", 3, "NeRV with trained, quantised weights", pruned=False, lr_by_epochs=DENSE_LR_BY_EPOCHS),
    TrainedMethod("sparse", 4, "dense plus global magnitude pruning", pruned=True, lr_by_epochs=SPARSE_LR_BY_EPOCHS),
    GridMethod("slt-grid", 5, "entropy-coded latent grids into a random masked synthesis", tuned_fit={"lr_scores": 0.1}),
)
assert [m.id for m in REGISTRY] == list(range(len(REGISTRY)))
_BY_NAME = {m.name: m for m in REGISTRY}


def names() -> tuple[str, ...]:
    return tuple(m.name for m in REGISTRY)


def get(name: str) -> Method:
    """The method called `name` (KeyError when there is none: callers check names() first)."""
    return _BY_NAME[name]


def from_id(idx: int) -> Method:
    """The method of a bitstream id (BitstreamError for an unknown id)."""
    if not 0 <= idx < len(REGISTRY):
        fail(f"unknown method id {idx}")
    return REGISTRY[idx]


__all__ = ["REGISTRY", "FitContext", "FitOutcome", "Method", "from_id", "get", "names"]
