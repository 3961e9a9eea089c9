"""The GPU checks of the speed issue in one run, for a session that is lent a CUDA machine (no
session has been so far). Prints each figure as it goes, and a summary last:

1. CPU vs CUDA agreement: a file encoded on the CPU, decoded on both; the RGB PSNR of each against
   the source and the largest sample difference (goal: within 0.05 dB).
2. Steps at 1920x1080: dense vs `slt` (sampled and exact thresholds), float32 and `--amp`, by
   benchmarks/step_time.py on a 1080p clip made from the input (PyAV's scaler).
3. Decode speed at 176x144, 640x480 and 1920x1080 by benchmarks/decode_speed.py.

    python benchmarks/cuda_check.py [--input ../shared/data/cup.mp4] [--device cuda] [--quick]

`--device cpu --quick` runs the same path on small sizes (to check the script itself, not speed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from inrcodec.bitstream import read_slt
from inrcodec.decoder import Decoder
from inrcodec.encoder import EncodeOptions, encode_clip, resolve_device
from inrcodec.fit.trainer import FitOptions
from inrcodec.metrics.video import compare
from inrcodec.video.clip import Clip, VideoInfo
from inrcodec.video.io import read_video, write_video

HERE = Path(__file__).parent


def scaled_clip(path: str, width: int, height: int, frames: int) -> Clip:
    """The input's first frames scaled to width x height, as I420."""
    src = read_video(path, frames=1)
    out = []
    with av.open(path) as container:
        for frame in container.decode(video=0):
            out.append(frame.reformat(width=width, height=height, format="yuv420p").to_ndarray().reshape(-1))
            if len(out) == frames:
                break
    info = VideoInfo(width, height, src.info.fps, src.info.matrix, src.info.full_range)
    return Clip(info, np.stack(out))


def agreement(path: str, device: torch.device, frames: int, epochs: int) -> str:
    clip = read_video(path, frames=frames)
    data = encode_clip(clip, EncodeOptions(device="cpu", fit=FitOptions(epochs=epochs)))
    header, segments, _ = read_slt(data)
    decoded = {}
    for dev in (torch.device("cpu"), device):
        decoded[dev.type] = np.concatenate(list(Decoder(header, segments, dev).render(range(len(clip)))))
    psnr = {k: compare(clip, [v])["psnr_rgb"] for k, v in decoded.items()}
    diff = int(np.abs(decoded["cpu"].astype(np.int16) - decoded[device.type].astype(np.int16)).max())
    gap = abs(psnr["cpu"] - psnr[device.type])
    return (f"agreement ({len(clip)} frames {clip.info.width}x{clip.info.height}, encoded on cpu): "
            f"RGB PSNR cpu {psnr['cpu']:.3f} dB, {device.type} {psnr[device.type]:.3f} dB, gap {gap:.4f} dB "
            f"({'within' if gap <= 0.05 else 'OVER'} 0.05), largest sample difference {diff}")


def run(args: list[str]) -> str:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=HERE.parent)
    text = out.stdout.strip() + (f"\n[exit {out.returncode}] {out.stderr.strip()[-2000:]}" if out.returncode else "")
    return f"$ python {' '.join(args)}  ({time.perf_counter() - t0:.0f} s)\n{text}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default="../shared/data/cup.mp4")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="small sizes and few steps: checks the script, not speed")
    args = ap.parse_args()
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    big = (320, 180) if args.quick else (1920, 1080)
    report = [f"device {device} ({name}), torch {torch.__version__}"]
    print(report[0], flush=True)
    report.append(agreement(args.input, device, 4 if args.quick else 16, 1 if args.quick else 10))
    print(report[-1], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        clip_path = os.path.join(tmp, f"{big[0]}x{big[1]}.y4m")
        write_video(clip_path, scaled_clip(args.input, *big, 4 if args.quick else 16), "y4m")
        steps = ["--steps", "2", "--rounds", "2"] if args.quick else ["--steps", "10", "--rounds", "5"]
        for amp in ([], ["--amp"]):
            report.append(run([str(HERE / "step_time.py"), "--input", clip_path, "--device", str(device), *steps, *amp]))
            print(report[-1], flush=True)
    sizes = "176x144,320x180" if args.quick else "176x144,640x480,1920x1080"
    frames = "4" if args.quick else "60"
    report.append(run([str(HERE / "decode_speed.py"), "--device", str(device), "--sizes", sizes, "--frames", frames]))
    print(report[-1], flush=True)
    print("\n==== summary\n" + "\n".join(report))


if __name__ == "__main__":
    main()
