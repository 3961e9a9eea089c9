"""Hierarchical supermask weights: w_random * sum_k(alpha_k * m_k) with K nested masks.

Mask k keeps the weights whose |score| exceeds threshold t_k, the largest |score| that the target
sparsity p_k drops; the thresholds increase, so the masks are nested and a weight's "level" (0..K)
is the number of masks that keep it. The K masks are held as one (K, n) float tensor of 0/1
"coats", so the forward pass is one vector-matrix product (alpha @ coats) times the signs and the
scales' gradient is the transposed product: no gather, no bincount, no Python loop over levels.
Gradients reach the scores through a straight-through estimator.

Selecting exact thresholds costs a full selection over every layer's scores (4 ms per 300k
weights on a CPU core, per level), more than the rest of the mask's work together, so fitting
steps take them from a fixed sample of each layer's |scores|, all layers of one schedule in one
batched selection (refresh_masks; docs/results.md measures the cost and the quality); layers no
larger than the sample are selected exactly. Evaluations use the same estimate, so the stored levels are the
masks the fit trained with.
"""

from __future__ import annotations

import math

import torch
from torch import nn

SAMPLE = 8192  # |scores| per layer that a fitting step's thresholds are selected from


class _SupermaskWeight(torch.autograd.Function):
    """signs * (scales @ coats), with straight-through gradients to the scores."""

    @staticmethod
    def forward(ctx, scores, signs, coats, scales):  # noqa: D401 - autograd signature
        ctx.save_for_backward(scores, signs, coats)
        return (scales @ coats).mul_(signs.view(-1)).view_as(signs)  # in place: one buffer, not two

    @staticmethod
    def backward(ctx, grad):
        scores, signs, coats = ctx.saved_tensors
        g = grad * signs
        grad_scales = coats @ g.flatten() if ctx.needs_input_grad[3] else None
        # The mask is treated as the identity of |score| (edge-popup's straight-through estimator);
        # g is not needed after the scales' product, so the scores' gradient reuses its buffer.
        grad_scores = g.mul_(torch.sign(scores)) if ctx.needs_input_grad[0] else None
        return grad_scores, None, None, grad_scales


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
        # Weights below mask k: the threshold is the drop[k]-th smallest |score| (1-based).
        self._drop = [int(math.floor(s * n)) for s in self.sparsity]
        # Fixed sample positions (with replacement) for the fitting steps' thresholds: the encoder's
        # alone, never stored.
        idx = torch.randint(0, n, (SAMPLE,), generator=torch.Generator().manual_seed(n))
        self.register_buffer("sample", idx.to(signs.device), persistent=False)
        self.register_buffer("coats", torch.zeros((self.levels, n), device=signs.device), persistent=False)
        self.frozen = False
        self.refresh_levels()

    def scales(self) -> torch.Tensor:
        """alpha_1..alpha_K (the values the bitstream stores)."""
        return self.alpha0 * self.rel

    @property
    def level(self) -> torch.Tensor:
        """Every weight's level 0..K (number of masks keeping it), in the weight's shape."""
        return self.coats.sum(0).long().view(self.signs.shape)

    @torch.no_grad()
    def thresholds(self, magnitude: torch.Tensor | None = None) -> torch.Tensor:
        """The K exact |score| thresholds (k-th smallest values); `magnitude` is |scores| when
        the caller already has it."""
        a = (self.scores.detach().abs() if magnitude is None else magnitude).flatten()
        return torch.stack([torch.kthvalue(a, d).values if d > 0 else a.new_tensor(-1.0) for d in self._drop])

    @torch.no_grad()
    def refresh_levels(self, thresholds: torch.Tensor | None = None) -> None:
        """Recompute the masks from the current scores, with exact thresholds unless given: coat
        k = [|s| > t_k], compared straight into the float buffer (one pass; a bool tensor
        converted to float costs 15 times as much)."""
        if self.frozen:
            return
        a = self.scores.detach().abs().view(1, -1)
        t = self.thresholds(a) if thresholds is None else thresholds
        torch.gt(a, t.view(-1, 1), out=self.coats)

    @torch.no_grad()
    def set_levels(self, level: torch.Tensor) -> None:
        """Install given levels (e.g. the best ones seen) and stop recomputing them from scores."""
        k = torch.arange(self.levels, device=level.device).view(-1, 1)
        self.coats.copy_(level.reshape(1, -1) > k)
        self.frozen = True

    def forward(self) -> torch.Tensor:
        return _SupermaskWeight.apply(self.scores, self.signs, self.coats, self.scales())

    @torch.no_grad()
    def folded(self) -> torch.Tensor:
        """The plain dense weight, computed exactly as the decoder computes it."""
        return fold_weight(self.signs, self.level, self.scales())


@torch.no_grad()
def refresh_masks(layers: list[SupermaskWeight], exact: bool = False) -> None:
    """Recompute every layer's masks from its scores (a fitting step). Exact thresholds cost a full
    selection per layer and level; by default the thresholds of all layers of more than SAMPLE
    weights come instead from one batched selection per schedule over their fixed samples of SAMPLE |scores|
    (3x cheaper than per-layer calls on a CPU: docs/results.md), and smaller layers, whose exact
    selection costs no more than a sample's, take exact thresholds."""
    layers = [m for m in layers if not m.frozen]
    if exact:
        for m in layers:
            m.refresh_levels()
        return
    # A layer of at most SAMPLE weights takes exact thresholds: they cost no more than its sample's
    # selection, and a sample drawn with replacement from so few values repeats each of them, so
    # its order statistic lands on a value with copies on both sides and [|s| > t] drops all of
    # them: at 0.9/0.97/0.99 a 27-weight head kept 2 / 0 / 0 weights instead of 3 / 1 / 1 (an RGB
    # channel of the output went constant, the collapse docs/results.md traces), at the default
    # 0.5/0.8/0.92 an 18-weight head 9 / 3 / 1 instead of 9 / 4 / 2.
    groups: dict[tuple[float, ...], list[SupermaskWeight]] = {}  # one batched selection per schedule
    for m in layers:
        if m.coats.shape[1] <= SAMPLE:
            m.refresh_levels()
        else:
            groups.setdefault(m.sparsity, []).append(m)
    for sparsity, group in groups.items():
        sample = torch.stack([m.scores.detach().view(-1).index_select(0, m.sample) for m in group]).abs_()
        drop = [max(1, int(math.floor(p * SAMPLE))) for p in sparsity]
        t = torch.stack([torch.kthvalue(sample, d, dim=1).values for d in drop], dim=1)  # (layers, K)
        for m, tm in zip(group, t):
            m.refresh_levels(tm)


FOLD_CHUNK = 1 << 20  # weights folded per step: the int64 index temporary stays at 8 MiB


def fold_weight(signs: torch.Tensor, level: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """Dense weight signs * sum_k(alpha_k * m_k), folded once so decoding never touches masks.
    Without gradients it folds in chunks, so the only allocation proportional to the layer is the
    result."""
    table = torch.cat([scales.new_zeros(1), torch.cumsum(scales, 0)])
    if level.numel() <= FOLD_CHUNK or (torch.is_grad_enabled() and table.requires_grad):
        return signs * table[level.long()]
    out = torch.empty(signs.shape, dtype=table.dtype, device=signs.device)
    flat, s, lv = out.view(-1), signs.reshape(-1), level.reshape(-1)
    for a in range(0, flat.numel(), FOLD_CHUNK):
        torch.mul(s[a : a + FOLD_CHUNK], table[lv[a : a + FOLD_CHUNK].long()], out=flat[a : a + FOLD_CHUNK])
    return out


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
