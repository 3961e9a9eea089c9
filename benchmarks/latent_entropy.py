"""What a better latent model would save on fitted slt-grid files (issue 14): for each file, the
ideal bits of its latents under one geometric law per grid and channel (format version 3), and
under zero-inflated laws (entropy/inflated.py) with the frame differences split by temporal context
into 1, 3 or 5 buckets (3 is version 4's grid_context). Post-hoc: the fit that made the file was
not aware of the model measured. Prints one line per file and model.

    python benchmarks/latent_entropy.py file.slt [file.slt ...]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's inrcodec

from inrcodec.bitstream import format as fmt  # noqa: E402
from inrcodec.entropy.inflated import fit_law, law_bits  # noqa: E402

BUCKETS = {1: (0,), 3: (0, 1, 3), 5: (0, 1, 2, 4, 7)}  # lower edges of the non-zero-neighbour counts


def geometric_bits(v: np.ndarray) -> float:
    """Bits under the best zero-mean two-sided geometric law (a search over theta)."""
    if not v.size:
        return 0.0
    a = float(np.abs(v).mean())
    theta = np.linspace(0.001, 0.999, 999)
    return float(v.size * np.min(-np.log2((1 - theta) / (1 + theta)) - a * np.log2(theta)))


def inflated_bits(v: np.ndarray) -> float:
    if not v.size:
        return 0.0
    p0, theta = fit_law(v)
    return law_bits(p0 / 65536, theta / 65536, v)


def neighbours(prev: np.ndarray) -> np.ndarray:
    """Non-zero cells among the 3x3 around each cell of prev (frames, rows, columns)."""
    nz = np.pad((prev != 0).astype(np.int64), ((0, 0), (1, 1), (1, 1)))
    h, w = prev.shape[-2:]
    return sum(nz[:, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3))


def channel_bits(x: np.ndarray, residual: bool, law, k: int) -> float:
    """x (frames, rows, columns): d_0, d_1 and each context of the later differences under their own law."""
    if not residual or x.shape[0] < 2:
        return law(x.reshape(-1))
    bits = law(x[0].reshape(-1)) + law(x[1].reshape(-1))
    if x.shape[0] > 2:
        ctx = np.searchsorted(np.array(BUCKETS[k]), neighbours(x[1:-1]), side="right") - 1
        bits += sum(law(x[2:][ctx == b]) for b in range(k))
    return bits


def where(header, segments, coded) -> None:
    """Per segment and grid: its ideal bits, split into the first frame's and the differences'."""
    net = header.network
    for seg, grids in zip(segments, coded):
        moving = getattr(seg.layers[-1], "offsets", None) is not None
        print(f"  segment at frame {seg.first_frame}, {seg.frame_count} frames{', on a canvas' if moving else ''}:")
        for li, g in enumerate(grids):
            res = net.residual_grid(li) and g.shape[0] > 1
            total = sum(channel_bits(g[:, c], res, inflated_bits, 3) for c in range(g.shape[1]))
            first = sum(inflated_bits(g[0, c].reshape(-1)) for c in range(g.shape[1])) if res else total
            nz = f", {100 * float((g[1:] != 0).mean()):.1f} % of the differences non-zero" if res else ""
            print(f"    grid {li} {'x'.join(map(str, g.shape))} {'per frame' if res else 'shared'}: {total / 1e3:.1f} kbit"
                  + (f" (first frame {first / 1e3:.1f}, differences {(total - first) / 1e3:.1f}{nz})" if res else ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--where", action="store_true", help="also the bits per segment and grid, first frame against differences")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    for path in a.files:
        data = open(path, "rb").read()
        header, segments, sizes = fmt.read_slt(data)
        net = header.network
        coded = [[net.coded(li, np.asarray(g, dtype=np.int64)) for li, g in enumerate(s.layers[-1].grids)] for s in segments]
        stored = 8 * sum(v for k, v in sizes.items() if k.startswith("latents/"))
        rows = {"one geometric law (v3)": (geometric_bits, 1, False)}
        rows.update({f"zero-inflated, {k} context{'s' if k > 1 else ''}": (inflated_bits, k, True) for k in (1, 3, 5)})
        base = None
        print(f"{path}: version {header.version}, {8 * len(data) / 1e3:.1f} kbit, latents as stored {stored / 1e3:.1f} kbit")
        for name, (law, k, split) in rows.items():
            bits = sum(channel_bits(g[:, c], split and net.residual_grid(li), law, k)
                       for seg in coded for li, g in enumerate(seg) for c in range(g.shape[1]))
            base = bits if base is None else base
            print(f"  {name:28s} {bits / 1e3:9.1f} kbit  {100 * (bits - base) / base:+6.1f} %")
        if a.where:
            where(header, segments, coded)


if __name__ == "__main__":
    main()
