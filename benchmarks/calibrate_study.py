"""Calibration studies: (1) a seeded replication of the calibration tests on a known process,
(2) the bundled-data leaderboard run with its wall time.

    python benchmarks/calibrate_study.py replicate --replications 20      # size and power of the tests
    python benchmarks/calibrate_study.py bundled --out calibration-bundled  # garch+bootstrap, then kronos

(1) Each replication draws a fresh GJR-GARCH-t market (`calibrate.synthetic`), runs the
GARCH generator and a GARCH with 1.5x volatility over 100 monthly, non-overlapping 20-bar
horizons, and records whether each test rejects at 1%: KS and Berkowitz on the PITs of the
final price, KS on the PIT of realized volatility, and the exact 90% coverage interval
excluding 0.90. For the correct GARCH the rejection rates estimate the tests' size (should
be near 1%, somewhat above when parameter-estimation error matters); for the 1.5x GARCH,
their power.

(2) The issue's measurement: all six bundled symbols, windows 2020-01..2022-09 every 3
months, horizons 63 and 252, 500 paths; garch+bootstrap first, then the shipped Kronos
into the same --out (cells are reused), then the combined leaderboard (JSON + HTML).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from parallelverse.calibrate import CalibrateRequest, aggregate, plan_calibrate, run_calibrate
from parallelverse.calibrate.synthetic import gjr_garch_t_bars

ALPHA = 0.01


def replicate(n_rep: int, n_paths: int, workers: int) -> None:
    rows = []
    t0 = time.perf_counter()
    for rep in range(n_rep):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "gjr.csv"
            pd.concat([gjr_garch_t_bars(1000 + 2 * rep, 2800, "GJR1"),
                       gjr_garch_t_bars(1001 + 2 * rep, 2800, "GJR2")]).to_csv(path, index=False)
            req = CalibrateRequest(data=str(path), windows="1991-09:1995-10", every="1M", horizons=(20,),
                                   generators=("garch",), generator_params={"garch": {"vol_scale": 1.5}},
                                   n_paths=n_paths, seed=rep, out=str(Path(d) / "out"), workers=workers)
            plan = plan_calibrate(req)
            cal = aggregate(run_calibrate(plan).records, (20,), plan.every_months, plan.reference, plan.spans)
        for s in cal.summaries:
            c90 = s.coverage["90"]
            rows.append({"universe": s.universe, "n": s.n_independent,
                         "ks_final": s.pit_final.ks_p < ALPHA, "berkowitz_final": s.pit_final.berkowitz_p < ALPHA,
                         "ks_vol": s.pit_vol.ks_p < ALPHA, "coverage90": not c90.consistent,
                         "cov90_rate": c90.k / c90.n})
        print(f"replication {rep + 1}/{n_rep} done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    df = pd.DataFrame(rows)
    print(f"rejection rates at {ALPHA:.0%} over {n_rep} replications ({df['n'].iloc[0]} independent windows each):")
    print(df.groupby("universe")[["ks_final", "berkowitz_final", "ks_vol", "coverage90", "cov90_rate"]].mean()
          .round(3).to_string())


def bundled(out: str, workers: int) -> None:
    common = ["--symbols", "all", "--windows", "2020-01:2022-09", "--every", "3M", "--horizon", "63,252",
              "--n-paths", "500", "--seed", "0", "--out", out, "--workers", str(workers)]
    for gens in ("garch,bootstrap", "kronos"):
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "parallelverse", "calibrate", *common, "--generators", gens, "--json"],
                           capture_output=True, text=True, check=True)
        doc = json.loads(r.stdout)
        print(f"{gens}: {doc['cells_computed']} cells computed, {doc['cells_reused']} reused, "
              f"{time.perf_counter() - t0:.0f} s wall with {workers} workers")
    r = subprocess.run([sys.executable, "-m", "parallelverse", "calibrate", *common, "--generators",
                        "kronos,garch,bootstrap", "--html", f"{out}.html"], capture_output=True, text=True, check=True)
    print(r.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("replicate")
    a.add_argument("--replications", type=int, default=20)
    a.add_argument("--n-paths", type=int, default=200)
    a.add_argument("--workers", type=int, default=1)
    b = sub.add_parser("bundled")
    b.add_argument("--out", default="calibration-bundled")
    b.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    if args.cmd == "replicate":
        replicate(args.replications, args.n_paths, args.workers)
    else:
        bundled(args.out, args.workers)


if __name__ == "__main__":
    main()
