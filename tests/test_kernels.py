"""Backtest kernels: every compiled kernel equals its plain-Python twin; a worked example by hand; the execution rule."""

from __future__ import annotations

import numpy as np
import pytest

from parallelverse.backtest import kernels as k
from parallelverse.backtest.engine import execution_arrays, first_decision_bar
from parallelverse.backtest.strategy import Output
from parallelverse.bars import PathBatch

TWINS = [(k.is_close_py, k.is_close_nb), (k.add_py, k.add_nb)]


def _paths(seed: int, n: int = 40, m: int = 9):
    rng = np.random.default_rng(seed)
    close = 20 * np.exp(np.cumsum(rng.normal(0, 0.02, (n, m)), axis=0))
    price = close * np.exp(rng.normal(0, 0.005, (n, m)))
    target = rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, np.nan], size=(n, m))
    signal = rng.choice(np.array([-1, 0, 0, 1], np.int8), size=(n, m))
    return target, signal, price, close


@pytest.mark.parametrize("py, nb", TWINS, ids=["is_close", "add"])
def test_scalar_helpers_agree(py, nb):
    rng = np.random.default_rng(1)
    a = np.concatenate([rng.normal(size=200), [0.0, 1e-13, -1e-13, np.nan, np.inf, 1.0, 1.0 + 1e-10]])
    with np.errstate(invalid="ignore"):  # inf + -inf is part of the input space
        for x in a:
            for y in (x, -x, x + 1e-12, x * (1 + 1e-8), 0.0, 1.0):
                assert py(x, y) == nb(x, y) or (np.isnan(py(x, y)) and np.isnan(nb(x, y)))


@pytest.mark.parametrize("use_signals", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_simulate_and_metrics_1d_agree(seed, use_signals):
    target, signal, price, close = _paths(seed)
    for j in range(target.shape[1]):
        outs = []
        for sim, met in ((k.simulate_1d_py, k.metrics_1d_py), (k.simulate_1d_nb, k.metrics_1d_nb)):
            bufs = [np.empty(len(close)) for _ in range(4)]
            fills = sim(target[:, j], signal[:, j], use_signals, price[:, j], close[:, j], 1e4, 1e-3, 2e-4, *bufs)
            metrics = np.empty(k.N_METRICS)
            met(bufs[0], 1e4, bufs[1], bufs[2], bufs[3], fills, 252.0, metrics)
            outs.append((fills, bufs, metrics))
        (f0, b0, m0), (f1, b1, m1) = outs
        assert f0 == f1
        for x, y in zip(b0, b1):
            np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(m0, m1)


@pytest.mark.parametrize("use_signals", [False, True])
def test_run_paths_agree(use_signals):
    target, signal, price, close = _paths(7, m=23)
    out = []
    for fn in (k.run_paths_py, k.run_paths_nb):
        values, metrics = np.empty(close.shape), np.empty((k.N_METRICS, close.shape[1]))
        fn(target, signal, use_signals, price, close, 5e3, 5e-4, 1e-4, 52.0, values, metrics)
        out.append((values, metrics))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])


def test_three_bar_worked_example():
    """All in at 100 (no costs), closes 110 then 99: equity 1,100 then 990 on 1,000 of cash."""
    close = np.array([[110.0], [99.0], [99.0]])
    price = np.array([[100.0], [110.0], [99.0]])
    values, metrics = np.empty((3, 1)), np.empty((k.N_METRICS, 1))
    k.run_paths_nb(np.array([[1.0], [np.nan], [np.nan]]), np.zeros((1, 1), np.int8), False, price, close,
                   1000.0, 0.0, 0.0, 252.0, values, metrics)
    np.testing.assert_allclose(values[:, 0], [1100.0, 990.0, 990.0], rtol=1e-12)
    m = dict(zip(k.METRICS, metrics[:, 0]))
    r = np.array([0.1, -0.1, 0.0])
    assert m["total_return"] == pytest.approx(-0.01, rel=1e-12)
    assert m["max_drawdown"] == pytest.approx(990 / 1100 - 1, rel=1e-12)
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(252), rel=1e-12)
    assert m["n_trades"] == 1 and m["max_underwater_bars"] == 2
    assert m["hit_rate"] == pytest.approx(1 / 3)  # in the market all three bars, one of them up


@pytest.mark.parametrize("fill, warmup, first", [("open", 3, 2), ("close", 3, 3), ("open", 0, 0), ("close", 0, 0)])
def test_execution_rule_on_five_bars(fill, warmup, first):
    """The exposure decided at bar t trades at bar t+1's open (fill=open) or bar t's close (fill=close)."""
    n = 5
    decided = np.arange(n, dtype=float)[:, None]  # the decision at bar t is the number t
    bars = PathBatch(*(np.full((n, 1), 10.0 + i) for i in range(5)), np.arange(n, dtype=np.int64))
    target, _, _, price, close = execution_arrays(Output(decided, None), bars, warmup, fill)
    assert first_decision_bar(warmup, fill) == first
    lag = 1 if fill == "open" else 0
    want = [t - lag if t - lag >= 0 else np.nan for t in range(warmup, n)]  # horizon bar t trades decision t - lag
    np.testing.assert_array_equal(target[:, 0], want)
    np.testing.assert_array_equal(price[:, 0], bars.open[warmup:, 0] if fill == "open" else bars.close[warmup:, 0])
    np.testing.assert_array_equal(close[:, 0], bars.close[warmup:, 0])
