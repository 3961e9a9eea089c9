"""Writes tests/compat/v<VERSION>/: one small .slt per method (and a two-segment one) encoded from
4 frames of examples/tree_160x120.mp4, the frames each decodes to, and a manifest with the
commands, the bitstream version and the decoded frames' SHA-256.

Run once per released bitstream version (python tests/compat/make_files.py), commit the folder, and
never change it afterwards: tests/test_compat.py checks that every committed version still decodes
to its frames (within ±1 per sample: float results may differ across CPUs and torch versions).
One thread, so that the same machine writes the same bytes when it is run again."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "examples" / "tree_160x120.mp4"
COMMON = ["--frames", "4", "--preset", "tiny", "--epochs", "2", "--device", "cpu", "--seed", "7", "-q", "-y"]
FILES = {
    "slt": ["--method", "slt"],
    "slt-fixed": ["--method", "slt-fixed"],
    "supermask": ["--method", "supermask"],
    "dense": ["--method", "dense"],
    "sparse": ["--method", "sparse"],
    "slt-segments": ["--method", "slt", "--segment-frames", "2"],
    "slt-grid": ["--method", "slt-grid", "--lambda", "0.001", "--epochs", "10"],  # version 2 on; latents not all 0
}
# version 5 on: a camera pan, so that slt-grid's segments hold frame offsets and canvas grids
PAN = "pan.y4m"  # 6 frames of a 96x64 window moving 3 pixels right and 1 down a frame over CLIP's first frame
PAN_FILES = {"slt-grid-pan": ["--method", "slt-grid", "--lambda", "0.001", "--epochs", "10"]}


def write_pan(path: Path) -> None:
    from dataclasses import replace

    from inrcodec.video.clip import Clip
    from inrcodec.video.io import read_video, write_video

    src = read_video(str(CLIP), frames=1)
    w, h = src.info.width, src.info.height
    y = src.frames[0, : w * h].reshape(h, w)
    u, v = (src.frames[0, w * h + i * (w * h // 4) : w * h + (i + 1) * (w * h // 4)].reshape(h // 2, w // 2) for i in (0, 1))
    frames = []
    for t in range(6):
        x0, y0 = 6 * t, 2 * t  # even, so the chroma planes move with the luma
        planes = (y[y0 : y0 + 64, x0 : x0 + 96], u[y0 // 2 : y0 // 2 + 32, x0 // 2 : x0 // 2 + 48],
                  v[y0 // 2 : y0 // 2 + 32, x0 // 2 : x0 // 2 + 48])
        frames.append(np.concatenate([p.ravel() for p in planes]))
    info = replace(src.info, width=96, height=64)
    write_video(str(path), Clip(info, np.stack(frames)))


def main() -> None:
    from inrcodec.api import info
    from inrcodec.bitstream import VERSION
    from inrcodec.video.io import read_video

    out = Path(__file__).resolve().parent / f"v{VERSION}"
    out.mkdir(exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "INRCODEC_THREADS": "1"}
    manifest = {"version": VERSION, "source": str(CLIP.relative_to(ROOT)), "files": {}}
    frames = {}
    jobs = [(name, CLIP, args) for name, args in FILES.items()]
    if VERSION >= 5:
        write_pan(out / PAN)
        jobs += [(name, out / PAN, args) for name, args in PAN_FILES.items()]
    for name, source, args in jobs:
        slt, y4m = out / f"{name}.slt", out / f"{name}.y4m"
        cmd = [sys.executable, "-m", "inrcodec", "encode", str(source), "-o", str(slt), *COMMON, *args]
        subprocess.run(cmd, check=True, env=env)
        subprocess.run([sys.executable, "-m", "inrcodec", "decode", str(slt), "-o", str(y4m), "-q", "-y"],
                       check=True, env=env)
        decoded = read_video(str(y4m)).frames
        y4m.unlink()
        frames[name] = decoded
        manifest["files"][name] = {
            "command": "inrcodec encode " + " ".join(shlex.quote(a) for a in [
                PAN if source != CLIP else str(CLIP.relative_to(ROOT)), "-o", slt.name, *COMMON, *args]),
            "file_sha256": hashlib.sha256(slt.read_bytes()).hexdigest(),
            "frames_sha256": hashlib.sha256(decoded.tobytes()).hexdigest(),
            "frames": int(decoded.shape[0]),
            "method": info(str(slt))["method"],
        }
    (out / PAN).unlink(missing_ok=True)
    np.savez_compressed(out / "frames.npz", **{k.replace("-", "_"): v for k, v in frames.items()})
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
