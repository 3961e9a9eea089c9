"""Mask overhead: one fitting step of `slt` against one training step of the same network trained
densely (same batch, same device), side by side in one run: the variants take turns in rounds of
--steps steps and each reports its median step. Prints the ratios last.

    python benchmarks/step_time.py [--input ../shared/data/tree.avi] [--preset small] [--batch 1] [--device cuda] [--amp]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from inrcodec.allocator import tune_allocator
from inrcodec.encoder import resolve_device
from inrcodec.fit.trainer import FitOptions
from inrcodec.model.config import plan_network
from inrcodec.model.masked import refresh_masks
from inrcodec.model.strips import activation_budget, mse_backward
from inrcodec.model.nerv import build_dense_nerv, build_supermask_nerv, frame_positions, supermask_layers
from inrcodec.video.colour import yuv420_to_rgb
from inrcodec.video.io import read_video


class Stepper:
    """One network with its optimiser, stepping on random frames and recording each step's time."""

    def __init__(self, net, frames, info, device, batch, exact=False, amp=False) -> None:
        self.net, self.frames, self.info, self.device, self.batch, self.exact = net, frames, info, device, batch, exact
        self.amp = amp
        self.opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-3)
        self.layers = supermask_layers(net)
        self.gen = torch.Generator().manual_seed(0)
        self.times: list[float] = []
        self.budget = activation_budget(device)

    def run(self, steps: int) -> None:
        for _ in range(steps):
            idx = torch.randint(0, self.frames.shape[0], (self.batch,), generator=self.gen).to(self.device)
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            refresh_masks(self.layers, exact=self.exact)
            target = yuv420_to_rgb(self.frames[idx], self.info)
            self.opt.zero_grad(set_to_none=True)
            # the fit's own step: row strips under the device's activation budget (Fitter.train_steps)
            mse_backward(self.net, frame_positions(idx, self.frames.shape[0]), target, self.budget, self.amp)
            self.opt.step()
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            self.times.append(time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default="../shared/data/tree.avi")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch", type=int, default=FitOptions.batch_size)
    ap.add_argument("--steps", type=int, default=10, help="steps per variant per round")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--amp", action="store_true", help="every variant's forward under bf16 autocast (encode --amp)")
    ap.add_argument("--thresholds", default="sampled,exact", help="comma list: sampled (the default fit) and/or exact")
    args = ap.parse_args()
    tune_allocator()  # the allocator settings of every fit (inrcodec/allocator.py)
    device = resolve_device(args.device)
    clip = read_video(args.input)
    info = clip.info
    frames = torch.from_numpy(clip.frames).to(device)
    cfg = plan_network(info.width, info.height, args.preset)
    print(f"device {device}, {info.width}x{info.height}, preset {args.preset}, {cfg.num_weights()} weights, batch {args.batch}, threads {torch.get_num_threads()}")
    steppers = {"dense": Stepper(build_dense_nerv(cfg, info.width, info.height, 0, device), frames, info, device, args.batch,
                                 amp=args.amp)}
    for name in args.thresholds.split(","):
        net = build_supermask_nerv(cfg, info.width, info.height, 0, (0.5, 0.8, 0.92), device)
        steppers[f"slt ({name} thresholds)"] = Stepper(net, frames, info, device, args.batch, exact=name == "exact", amp=args.amp)
    for s in steppers.values():
        s.run(3)  # warm-up, not recorded
        s.times.clear()
    # Interleaved rounds, so that a slow spell of a shared machine hits every variant alike.
    for _ in range(args.rounds):
        for s in steppers.values():
            s.run(args.steps)
    med = {name: statistics.median(s.times) for name, s in steppers.items()}
    ratios = {}
    for name, t in med.items():
        ratios[name] = t / med["dense"]
        print(f"{name:28s} step {t * 1e3:8.2f} ms  ratio {ratios[name]:.3f}")
    print("ratio to dense: " + ", ".join(f"{k}: {v:.3f}" for k, v in ratios.items() if k != "dense"))


if __name__ == "__main__":
    main()
