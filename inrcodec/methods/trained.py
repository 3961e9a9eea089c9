"""The trained family: the same NeRV architecture with ordinary trained weights, the baselines the
paper's claim is measured against.

- `dense`: Adam on the weights, then per-layer uniform quantisation to `quant_bits` bits and
  entropy coding of the quantised integers;
- `sparse`: the same, with global magnitude pruning of the `prune` fraction of the weights after
  the first (1 - `finetune`) of the epochs and fine-tuning under the fixed mask for the rest; the
  zero pattern and the non-zero values are coded.

Payload per layer: bits and step; for sparse the ANS-coded zero / non-zero pattern; the value
histogram and the ANS-coded (non-zero) values (docs/bitstream.md).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, replace

import numpy as np

from ..bitstream.cursor import fail
from ..bitstream.limits import MAX_WEIGHT, quant_peak
from ..entropy.levels import decode_levels, encode_levels, level_counts
from ..entropy.values import MAX_BITS, MIN_BITS, decode_values, encode_values, qmax, quantize, value_histogram
from ..errors import InputError
from .base import FitContext, FitOutcome, Method, flat_integers

_U32 = struct.Struct("<I")
_QUANT = struct.Struct("<Bf")  # bits, step
_MASK = struct.Struct("<III")  # zeros, non-zeros, coded words
_VALUES = struct.Struct("<hH")  # lo, number of histogram bins

# First guesses of coded bits per weight (8-bit quantisation, entropy coded); rate control corrects
# them from each encode's measured size (rate.py).
GUESS_BITS = {"dense": 6.0, "sparse": 4.5}
GUESS_OVERHEAD = 1100  # bytes per layer of a trained method's value histogram (first guess)


@dataclass
class QuantLayer:
    """A layer of the dense or sparse baseline: weight = float32(values) * float32(step)."""

    step: float  # quantisation step, finite and > 0 (stored as f32)
    values: np.ndarray  # integers in [-qmax(bits), qmax(bits)], C-order flattening of the weight shape
    bits: int = 8  # quantisation bits (2..16)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QuantLayer):
            return NotImplemented
        return (
            self.bits == other.bits
            and float(np.float32(self.step)) == float(np.float32(other.step))
            and np.array_equal(np.asarray(self.values).reshape(-1), np.asarray(other.values).reshape(-1))
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class TrainedOptions:
    quant_bits: int
    prune: float | None  # sparse: fraction of the weights pruned; None for dense
    finetune: float | None  # sparse: fraction of the epochs spent fine-tuning after pruning


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


def epoch_split(epochs: int, finetune: float | None) -> tuple[int, int]:
    """(training epochs, fine-tuning epochs): sparse fine-tunes round(epochs * finetune) of them (at
    least one epoch is left for training); dense only trains."""
    if finetune is None:
        return epochs, 0
    tune = min(epochs - 1, int(round(epochs * finetune)))
    return epochs - tune, tune


class TrainedMethod(Method):
    lr_option = "lr_weights"
    exact_rate = False
    coded_weights = "quantised weights"

    def __init__(self, name: str, id: int, summary: str, pruned: bool, lr_by_epochs: tuple[tuple[int, float], ...]) -> None:
        self.name, self.id, self.summary, self.pruned = name, id, summary, pruned
        self.lr_by_epochs = lr_by_epochs  # the default learning rate by fit length (fit/schedule.py, weights_lr)
        self.options_used = ("quant_bits", "prune", "finetune") if pruned else ("quant_bits",)
        self.rate_sections = ("masks/", "values/") if pruned else ("values/",)

    # -- options ------------------------------------------------------------------------------
    def config(self, options) -> TrainedOptions:
        bits = options.quant_bits
        if not (isinstance(bits, (int, np.integer)) and MIN_BITS <= bits <= MAX_BITS):
            raise InputError(f"--quant-bits must be between {MIN_BITS} and {MAX_BITS}, got {bits}")
        if not 0.0 < options.prune < 1.0:
            raise InputError(f"--prune must be between 0 and 1 (exclusive), got {options.prune}")
        if not 0.0 <= options.finetune < 1.0:
            raise InputError(f"--finetune must be at least 0 and below 1, got {options.finetune}")
        if options.fit.lr_weights is not None and not options.fit.lr_weights > 0:
            raise InputError("--lr must be positive")
        if not self.pruned:
            return TrainedOptions(quant_bits=int(bits), prune=None, finetune=None)
        return TrainedOptions(quant_bits=int(bits), prune=options.prune, finetune=options.finetune)

    def header_sparsity(self, cfg: TrainedOptions) -> tuple[float, ...]:
        return (float(np.float32(cfg.prune)),) if self.pruned else ()

    def check_sparsity_count(self, k: int) -> None:
        if self.pruned and k != 1:
            fail(f"method {self.name!r} stores one sparsity (the pruned fraction, K=1), got K={k}")
        if not self.pruned and k != 0:
            fail(f"method {self.name!r} stores no sparsities (K must be 0), got K={k}")

    def settings(self, cfg: TrainedOptions) -> dict:
        return {"quant_bits": cfg.quant_bits, "prune": cfg.prune, "finetune": cfg.finetune}

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, ctx: FitContext, cfg: TrainedOptions) -> FitOutcome:
        """Train (stage 1); for sparse, prune globally and fine-tune under the fixed mask (stage 2);
        quantise. A checkpointed state carries its "stage" and, in stage 2, the masks."""
        import torch

        from ..fit.parts import WeightParts
        from ..fit.schedule import weights_lr
        from ..fit.trainer import Fitter
        from ..model.nerv import build_dense_nerv, dense_layers

        train, tune = epoch_split(ctx.fit.epochs, cfg.finetune)
        net = build_dense_nerv(ctx.network, ctx.info.width, ctx.info.height, ctx.seed, ctx.device)
        resume = ctx.state
        psnr, seconds = float("nan"), 0.0

        lr = weights_lr(ctx.fit, self.lr_by_epochs)  # by the whole fit's length: sparse's fine-tuning keeps the training's rate

        def fitter_for(epochs: int, masks) -> Fitter:
            parts = WeightParts(dense_layers(net), masks, ctx.device)
            return Fitter(net, ctx.frames, ctx.info, replace(ctx.fit, epochs=epochs, lr_weights=lr), ctx.device, parts=parts)

        masks = None
        if resume is not None and int(resume.get("stage", 1)) == 2:
            masks = [t.numpy().astype(bool) for t in resume["masks"]]
        else:
            fitter = fitter_for(train, None)
            if resume is not None:
                fitter.load_state_dict(resume)
                resume = None
            ctx.run(fitter, {"stage": 1}, (0, train + tune))
            result = fitter.result()
            weights, psnr, seconds = result.weights, result.psnr, result.seconds
            if self.pruned:
                masks = global_prune_masks(weights, cfg.prune)
        if masks is not None:
            if tune > 0:
                fitter = fitter_for(tune, [torch.from_numpy(m) for m in masks])
                if resume is not None:
                    fitter.load_state_dict(resume)
                ctx.run(fitter, {"stage": 2}, (train, train + tune))
                result = fitter.result()
                weights, psnr, seconds = result.weights, result.psnr, seconds + result.seconds
            else:
                weights = [w * m for w, m in zip(weights, masks)]
        layers = []
        for w in weights:
            step, q = quantize(w, cfg.quant_bits)
            layers.append(QuantLayer(step=float(np.float32(step)), values=q.reshape(-1), bits=cfg.quant_bits))
        return FitOutcome(layers, psnr, seconds)

    # -- payload ------------------------------------------------------------------------------
    def write_layer(self, header, where: str, shape: tuple[int, ...], layer) -> bytes:
        if not isinstance(layer, QuantLayer):
            raise ValueError(f"{where}: method {header.method!r} needs QuantLayer payloads, got {type(layer).__name__}")
        bits = layer.bits
        if not (isinstance(bits, (int, np.integer)) and MIN_BITS <= bits <= MAX_BITS):
            raise ValueError(f"{where}: quantisation bits must be in {MIN_BITS}..{MAX_BITS}, got {bits!r}")
        step = np.float32(layer.step)
        if not (np.isfinite(step) and step > 0):
            raise ValueError(f"{where}: quantisation step must be finite and positive, got {layer.step!r}")
        values = flat_integers(layer.values, shape, f"{where}: values")
        top = qmax(int(bits))
        if values.size and (int(values.min()) < -top or int(values.max()) > top):
            raise ValueError(f"{where}: values must lie in -{top}..{top} for {bits} bits")
        if values.size and not quant_peak(float(step), int(values.min()), int(values.max())) <= MAX_WEIGHT:
            raise ValueError(f"{where}: step times values exceeds {MAX_WEIGHT:g} in magnitude")
        out = bytearray(_QUANT.pack(int(bits), step))
        if self.pruned:
            nonzero = values != 0
            mask_counts = level_counts(nonzero.view(np.uint8), 2)
            words = encode_levels(nonzero.view(np.uint8), mask_counts)
            out += _MASK.pack(int(mask_counts[0]), int(mask_counts[1]), len(words))
            out += words.astype("<u4").tobytes()
            values = values[nonzero]
        lo, counts = value_histogram(values)
        words = encode_values(values, lo, counts)
        out += _VALUES.pack(lo, counts.size)
        out += counts.astype("<u4").tobytes()
        out += _U32.pack(len(words))
        out += words.astype("<u4").tobytes()
        return bytes(out)

    def read_layer(self, cur, header, where: str, name: str, n: int, sizes: dict, decode: bool):
        bits, step = cur.unpack(_QUANT, f"payload of {where}")
        if not MIN_BITS <= bits <= MAX_BITS:
            fail(f"{where}: quantisation bits {bits} outside {MIN_BITS}..{MAX_BITS}")
        if not (math.isfinite(step) and step > 0):
            fail(f"{where}: quantisation step {step} is not finite and positive")
        sizes["quant"] += _QUANT.size
        nonzero = None
        n_values = n
        if self.pruned:
            zeros, nonzeros, n_words = cur.unpack(_MASK, f"payload of {where}")
            if zeros + nonzeros != n:
                fail(f"{where}: zero / non-zero counts sum to {zeros + nonzeros}, the layer has {n} weights")
            if n_words * 4 > cur.left():
                fail(f"{where}: {n_words} coded mask words exceed the segment payload")
            words = cur.words(n_words, decode)
            if decode:
                nonzero = decode_levels(words, np.array([zeros, nonzeros], dtype=np.uint32), n,
                                        what=f"{where} (zero pattern)")
            n_values = nonzeros
            sizes["counts"] += _MASK.size
            sizes[f"masks/{name}"] += 4 * n_words
        lo, n_bins = cur.unpack(_VALUES, f"payload of {where}")
        top = qmax(bits)
        if n_bins == 0:
            if n_values != 0 or lo != 0:
                fail(f"{where}: empty value histogram (it needs lo 0 and no values to code)")
        elif lo < -top or lo + n_bins - 1 > top:
            fail(f"{where}: value range {lo}..{lo + n_bins - 1} outside -{top}..{top} for {bits} bits")
        if n_bins and not quant_peak(step, lo, lo + n_bins - 1) <= MAX_WEIGHT:
            fail(f"{where}: step {step:g} times values up to {max(abs(lo), abs(lo + n_bins - 1))} exceeds "
                 f"{MAX_WEIGHT:g} in magnitude")
        if (n_bins + 1) * 4 > cur.left():
            fail(f"{where}: {n_bins} value histogram bins exceed the segment payload")
        counts = cur.words(n_bins, True)
        (n_words,) = cur.unpack(_U32, f"payload of {where}")
        if int(counts.sum(dtype=np.uint64)) != n_values:
            fail(f"{where}: value counts sum to {int(counts.sum(dtype=np.uint64))}, expected {n_values}")
        if self.pruned and lo <= 0 <= lo + n_bins - 1 and counts[-lo] != 0:
            fail(f"{where}: the non-zero values' histogram counts zeros")
        if n_words * 4 > cur.left():
            fail(f"{where}: {n_words} coded value words exceed the segment payload")
        words = cur.words(n_words, decode)
        sizes["counts"] += _VALUES.size + 4 * n_bins + _U32.size
        sizes[f"values/{name}"] += 4 * n_words
        if not decode:
            return None
        coded = decode_values(words, lo, counts, n_values, what=where)
        if nonzero is None:
            return QuantLayer(step=step, values=coded, bits=bits)
        values = np.zeros(n, dtype=np.int16)
        values[nonzero.view(bool)] = coded
        return QuantLayer(step=step, values=values, bits=bits)

    def sections(self, header) -> dict[str, int]:
        shapes = header.network.layer_shapes()
        masks = {f"masks/{name}": 0 for name, _ in shapes} if self.pruned else {}
        return {"quant": 0, "counts": 0, **masks, **{f"values/{name}": 0 for name, _ in shapes}}

    # -- decoding and rate --------------------------------------------------------------------
    def decoder_network(self, header, seed: int, layers: list, device):
        from ..entropy.values import dequantize
        from ..model.nerv import build_weight_nerv

        weights = [dequantize(layer.values, layer.step) for layer in layers]
        return build_weight_nerv(header.network, header.width, header.height, weights, device)

    def size_estimate(self, width: int, height: int, frames: int, options, cfg: TrainedOptions) -> tuple[float, float]:
        """A first guess: the trained weights' bits per weight are known only after a fit."""
        layers = len(options.network(width, height).layer_shapes())
        return GUESS_BITS[self.name], 100 + GUESS_OVERHEAD * layers
