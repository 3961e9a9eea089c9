"""Long fuzz run of the .slt reader and decoder (the suite runs a short one: tests/test_fuzz.py).

    python benchmarks/fuzz.py [--cases 5000] [--seed 0] [--case I ...] [-v]
    python benchmarks/fuzz.py --structured

``--structured`` runs the structure-aware family instead (tests/fuzz_structured.py: valid files
at consistent extremes), each case in its own child process under the address-space cap, and
prints each case's outcome, file bytes, seconds and peak RSS (the child's, torch included), and the
worst file-bytes -> peak-MiB and -> seconds ratios.

Every case is a mutation of a valid small file (see tests/fuzz_harness.py for the mutations and the
contract). The first cases are the deterministic ones (every field at 0, 1 and its maximum, with
and without a recomputed CRC; truncation at every section boundary; appended bytes), the rest are
random, case i drawing from numpy.random.default_rng([seed, i]). ``--case`` re-runs single cases
(same --seed and --cases) to reproduce a failure. Exit status 1 if any case failed.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.fuzz_harness import count_deterministic, default_samples, run_fuzz  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=5000, help="total number of cases (default 5000)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random cases (default 0)")
    ap.add_argument("--case", type=int, action="append", help="run only this case index (repeatable)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every case")
    ap.add_argument("--structured", action="store_true", help="run the structure-aware family instead")
    args = ap.parse_args(argv)
    if args.structured:
        return structured()

    samples = default_samples()
    n_det = count_deterministic(samples)
    n_random = max(0, args.cases - n_det)
    print(
        f"{n_det} deterministic + {n_random} random cases on samples "
        + ", ".join(f"{s.name} ({len(s.data)} bytes)" for s in samples),
        flush=True,
    )

    def show(o):
        if args.verbose or o.status == "FAIL":
            print(f"{o.status:11s} {o.seconds:6.3f}s {o.where(args.seed)}: {o.message}", flush=True)

    report = run_fuzz(samples, n_random, args.seed, only=set(args.case) if args.case else None, on_outcome=show)
    print(report.summary())
    return 1 if report.failures else 0


def structured() -> int:
    from tests.fuzz_structured import MEMORY_CAP_BYTES, run_structured

    outcomes = run_structured(one_child_per_case=True)
    print(f"{len(outcomes)} structured cases, each in a child capped at {MEMORY_CAP_BYTES >> 20} MiB of address space")
    print("| case | outcome | file bytes | seconds | peak RSS MiB | over torch's baseline | memory_bound MiB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for o in outcomes:
        what = o.status if not o.failed else f"FAIL: {o.failed}"
        if o.status == "ok" and o.peak_rss - o.baseline_rss > o.bound:
            what += " (over its memory bound)"
        print(f"| {o.case.name} | {what} | {o.file_bytes} | {o.seconds:.2f} | {o.peak_rss / 2**20:.0f} | "
              f"{(o.peak_rss - o.baseline_rss) / 2**20:.0f} | {o.bound / 2**20:.0f} |")
    done = [o for o in outcomes if o.file_bytes]
    mem = max(done, key=lambda o: o.peak_rss / o.file_bytes)
    sec = max(done, key=lambda o: o.seconds / o.file_bytes)
    print(f"worst bytes -> peak: {mem.file_bytes} B -> {mem.peak_rss / 2**20:.0f} MiB ({mem.case.name}); "
          f"worst bytes -> seconds: {sec.file_bytes} B -> {sec.seconds:.2f} s ({sec.case.name})")
    failed = [o for o in outcomes if o.failed]
    print(f"failures: {len(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
