"""The seeded weight generator. The decoder regenerates the random weights from the seed alone, so
this generator's output is part of the file format (docs/bitstream.md, "pcg64-sign-v1"): numpy's
PCG64 bit generator, whose raw stream numpy guarantees stable across versions and platforms, turned
into +-1 signs by fixed bit arithmetic. torch's own RNG is never used here because its streams differ
between CPU and CUDA and between releases."""

from __future__ import annotations

import math

import numpy as np

GENERATOR = "pcg64-sign-v1"


def random_signs(seed: int, layer_index: int, shape: tuple[int, ...]) -> np.ndarray:
    """+-1 float32 weights of `shape` for one layer.

    Bits come from PCG64 seeded with SeedSequence(entropy=seed, spawn_key=(layer_index,)); the raw
    64-bit words are taken as little-endian bytes and their bits least-significant first; weight i
    (C order) is +1 where bit i is 1 and -1 where it is 0.
    """
    n = math.prod(shape)
    bitgen = np.random.PCG64(np.random.SeedSequence(entropy=int(seed), spawn_key=(int(layer_index),)))
    words = bitgen.random_raw((n + 63) // 64).astype("<u8", copy=False)
    bits = np.unpackbits(words.view(np.uint8), bitorder="little", count=n).view(np.int8)
    return (bits * np.int8(2) - np.int8(1)).astype(np.float32).reshape(shape)
