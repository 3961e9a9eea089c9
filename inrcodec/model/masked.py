"""Hierarchical supermask weights: w_random * sum_k(alpha_k * m_k) with K nested masks.

A weight whose |score| passes k of the K thresholds has "level" k (0..K); since the masks are nested,
sum_k alpha_k m_k equals the cumulative scale table[level] with table = [0, a1, a1+a2, ...]. The
forward pass is therefore one bucketize and one gather, with no Python loop over levels; the
backward pass is a straight-through estimator for the scores and a bincount for the scales.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class _SupermaskWeight(torch.autograd.Function):
    """signs * table[level], with straight-through gradients to the scores."""

    @staticmethod
    def forward(ctx, scores, signs, level, table):  # noqa: D401 - autograd signature
        ctx.save_for_backward(scores, signs, level)
        ctx.table_size = table.numel()
        return signs * torch.take(table, level)  # take: ~2x faster than indexing on CPU

    @staticmethod
    def backward(ctx, grad):
        scores, signs, level = ctx.saved_tensors
        g = grad * signs
        # The mask is treated as the identity of |score| (edge-popup's straight-through estimator).
        grad_scores = g * torch.sign(scores) if ctx.needs_input_grad[0] else None
        grad_table = None
        if ctx.needs_input_grad[3]:
            grad_table = torch.bincount(level.flatten(), weights=g.flatten(), minlength=ctx.table_size)
            grad_table = grad_table.to(grad.dtype)
        return grad_scores, None, None, grad_table


def level_counts_for(n: int, sparsity: tuple[float, ...]) -> list[int]:
    """Number of weights kept by each of the K nested masks: n - floor(sparsity_k * n)."""
    return [n - int(math.floor(s * n)) for s in sparsity]


def init_scale(fan_in: int, sparsity: tuple[float, ...], gain: float) -> float:
    """Per-level scale a (all levels equal) such that E[w^2] = gain^2 / fan_in, as Kaiming
    initialisation would give, for a weight that is sign * a * level with the level distribution the
    sparsities imply. Keeps activations at their scale through the untrained network."""
    density = [1.0 - s for s in sparsity] + [0.0]
    second_moment = sum((density[j - 1] - density[j]) * j * j for j in range(1, len(sparsity) + 1))
    return gain / math.sqrt(fan_in * second_moment)


class SupermaskWeight(nn.Module):
    """One layer's weight: fixed random signs, learned scores and learned per-level scales.

    Scales are parametrised relative to their initial value (alpha_k = alpha0 * rel_k, rel_k starts
    at 1) so one learning rate suits every layer whatever its fan-in. With learn_scales=False every
    level keeps the fixed scale alpha0 (the multicoated-supermask baseline).
    """

    def __init__(
        self,
        signs: torch.Tensor,
        sparsity: tuple[float, ...],
        fan_in: int,
        gain: float,
        generator: torch.Generator | None = None,
        learn_scales: bool = True,
        alpha0: float | None = None,
    ) -> None:
        super().__init__()
        self.sparsity = tuple(float(s) for s in sparsity)
        self.levels = len(self.sparsity)
        self.register_buffer("signs", signs)
        self.scores = nn.Parameter(torch.randn(signs.shape, generator=generator).to(signs.device))
        a0 = alpha0 if alpha0 is not None else init_scale(fan_in, self.sparsity, gain)
        self.register_buffer("alpha0", torch.full((self.levels,), a0, dtype=torch.float32, device=signs.device))
        self.rel = nn.Parameter(torch.ones(self.levels, device=signs.device), requires_grad=learn_scales)
        n = signs.numel()
        # k-th smallest |score| positions giving each threshold; k is 1-based for kthvalue.
        self._kth = [min(int(math.floor(s * n)) + 1, n) for s in self.sparsity]
        self.register_buffer("level", torch.zeros(signs.shape, dtype=torch.long, device=signs.device))
        self.frozen = False
        self._thresholds: torch.Tensor | None = None
        self.refresh_levels()

    def scales(self) -> torch.Tensor:
        """alpha_1..alpha_K (the values the bitstream stores)."""
        return self.alpha0 * self.rel

    def table(self) -> torch.Tensor:
        return torch.cat([self.alpha0.new_zeros(1), torch.cumsum(self.scales(), 0)])

    @torch.no_grad()
    def thresholds(self) -> torch.Tensor:
        """Exact |score| thresholds giving the K target sparsities (k-th smallest values)."""
        flat = self.scores.detach().abs().flatten()
        if flat.numel() < 4096:
            srt = torch.sort(flat).values
            return torch.stack([srt[k - 1] for k in self._kth])
        return torch.stack([torch.kthvalue(flat, k).values for k in self._kth])

    @torch.no_grad()
    def refresh_levels(self, update_thresholds: bool = True) -> None:
        """Recompute every weight's level from the current scores. Exact thresholds cost a
        selection per level; between refreshes the cached thresholds are reused and only the
        bucketize runs (the densities then drift by a hair, and the bitstream stores real counts)."""
        if self.frozen:
            return
        if update_thresholds or self._thresholds is None:
            self._thresholds = self.thresholds()
        self.level = torch.bucketize(self.scores.detach().abs(), self._thresholds, right=True)

    def freeze(self) -> None:
        """Stop recomputing levels from scores (the levels are final)."""
        self.frozen = True

    def forward(self) -> torch.Tensor:
        return _SupermaskWeight.apply(self.scores, self.signs, self.level, self.table())

    @torch.no_grad()
    def folded(self) -> torch.Tensor:
        """The plain dense weight, computed exactly as the decoder computes it."""
        return fold_weight(self.signs, self.level, self.scales())


def fold_weight(signs: torch.Tensor, level: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """Dense weight signs * sum_k(alpha_k * m_k), folded once so decoding never touches masks."""
    table = torch.cat([scales.new_zeros(1), torch.cumsum(scales, 0)])
    return signs * table[level.long()]


class DenseWeight(nn.Module):
    """A trained dense weight (the NeRV baseline): Kaiming-normal initialisation, all values learned."""

    def __init__(self, shape: tuple[int, ...], fan_in: int, gain: float, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> None:
        super().__init__()
        w = torch.randn(shape, generator=generator) * (gain / math.sqrt(fan_in))
        self.weight = nn.Parameter(w.to(device))

    def forward(self) -> torch.Tensor:
        return self.weight


class FixedWeight(nn.Module):
    """A plain weight tensor behind the same call interface as SupermaskWeight (for decoding)."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("weight", weight)

    def forward(self) -> torch.Tensor:
        return self.weight
