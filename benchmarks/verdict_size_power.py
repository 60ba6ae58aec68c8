"""Size and power of the skill verdict, by replication (the larger versions of tests/test_verdict_size.py and
tests/test_verdict_power.py).

Size: markets with nothing to exploit (i.i.d. Student-t with drift, zero-mean GJR-GARCH-t), strategies that
cannot have an edge there (an SMA grid, RSI reversion, random fixed entries): the share of "Skill" with its
Clopper-Pearson interval; it should be at most 5% at the upper end.
Power: AR(1) phi = 0.2 traded by 1-bar momentum, and an SMA on markets with persistent drift regimes.
Each line also shows the old rule (largest p over the same nulls) and each null's rejection rate at 0.05.

    python benchmarks/verdict_size_power.py size --reps 150 --n-null 199
    python benchmarks/verdict_size_power.py power --reps 150 --n-null 999
    python benchmarks/verdict_size_power.py size-extra --reps 300 --n-null 199 --seed0 1000

`size-extra`: strategies the issue does not list, as a hostile tester might pick them (volatility
targeting, a time-series momentum grid, a dip buyer, short-and-flat), on the same two markets.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.verdict_studies import rate, verdict_states  # noqa: E402

SIZE = [(m, s) for m in ("iid_t", "zero_mean_garch") for s in ("sma_grid", "rsi", "random_fixed")]
POWER = [("ar1", "momentum"), ("drift_regimes", "sma")]
SIZE_EXTRA = [(m, s) for m in ("iid_t", "zero_mean_garch") for s in ("vol_target", "tsmom_grid", "dip_buyer", "short_flat")]
SIZE_DRIFT = [(m, s) for m in ("bear_iid_t", "bull_iid_t") for s in ("short_flat", "one_day", "low_exposure", "sma_grid",
                                                                     "random_fixed")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("study", choices=("size", "power", "size-extra", "size-drift"))
    ap.add_argument("--reps", type=int, default=150)
    ap.add_argument("--n-null", type=int, default=199)
    ap.add_argument("--with-random-entry", action="store_true", help="also run random entry (old rule over 4 nulls)")
    ap.add_argument("--seed0", type=int, default=0, help="market of replication r drawn with seed seed0 + r")
    a = ap.parse_args()
    nulls = ("permutation", "bootstrap", "garch") + (("random-entry",) if a.with_random_entry else ())
    for market, strat in {"size": SIZE, "power": POWER, "size-extra": SIZE_EXTRA, "size-drift": SIZE_DRIFT}[a.study]:
        t0 = time.perf_counter()
        states, ps, old = verdict_states(market, strat, a.reps, a.n_null, seed0=a.seed0, nulls=nulls)
        r, (lo, hi) = rate(states)
        o, (olo, ohi) = rate(old)
        each = "  ".join(f"{k} {np.mean(np.array(v) <= 0.05):.3f}" for k, v in ps.items())
        counts = {s: states.count(s) for s in sorted(set(states))}
        print(f"{market:16s} {strat:13s} B={a.n_null} R={a.reps}: Skill {r:.3f} [{lo:.3f}, {hi:.3f}]  "
              f"old largest-p rule {o:.3f} [{olo:.3f}, {ohi:.3f}]  | p<=0.05: {each}  | {counts}  "
              f"[{time.perf_counter() - t0:.0f}s]", flush=True)


if __name__ == "__main__":
    main()
