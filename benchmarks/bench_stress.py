"""Stress engine vs vectorbt: 10,000 paths x 252 bars, same strategy, same costs, results checked equal.

Both sides get the same target exposures (the SMA-crossover example, fast=50 /
slow=200, 200 warm-up bars) and compute the same per-path results: the equity
curve, total return, Sharpe, Sortino, max drawdown, annualised return and
volatility, plus buy-and-hold on the same paths for the excess.

- ours: `parallelverse.backtest.engine.backtest` + `buy_and_hold` (numba kernels);
- vectorbt: `Portfolio.from_orders(size_type="targetpercent")` for strategy and
  buy-and-hold, then its returns accessor for the metrics.

"warm": best of --repeat calls in one process after a first call (numba caches
loaded or compiled). "cold": a fresh process with an empty NUMBA_CACHE_DIR, first
call, compilation included — run for each side separately.

    python benchmarks/bench_stress.py [--n-paths 10000] [--repeat 3] [--skip-cold]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from _timing import best_of
import pandas as pd

H, WARMUP = 252, 200
FEES, SLIP = 1e-4, 2e-4


def make_bars(n_paths: int):
    from parallelverse.bars import PathBatch as Bars

    rng = np.random.default_rng(0)
    n = WARMUP + H
    close = 100 * np.exp(np.cumsum(rng.standard_t(4, (n, n_paths)) * 0.012, axis=0))
    open_ = close * np.exp(rng.normal(0, 0.004, (n, n_paths)))
    high, low = np.maximum(open_, close) * 1.003, np.minimum(open_, close) * 0.997
    return Bars(open_, high, low, close, np.ones_like(close), pd.bdate_range("2019-01-01", periods=n).as_unit("ns").asi8)


def target_of(bars):
    c = np.cumsum(bars.close, axis=0)
    def sma(k):
        out = np.full_like(bars.close, np.nan)
        out[k - 1] = c[k - 1] / k
        out[k:] = (c[k:] - c[:-k]) / k
        return out
    return (sma(50) > sma(200)).astype(float)


def ours(bars, target):
    from parallelverse.backtest.engine import Costs, backtest, buy_and_hold
    from parallelverse.backtest.strategy import Output

    costs = Costs(fees_bps=1.0, slippage_bps=2.0, fill="open", init_cash=100_000.0)
    m, v = backtest(Output(target, None), bars, WARMUP, costs)
    bh, bhv = buy_and_hold(bars, WARMUP, costs)
    return m, v, bh


def peer(bars, target):
    import vectorbt as vbt

    idx = pd.bdate_range("2020-01-01", periods=H)
    close = pd.DataFrame(bars.close[WARMUP:], index=idx)
    price = pd.DataFrame(bars.open[WARMUP:], index=idx)
    size = pd.DataFrame(np.vstack([target[WARMUP - 1:WARMUP], target[WARMUP:-1]]), index=idx)
    kw = dict(close=close, price=price, size_type="targetpercent", fees=FEES, slippage=SLIP, init_cash=100_000.0, freq="1D")
    out = {}
    for label, s in (("strategy", size), ("bh", pd.DataFrame(np.ones_like(close.values), index=idx))):
        pf = vbt.Portfolio.from_orders(size=s, **kw)
        acc = pf.returns().vbt.returns(freq="1D", year_freq="252 days")
        out[label] = {
            "value": pf.value().to_numpy(), "total_return": pf.total_return().to_numpy(),
            "sharpe": acc.sharpe_ratio().to_numpy(), "sortino": acc.sortino_ratio().to_numpy(),
            "cagr": acc.annualized().to_numpy(), "volatility": acc.annualized_volatility().to_numpy(),
        }
    return out


def check_equal(mine, theirs) -> float:
    from parallelverse.backtest.kernels import METRICS

    m, v, bh = mine
    worst = np.max(np.abs(v - theirs["strategy"]["value"]) / np.abs(theirs["strategy"]["value"]))
    for name in ("total_return", "sharpe", "sortino", "cagr", "volatility"):
        for mm, side in ((m, "strategy"), (bh, "bh")):
            ref = theirs[side][name]
            if name in ("sharpe", "sortino"):
                # vectorbt says inf when the denominator is 0; we say 0 for a path never
                # invested and NaN (undefined) otherwise
                flat = np.all(theirs[side]["value"] == 100_000.0, axis=0)
                ref = np.where(np.isinf(ref), np.where(flat, 0.0, np.nan), ref)
            np.testing.assert_allclose(mm[METRICS.index(name)], ref, rtol=1e-9, atol=1e-12, err_msg=f"{side} {name}")
    return float(worst)


def cold(side: str, n_paths: int) -> float:
    code = (f"import time, sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); import bench_stress as b;"
            f"bars = b.make_bars({n_paths}); t = b.target_of(bars);"
            f"import parallelverse.backtest.engine, vectorbt;"  # imports are not part of the timing
            f"t0 = time.perf_counter(); b.{side}(bars, t); print(time.perf_counter() - t0)")
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(res.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-paths", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-cold", action="store_true")
    args = ap.parse_args()

    bars = make_bars(args.n_paths)
    target = target_of(bars)
    mine, theirs = ours(bars, target), peer(bars, target)
    worst = check_equal(mine, theirs)
    t_ours = best_of(lambda: ours(bars, target), args.repeat)
    t_peer = best_of(lambda: peer(bars, target), args.repeat)
    print(f"{args.n_paths:,} paths x {H} bars (+{WARMUP} warm-up), SMA 50/200, fees 1 bp, slippage 2 bp; "
          f"{os.cpu_count()} CPUs; results equal (max equity rel. diff {worst:.1e})")
    print(f"{'':6} {'ours s':>8} {'vectorbt s':>11} {'ratio':>7}")
    print(f"{'warm':6} {t_ours:8.3f} {t_peer:11.3f} {t_peer / t_ours:6.1f}x")
    if not args.skip_cold:
        c_ours, c_peer = cold("ours", args.n_paths), cold("peer", args.n_paths)
        print(f"{'cold':6} {c_ours:8.3f} {c_peer:11.3f} {c_peer / c_ours:6.1f}x")
    print(json.dumps({"warm_ratio": round(t_peer / t_ours, 2)}))


if __name__ == "__main__":
    main()
