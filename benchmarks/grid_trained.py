"""slt-grid's ablation (issue 14): the same latents, fit and file, but a *trained* synthesis (float
weights, Adam, quantised to 8 bits per layer afterwards) in place of the random masked one — the
paper's question asked of this design: what does the random masked synthesis cost or save at
equal rate? One JSON line per call, beside grid_probe.py's (docs/results.md).

Measured as a file would be: the segment is written by the real writer (its latents and their
laws entropy-coded with constriction), read back, its latents decoded from the file and rendered
with the quantised trained weights, and compared with the clip as every bench row is. The rate is
the file's bytes with the mask sections (scales, counts, masks/*) replaced by the trained weights:
their ideal order-0 entropy at 8 bits plus a float32 step per layer (what a trained method stores,
an optimistic bound on an entropy coder's output).

    python benchmarks/grid_trained.py --frames 16 --epochs 20 --lambda 0.03 --lr 0.03
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's inrcodec

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from inrcodec.bitstream import assemble, read_slt  # noqa: E402
from inrcodec.entropy.values import dequantize, quantize, value_histogram  # noqa: E402
from inrcodec.encoder import EncodeOptions, file_header  # noqa: E402
from inrcodec.fit import parts as fit_parts  # noqa: E402
from inrcodec.fit.trainer import FitOptions  # noqa: E402
from inrcodec.methods import grid  # noqa: E402
from inrcodec.metrics.video import compare  # noqa: E402
from inrcodec.model import masked  # noqa: E402
from inrcodec.model.grid import GridSynthesis, layer_gains  # noqa: E402
from inrcodec.segment import segment_payload, SegmentJob, SegmentResult  # noqa: E402
from inrcodec.video.colour import rgb_to_yuv420  # noqa: E402
from inrcodec.video.clip import Clip  # noqa: E402
from inrcodec.video.io import read_video  # noqa: E402

QUANT_BITS = 8
MASK_SECTIONS = ("scales", "counts", "masks/")


class TrainedWeight(nn.Module):
    """A float weight trained directly (the ablation's synthesis layer); `level` and `scales` only
    let GridFitter.payload() run (its mask part is not used)."""

    def __init__(self, shape, gain: float, generator: torch.Generator) -> None:
        super().__init__()
        fan_in = math.prod(shape[1:])
        self.weight = nn.Parameter(torch.randn(shape, generator=generator) * gain / math.sqrt(fan_in))
        self.level = torch.zeros(shape, dtype=torch.uint8)

    def scales(self) -> torch.Tensor:
        return torch.zeros(3)

    def forward(self) -> torch.Tensor:
        return self.weight

    def quantised(self) -> tuple[torch.Tensor, np.ndarray]:
        """The 8-bit weight as the dense baseline's decoder would have it, and its integers
        (entropy/values.py's per-layer quantiser)."""
        step, q = quantize(self.weight.detach().numpy(), QUANT_BITS)
        return torch.from_numpy(dequantize(q, step)), q.ravel()


class TrainedParts(fit_parts.FitParts):
    """The trained weights' one Adam group (GridFitter adds the latents' and the model's)."""

    lr = 0.03  # the best of 0.001 / 0.01 / 0.03 / 0.1 (docs/results.md)

    def __init__(self, layers) -> None:
        self.layers = layers

    def param_groups(self, opts) -> list[dict]:
        return [{"params": [m.weight for m in self.layers], "lr": self.lr, "base_lr": self.lr}]


def entropy_bits(values: np.ndarray) -> float:
    """Ideal order-0 bits of integer `values` under their own histogram."""
    counts = value_histogram(values)[1]
    counts = counts[counts > 0].astype(np.float64)
    return float(-(counts * np.log2(counts / counts.sum())).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default="/work/shared/data/tree.avi")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--lambda", dest="lmbda", type=float, default=0.03)
    ap.add_argument("--lr", type=float, default=TrainedParts.lr, help="Adam's rate on the trained weights")
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    TrainedParts.lr = a.lr
    refresh = masked.refresh_masks
    fit_parts.SupermaskParts = TrainedParts  # GridFitter builds its synthesis' parts from here
    masked.refresh_masks = lambda layers, exact=False: None  # no masks to refresh

    threads = int(os.environ.get("INRCODEC_THREADS", "1"))
    torch.set_num_threads(threads)
    clip = read_video(a.input, frames=a.frames)
    info = clip.info
    opts = EncodeOptions(method="slt-grid", device="cpu", lmbda=a.lmbda, segment_frames=len(clip),
                         fit=FitOptions(epochs=a.epochs, threads=threads))
    header = file_header(info, len(clip), opts)
    cfg = header.network
    gen = torch.Generator().manual_seed(0)
    weights = [TrainedWeight(shape, gain, gen) for (_, shape), gain in zip(cfg.layer_shapes(), layer_gains(cfg))]
    net = GridSynthesis(cfg, info.width, info.height, weights)
    fitter = grid.GridFitter(net, clip.frames, info, opts.fit, a.lmbda, torch.device("cpu"))
    fitter.evaluate = lambda: float("nan")  # the measure is the file's, below
    t0 = time.perf_counter()
    fitter.run()
    seconds = time.perf_counter() - t0

    # the file: the real writer codes the latents (the mask part is a placeholder, not counted)
    layers = fitter.payload()
    from inrcodec.methods.supermask import LayerPayload

    placeholder = grid.build_grid_synthesis(cfg, info.width, info.height, 0, header.sparsity, torch.device("cpu"))
    refresh(list(placeholder.weights))
    layers = [LayerPayload(scales=m.scales().detach().numpy().astype(np.float32),
                           levels=m.level.to(torch.uint8).numpy().reshape(-1)) for m in placeholder.weights] + layers[-1:]
    result = SegmentResult(SegmentJob(0, 0, len(clip), 0), layers, float("nan"), seconds)
    data = assemble(header, [(0, len(clip), 0, segment_payload(header, result))])
    _, segments, sizes = read_slt(data)
    mask_bytes = sum(n for k, n in sizes.items() if k.startswith(MASK_SECTIONS))
    synth_bits = sum(entropy_bits(m.quantised()[1]) + 32 for m in weights)
    nbytes = len(data) - mask_bytes + synth_bits / 8

    w = [m.quantised()[0] for m in weights]
    lat = segments[0].layers[-1]
    out = []
    with torch.no_grad():
        for i in range(len(clip)):
            g = [torch.from_numpy(x[i : i + 1] if x.shape[0] > 1 else x).float() for x in lat.grids]
            rgb = net.synthesize(g, w).clamp_(0, 1)
            out.append(rgb_to_yuv420(rgb, info).numpy())
    figures = compare(Clip(info, clip.frames), out)
    print(json.dumps({"label": a.label, "synthesis": "trained", "lr": a.lr, "frames": len(clip), "epochs": a.epochs,
                      "lambda": a.lmbda, "bpp": round(8 * nbytes / (info.width * info.height * len(clip)), 4),
                      "psnr_rgb": round(figures["psnr_rgb"], 2), "synthesis_bits": round(synth_bits),
                      "mask_bytes_left_out": mask_bytes, "encode_s": round(seconds, 1), "load": os.getloadavg()[0]}),
          flush=True)


if __name__ == "__main__":
    main()
