"""Decode speed of network shapes at the widths rate control picks (issue 13's balance table):
one file of random levels per shape (speed does not depend on the fit), decoded with
Decoder.render on 2 threads, best of three alternating rounds.

    python benchmarks/shape_speed.py 0.1      # the bpp whose widths (68 frames at 176x144) are timed
"""

from __future__ import annotations

import math
import os
import sys
import time
from fractions import Fraction

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from balance import preset_overrides  # noqa: E402
from inrcodec.bitstream import Header, LayerPayload, Segment, read_slt, write_slt  # noqa: E402
from inrcodec.decoder import Decoder  # noqa: E402
from inrcodec.methods.supermask import level_entropy_bits  # noqa: E402
from inrcodec.model.config import plan_network  # noqa: E402
from inrcodec.rate import widths_for_weights  # noqa: E402
from inrcodec.threads import set_threads  # noqa: E402

PAPER, SPARSE = (0.5, 0.8, 0.92), (0.9, 0.9684, 0.99)
SHAPES = [  # (name, small-preset overrides, mask schedule)
    ("base", {"reduce": 2.0}, PAPER), ("sparse", {"reduce": 2.0}, SPARSE), ("r1.4 sparse", {"reduce": 1.4}, SPARSE),
    ("r1.2 old", {"reduce": 1.2}, PAPER), ("r1.2 sparse", {"reduce": 1.2}, SPARSE),
    ("r1.0 old", {"reduce": 1.0}, PAPER), ("r1.0 sparse", {"reduce": 1.0}, SPARSE),
]
WIDTH, HEIGHT, FRAMES, RATE_FRAMES = 176, 144, 60, 68


def random_file(overrides: dict, sparsity: tuple[float, ...], bpp: float, rng) -> bytes:
    """A file of the shape rate control picks for `bpp`, its levels drawn with the schedule's
    probabilities."""
    with preset_overrides("small", **overrides):
        weights = bpp * WIDTH * HEIGHT * RATE_FRAMES / level_entropy_bits(sparsity)
        net = plan_network(WIDTH, HEIGHT, "small", **widths_for_weights(WIDTH, HEIGHT, "small", weights))
    density = [1.0] + [1 - s for s in sparsity] + [0.0]
    probs = [density[j] - density[j + 1] for j in range(len(sparsity) + 1)]
    layers = [LayerPayload(np.full(len(sparsity), 0.05, np.float32),
                           rng.choice(len(probs), size=math.prod(shape), p=probs).astype(np.uint8))
              for _, shape in net.layer_shapes()]
    header = Header(width=WIDTH, height=HEIGHT, frames=FRAMES, fps=Fraction(25), sparsity=sparsity, network=net)
    return write_slt(header, [Segment(0, FRAMES, 0, layers)])


def main() -> None:
    set_threads(2)
    bpp = float(sys.argv[1]) if len(sys.argv) > 1 else 0.1
    rng = np.random.default_rng(0)
    files = {name: random_file(overrides, sparsity, bpp, rng) for name, overrides, sparsity in SHAPES}
    fps: dict[str, list[float]] = {name: [] for name in files}
    for _ in range(3):
        for name, data in files.items():
            header, segments, _ = read_slt(data)
            t0 = time.perf_counter()
            for _ in Decoder(header, segments, torch.device("cpu")).render(range(FRAMES)):
                pass
            fps[name].append(FRAMES / (time.perf_counter() - t0))
    for name in files:
        print(f"{name:>12}: best of 3 {max(fps[name]):.0f} fps at {WIDTH}x{HEIGHT}, {bpp} bpp widths")


if __name__ == "__main__":
    main()
