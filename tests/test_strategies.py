"""Each example strategy does what its docstring says, checked against pandas on real and simulated bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from parallelverse.backtest.engine import Costs, backtest, buy_and_hold, first_decision_bar
from parallelverse.backtest.kernels import METRICS
from parallelverse.backtest.strategy import load_strategy
from parallelverse.bars import PathBatch as Bars

ROOT = Path(__file__).parent.parent / "strategies"


def real_bars(aapl, n_paths=1) -> Bars:
    cols = [np.repeat(getattr(aapl, f)[:, None], n_paths, axis=1) for f in ("open", "high", "low", "close", "volume")]
    return Bars(*cols, aapl.time)


def gbm_bars(vol: float, n=1500, m=20, seed=0) -> Bars:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, vol / np.sqrt(252), (n, m)), axis=0))
    return Bars(close, close, close, close, np.ones_like(close), pd.bdate_range("2000-01-03", periods=n).as_unit("ns").asi8)


@pytest.mark.parametrize("path", sorted(ROOT.glob("*.py")), ids=lambda p: p.stem)
def test_every_example_loads_and_runs(path, aapl):
    s = load_strategy(path)
    bars = real_bars(aapl, 3)
    for config in s.configs:
        out = s.call(bars, config, "test", check_from=s.warmup)
        metrics, _ = backtest(out, bars, s.warmup, Costs())
        assert np.isfinite(metrics[METRICS.index("total_return")]).all()


@pytest.mark.parametrize("fill", ["open", "close"])
@pytest.mark.parametrize("path", sorted(ROOT.glob("*.py")), ids=lambda p: p.stem)
def test_every_example_has_the_history_its_first_traded_decision_needs(path, fill, aapl):
    """With `warmup` real bars in front, the decisions that are traded (from bar warmup - 1 with --fill open) are
    the ones the strategy makes with more history: ts_momentum's warmup of 126 left its 126-bar lookback
    undefined at bar 125, flat on the first bar of every path; vol_target's 21 bars left a quarter of its EWMA
    variance on the first squared return."""
    s = load_strategy(path)
    first = first_decision_bar(s.warmup, fill)
    start, extra = 1500, 300  # a horizon of 60 bars from bar 1500 of AAPL
    cut = lambda lo: Bars(*(getattr(aapl, f)[lo:start + 60, None] for f in ("open", "high", "low", "close", "volume")),
                          aapl.time[lo:start + 60])
    for config in s.configs:
        short = s.call(cut(start - s.warmup), config, "t", check_from=first)
        long = s.call(cut(start - s.warmup - extra), config, "t", check_from=first)
        a = short.target if not short.is_signals else short.signal
        b = long.target if not long.is_signals else long.signal
        if a.dtype.kind == "f":  # an EWMA forgets its start geometrically: equal within 1%
            np.testing.assert_allclose(a[first:], b[extra + first:], rtol=0.01, err_msg=f"{path.stem} {config}")
        else:
            np.testing.assert_array_equal(a[first:], b[extra + first:], err_msg=f"{path.stem} {config}")


def test_buy_and_hold_is_the_benchmark(aapl):
    s = load_strategy(ROOT / "buy_and_hold.py")
    bars = real_bars(aapl)
    m, v = backtest(s.call(bars, {}, "t"), bars, s.warmup, Costs())
    bh, bhv = buy_and_hold(bars, s.warmup, Costs())
    np.testing.assert_array_equal(v, bhv)
    np.testing.assert_array_equal(m, bh)


def test_sma_crossover_matches_pandas(aapl):
    s = load_strategy(ROOT / "sma_crossover.py")
    assert s.configs == ({"fast": 20, "slow": 100}, {"fast": 20, "slow": 200}, {"fast": 50, "slow": 100}, {"fast": 50, "slow": 200})
    close = pd.Series(aapl.close)
    for cfg in s.configs:
        got = s.call(real_bars(aapl), cfg, "t").target[:, 0]
        want = (close.rolling(cfg["fast"]).mean() > close.rolling(cfg["slow"]).mean()).astype(float).to_numpy()
        np.testing.assert_array_equal(got[cfg["slow"]:], want[cfg["slow"]:])
    assert 0 < got.mean() < 1  # AAPL 2013-2023 had both regimes


def test_ts_momentum_matches_pandas(aapl):
    s = load_strategy(ROOT / "ts_momentum.py")
    close = pd.Series(aapl.close)
    for cfg in s.configs:
        got = s.call(real_bars(aapl), cfg, "t").target[:, 0]
        want = np.sign(close.pct_change(cfg["lookback"]).fillna(0.0)).to_numpy()
        np.testing.assert_array_equal(got[cfg["lookback"]:], want[cfg["lookback"]:])
        assert set(np.unique(got)) == {-1.0, 0.0, 1.0}


def test_rsi_reversion_matches_wilder_rsi(aapl):
    s = load_strategy(ROOT / "rsi_reversion.py")
    close = pd.Series(aapl.close)
    d = close.diff().fillna(0.0)
    up = d.clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean()
    down = (-d).clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean()
    rsi = (100 - 100 / (1 + up / down)).to_numpy()
    out = s.call(real_bars(aapl), {"low": 30}, "t")
    assert out.is_signals
    np.testing.assert_array_equal(out.signal[50:, 0] == 1, (rsi < 30)[50:] & ~(rsi > 55)[50:])
    np.testing.assert_array_equal(out.signal[50:, 0] == -1, (rsi > 55)[50:])


def test_vol_target_hits_its_volatility():
    s = load_strategy(ROOT / "vol_target.py")
    bars = gbm_bars(vol=0.40)
    out = s.call(bars, {}, "t")
    assert np.all((out.target >= 0) & (out.target <= 1))
    metrics, _ = backtest(out, bars, s.warmup, Costs(fees_bps=0, slippage_bps=0))
    realized = metrics[METRICS.index("volatility")]
    assert np.all(np.abs(realized - 0.15) < 0.02)  # 40% vol asset scaled to ~15%
    assert np.median(out.target[100:]) == pytest.approx(0.15 / 0.40, rel=0.1)
