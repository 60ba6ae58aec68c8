"""Our engine against vectorbt: equity curves and metrics on random paths, to 1e-9 relative."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

vbt = pytest.importorskip("vectorbt")

from parallelverse.backtest.engine import Costs, backtest, buy_and_hold  # noqa: E402
from parallelverse.backtest.kernels import METRICS, N_METRICS, run_paths_nb, run_paths_py  # noqa: E402
from parallelverse.backtest.strategy import Output  # noqa: E402
from parallelverse.bars import PathBatch as Bars  # noqa: E402

WARMUP, H, M = 5, 120, 300
COSTS = Costs(fees_bps=10.0, slippage_bps=5.0, fill="open", init_cash=10_000.0, periods_per_year=252.0)
RTOL = 1e-9


def random_bars(seed: int, n_paths: int = M) -> Bars:
    rng = np.random.default_rng(seed)
    n = WARMUP + H
    close = 50 * np.exp(np.cumsum(rng.standard_t(4, (n, n_paths)) * 0.015, axis=0))
    open_ = close * np.exp(rng.normal(0, 0.006, (n, n_paths)))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.005, (n, n_paths))))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.005, (n, n_paths))))
    time = pd.bdate_range("2020-01-01", periods=n).as_unit("ns").asi8
    return Bars(open_, high, low, close, rng.uniform(1e5, 1e6, (n, n_paths)), time)


def random_targets(seed: int, shape) -> np.ndarray:
    """Exposures in [-1.5, 1.5] (long, short, leveraged, flat) held for a few bars at a time."""
    rng = np.random.default_rng(seed)
    levels = rng.choice([-1.5, -1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 1.5], size=shape)
    hold = rng.random(shape) < 0.7
    for t in range(1, shape[0]):
        levels[t] = np.where(hold[t], levels[t - 1], levels[t])
    return levels


def vbt_frame(a):
    return pd.DataFrame(a, index=pd.bdate_range("2021-01-01", periods=len(a)))


def reference(pf, close, price, costs: Costs) -> dict[str, np.ndarray]:
    """Every metric computed from vectorbt's own portfolio, records and returns accessor."""
    kw = dict(freq="1D", year_freq="252 days")
    value = pf.value().to_numpy()
    rets = pf.returns()
    acc = rets.vbt.returns(**kw)
    with_start = pd.concat([rets.iloc[:1] * 0.0, rets]).vbt.returns(**kw)  # the initial capital is a peak
    cash, assets = pf.cash().to_numpy(), pf.assets().to_numpy()
    cash_before = np.vstack([np.full((1, cash.shape[1]), costs.init_cash), cash[:-1]])
    assets_before = np.vstack([np.zeros((1, assets.shape[1])), assets[:-1]])
    rec = pf.orders.values
    traded = np.zeros_like(value)
    for r in rec:
        i, j = r["idx"], r["col"]
        traded[i, j] = r["size"] * r["price"] / (cash_before[i, j] + assets_before[i, j] * price[i, j])
    peak = np.maximum.accumulate(np.vstack([np.full((1, value.shape[1]), costs.init_cash), value]), axis=0)[1:]
    under = value < peak
    longest = np.array([max((len(list(g)) for k, g in __import__("itertools").groupby(col) if k), default=0)
                        for col in under.T])
    in_mkt = (assets_before != 0) | (assets != 0)
    r = rets.to_numpy()
    dd = with_start.max_drawdown().to_numpy()
    cagr = acc.annualized().to_numpy()
    return {
        "value": value,
        "total_return": pf.total_return().to_numpy(),
        "cagr": cagr,
        "volatility": acc.annualized_volatility().to_numpy(),
        "sharpe": acc.sharpe_ratio().to_numpy(),
        "sortino": acc.sortino_ratio().to_numpy(),
        "max_drawdown": dd,
        "calmar": np.where(dd < 0, cagr / np.abs(dd), np.nan),
        "max_underwater_bars": longest.astype(float),
        "n_trades": pf.orders.count().to_numpy().astype(float),
        "turnover": traded.sum(axis=0) * 252 / len(value),
        "exposure": np.mean(np.abs(pf.asset_value().to_numpy()) / value, axis=0),
        "hit_rate": np.array([(r[in_mkt[:, j], j] > 0).mean() for j in range(r.shape[1])]),
    }


def assert_matches(metrics, values, ref):
    np.testing.assert_allclose(values, ref["value"], rtol=RTOL)
    for k, name in enumerate(METRICS):
        np.testing.assert_allclose(metrics[k], ref[name], rtol=RTOL, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("fill", ["open", "close"])
def test_target_exposure_matches_from_orders(fill):
    bars = random_bars(1)
    target = random_targets(2, bars.shape)
    costs = Costs(**{**COSTS.record(), "fill": fill})
    metrics, values = backtest(Output(target, None), bars, WARMUP, costs)
    close, price = bars.close[WARMUP:], (bars.open if fill == "open" else bars.close)[WARMUP:]
    size = np.vstack([target[WARMUP - 1 : WARMUP], target[WARMUP:-1]]) if fill == "open" else target[WARMUP:]
    pf = vbt.Portfolio.from_orders(
        close=vbt_frame(close), size=vbt_frame(size), size_type="targetpercent", price=vbt_frame(price),
        fees=costs.fees_bps * 1e-4, slippage=costs.slippage_bps * 1e-4, init_cash=costs.init_cash,
        direction="both", freq="1D",
    )
    assert pf.orders.count().sum() > 10 * M  # the fixture really trades
    assert_matches(metrics, values, reference(pf, close, price, costs))


def test_entry_exit_signals_match_from_signals():
    bars = random_bars(3)
    rng = np.random.default_rng(4)
    entries, exits = rng.random(bars.shape) < 0.08, rng.random(bars.shape) < 0.08
    metrics, values = backtest(Output(None, entries.astype(np.int8) - exits.astype(np.int8)), bars, WARMUP, COSTS)
    close, price = bars.close[WARMUP:], bars.open[WARMUP:]
    shift = lambda a: np.vstack([a[WARMUP - 1 : WARMUP], a[WARMUP:-1]])  # noqa: E731
    pf = vbt.Portfolio.from_signals(
        close=vbt_frame(close), entries=vbt_frame(shift(entries)), exits=vbt_frame(shift(exits)), price=vbt_frame(price),
        fees=COSTS.fees_bps * 1e-4, slippage=COSTS.slippage_bps * 1e-4, init_cash=COSTS.init_cash,
        direction="longonly", freq="1D",
    )
    assert pf.orders.count().sum() > 5 * M
    assert_matches(metrics, values, reference(pf, close, price, COSTS))


def test_buy_and_hold_matches_vectorbt():
    bars = random_bars(5)
    metrics, values = buy_and_hold(bars, WARMUP, COSTS)
    close, price = bars.close[WARMUP:], bars.open[WARMUP:]
    pf = vbt.Portfolio.from_orders(
        close=vbt_frame(close), size=vbt_frame(np.ones_like(close)), size_type="targetpercent", price=vbt_frame(price),
        fees=COSTS.fees_bps * 1e-4, slippage=COSTS.slippage_bps * 1e-4, init_cash=COSTS.init_cash, freq="1D",
    )
    assert_matches(metrics, values, reference(pf, close, price, COSTS))
    assert np.all(metrics[METRICS.index("n_trades")] == 1)


def test_python_twin_matches_compiled():
    bars = random_bars(6, n_paths=12)
    target = random_targets(7, bars.shape)[WARMUP:]
    close, price = bars.close[WARMUP:], bars.open[WARMUP:]
    sig = np.zeros((1, 12), np.int8)
    out = []
    for fn in (run_paths_py, run_paths_nb):
        v, m = np.empty(close.shape), np.empty((N_METRICS, 12))
        fn(target, sig, False, price, close, 1e4, 1e-3, 5e-4, 252.0, v, m)
        out.append((v, m))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-14)
