"""Mask overhead: one fitting step of `slt` against one training step of the same network trained
densely (same batch, same device), side by side in one run. Prints the ratio last.

    python benchmarks/step_time.py [--input ../shared/data/tree.avi] [--preset small] [--batch 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from inrcodec.encoder import resolve_device
from inrcodec.model.config import plan_network
from inrcodec.model.nerv import build_dense_nerv, build_supermask_nerv, frame_positions, supermask_layers
from inrcodec.video.colour import yuv420_to_rgb
from inrcodec.video.io import read_video


def time_steps(net, frames, info, device, batch, steps, threshold_every=None, levels_every=1) -> list[float]:
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-3)
    layers = supermask_layers(net)
    times = []
    gen = torch.Generator().manual_seed(0)
    for step in range(steps):
        idx = torch.randint(0, frames.shape[0], (batch,), generator=gen).to(device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        if threshold_every is not None and step % levels_every == 0:
            for m in layers:
                m.refresh_levels(update_thresholds=step % threshold_every == 0)
        target = yuv420_to_rgb(frames[idx], info)
        loss = F.mse_loss(net(frame_positions(idx, frames.shape[0])), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times[3:]  # drop warm-up


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default="../shared/data/tree.avi")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threshold-every", default="1,10,50", help="comma list of threshold refresh intervals")
    ap.add_argument("--levels-every", default="1", help="comma list of level refresh intervals (each >= 2 also runs with thresholds at the same interval)")
    args = ap.parse_args()
    device = resolve_device(args.device)
    clip = read_video(args.input)
    info = clip.info
    frames = torch.from_numpy(clip.frames).to(device)
    cfg = plan_network(info.width, info.height, args.preset)
    print(f"device {device}, {info.width}x{info.height}, preset {args.preset}, {cfg.num_weights()} weights, batch {args.batch}, threads {torch.get_num_threads()}")
    dense = statistics.median(time_steps(build_dense_nerv(cfg, info.width, info.height, 0, device), frames, info, device, args.batch, args.steps))
    print(f"dense step      {dense * 1e3:8.2f} ms")
    ratios = {}
    for every in [int(v) for v in args.threshold_every.split(",")]:
        net = build_supermask_nerv(cfg, info.width, info.height, 0, (0.5, 0.8, 0.92), device)
        t = statistics.median(time_steps(net, frames, info, device, args.batch, args.steps, every))
        ratios[every] = t / dense
        print(f"slt step (thresholds every {every:3d}) {t * 1e3:8.2f} ms  ratio {t / dense:.3f}")
    for every in [int(v) for v in args.levels_every.split(",") if int(v) > 1]:
        net = build_supermask_nerv(cfg, info.width, info.height, 0, (0.5, 0.8, 0.92), device)
        t = statistics.median(time_steps(net, frames, info, device, args.batch, args.steps, every, every))
        ratios[f"{every} (levels too)"] = t / dense
        print(f"slt step (thresholds and levels every {every:3d}) {t * 1e3:8.2f} ms  ratio {t / dense:.3f}")
    print("ratio slt/dense: " + ", ".join(f"every {k}: {v:.3f}" for k, v in ratios.items()))


if __name__ == "__main__":
    main()
