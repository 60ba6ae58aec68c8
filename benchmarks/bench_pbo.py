"""PBO by CSCV: all 12,870 splits of 16 blocks from the blocks' moments at once (`cscv`) against the same
computation one split at a time as Bailey et al. write it (`cscv_by_split`, its twin), same returns, same run.

The returns are a grid's real-history returns as `report` sees them: T bars x N configurations of
Student-t noise. The two must agree (checked here); the ratio is the loop's time over ours.

    python benchmarks/bench_pbo.py [--bars 252] [--configs 4,16,64] [--repeat 3]
"""

from __future__ import annotations

import argparse

import numpy as np

from _timing import best_of


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=252)
    ap.add_argument("--configs", default="4,16,64")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from parallelverse.verdict.pbo import cscv, cscv_by_split

    print(f"{'configs':>8} {'splits':>7} {'by split (s)':>13} {'cscv (s)':>9} {'ratio':>7}")
    for n in map(int, args.configs.split(",")):
        r = np.random.default_rng(n).standard_t(4, (args.bars, n)) * 0.01
        fast, slow = cscv(r), cscv_by_split(r)
        assert fast["pbo"] == slow["pbo"] and np.allclose(fast["logits"], slow["logits"], atol=2e-6)
        t_slow = best_of(lambda: cscv_by_split(r), args.repeat)
        t_fast = best_of(lambda: cscv(r), args.repeat)
        print(f"{n:>8} {fast['n_splits']:>7,} {t_slow:>13.3f} {t_fast:>9.4f} {t_slow / t_fast:>6.0f}x")


if __name__ == "__main__":
    main()
