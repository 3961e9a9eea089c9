"""Decode speed: frames per second for rendering only and end to end to a .y4m file, at 176x144
and 640x480, plus weight regeneration speed. The .slt files come from a 1-epoch encode of a
synthetic clip (speed does not depend on how well the masks fit). Prints its figures last.

    python benchmarks/decode_speed.py [--preset small] [--frames 60] [--threads 2] [--device cpu] [--sizes 176x144,640x480]
    python benchmarks/decode_speed.py --method slt-grid --lambda 0.03 --sizes 176x144
    python benchmarks/decode_speed.py --method slt-grid --pan 2,1 --sizes 176x144   # a camera pan: version 5's canvas

--pan X,Y makes the synthetic clip a window moving X, Y pixels a frame over a smooth still texture,
so slt-grid's groups find the motion and decode through canvas windows (it prints how many frames did).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from fractions import Fraction

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout (and its tests' clips)

import inrcodec  # noqa: E402
from inrcodec.decoder import Decoder  # noqa: E402
from inrcodec.encoder import EncodeOptions, encode_clip, resolve_device  # noqa: E402
from inrcodec.bitstream import read_slt  # noqa: E402
from inrcodec.fit.trainer import FitOptions  # noqa: E402
from inrcodec.model.rng import random_signs  # noqa: E402
from inrcodec.video.clip import Clip, VideoInfo  # noqa: E402
from inrcodec.video.io import parse_size  # noqa: E402
from tests.test_motion import panning_clip  # noqa: E402  (the motion tests' panning texture)


def synthetic(width: int, height: int, frames: int) -> Clip:
    rng = np.random.default_rng(0)
    data = rng.integers(16, 236, size=(frames, width * height * 3 // 2), dtype=np.uint8)
    return Clip(VideoInfo(width=width, height=height, fps=Fraction(25)), data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--method", default="slt", help="any method; slt-grid takes --lambda instead of --preset")
    ap.add_argument("--lambda", dest="lmbda", type=float, default=0.03)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--pan", default=None, help="X,Y: the clip pans X, Y pixels a frame (slt-grid's canvas)")
    ap.add_argument("--sizes", default="176x144,640x480", help="comma list of WxH (e.g. add 1920x1080 on a GPU)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    lines = []

    torch.set_num_threads(1)
    n = 20_000_000
    t0 = time.perf_counter()
    random_signs(1, 0, (n,))
    lines.append(f"weight regeneration (1 thread): {n / (time.perf_counter() - t0) / 1e6:.0f} M weights/s")
    torch.set_num_threads(args.threads)

    pan = None if args.pan is None else tuple(int(v) for v in args.pan.split(","))
    for width, height in (parse_size(x) for x in args.sizes.split(",")):
        clip = synthetic(width, height, args.frames) if pan is None else panning_clip(width, height, args.frames, pan)
        grid = args.method == "slt-grid"
        opts = EncodeOptions(method=args.method, preset=None if grid else args.preset, lmbda=args.lmbda if grid else None,
                             device=str(device), fit=FitOptions(epochs=1))
        data = encode_clip(clip, opts)
        header, segments, sections = read_slt(data)
        moving = (sections.get("motion", len(segments)) - len(segments)) // 4  # a flag per segment, 4 bytes per moving frame
        t0 = time.perf_counter()
        dec = Decoder(header, segments, device)
        for _ in dec.render_rgb(range(1)):
            pass
        setup = time.perf_counter() - t0
        t0 = time.perf_counter()
        count = 0
        for rgb in dec.render_rgb(range(args.frames)):
            count += rgb.shape[0]
        if device.type == "cuda":
            torch.cuda.synchronize()
        render_fps = count / (time.perf_counter() - t0)
        with tempfile.TemporaryDirectory() as tmp:
            slt, y4m = os.path.join(tmp, "a.slt"), os.path.join(tmp, "a.y4m")
            with open(slt, "wb") as f:
                f.write(data)
            t0 = time.perf_counter()
            inrcodec.decode(slt, y4m, device=str(device))
            e2e_fps = args.frames / (time.perf_counter() - t0)
        lines.append(
            f"{width}x{height} {args.method} " + ("" if grid else f"preset {args.preset} ")
            + f"({header.network.num_weights()} weights, {len(segments)} segments"
            + (f", {moving} frames on a canvas" if grid else "") + f"), {device}, "
            f"{args.threads} threads: render {render_fps:.1f} fps, end to end to .y4m {e2e_fps:.1f} fps "
            f"(including {setup * 1e3:.0f} ms set-up: reading, weight regeneration, folding)"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
