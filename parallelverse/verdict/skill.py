"""Skill: does the strategy beat markets that have nothing to exploit?

Statistic: the strategy's excess over buy-and-hold on the same path (by default the
difference of Sharpe ratios), so market drift is not mistaken for skill. With a
params grid, the whole grid runs on every null path and the best configuration is
taken — on the real history too — so the search is inside the null.

p = (1 + b) / (B + 1) with a Clopper-Pearson interval, per null; the verdict uses the
most conservative (largest) p.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from parallelverse.bars import FIELDS
from parallelverse.market import Ohlcv
from parallelverse.rng import path_rngs
from parallelverse.stress.engine import (Costs, backtest, buy_and_hold, excess_metrics, execution_arrays,
                                         run_executed)
from parallelverse.stress.kernels import METRICS
from parallelverse.stress.run import with_warmup
from parallelverse.stress.strategy import Bars, Strategy
from parallelverse.verdict.nulls import MIN_GARCH_BARS, NULLS, null_paths
from parallelverse.verdict.stats import MonteCarloP, mc_p_value

STATISTICS = ("excess_sharpe", "excess_total_return", "information_ratio", "excess_cagr")


@dataclass(frozen=True)
class NullTest:
    name: str
    real: float  # best-of-grid statistic on the real history
    null: np.ndarray  # (B,) best-of-grid statistic on each null path
    p: MonteCarloP


def _pick(metrics: np.ndarray, excess: dict, statistic: str) -> np.ndarray:
    return excess[statistic] if statistic in excess else metrics[METRICS.index(statistic)]


def grid_statistic(strategy: Strategy, bars: Bars, warmup: int, costs: Costs, statistic: str, label: str,
                   check_from: int) -> np.ndarray:
    """(n_configs, n_paths) statistic of every configuration on every path of `bars`."""
    bh, bh_values = buy_and_hold(bars, warmup, costs)
    rows = []
    for config in strategy.configs:
        metrics, values = backtest(strategy.call(bars, config, label, check_from), bars, warmup, costs)
        rows.append(_pick(metrics, excess_metrics(metrics, bh, values, bh_values, costs), statistic))
    return np.stack(rows)


def best_of_grid(stat: np.ndarray) -> np.ndarray:
    """Best configuration per path; NaN-safe."""
    return np.nanmax(np.where(np.isfinite(stat), stat, -np.inf), axis=0)


def real_bars(hist: dict, context_end: int, realized_end: int, warmup: int) -> Bars:
    s = slice(context_end - warmup, realized_end)
    return Bars(*(np.ascontiguousarray(hist[f][s, None]) for f in FIELDS), hist["time"][s])


def null_test(kind: str, strategy: Strategy, hist: dict, context_end: int, realized_end: int, costs: Costs,
              n_paths: int, seed: int, statistic: str, real: float, check_from: int) -> NullTest:
    warmup = strategy.warmup
    base = Ohlcv("real", "history", hist["time"][context_end - 1 : realized_end],
                 *(hist[f][context_end - 1 : realized_end] for f in FIELDS))
    paths = null_paths(kind, base, n_paths, seed).as_dict()
    bars = with_warmup(hist, context_end, warmup, paths, hist["time"][context_end:realized_end])
    stat = best_of_grid(grid_statistic(strategy, bars, warmup, costs, statistic, f"{kind} null", check_from))
    return NullTest(kind, real, stat, mc_p_value(real, stat))


def _runs(x: np.ndarray) -> list[np.ndarray]:
    """Split a 1-D series into its maximal runs of equal values."""
    cut = np.flatnonzero(x[1:] != x[:-1]) + 1
    return np.split(x, cut)


def _held_exposure(out, bars: Bars, warmup: int, fill: str) -> np.ndarray:
    """The exposure actually held through each horizon bar (signals become 1 in / 0 out)."""
    target, signal, use_signals, _, _ = execution_arrays(out, bars, warmup, fill)
    if not use_signals:
        return np.nan_to_num(target[:, 0], nan=0.0)
    held, state = np.empty(signal.shape[0]), 0.0
    for t, s in enumerate(signal[:, 0]):
        state = 1.0 if s == 1 else 0.0 if s == -1 else state
        held[t] = state
    return held


def random_entry_test(strategy: Strategy, bars: Bars, costs: Costs, n_paths: int, seed: int, statistic: str,
                      real: float, check_from: int) -> NullTest:
    """The real market, with each configuration's own holding periods shuffled in time.

    Keeps the exposure levels, the number of position changes and every holding length;
    only the timing becomes random.
    """
    warmup = strategy.warmup
    close = np.ascontiguousarray(bars.close[warmup:])
    price = np.ascontiguousarray(bars.open[warmup:]) if costs.fill == "open" else close
    h = close.shape[0]
    rngs = path_rngs(seed, "null-random-entry", 0, n_paths)
    wide = lambda a: np.ascontiguousarray(np.repeat(a, n_paths, axis=1))  # noqa: E731
    bh, bh_values = run_executed(np.ones((h, n_paths)), np.zeros((1, n_paths), np.int8), False, wide(price), wide(close), costs)
    rows = []
    for config in strategy.configs:
        held = _held_exposure(strategy.call(bars, config, "real history", check_from), bars, warmup, costs.fill)
        runs = _runs(held)
        target = np.empty((h, n_paths))
        for j, rng in enumerate(rngs):
            target[:, j] = np.concatenate([runs[k] for k in rng.permutation(len(runs))])
        metrics, values = run_executed(target, np.zeros((1, n_paths), np.int8), False, wide(price), wide(close), costs)
        rows.append(_pick(metrics, excess_metrics(metrics, bh, values, bh_values, costs), statistic))
    stat = best_of_grid(np.stack(rows))
    return NullTest("random-entry", real, stat, mc_p_value(real, stat))


def skill_tests(strategy: Strategy, hist: dict, context_end: int, realized_end: int, costs: Costs,
                n_paths: int = 1000, seed: int = 0, statistic: str = "excess_sharpe",
                nulls: tuple[str, ...] = NULLS + ("random-entry",)) -> list[NullTest]:
    """Every null test; empty when the data has fewer than 20 real bars after the cut."""
    if realized_end - context_end < 20:
        return []
    warmup = strategy.warmup
    check_from = max(warmup - 1, 0) if costs.fill == "open" else warmup
    bars = real_bars(hist, context_end, realized_end, warmup)
    real = float(best_of_grid(grid_statistic(strategy, bars, warmup, costs, statistic, "real history", check_from))[0])
    out = []
    for kind in nulls:
        if kind == "random-entry":
            out.append(random_entry_test(strategy, bars, costs, n_paths, seed, statistic, real, check_from))
        elif kind != "garch" or realized_end - context_end >= MIN_GARCH_BARS:
            out.append(null_test(kind, strategy, hist, context_end, realized_end, costs, n_paths, seed, statistic,
                                 real, check_from))
    return out
