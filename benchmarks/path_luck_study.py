"""Path luck with refitting: is the real result's percentile uniform when the generator is refit?

Each replication draws a GJR-GARCH-t market (calibrate.synthetic, the known process),
refits the generator on its first --context bars only (as in real use), samples
--paths futures of --horizon bars, and ranks the real future's buy-and-hold Sharpe
(and final log price) among them. Calibrated universes give Uniform(0, 1)
percentiles: KS p > 0.05, and 10% of them in the outer 10% (binomial interval shown).
Runs every --uncertainty setting side by side so the effect of estimation
uncertainty is read from the same replications.

    python benchmarks/path_luck_study.py --reps 300 --paths 200
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats

from parallelverse.calibrate.synthetic import gjr_garch_t_bars
from parallelverse.generators import make_generator
from parallelverse.market import Ohlcv
from parallelverse.verdict.stats import clopper_pearson, percentile_with_ci

SETTINGS = {"garch": ("asymptotic", "none"), "bootstrap": ("block-mean", "none")}


def context_and_future(seed: int, context: int, horizon: int) -> tuple[Ohlcv, np.ndarray]:
    df = gjr_garch_t_bars(seed, context + horizon)
    t = pd.to_datetime(df["date"]).to_numpy().astype("datetime64[ns]").astype(np.int64)  # weekdays, as real daily bars
    cols = [df[c].to_numpy(float) for c in ("open", "high", "low", "close", "volume")]
    ctx = Ohlcv("GJR", "simulated", t[:context], *(c[:context] for c in cols))
    return ctx, cols[3][context - 1:]  # last context close, then the real future's closes


def sharpe(closes: np.ndarray) -> np.ndarray:
    """Per-bar Sharpe of buy-and-hold log returns; closes (n_bars + 1, n_paths) start at the last context close."""
    r = np.diff(np.log(closes), axis=0)
    return r.mean(axis=0) / r.std(axis=0, ddof=1)


def percentiles(generator: str, uncertainty: str, reps: int, paths: int, context: int, horizon: int, seed0: int = 0,
                extra: dict | None = None):
    """(reps, 2) percentiles (0-1) of the real Sharpe and final log price among the refit universe's paths."""
    out = np.empty((reps, 2))
    spec = make_generator(generator, {"uncertainty": uncertainty, **(extra or {})})
    for rep in range(reps):
        ctx, real = context_and_future(seed0 + rep, context, horizon)
        batch = spec.fit(ctx).sample(horizon, rep, 0, paths)
        closes = np.vstack([np.full((1, paths), real[0]), batch.close])
        out[rep, 0] = percentile_with_ci(float(sharpe(real[:, None])[0]), sharpe(closes)).value / 100
        out[rep, 1] = percentile_with_ci(float(np.log(real[-1])), np.log(batch.close[-1])).value / 100
    return out


def summary(u: np.ndarray) -> dict:
    outer = int(((u < 0.05) | (u > 0.95)).sum())
    return {"ks_p": float(stats.kstest(u, "uniform").pvalue), "outer10": outer / len(u), "outer_k": outer,
            "n": len(u), "interval_at_10pct": clopper_pearson(round(0.1 * len(u)), len(u))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=300)
    ap.add_argument("--paths", type=int, default=200)
    ap.add_argument("--context", type=int, default=400)
    ap.add_argument("--horizon", type=int, default=252)
    ap.add_argument("--defaults-only", action="store_true", help="only the default uncertainty of each generator")
    ap.add_argument("--drift-prior-sd", type=float, default=None, help="override drift_prior_sd (annual; 0 = none)")
    a = ap.parse_args()
    lo, hi = stats.binom.ppf([0.025, 0.975], a.reps, 0.1) / a.reps
    print(f"{a.reps} replications, {a.paths} paths, context {a.context}, horizon {a.horizon}; "
          f"outer-10% share of a uniform percentile: 95% binomial range [{lo:.3f}, {hi:.3f}]")
    for gen, settings in SETTINGS.items():
        for unc in settings[:1] if a.defaults_only else settings:
            t0 = time.perf_counter()
            extra = {"drift_prior_sd": a.drift_prior_sd} if a.drift_prior_sd is not None and unc != "none" else {}
            u = percentiles(gen, unc, a.reps, a.paths, a.context, a.horizon, extra=extra)
            for k, what in enumerate(("sharpe", "final log price")):
                s = summary(u[:, k])
                print(f"{gen:9s} uncertainty={unc:10s} {what:15s} KS p={s['ks_p']:.3f}  outer 10%: "
                      f"{s['outer10']:.3f} ({s['outer_k']}/{s['n']})  [{time.perf_counter() - t0:.0f}s]")


if __name__ == "__main__":
    main()
