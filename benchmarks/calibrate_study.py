"""Calibration studies: (1) a seeded replication of the calibration tests on a known process,
(2) the bundled-data leaderboard run with its wall time.

    python benchmarks/calibrate_study.py replicate --replications 20      # size and power of the tests
    python benchmarks/calibrate_study.py bundled --out calibration-bundled  # garch+bootstrap, then kronos
    python benchmarks/calibrate_study.py summarize --out calibration-bundled --html cal.html  # stored cells only

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


def summarize(out: str, html: str | None, matched: bool) -> None:
    """Leaderboard from the cell files already under --out (no planning, nothing computed): for a run still in
    progress, or cells written by other code versions. One record per (symbol, window, universe); with --matched
    only the (symbol, window) pairs every universe has."""
    from parallelverse.calibrate.cells import REFERENCE
    from parallelverse.generators import make_generator

    recs = {}
    for f in sorted(Path(out, "cells").glob("*.json")):
        r = json.loads(f.read_text())
        recs[(r["symbol"], r["window"], r["universe"])] = r
    records = list(recs.values())
    universes = sorted({r["universe"] for r in records})
    if matched:
        pairs = [{(r["symbol"], r["window"]) for r in records if r["universe"] == u} for u in universes]
        keep = set.intersection(*pairs)
        records = [r for r in records if (r["symbol"], r["window"]) in keep]
    horizons = sorted({int(h) for r in records for h in r["horizons"]})
    months = sorted({int(w[:4]) * 12 + int(w[5:7]) for w in {r["window"] for r in records}})
    every = min(b - a for a, b in zip(months, months[1:])) if len(months) > 1 else 1
    cal = aggregate(records, horizons, every, make_generator(REFERENCE).name)
    n_sym = len({r["symbol"] for r in records})
    print(f"{len(records)} cells, {n_sym} symbols, windows {min(r['window'] for r in records)}.."
          f"{max(r['window'] for r in records)} every {every}M")
    for h in horizons:
        print(f"\nhorizon {h} bars")
        print("| universe | cells | indep. | PIT KS p | Berkowitz p | cov 50% | cov 90% [95% CI, indep.] | path cov 90% "
              "| CRPS skill vs RW | skill vs GARCH (DM p) | drift bias /yr | vol ratio |")
        print("|" + " --- |" * 12)
        for x in cal.leaderboard(h):
            c90, ref = x.coverage["90"], x.vs_reference
            f = lambda v, fmt="{:.2f}": "-" if v is None else fmt.format(v)  # noqa: E731
            print(f"| {x.universe} | {x.n_cells} | {x.n_independent} | {f(x.pit_final.ks_p, '{:.3f}')} | "
                  f"{f(x.pit_final.berkowitz_p, '{:.3f}')} | {f(x.coverage['50'].rate_all)} | {f(c90.rate_all)} "
                  f"[{f(c90.ci[0]) if c90.ci else '-'}, {f(c90.ci[1]) if c90.ci else '-'}] | {f(c90.path_mean)} | "
                  f"{f(x.vs_random_walk.skill, '{:+.3f}')} | "
                  f"{'ref' if ref is None else f(ref.skill, '{:+.3f}') + ' (' + f(ref.dm_p, '{:.3f}') + ')'} | "
                  f"{f(x.drift_bias_mean, '{:+.2f}')} | {f(x.vol_ratio_median)} |")
    if html:
        from parallelverse.report.calibrate_html import write_calibrate_html

        doc = {"cells_planned": len(records), "request": {"windows": "stored cells", "every": f"{every}M",
                                                        "n_paths": records[0]["n_paths"], "seed": records[0]["seed"],
                                                        "context_bars": "stored"}}
        write_calibrate_html(cal, doc, html)


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
    c = sub.add_parser("summarize")
    c.add_argument("--out", required=True)
    c.add_argument("--html")
    c.add_argument("--matched", action="store_true")
    args = ap.parse_args()
    if args.cmd == "replicate":
        replicate(args.replications, args.n_paths, args.workers)
    elif args.cmd == "bundled":
        bundled(args.out, args.workers)
    else:
        summarize(args.out, args.html, args.matched)


if __name__ == "__main__":
    main()
