"""Decoding under load: the decode's speed alone, beside a CPU hog, and beside a second decode.

    python benchmarks/contention.py [--rounds 3] [--frames 120] [--old SRC] [--policies passive,active]

Decodes a 176x144 file of the small preset (120 frames, built without a fit: every weight at one
level, which costs the decoder the same work as a fitted file) to Y4M with the CLI, as a user would,
and reports the rendering+writing fps of the CLI's report and the end-to-end seconds (process start
included), median of the rounds. The hog is one busy Python loop; "beside a decode" runs two
identical decodes at once and reports the slower. ``--old SRC`` also runs the CLI from another
source tree (e.g. ``git archive <commit> | tar -x -C SRC``) for a before / after comparison;
``--policies`` lists OMP_WAIT_POLICY values to run this tree with (``passive`` is the CLI's
default, ``active`` is the spinning that the default replaced), ``--threads`` thread counts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.fuzz_structured import crafted_file  # noqa: E402

from inrcodec.model.config import plan_network  # noqa: E402


def _decode(src: str, slt: str, out: str, env: dict) -> subprocess.Popen:
    env = {**os.environ, **env, "PYTHONPATH": src}
    return subprocess.Popen([sys.executable, "-m", "inrcodec", "decode", slt, "-o", out, "-y", "--json", "-q"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(p: subprocess.Popen, t0: float) -> tuple[float, float]:
    out, err = p.communicate()
    if p.returncode:
        raise SystemExit(f"decode failed: {err.strip()}")
    return json.loads(out)["fps"], time.perf_counter() - t0


def run(src: str, env: dict, load: str, slt: str, tmp: str) -> tuple[float, float]:
    """(fps, seconds) of one decode (the slower of two for load == 'decode')."""
    hog = None
    if load == "hog":
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)
    try:
        t0 = time.perf_counter()
        procs = [_decode(src, slt, os.path.join(tmp, f"o{i}.y4m"), env) for i in range(2 if load == "decode" else 1)]
        results = [_finish(p, t0) for p in procs]
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    return min(r[0] for r in results), max(r[1] for r in results)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--old", help="another source tree to compare (its CLI, run the same way)")
    ap.add_argument("--policies", default="passive,active", help="OMP_WAIT_POLICY values for this tree")
    ap.add_argument("--threads", default="", help="also run this tree with INRCODEC_THREADS=N for these N (e.g. 1,2)")
    args = ap.parse_args(argv)
    configs = [(f"this tree, OMP_WAIT_POLICY={p.upper()}", ROOT, {"OMP_WAIT_POLICY": p.upper()})
               for p in args.policies.split(",") if p]
    configs += [(f"this tree, --threads {n}", ROOT, {"INRCODEC_THREADS": n}) for n in args.threads.split(",") if n]
    if args.old:
        configs.insert(0, ("old tree (torch defaults)", os.path.abspath(args.old), {}))
    with tempfile.TemporaryDirectory() as tmp:
        slt = os.path.join(tmp, "x.slt")
        with open(slt, "wb") as f:
            f.write(crafted_file(176, 144, plan_network(176, 144, "small"), frames=args.frames))
        print(f"{os.cpu_count()} CPUs, affinity {len(os.sched_getaffinity(0))}; {args.frames} frames 176x144, small "
              f"preset; median of {args.rounds} rounds (rounds interleaved)")
        loads = ("idle", "hog", "decode")
        res = {(c[0], load): [] for c in configs for load in loads}
        for _ in range(args.rounds):
            for name, src, env in configs:
                for load in loads:
                    res[(name, load)].append(run(src, env, load, slt, tmp))
        print("| configuration | idle fps (s) | beside a CPU hog fps (s) | beside a 2nd decode fps (s) | hog / idle |")
        print("|---|---|---|---|---|")
        for name, _, _ in configs:
            med = {load: (statistics.median(r[0] for r in res[(name, load)]),
                          statistics.median(r[1] for r in res[(name, load)])) for load in loads}
            cells = " | ".join(f"{med[load][0]:.0f} ({med[load][1]:.1f})" for load in loads)
            print(f"| {name} | {cells} | {med['hog'][0] / med['idle'][0]:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
