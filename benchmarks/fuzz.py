"""Long fuzz run of the .slt reader and decoder (the suite runs a short one: tests/test_fuzz.py).

    python benchmarks/fuzz.py [--cases 5000] [--seed 0] [--case I ...] [-v]

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
    args = ap.parse_args(argv)

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


if __name__ == "__main__":
    sys.exit(main())
