"""One configuration's rate-distortion curve on tree.avi (all 68 frames) and cup.mp4 (its first 64
frames): BD-rate and BD-PSNR against x264 and against the stored reference curve of today's `slt`
(benchmarks/rd_reference.json), then a row per clip appended to docs/results.md's ablation table.

    python benchmarks/rd.py --label "slt as today"                     # BD vs the reference: about 0
    python benchmarks/rd.py --label "supermask" --method supermask
    python benchmarks/rd.py --label "K=2 at 0.5/0.9" --set sparsity=0.5,0.9 --set fit.lr_scores=0.2
    python benchmarks/rd.py --clips cup --save-reference               # record cup's reference curve
    python benchmarks/rd.py --reference-only --clips tree              # the stored slt curve vs x264 only
    python benchmarks/rd.py --clips tree --frames 2 --epochs 1 --bpp 1,1.5,2 --no-append   # smoke run

The configuration is the bench's for the method (inrcodec/bench/run.py `method_options`: its tuned
learning rates, widths of the preset scaled to each rate) with `--set KEY=VALUE` on top (an
EncodeOptions field, or fit.FIELD for FitOptions). Every neural encode is measured from its decoded
file (`neural_row`, as `inrcodec bench`). x264 runs at the same targets and then along its CRF ladder
(`extend_ladder`) until its curve covers this configuration's PSNR range, so BD-rate against it
exists. BD-rate is integrated over the RGB PSNR interval both curves share, BD-PSNR over the
shared bpp interval, and both intervals are printed; curves that do not overlap say so.

Seeds: `--seeds auto` (default) runs seed 0 and, when its curve is within 0.2 dB of the reference
(|BD-PSNR| < 0.2), seed 1 as well (single runs are enough for larger differences); the curve is then
the mean over the seeds at each target. `--seeds 0,1,2` runs those. Without a reference curve for a
clip (cup.mp4 until someone records one) only the x264 comparison is made.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from inrcodec.bench.bdrate import bd_detail  # noqa: E402
from inrcodec.bench.run import TOLERANCE, extend_ladder, method_options, neural_row, standard_row  # noqa: E402
from inrcodec.bench.standard import encode_standard  # noqa: E402
from inrcodec.encoder import EncodeOptions, resolve_device  # noqa: E402
from inrcodec.fit.trainer import FitOptions  # noqa: E402

DATA = os.path.join(ROOT, "..", "shared", "data")
CLIPS = {"tree": ("tree.avi", None), "cup": ("cup.mp4", 64)}  # file, frames (None: all)
REFERENCE = os.path.join(ROOT, "benchmarks", "rd_reference.json")
RESULTS = os.path.join(ROOT, "docs", "results.md")
MARKER = "<!-- benchmarks/rd.py appends its rows above this line -->"
SEED_RULE_DB = 0.2  # under this distance from the reference one seed is not enough


def _value(text: str, current):
    if isinstance(current, bool):
        return text.lower() in ("1", "true", "yes", "on")
    if isinstance(current, tuple) or "," in text:
        return tuple(float(v) for v in text.split(",") if v)
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def configure(method: str, preset: str, epochs: int, device: str, sets: list[str]) -> EncodeOptions:
    """The bench's options for `method`, then each KEY=VALUE of `sets` (fit.KEY for FitOptions)."""
    opts = method_options(EncodeOptions(preset=preset, device=device, fit=FitOptions(epochs=epochs)), method)
    for item in sets:
        key, sep, text = item.partition("=")
        if not sep:
            raise SystemExit(f"--set wants KEY=VALUE, got {item!r}")
        target, name = (opts.fit, key[4:]) if key.startswith("fit.") else (opts, key)
        if name not in {f.name for f in dataclasses.fields(target)}:
            raise SystemExit(f"--set {key}: no such option in {type(target).__name__}")
        new = dataclasses.replace(target, **{name: _value(text, getattr(target, name))})
        opts = dataclasses.replace(opts, fit=new) if target is opts.fit else new
    opts.validate()
    return opts


def mean_curve(runs: list[list[dict]]) -> tuple[list[float], list[float]]:
    """(bpp, RGB PSNR) at each target, averaged over the seeds' runs."""
    targets = [r["target_bpp"] for r in runs[0]]
    bpp = [sum(run[i]["bpp"] for run in runs) / len(runs) for i in range(len(targets))]
    psnr = [sum(run[i]["psnr_rgb"] for run in runs) / len(runs) for i in range(len(targets))]
    return bpp, psnr


def describe(d: dict) -> tuple[str, str]:
    """(BD-rate text, BD-PSNR text), each with the interval it was integrated over, or why not."""
    rate = (f"{d['bd_rate']:+.1f} % over {d['psnr_interval'][0]:.2f}-{d['psnr_interval'][1]:.2f} dB"
            if d["bd_rate"] is not None else f"n/a ({d['notes']['bd_rate']})")
    psnr = (f"{d['bd_psnr']:+.2f} dB over {d['rate_interval'][0]:.4g}-{d['rate_interval'][1]:.4g} bpp"
            if d["bd_psnr"] is not None else f"n/a ({d['notes']['bd_psnr']})")
    return rate, psnr


def append_row(path: str, cells: list[str]) -> None:
    """Insert one Markdown table row after the last row of the table above MARKER in `path`."""
    with open(path) as f:
        lines = f.read().split("\n")
    if MARKER not in lines:
        raise SystemExit(f"{path} has no line {MARKER!r} under its ablation table")
    at = lines.index(MARKER)
    last = max(i for i in range(at) if lines[i].startswith("|"))
    lines.insert(last + 1, "| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def _commit() -> str:
    try:
        out = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


def seeded_runs(clip, name: str, args, opts: EncodeOptions, bpps: list[float], device, ref, show):
    """The configuration's rows at each target for each seed (--seeds), and the seeds run."""
    runs: list[list[dict]] = []
    done: list[int] = []
    seeds = [0] if args.seeds == "auto" else [int(s) for s in args.seeds.split(",")]
    while seeds:
        seed = seeds.pop(0)
        done.append(seed)
        seeded = dataclasses.replace(opts, seed=seed, fit=dataclasses.replace(opts.fit, seed=seed))
        runs.append([neural_row(clip, seeded, b, device, with_flip=False) for b in bpps])
        for row in runs[-1]:
            show(row)
        if args.seeds == "auto" and len(runs) == 1 and ref:
            gap = bd_detail(ref["bpp"], ref["psnr_rgb"], *mean_curve(runs))["bd_psnr"]
            if gap is not None and abs(gap) < SEED_RULE_DB:
                print(f"  {name}: {gap:+.2f} dB from the reference, under {SEED_RULE_DB} dB: a second seed", flush=True)
                seeds.append(1)
    return runs, done


def run_clip(name: str, args, opts: EncodeOptions, reference: dict) -> dict:
    from inrcodec.video.io import read_video

    file, frames = CLIPS[name]
    frames = args.frames or frames
    clip = read_video(os.path.join(DATA, file), frames=frames)
    device = resolve_device(opts.device)
    bpps = [float(v) for v in args.bpp.split(",")]
    ref = reference.get(name)
    if ref and ref.get("epochs") != opts.fit.epochs:
        print(f"{name}: note: the reference curve has {ref['epochs']} epochs, this run {opts.fit.epochs}", flush=True)

    def show(row: dict) -> None:
        where = f"ladder crf {row['crf']:g}" if row.get("ladder") else f"@ {row['target_bpp']:g}"
        miss = f" (rate miss: {row['miss']})" if row.get("rate_miss") else ""
        print(f"  {name} {row['method']} {where}: {row['bpp']:.4f} bpp {row['psnr_rgb']:.2f} dB{miss}", flush=True)

    runs: list[list[dict]] = []
    done: list[int] = []
    if args.reference_only:
        if not ref:
            raise SystemExit(f"--reference-only: no reference curve for {name}")
        bpps = list(ref["bpp"])
        runs.append([{"target_bpp": b, "bpp": b, "psnr_rgb": p} for b, p in zip(ref["bpp"], ref["psnr_rgb"])])
        done = list(ref["seeds"])
    else:
        runs, done = seeded_runs(clip, name, args, opts, bpps, device, ref, show)
    bpp, psnr = mean_curve(runs)
    x264 = []
    for b in bpps:
        x264.append(standard_row(clip, encode_standard(clip, "x264", bpp=b, tolerance=TOLERANCE), False, False))
        show(x264[-1])
    extend_ladder(clip, "x264", x264, min(psnr), max(psnr), False, lambda r: (x264.append(r), show(r)))
    xr = sorted((r["bpp"], r["psnr_rgb"]) for r in x264)
    vs_x264 = bd_detail([p[0] for p in xr], [p[1] for p in xr], bpp, psnr)
    vs_ref = bd_detail(ref["bpp"], ref["psnr_rgb"], bpp, psnr) if ref and not args.reference_only else None
    return {"clip": name, "frames": len(clip), "epochs": ref["epochs"] if args.reference_only else opts.fit.epochs,
            "size": f"{clip.info.width}x{clip.info.height}", "bpp": bpp, "psnr_rgb": psnr, "seeds": done, "runs": runs, "x264": x264, "vs_x264": vs_x264, "vs_reference": vs_ref}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--label", default="", help="name of the configuration in the results table")
    ap.add_argument("--method", default="slt")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--bpp", default="0.1,0.15,0.2", help="three or more target rates")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--clips", default="tree,cup")
    ap.add_argument("--frames", type=int, help="override the clips' frame counts (smoke runs only)")
    ap.add_argument("--seeds", default="auto")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reference", default=REFERENCE)
    ap.add_argument("--save-reference", action="store_true", help="store this run's curves as the reference "
                    "(only for today's slt: --method slt and no --set)")
    ap.add_argument("--reference-only", action="store_true", help="no neural encodes: the stored reference "
                    "curves against x264 (measured now)")
    ap.add_argument("--no-append", action="store_true", help="do not append rows to docs/results.md")
    ap.add_argument("--results", default=RESULTS, help=argparse.SUPPRESS)
    ap.add_argument("--json", dest="json_out", help="also write everything measured to this file")
    args = ap.parse_args()
    if len(args.bpp.split(",")) < 3 and not args.reference_only:
        raise SystemExit("--bpp: give three or more rates")
    if args.save_reference and (args.reference_only or args.method != "slt" or args.sets or args.frames or args.preset != "small"):
        raise SystemExit("--save-reference records today's slt only (--method slt, small preset, no --set, no --frames)")
    opts = configure(args.method, args.preset, args.epochs, args.device, args.sets)
    with open(args.reference) as f:
        stored = json.load(f)
    config = " ".join([args.method] + args.sets) + ("" if args.preset == "small" else f" preset={args.preset}")
    if args.reference_only:
        config = "stored slt curve (rd_reference.json); x264 measured now"
        args.label = args.label or "today's slt (reference)"
    results = []
    for name in args.clips.split(","):
        res = run_clip(name, args, opts, {} if args.frames else stored["clips"])
        results.append(res)
        rate, psnr = describe(res["vs_x264"])
        print(f"{name} ({res['frames']} frames {res['size']}, seeds {res['seeds']}): "
              + ", ".join(f"{b:.4f} bpp {p:.2f} dB" for b, p in zip(res["bpp"], res["psnr_rgb"])))
        print(f"  vs x264:  BD-rate {rate}; BD-PSNR {psnr}")
        if res["vs_reference"]:
            ref_rate, ref_psnr = describe(res["vs_reference"])
            print(f"  vs slt reference: BD-rate {ref_rate}; BD-PSNR {ref_psnr}")
            if len(res["seeds"]) == 1 and res["vs_reference"]["bd_psnr"] is not None \
                    and abs(res["vs_reference"]["bd_psnr"]) < SEED_RULE_DB:
                print(f"  under {SEED_RULE_DB} dB from the reference with one seed: not conclusive, run --seeds 0,1")
        else:
            if args.reference_only:
                ref_rate = ref_psnr = "(is the reference)"
            elif args.frames:
                ref_rate = ref_psnr = "no reference (--frames: the reference is for the whole clip)"
            else:
                ref_rate = ref_psnr = "no reference curve yet"
            print(f"  vs slt reference: {ref_rate}" + ("" if args.frames or args.reference_only
                                                       else "; record one with --save-reference"))
        if not args.no_append:
            append_row(args.results, [datetime.date.today().isoformat(), _commit(), args.label or config, config,
                                      f"{name} {res['frames']}f", str(res["epochs"]), ",".join(map(str, res["seeds"])),
                                      " / ".join(f"{b:.3f}" for b in res["bpp"]), " / ".join(f"{p:.2f}" for p in res["psnr_rgb"]),
                                      rate, psnr, ref_rate, ref_psnr])
            print(f"  appended a row to {args.results}")
        if args.save_reference:
            stored["clips"][name] = {
                "input": f"../shared/data/{CLIPS[name][0]}", "frames": res["frames"], "method": "slt",
                "epochs": args.epochs, "seeds": res["seeds"], "bpp": res["bpp"], "psnr_rgb": res["psnr_rgb"],
                "source": f"benchmarks/rd.py --save-reference --clips {name} --bpp {args.bpp} --epochs {args.epochs} "
                          f"--device {args.device}, commit {_commit()}, {datetime.date.today().isoformat()}"}
            with open(args.reference, "w") as f:
                json.dump(stored, f, indent=1)
                f.write("\n")
            print(f"  stored {name}'s curve in {args.reference}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=1, default=float)


if __name__ == "__main__":
    main()
