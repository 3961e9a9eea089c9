"""Peak memory of an encode: peak resident memory for encoding a clip (default cup.mp4, 217 frames
of 640x480), also phase by phase, against the parts it should consist of: the runtime's baseline
after imports, the clip as uint8, and the model state (signs, scores, levels, Adam moments).
Prints its figures last.

    python benchmarks/memory.py [--input ../shared/data/cup.mp4] [--epochs 1] [--preset small] [--activation-mib N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import tempfile
import threading
import time

import torch

import inrcodec
import inrcodec.api
from inrcodec.encoder import EncodeOptions
from inrcodec.fit.trainer import Fitter, FitOptions
from inrcodec.model.config import plan_network
from inrcodec.video.io import read_video


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PhaseTracer:
    """Peak RSS per phase of the encode (reading, fitting steps, evaluations, measuring the written
    file), sampled every 5 ms by a thread; the phases are marked by wrapping the functions that
    run them, so the encode itself is unchanged."""

    def __init__(self) -> None:
        self.phase = "other (set-up, writing, between phases)"
        self.peaks: dict[str, float] = {}
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), rss_mb())
            time.sleep(0.005)

    @contextlib.contextmanager
    def wrapped(self, owner, name: str, label: str):
        original = getattr(owner, name)

        def run(*args, **kwargs):
            before, self.phase = self.phase, label
            try:
                return original(*args, **kwargs)
            finally:
                self.phase = before

        setattr(owner, name, run)
        try:
            yield
        finally:
            setattr(owner, name, original)


def torch_warm_up() -> None:
    """Load the torch code every encode runs (oneDNN convolution kernels, the optimiser machinery,
    which imports much of torch lazily) on a few bytes of data: the runtime's own baseline."""
    w = torch.zeros(2, 1, 3, 3, requires_grad=True)
    torch.nn.functional.conv2d(torch.zeros(1, 1, 4, 4), w, padding=1).sum().backward()
    opt = torch.optim.Adam([w])
    opt.step()


def decoder_warm_up(path: str) -> None:
    """Decode one frame of the input and drop it: the video decoder's code and tables (FFmpeg's
    libraries through PyAV), which every encode of this file loads, whatever its length."""
    read_video(path, frames=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default="../shared/data/cup.mp4")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch", type=int, default=FitOptions.batch_size)
    ap.add_argument("--activation-mib", type=int, help="activation budget per pass (default: the device's)")
    args = ap.parse_args()
    torch.zeros(1)
    imported = rss_mb()
    torch_warm_up()
    warmed = rss_mb()
    decoder_warm_up(args.input)
    baseline = rss_mb()
    tracer = PhaseTracer()  # the encode reads the file itself: a clip held here would count twice
    with tempfile.TemporaryDirectory() as tmp, tracer.wrapped(inrcodec.api, "read_video", "reading"), \
            tracer.wrapped(Fitter, "train_steps", "fitting steps"), tracer.wrapped(Fitter, "evaluate", "evaluations"), \
            tracer.wrapped(inrcodec.api, "compare", "measuring the file"):
        report = inrcodec.encode(args.input, os.path.join(tmp, "m.slt"), options=EncodeOptions(
            preset=args.preset, device="cpu", fit=FitOptions(epochs=args.epochs, batch_size=args.batch, activation_mib=args.activation_mib)))
    peak = peak_mb()
    frames_mb = report["frames"] * report["width"] * report["height"] * 3 / 2 / 2**20  # uint8 I420
    n = plan_network(report["width"], report["height"], args.preset).num_weights()
    # signs, scores, score gradients, two Adam moments (f32 each) + K mask coats (f32)
    model_mb = n * (4 * 5 + 4 * 3) / 2**20
    goal = 1.5 * frames_mb + model_mb + baseline
    print(f"input {args.input}: {report['frames']} frames {report['width']}x{report['height']}, preset {args.preset}, "
          f"{n} weights, batch {args.batch}, {args.epochs} epoch(s)")
    print(f"runtime baseline: {imported:.0f} MiB after imports, {warmed:.0f} MiB after warming up torch's code, "
          f"{baseline:.0f} MiB after decoding one frame of the input")
    print(f"clip as uint8: {frames_mb:.0f} MiB")
    print(f"model state estimate: {model_mb:.0f} MiB")
    print("peak RSS by phase: " + ", ".join(f"{k} {v:.0f} MiB" for k, v in tracer.peaks.items()))
    torch_only = 1.5 * frames_mb + model_mb + warmed
    print(f"goal without the decoder's warm-up in the baseline: {torch_only:.0f} MiB -> {'met' if peak <= torch_only else 'NOT met'}")
    print(f"peak resident memory: {peak:.0f} MiB; goal 1.5 x frames + model + baseline = {goal:.0f} MiB "
          f"-> {'met' if peak <= goal else 'NOT met'}")


if __name__ == "__main__":
    main()
