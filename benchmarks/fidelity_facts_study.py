"""Are the fidelity flag's stylized facts calibrated at every horizon? A right generator on its own process.

Markets from the known GJR-GARCH-t process (calibrate.synthetic), the GARCH generator fitted on the first 400
bars (uncertainty none), 200 paths of H bars. Printed per H: the mean number of the 8 facts outside the paths'
5-95% band (0.8 expected when each is outside 10% of the time) and the share of cells flagged (3 or more),
for the rule `report` and `calibrate` use (verdict.fidelity.fact_bands: real and synthetic facts on the same
number of bars) beside the rule before (the whole context against the paths).

    python benchmarks/fidelity_facts_study.py 60

Measured (60 replications): H=30 0.80 outside, 8.3% flagged (before: 2.70, 50.0%); H=63 0.78, 6.7%
(1.33, 11.7%); H=252 0.77, 6.7% (0.65, 10.0%).
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from parallelverse.calibrate.synthetic import gjr_garch_t_bars
from parallelverse.generators import make_generator
from parallelverse.market import Ohlcv
from parallelverse.verdict.fidelity import FACTS, fact_bands, stylized_facts


def outside_before(r_real: np.ndarray, r_syn: np.ndarray) -> int:
    """Facts outside their bands under the rule before: the whole context against the paths."""
    real = {k: float(v[0]) for k, v in stylized_facts(r_real[:, None]).items()}
    syn = stylized_facts(r_syn)
    n = 0
    for k in FACTS:
        v = syn[k][np.isfinite(syn[k])]
        if len(v) and np.isfinite(real[k]):
            q05, q95 = np.quantile(v, [0.05, 0.95])
            n += not q05 <= real[k] <= q95
    return n


def main(reps: int) -> None:
    for h in (30, 63, 252):
        now, before = [], []
        for rep in range(reps):
            df = gjr_garch_t_bars(rep, 400 + h)
            t = pd.to_datetime(df["date"]).to_numpy().astype("datetime64[ns]").astype(np.int64)
            cols = [df[c].to_numpy(float) for c in ("open", "high", "low", "close", "volume")]
            ctx = Ohlcv("GJR", "simulated", t[:400], *(c[:400] for c in cols))
            b = make_generator("garch", {"uncertainty": "none"}).fit(ctx).sample(h, rep, 0, 200)
            r_real = np.diff(np.log(ctx.close))
            r_syn = np.diff(np.log(np.vstack([np.full((1, 200), ctx.close[-1]), b.close])), axis=0)
            now.append(sum(not f.inside for f in fact_bands(r_real, r_syn).values()))
            before.append(outside_before(r_real, r_syn))
        n, o = np.array(now), np.array(before)
        print(f"H={h}: facts outside per cell {n.mean():.2f} (flagged {np.mean(n >= 3):.3f}); rule before "
              f"{o.mean():.2f} (flagged {np.mean(o >= 3):.3f})", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 60)
