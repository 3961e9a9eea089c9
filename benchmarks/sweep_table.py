"""Turn the JSON lines of time_to_quality.py --log into a Markdown table.

    python benchmarks/sweep_table.py sweep.jsonl
"""

import json
import sys


def main() -> None:
    print("| lr scores | lr scales | batch | thresholds | warm-up | fixed scales | epochs | best PSNR (dB) | fit s | s to target |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for path in sys.argv[1:]:
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                # Older logs name a refresh interval; newer ones exact or sampled per-step thresholds.
                thresholds = f"every {r['threshold_every']}" if "threshold_every" in r else (
                    "exact" if r["exact_thresholds"] else "sampled")
                print(f"| {r['lr']} | {r['lr_scales']} | {r['batch']} | {thresholds} | {r['warmup']} | "
                      f"{'yes' if r['fixed_scales'] else 'no'} | {r['epochs']} | {r['best_psnr']:.2f} | {r['fit_seconds']:.0f} | "
                      f"{r['seconds_to_target'] if r['seconds_to_target'] is not None else '-'} |")


if __name__ == "__main__":
    main()
