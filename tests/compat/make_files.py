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


def main() -> None:
    import numpy as np

    from inrcodec.api import info
    from inrcodec.bitstream import VERSION
    from inrcodec.video.io import read_video

    out = Path(__file__).resolve().parent / f"v{VERSION}"
    out.mkdir(exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "INRCODEC_THREADS": "1"}
    manifest = {"version": VERSION, "source": str(CLIP.relative_to(ROOT)), "files": {}}
    frames = {}
    for name, args in FILES.items():
        slt, y4m = out / f"{name}.slt", out / f"{name}.y4m"
        cmd = [sys.executable, "-m", "inrcodec", "encode", str(CLIP), "-o", str(slt), *COMMON, *args]
        subprocess.run(cmd, check=True, env=env)
        subprocess.run([sys.executable, "-m", "inrcodec", "decode", str(slt), "-o", str(y4m), "-q", "-y"],
                       check=True, env=env)
        decoded = read_video(str(y4m)).frames
        y4m.unlink()
        frames[name] = decoded
        manifest["files"][name] = {
            "command": "inrcodec encode " + " ".join(shlex.quote(a) for a in [str(CLIP.relative_to(ROOT)), "-o",
                                                                               slt.name, *COMMON, *args]),
            "file_sha256": hashlib.sha256(slt.read_bytes()).hexdigest(),
            "frames_sha256": hashlib.sha256(decoded.tobytes()).hexdigest(),
            "frames": int(decoded.shape[0]),
            "method": info(str(slt))["method"],
        }
    np.savez_compressed(out / "frames.npz", **{k.replace("-", "_"): v for k, v in frames.items()})
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
