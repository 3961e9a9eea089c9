"""The supermask family: a random network from the seed, K nested masks chosen by thresholds on
learned scores, effective weight w_random * sum_k(alpha_k * m_k).

- `slt`: a learned scale per layer and level (the paper, Choi et al. ICML 2023);
- `slt-fixed`: the same masks with one fixed scale for every level (multicoated supermasks,
  Okoshi et al. 2022): w = sign * sigma * (number of masks kept);
- `supermask`: a single mask (edge-popup style) with a learned scale.

Payload per layer: K float32 scales, the K+1 level counts that parameterise the layer's
categorical model, the number of coded words and the ANS-coded levels (docs/bitstream.md).
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass

import numpy as np

from ..bitstream.cursor import fail
from ..bitstream.limits import MAX_K, MAX_WEIGHT, scale_peak
from ..entropy.levels import decode_levels, encode_levels, level_counts
from ..errors import InputError
from .base import FitContext, FitOutcome, Method, flat_integers

_U32 = struct.Struct("<I")


@dataclass
class LayerPayload:
    scales: np.ndarray  # float32 (K,): the per-level scales alpha_1..alpha_K
    levels: np.ndarray  # uint8 (n,): level 0..K per weight, C-order flattening of the weight shape

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LayerPayload):
            return NotImplemented
        return (
            np.asarray(self.scales).shape == np.asarray(other.scales).shape
            and np.array_equal(np.asarray(self.scales, np.float32), np.asarray(other.scales, np.float32))
            and np.array_equal(np.asarray(self.levels), np.asarray(other.levels))
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class SupermaskOptions:
    sparsity: tuple[float, ...]  # K strictly increasing sparsities (as float32 values)
    fixed_gain: float  # slt-fixed: sigma as a multiple of the Kaiming-preserving scale
    # per-layer schedules in place of `sparsity`: (layer name or prefix, K sparsities); the first
    # that names a layer applies to it. The payload's level counts carry every layer's real
    # densities, so the decoder needs none of this.
    layer_sparsity: tuple[tuple[str, tuple[float, ...]], ...] = ()

    def schedule(self, name: str) -> tuple[float, ...]:
        """The K sparsities of layer `name` (stem0, stem1, block0.., head)."""
        for prefix, sp in self.layer_sparsity:
            if name == prefix or (name.startswith(prefix) and name[len(prefix):].isdigit()):
                return sp
        return self.sparsity

    def schedules(self, network) -> list[tuple[float, ...]]:
        return [self.schedule(name) for name, _ in network.layer_shapes()]


LAYER_NAME = re.compile(r"^(stem[01]?|block\d*|head)$")  # a NeRV layer's name, or a group of them


# A method's default schedule, as (density of mask 1, density of mask K / density of mask 1): the
# paper's 0.5 / 0.8 / 0.92 is (0.5, 0.16); slt's default since issue 13 is (0.1, 0.1), i.e.
# 0.9 / 0.9684 / 0.99, measured at equal rate in docs/results.md ("Densities and network balance").
PAPER_SCHEDULE = (0.5, 0.16)
SPARSE_SCHEDULE = (0.1, 0.1)


def default_sparsity(levels: int, schedule: tuple[float, float] = PAPER_SCHEDULE) -> tuple[float, ...]:
    """K increasing sparsities 1 - d * r^((k-1)/(K-1)) for schedule (d, r): the densities fall
    geometrically from d to d * r. (0.5, 0.16) with K=3 gives 0.5, 0.8, 0.92."""
    if levels < 1 or levels > 8:
        raise InputError(f"--levels must be between 1 and 8, got {levels}")
    d, r = schedule
    if levels == 1:
        return (round(1.0 - d, 4),)
    return tuple(round(1.0 - d * r ** ((k - 1) / (levels - 1)), 4) for k in range(1, levels + 1))


def check_sparsity(sparsity: tuple[float, ...]) -> tuple[float, ...]:
    if not 1 <= len(sparsity) <= 8:
        raise InputError(f"--sparsity needs 1 to 8 values, got {len(sparsity)}")
    if any(not 0.0 < s < 1.0 for s in sparsity) or any(b <= a for a, b in zip(sparsity, sparsity[1:])):
        raise InputError("--sparsity values must be strictly increasing and between 0 and 1")
    return tuple(float(np.float32(s)) for s in sparsity)


def check_layer_sparsity(items, k: int) -> tuple[tuple[str, tuple[float, ...]], ...]:
    """(name, K sparsities) pairs of --layer-sparsity, validated: known layer names, K values each."""
    out = []
    for name, sp in items or ():
        if not isinstance(name, str) or not LAYER_NAME.match(name):
            raise InputError(f"--layer-sparsity: unknown layer {name!r} (stem0, stem1, stem, block, blockN, head)")
        sp = check_sparsity(tuple(sp))
        if len(sp) != k:
            raise InputError(f"--layer-sparsity {name}: {len(sp)} sparsities, the masks have K={k} levels")
        out.append((name, sp))
    return tuple(out)


def level_entropy_bits(sparsity: tuple[float, ...]) -> float:
    """Bits per weight of the levels a supermask method codes: H(P(level = j))."""
    density = [1.0] + [1.0 - s for s in sparsity] + [0.0]
    probs = [density[j] - density[j + 1] for j in range(len(sparsity) + 1)]
    return -sum(p * math.log2(p) for p in probs if p > 0)


class SupermaskMethod(Method):
    options_used = ("levels", "sparsity", "layer_sparsity", "lr_scales", "fixed_gain")
    lr_option = "lr_scores"
    exact_rate = True
    rate_sections = ("masks/",)
    coded_weights = "mask levels"

    def __init__(self, name: str, id: int, summary: str, learn_scales: bool = True, fixed_scale: bool = False,
                 single_level: bool = False, tuned_fit: dict | None = None, tuned_options: dict | None = None,
                 schedule: tuple[float, float] = PAPER_SCHEDULE) -> None:
        self.name, self.id, self.summary, self.schedule = name, id, summary, schedule
        self.tuned_fit, self.tuned_options = tuned_fit or {}, tuned_options or {}
        self.learn_scales, self.fixed_scale, self.single_level = learn_scales, fixed_scale, single_level
        used = ["levels", "sparsity", "layer_sparsity"] + (["lr_scales"] if learn_scales else []) + (["fixed_gain"] if fixed_scale else [])
        self.options_used = tuple(used)

    # -- options ------------------------------------------------------------------------------
    def config(self, options) -> SupermaskOptions:
        if options.sparsity is not None:
            sp = check_sparsity(tuple(options.sparsity))
            if options.levels is not None and options.levels != len(sp):
                raise InputError(f"--levels {options.levels} does not match the {len(sp)} --sparsity values")
        else:
            default_levels = 1 if self.single_level else 3
            sp = check_sparsity(default_sparsity(default_levels if options.levels is None else options.levels, self.schedule))
        if self.single_level and len(sp) != 1:
            raise InputError(f"--method {self.name} uses a single mask level (one --sparsity value)")
        if not options.fixed_gain > 0:
            raise InputError("--fixed-gain must be positive")
        layer_sp = check_layer_sparsity(options.layer_sparsity, len(sp))
        if self.single_level and layer_sp:
            raise InputError(f"--method {self.name} uses a single mask level: --layer-sparsity does not apply")
        return SupermaskOptions(sparsity=sp, fixed_gain=float(options.fixed_gain), layer_sparsity=layer_sp)

    def header_sparsity(self, cfg: SupermaskOptions) -> tuple[float, ...]:
        return cfg.sparsity

    def check_sparsity_count(self, k: int) -> None:
        if not 1 <= k <= MAX_K:
            fail(f"number of mask levels K={k} outside 1..{MAX_K}")

    def settings(self, cfg: SupermaskOptions) -> dict:
        out = {"sparsity": cfg.sparsity, "fixed_gain": cfg.fixed_gain}
        if cfg.layer_sparsity:
            out["layer_sparsity"] = cfg.layer_sparsity
        return out

    # -- fitting ------------------------------------------------------------------------------
    def build(self, ctx: FitContext, cfg: SupermaskOptions):
        """The network to fit, freshly initialised from the seed."""
        from ..model.nerv import build_supermask_nerv

        net = build_supermask_nerv(ctx.network, ctx.info.width, ctx.info.height, ctx.seed, cfg.schedules(ctx.network),
                                   ctx.device, learn_scales=self.learn_scales)
        if self.fixed_scale:
            # alpha0 is the Kaiming-preserving scale; Okoshi et al.'s sigma = gain / sqrt(fan_in (1 - p_1))
            # is fixed_gain = sqrt(sum_j P(level j) j^2 / (1 - p_1)) (sqrt(3) for 0.5/0.8/0.92).
            for m in net.weights:
                m.alpha0.mul_(cfg.fixed_gain)
        return net

    def fit(self, ctx: FitContext, cfg: SupermaskOptions) -> FitOutcome:
        from ..fit.parts import SupermaskParts
        from ..fit.trainer import Fitter
        from ..model.nerv import supermask_layers

        net = self.build(ctx, cfg)
        fitter = Fitter(net, ctx.frames, ctx.info, ctx.fit, ctx.device, parts=SupermaskParts(supermask_layers(net)))
        if ctx.state is not None:
            fitter.load_state_dict(ctx.state)
        ctx.run(fitter)
        result = fitter.result()
        layers = [LayerPayload(scales=sc.astype(np.float32), levels=lv) for sc, lv in zip(result.scales, result.levels)]
        return FitOutcome(layers, result.psnr, result.seconds)

    # -- payload ------------------------------------------------------------------------------
    def write_layer(self, header, where: str, shape: tuple[int, ...], layer) -> bytes:
        k = header.num_levels
        if not isinstance(layer, LayerPayload):
            raise ValueError(f"{where}: method {header.method!r} needs LayerPayload payloads, got {type(layer).__name__}")
        scales = np.asarray(layer.scales)
        if scales.shape != (k,):
            raise ValueError(f"{where}: scales must have shape ({k},), got {scales.shape}")
        scales = scales.astype("<f4")
        problem = _scales_problem(scales)
        if problem:
            raise ValueError(f"{where}: {problem}")
        levels = flat_integers(layer.levels, shape, f"{where}: levels")
        counts = level_counts(levels, k + 1)  # raises ValueError on levels outside 0..K
        levels = np.ascontiguousarray(levels, dtype=np.uint8).reshape(-1)
        words = encode_levels(levels, counts)
        return scales.tobytes() + counts.astype("<u4").tobytes() + _U32.pack(len(words)) + words.astype("<u4").tobytes()

    def read_layer(self, cur, header, where: str, name: str, n: int, sizes: dict, decode: bool):
        k = header.num_levels
        vals = cur.fmt(f"{k}f{k + 1}II", f"payload of {where}")
        scales = np.array(vals[:k], dtype=np.float32)
        counts = np.array(vals[k : 2 * k + 1], dtype=np.uint32)
        n_words = vals[-1]
        problem = _scales_problem(scales)
        if problem:
            fail(f"{where}: {problem}")
        if int(counts.sum(dtype=np.uint64)) != n:
            fail(f"{where}: level counts sum to {int(counts.sum(dtype=np.uint64))}, the layer has {n} weights")
        if n_words * 4 > cur.left():
            fail(f"{where}: {n_words} coded words exceed the segment payload")
        words = cur.words(n_words, decode)
        sizes["scales"] += 4 * k
        sizes["counts"] += 4 * (k + 1) + 4
        sizes[f"masks/{name}"] += 4 * n_words
        if not decode:
            return None
        return LayerPayload(scales=scales, levels=decode_levels(words, counts, n, what=where))

    def sections(self, header) -> dict[str, int]:
        return {"scales": 0, "counts": 0, **{f"masks/{name}": 0 for name, _ in header.network.layer_shapes()}}

    # -- decoding and rate --------------------------------------------------------------------
    def decoder_network(self, header, seed: int, layers: list, device):
        from ..model.nerv import build_decoder_nerv

        return build_decoder_nerv(header.network, header.width, header.height, seed,
                                  [layer.levels for layer in layers], [layer.scales for layer in layers], device)

    def size_estimate(self, width: int, height: int, frames: int, options, cfg: SupermaskOptions) -> tuple[float, float]:
        """Exact up to each layer's last coded word: the levels cost the entropy of the level
        distribution the sparsities imply, everything else is the size of a file whose levels are
        all zero."""
        from fractions import Fraction

        from ..bitstream.format import Header, Segment, write_slt

        net = options.network(width, height)
        k = len(cfg.sparsity)
        header = Header(width=width, height=height, frames=frames, fps=Fraction(25), method=self.name,
                        sparsity=cfg.sparsity, network=net)
        layers = [LayerPayload(np.ones(k, np.float32), np.zeros(math.prod(shape), np.uint8)) for _, shape in net.layer_shapes()]
        overhead = len(write_slt(header, [Segment(0, frames, 0, layers)]))
        return level_entropy_bits(cfg.sparsity), overhead + 2 * len(net.layer_shapes())

    def weight_bits(self, cfg: SupermaskOptions):
        if not cfg.layer_sparsity:
            return None
        return lambda net: sum(math.prod(shape) * level_entropy_bits(cfg.schedule(name)) for name, shape in net.layer_shapes())


def _scales_problem(scales: np.ndarray) -> str | None:
    """What is wrong with a layer's K scales, for the writer and the reader alike (None: nothing)."""
    if not np.all(np.isfinite(scales)):
        return "non-finite scale"
    if not scale_peak(scales) <= MAX_WEIGHT:
        return (f"scales {tuple(float(s) for s in np.asarray(scales, np.float32))} fold to weights "
                f"that are not finite or exceed {MAX_WEIGHT:g} in magnitude")
    return None
