"""The NeRV-style image-wise network: frame index -> positional encoding -> MLP stem -> feature grid
-> conv + PixelShuffle upsampling blocks -> RGB. The network has no biases and no normalisation:
everything it computes comes from the seeded signs, the levels and the scales in the bitstream."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import NetworkConfig
from .masked import DenseWeight, FixedWeight, SupermaskWeight, fold_weight
from .rng import random_signs

# 1/sqrt(E[gelu(z)^2]) for z ~ N(0, 1): keeps the activations' RMS through a GELU layer.
GELU_GAIN = 1.534


def positional_encoding(t: torch.Tensor, levels: int, base: float) -> torch.Tensor:
    """NeRV's encoding of a normalised frame index t in [0, 1]: sin and cos of base^i * pi * t."""
    freqs = (base ** torch.arange(levels, dtype=torch.float32, device=t.device)) * math.pi
    angles = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def frame_positions(indices: torch.Tensor, frame_count: int) -> torch.Tensor:
    """Frame index within a segment -> t in [0, 1]."""
    return indices.float() / max(frame_count - 1, 1)


class NeRV(nn.Module):
    """The network. `weights` holds one module per layer that returns its weight when called, so
    the same forward serves fitting (SupermaskWeight) and decoding (FixedWeight)."""

    def __init__(self, config: NetworkConfig, width: int, height: int, weights: Sequence[nn.Module]) -> None:
        super().__init__()
        self.config, self.width, self.height = config, width, height
        self.weights = nn.ModuleList(weights)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """t: (B,) positions in [0, 1] -> (B, 3, height, width) RGB in [0, 1], the whole frame in
        one pass (model/strips.py computes the same in bounded memory)."""
        w = self.layer_weights()
        x = self.features(t, w, len(self.config.strides))
        return self.head(x[:, :, : self.height], w)

    def layer_weights(self) -> list[torch.Tensor]:
        """Every layer's weight tensor, computed once per pass (masks applied for supermasks)."""
        return [m() for m in self.weights]

    def features(self, t: torch.Tensor, w: Sequence[torch.Tensor], blocks: int) -> torch.Tensor:
        """The stem and the first `blocks` upsampling blocks, on whole frames."""
        c = self.config
        x = positional_encoding(t, c.pe_levels, c.pe_base)
        x = F.gelu(F.linear(x, w[0]))
        x = F.gelu(F.linear(x, w[1]))
        x = x.view(-1, c.channels[0], c.grid_h, c.grid_w)
        for i in range(blocks):
            x = F.gelu(F.pixel_shuffle(F.conv2d(x, w[2 + i], padding=c.kernel // 2), c.strides[i]))
        return x

    def head(self, x: torch.Tensor, w: Sequence[torch.Tensor]) -> torch.Tensor:
        """1x1 convolution to RGB, cropped to the frame width, squashed to [0, 1]."""
        x = F.conv2d(x, w[-1])
        return (torch.tanh(x[:, :, :, : self.width]) + 1.0) * 0.5


def inference_batch(width: int, height: int, budget_bytes: int = 8 << 20, most: int = 8) -> int:
    """Frames per no-grad forward pass so that the frame-sized buffers around it (the RGB output,
    colour conversions, the measurement's copies: ~32 bytes per pixel) stay within budget_bytes:
    8 frames at 176x144, 3 at 320x240, 1 at 640x480 and above. The network's own activations are
    bounded separately, by row strips (model/strips.py)."""
    return max(1, min(most, budget_bytes // (32 * width * height)))


def layer_gains(config: NetworkConfig) -> list[float]:
    """Kaiming gain of each layer: GELU_GAIN before a GELU, 1 for the output head."""
    return [GELU_GAIN] * (len(config.layer_shapes()) - 1) + [1.0]


def fan_in(shape: tuple[int, ...]) -> int:
    return math.prod(shape[1:])


def layer_signs(config: NetworkConfig, seed: int, device: torch.device | str) -> list[torch.Tensor]:
    """The regenerated random weights (+-1) of every layer."""
    return [
        torch.from_numpy(random_signs(seed, i, shape)).to(device)
        for i, (_, shape) in enumerate(config.layer_shapes())
    ]


def build_supermask_nerv(
    config: NetworkConfig,
    width: int,
    height: int,
    seed: int,
    sparsity: tuple[float, ...] | Sequence[tuple[float, ...]],
    device: torch.device | str = "cpu",
    learn_scales: bool = True,
) -> NeRV:
    """A fresh network for fitting: seeded signs, N(0, 1) scores drawn from the same seed on the CPU
    (so a CPU encode is reproducible), scales at their Kaiming-preserving initial value. `sparsity`
    is one schedule for every layer or one per layer (in layer_shapes() order)."""
    gen = torch.Generator().manual_seed(int(seed))
    shapes = config.layer_shapes()
    schedules = list(sparsity) if sparsity and isinstance(sparsity[0], (tuple, list)) else [sparsity] * len(shapes)
    weights = []
    for signs, (_, shape), gain, sp in zip(layer_signs(config, seed, device), shapes, layer_gains(config), schedules):
        weights.append(SupermaskWeight(signs, tuple(sp), fan_in(shape), gain, generator=gen, learn_scales=learn_scales))
    return NeRV(config, width, height, weights)


def build_dense_nerv(config: NetworkConfig, width: int, height: int, seed: int, device: torch.device | str = "cpu") -> NeRV:
    """The same architecture with ordinary trained weights (the dense NeRV baseline)."""
    gen = torch.Generator().manual_seed(int(seed))
    weights = [
        DenseWeight(shape, fan_in(shape), gain, generator=gen, device=device)
        for (_, shape), gain in zip(config.layer_shapes(), layer_gains(config))
    ]
    return NeRV(config, width, height, weights)


def build_decoder_nerv(
    config: NetworkConfig,
    width: int,
    height: int,
    seed: int,
    levels: Sequence[np.ndarray],
    scales: Sequence[np.ndarray],
    device: torch.device | str = "cpu",
) -> NeRV:
    """The network as the decoder sees it: signs from the seed, folded with the decoded levels and
    scales into plain dense weights once."""
    weights = []
    for i, ((_, shape), lv, sc) in enumerate(zip(config.layer_shapes(), levels, scales)):
        signs = torch.from_numpy(random_signs(seed, i, shape)).to(device)  # one layer's signs at a time
        level = torch.from_numpy(np.ascontiguousarray(lv, dtype=np.uint8)).to(device).reshape(shape)
        scale = torch.from_numpy(np.ascontiguousarray(sc, dtype=np.float32)).to(device)
        weights.append(FixedWeight(fold_weight(signs, level, scale)))
        del signs
    return NeRV(config, width, height, weights)


def build_weight_nerv(
    config: NetworkConfig,
    width: int,
    height: int,
    weights: Sequence[np.ndarray],
    device: torch.device | str = "cpu",
) -> NeRV:
    """The network from explicit float32 weights, one per layer (flat or in the layer's shape): how
    the decoder builds the dense and sparse baselines from their dequantised weights."""
    fixed = []
    for (name, shape), w in zip(config.layer_shapes(), weights, strict=True):
        t = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)).reshape(shape)
        fixed.append(FixedWeight(t.to(device)))
    return NeRV(config, width, height, fixed)


def supermask_layers(net: NeRV) -> list[SupermaskWeight]:
    return [m for m in net.weights if isinstance(m, SupermaskWeight)]


def dense_layers(net: NeRV) -> list[DenseWeight]:
    return [m for m in net.weights if isinstance(m, DenseWeight)]
