"""Network balance and density schedules at equal rate (issue 13, levers 1-3): one method with its
tuned bench settings at one matched rate, once per variant, every row measured from the decoded file
(`neural_row`, as `inrcodec bench`), the fit's thread count fixed.

A variant is NAME:KEY=VALUE;KEY=VALUE... where a KEY is a field of the preset (stem_hidden, c0,
c_min, max_cells, kernel, reduce, pe_levels: the shape whose ratios rate control scales to the
rate), layer_sparsity=LAYER=a,b,c|LAYER=a,b,c (--layer-sparsity), or, as in benchmarks/rd.py's
--set, an EncodeOptions field or fit.FIELD:

    python benchmarks/balance.py ../shared/data/tree.avi --bpp 0.1 --epochs 30 --log balance.jsonl \\
        --variant "base:" --variant "hnerv:reduce=1.2" --variant "thin stem:stem_hidden=64"
        --variant "sparse:sparsity=0.9,0.97,0.99" --variant "sparse stem:layer_sparsity=stem=0.8,0.95,0.99"

One JSON line per variant is appended to --log as soon as it is measured.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import inrcodec.bench.run as bench_run  # noqa: E402
import inrcodec.model.config as config  # noqa: E402
from inrcodec.bench.run import neural_row  # noqa: E402
from inrcodec.encoder import resolve_device  # noqa: E402
from inrcodec.threads import set_threads  # noqa: E402
from inrcodec.video.io import read_video  # noqa: E402
from claims import one_rate_arguments  # noqa: E402
from rd import _value, configure  # noqa: E402

PRESET_KEYS = {f.name for f in dataclasses.fields(config.Preset)}


@contextlib.contextmanager
def preset_overrides(preset: str, **fields):
    """The preset with `fields` replaced while the block runs (rate control scales its ratios)."""
    original = config.PRESETS[preset]
    config.PRESETS[preset] = dataclasses.replace(original, **fields)
    try:
        yield
    finally:
        config.PRESETS[preset] = original


def parse_variant(text: str) -> tuple[str, dict, list[str]]:
    """NAME:K=V;K=V -> (name, preset overrides, --set items)."""
    name, _, rest = text.partition(":")
    preset, sets, layer_sparsity = {}, [], []
    for item in [i for i in rest.split(";") if i]:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"variant {name!r}: {item!r} is not KEY=VALUE")
        if key in PRESET_KEYS:
            preset[key] = _value(value, getattr(config.PRESETS["small"], key))
        elif key == "layer_sparsity":  # LAYER=a,b,c|LAYER=a,b,c
            layers = [pair.partition("=") for pair in value.split("|")]
            layer_sparsity.append(tuple((n, tuple(float(v) for v in sp.split(","))) for n, _, sp in layers))
        else:
            sets.append(item)
    return name, preset, sets, (layer_sparsity[-1] if layer_sparsity else ())


def main() -> None:
    ap = one_rate_arguments(__doc__)
    ap.add_argument("--method", default="slt")
    ap.add_argument("--variant", action="append", required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()

    set_threads(args.threads)
    clip = read_video(args.input, frames=args.frames)
    device = resolve_device("cpu")
    shapes: list = []  # the networks the width search tried (the kept one is the row's weight count)
    encode = bench_run.encode_clip

    def recorded(clip_, opts):
        net = opts.network(clip_.info.width, clip_.info.height)
        shapes.append({"weights": net.num_weights(), "channels": list(getattr(net, "channels", ())),
                       "stem_hidden": getattr(net, "stem_hidden", None)})
        return encode(clip_, opts)

    bench_run.encode_clip = recorded
    for text in args.variant:
        name, preset, sets, layer_sparsity = parse_variant(text)
        shapes.clear()
        with preset_overrides(args.preset, **preset):
            opts = configure(args.method, args.preset, args.epochs, "cpu",
                             sets + [f"seed={args.seed}", f"fit.seed={args.seed}", f"fit.threads={args.threads}"])
            opts = dataclasses.replace(opts, layer_sparsity=layer_sparsity)
            opts.validate()
            t0 = time.perf_counter()
            row = neural_row(clip, opts, args.bpp, device, with_flip=False)
        kept = next((s for s in shapes if s["weights"] == row["weights"]), {})
        row.update(variant=name, preset_overrides=preset, sets=sets, layer_sparsity=layer_sparsity, input=os.path.basename(args.input),
                   frames=len(clip), epochs=args.epochs, threads=args.threads, seed=args.seed,
                   channels=kept.get("channels"), stem_hidden=kept.get("stem_hidden"), tries=list(shapes),
                   wall_seconds=time.perf_counter() - t0)
        with open(args.log, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{name:>24}: {row['bpp']:.4f} bpp, {row['psnr_rgb']:.2f} dB RGB, {row['weights']} weights "
              f"{row['channels']} stem {row['stem_hidden']}, encode {row['encode_seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
