"""Row strips: the network's last upsampling blocks computed a band of output rows at a time.

A whole 640x480 frame holds ~20 MiB per full-resolution feature map; a training step keeps several
of them for the backward pass, so fitting or rendering large frames in one pass needs memory that
grows with the frame (~200 MiB at 640x480, ~1 GiB at 1080p). The blocks' convolutions only look
`kernel // 2` rows up and down, so a band of output rows needs only a band of each block's input
plus a small halo: strips give the same frame (up to float summation order) in memory bounded by a
budget. The blocks before the strips, whose maps are small, run on whole frames once.

Fitting with strips: the early part runs once with its graph; its output and the later layers'
weights become leaf tensors, each band's loss is back-propagated into them, and their accumulated
gradients are then back-propagated once through the early part and the weights' own computation
(the supermask), so masks and thresholds are never recomputed per band.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .config import NetworkConfig

# Bytes held per float32 activation value of a level: forward keeps ~3 maps alive per block
# (conv output, shuffled copy, GELU output); a training step also keeps the saved inputs and the
# gradients (measured on CPU: tests/test_strips.py bounds it, docs/results.md has the figures).
_LIVE_MAPS = {False: 3, True: 6}
# Bytes of activations per pass on a CPU, measured on 2 cores with interleaved rounds
# (docs/results.md). Fitting: at 640x480 a step takes the same ~93 ms at 48, 32 and 24 MiB (145 at
# 16, 246 at 8), but at 320x240 48 MiB runs whole frames in 32 ms where 24 MiB bands take 36.
# Rendering: a 640x480 frame takes 27-33 ms from 24 down to 16 MiB (47 at 8, up to 53 at 48).
# Each pass gets the smallest budget that is as fast: smaller ones lower an encode's peak memory.
CPU_BUDGET = {True: 48 << 20, False: 16 << 20}


def activation_budget(device: torch.device, training: bool = True) -> int:
    """Default activation budget of a fitting step (training) or a rendering pass: 48 / 16 MiB on
    a CPU, a quarter of the card's memory on CUDA."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory // 4
    return CPU_BUDGET[training]


@dataclass(frozen=True)
class StripPlan:
    """How one pass is split: blocks [0, first_block) on whole frames, then each band of output
    rows [a, b) through the remaining blocks and the head. One band and first_block == blocks
    means an ordinary whole-frame pass."""

    first_block: int
    bands: tuple[tuple[int, int], ...]

    @property
    def whole(self) -> bool:
        return len(self.bands) == 1


def level_shapes(config: NetworkConfig) -> list[tuple[int, int, int]]:
    """(channels, rows, columns) of each block's output, before cropping."""
    shapes, h, w = [], config.grid_h, config.grid_w
    for i, s in enumerate(config.strides):
        h, w = h * s, w * s
        shapes.append((config.channels[i + 1], h, w))
    return shapes


def level_heights(config: NetworkConfig) -> list[int]:
    """Rows of each block's input, then of the last block's output: the grid, then each level."""
    return [config.grid_h] + [h for _, h, _ in level_shapes(config)]


def plan_strips(config: NetworkConfig, height: int, batch: int, budget: int, training: bool) -> StripPlan:
    """Choose the blocks that run on whole frames (their maps fit half the budget) and the band
    height of the rest (a band's maps fit the other half), for `batch` frames per pass."""
    per_value = 4 * _LIVE_MAPS[training] * batch
    shapes = level_shapes(config)
    blocks = len(shapes)
    if sum(per_value * c * h * w for c, h, w in shapes) <= budget:
        return StripPlan(blocks, ((0, height),))
    first, early = 0, 0
    while first < blocks and early + per_value * math.prod(shapes[first]) <= budget // 2:
        early += per_value * math.prod(shapes[first])
        first += 1
    first = min(first, blocks - 1)  # at least the last block runs in bands
    out_rows = shapes[-1][1]
    # bytes per output row: every later level contributes its rows in proportion
    per_row = sum(per_value * c * w * h / out_rows for c, h, w in shapes[first:])
    rows = max(1, int((budget // 2) // per_row))
    align = math.prod(config.strides[first:])
    if rows >= align:
        rows -= rows % align  # bands start on whole rows of the first banded block's input
    if training:
        rows = max(2, rows - rows % 2)  # a fitting band holds whole 2x2 chroma blocks (through_420)
    if rows >= height:
        return StripPlan(blocks, ((0, height),))
    return StripPlan(first, tuple((a, min(a + rows, height)) for a in range(0, height, rows)))


def _needed_rows(config: NetworkConfig, first: int, a: int, b: int) -> list[tuple[int, int]]:
    """For blocks first.. (in order), the convolution output rows, at that block's input
    resolution, needed to produce output rows [a, b) of the last block."""
    pad = config.kernel // 2
    heights = level_heights(config)
    need = []
    lo, hi = a, b
    for j in reversed(range(first, len(config.strides))):
        s = config.strides[j]
        c_lo, c_hi = lo // s, -(-hi // s)
        need.append((c_lo, c_hi))
        lo, hi = max(0, c_lo - pad), min(heights[j], c_hi + pad)
    return need[::-1]


def band_forward(net, x: torch.Tensor, w: list[torch.Tensor], first: int, a: int, b: int) -> torch.Tensor:
    """Output rows [a, b) of the frame from `x`, the whole output of blocks [0, first): each later
    block convolves just the rows it needs, zero-padded only at the frame's true top and bottom."""
    c = net.config
    pad = c.kernel // 2
    heights = level_heights(c)
    top = 0  # the frame row (at the current block's input resolution) that x's row 0 holds
    for j, (c_lo, c_hi) in zip(range(first, len(c.strides)), _needed_rows(c, first, a, b)):
        lo, hi = max(0, c_lo - pad), min(heights[j], c_hi + pad)
        xs = x[:, :, lo - top : hi - top]
        pad_top, pad_bottom = pad - (c_lo - lo), c_hi + pad - hi
        if pad_top or pad_bottom:
            xs = F.pad(xs, (0, 0, pad_top, pad_bottom))
        x = F.gelu(F.pixel_shuffle(F.conv2d(xs, w[2 + j], padding=(0, pad)), c.strides[j]))
        top = c_lo * c.strides[j]
    return net.head(x[:, :, a - top : b - top], w)


def render(net, t: torch.Tensor, budget: int) -> torch.Tensor:
    """The frames at positions t, like net(t), with activations bounded by `budget` bytes. Run it
    under torch.no_grad() or inference_mode()."""
    plan = plan_strips(net.config, net.height, len(t), budget, training=False)
    if plan.whole:
        return net(t)
    w = net.layer_weights()
    x = net.features(t, w, plan.first_block)
    out = x.new_empty((len(t), 3, net.height, net.width))
    for a, b in plan.bands:
        out[:, :, a:b] = band_forward(net, x, w, plan.first_block, a, b)
    return out


def autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast for the forward computations of a fitting step (--amp): convolutions and
    linear layers run in bf16, the masks, the weights and the loss stay float32."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def mse_backward(net, t: torch.Tensor, target: torch.Tensor, budget: int, amp: bool = False,
                 project: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """MSE of net(t) against target, back-propagated into every weight's parameters, band by band
    when one pass would exceed `budget` bytes. Returns the loss (detached). With `amp`, the
    forward runs under bf16 autocast; the weights (masks and scales) are built in float32 first.
    `project` maps the output (a whole frame or a band of even rows) before the loss."""
    project = project or (lambda x: x)
    plan = plan_strips(net.config, net.height, len(t), budget, training=True)
    w = net.layer_weights()
    if plan.whole:
        with autocast(target.device, amp):
            out = net.head(net.features(t, w, plan.first_block)[:, :, : net.height], w)
        loss = F.mse_loss(project(out.float()), target)
        loss.backward()
        return loss.detach()
    with autocast(target.device, amp):
        x = net.features(t, w, plan.first_block)
    later = w[2 + plan.first_block :]
    leaves = [v.detach().requires_grad_() for v in [x, *later]]
    w_leaf = w[: 2 + plan.first_block] + leaves[1:]
    total = torch.zeros((), device=target.device)
    for a, b in plan.bands:
        with autocast(target.device, amp):
            out = band_forward(net, leaves[0], w_leaf, plan.first_block, a, b)
        loss = (project(out.float()) - target[:, :, a:b]).pow(2).sum() / target.numel()
        loss.backward()
        total += loss.detach()
    torch.autograd.backward([x, *later], [v.grad for v in leaves])
    return total
