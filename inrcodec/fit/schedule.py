"""The trained baselines' weights' learning rate by fit length: the measured tables (the registry
gives each trained method its own) and their interpolation."""

from __future__ import annotations

import math

# The trained baselines' best weights' learning rate by fit length: (epochs, lr) points measured on
# tree.avi at 0.1 bpp (docs/results.md, "The paper's claims at 300 epochs"), log-linear between them
# and constant beyond the ends. dense: 1e-2 at 30 and 100 epochs (against 5.5e-3 and 3e-3), 3e-3 at
# 300 (where 1e-2 lost 1 dB). sparse (its own table): 5.5e-3 won at 100.
DENSE_LR_BY_EPOCHS = ((100, 1e-2), (300, 3e-3))
SPARSE_LR_BY_EPOCHS = ((30, 1e-2), (100, 5.5e-3), (300, 3e-3))


def weights_lr(opts, table: tuple[tuple[int, float], ...] | None = None) -> float:
    """opts.lr_weights, or when it is None the measured best for a fit of opts.epochs under `table`
    (default DENSE_LR_BY_EPOCHS)."""
    if opts.lr_weights is not None:
        return opts.lr_weights
    table = table or DENSE_LR_BY_EPOCHS
    epochs = max(opts.epochs, 1)
    if epochs <= table[0][0]:
        return table[0][1]
    for (e0, lr0), (e1, lr1) in zip(table, table[1:]):
        if epochs <= e1:
            return lr0 * (lr1 / lr0) ** (math.log(epochs / e0) / math.log(e1 / e0))
    return table[-1][1]


def describe(table: tuple[tuple[int, float], ...]) -> str:
    """A table in words, for --help: '0.01 up to 100 epochs, 0.003 from 300'."""
    words = [f"{lr:g} at {e}" for e, lr in table]
    words[0], words[-1] = f"{table[0][1]:g} up to {table[0][0]} epochs", f"{table[-1][1]:g} from {table[-1][0]}"
    return ", ".join(words)
