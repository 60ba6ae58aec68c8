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

from parallelverse.backtest.engine import Costs, decide, execution_arrays, fill_prices, metric_rows, run_executed, run_grid
from parallelverse.backtest.strategy import Strategy
from parallelverse.bars import PathBatch, real_bars, with_warmup
from parallelverse.rng import path_rngs
from parallelverse.window import SeedSplit
from parallelverse.verdict.nulls import MIN_GARCH_BARS, NULLS, null_paths
from parallelverse.verdict.stats import MonteCarloP, mc_p_value

STATISTICS = ("excess_sharpe", "excess_total_return", "information_ratio", "excess_cagr")


@dataclass(frozen=True)
class NullTest:
    name: str
    real: float  # best-of-grid statistic on the real history
    null: np.ndarray  # (B,) best-of-grid statistic on each null path
    p: MonteCarloP


def grid_statistic(strategy: Strategy, bars: PathBatch, costs: Costs, statistic: str, label: str) -> np.ndarray:
    """(n_configs, n_paths) statistic of every configuration on every path of `bars`."""
    return run_grid(strategy, bars, costs, label).metrics[statistic]


def best_of_grid(stat: np.ndarray) -> np.ndarray:
    """Best configuration per path; NaN-safe."""
    return np.nanmax(np.where(np.isfinite(stat), stat, -np.inf), axis=0)


def null_test(kind: str, strategy: Strategy, split: SeedSplit, costs: Costs, n_paths: int, seed: int, statistic: str,
              real: float) -> NullTest:
    ce, re = split.context_end, split.realized_end
    base = split.history.slice(ce - 1, re)  # the bar before the horizon, then the realized horizon
    paths = null_paths(kind, base, n_paths, seed).on(split.history.time[ce:re])
    bars = with_warmup(split, strategy.warmup, paths)
    stat = best_of_grid(grid_statistic(strategy, bars, costs, statistic, f"{kind} null"))
    return NullTest(kind, real, stat, mc_p_value(real, stat))


def _runs(x: np.ndarray) -> list[np.ndarray]:
    """Split a 1-D series into its maximal runs of equal values."""
    cut = np.flatnonzero(x[1:] != x[:-1]) + 1
    return np.split(x, cut)


def _held_exposure(out, bars: PathBatch, warmup: int, fill: str) -> np.ndarray:
    """The exposure actually held through each horizon bar (signals become 1 in / 0 out)."""
    target, signal, use_signals, _, _ = execution_arrays(out, bars, warmup, fill)
    if not use_signals:
        return np.nan_to_num(target[:, 0], nan=0.0)
    held, state = np.empty(signal.shape[0]), 0.0
    for t, s in enumerate(signal[:, 0]):
        state = 1.0 if s == 1 else 0.0 if s == -1 else state
        held[t] = state
    return held


def random_entry_test(strategy: Strategy, bars: PathBatch, costs: Costs, n_paths: int, seed: int, statistic: str,
                      real: float) -> NullTest:
    """The real market, with each configuration's own holding periods shuffled in time.

    Keeps the exposure levels, the number of position changes and every holding length;
    only the timing becomes random.
    """
    warmup = strategy.warmup
    price, close = fill_prices(bars, warmup, costs.fill)
    h = close.shape[0]
    rngs = path_rngs(seed, "null-random-entry", 0, n_paths)
    wide = lambda a: np.ascontiguousarray(np.repeat(a, n_paths, axis=1))  # noqa: E731
    bh, bh_values = run_executed(np.ones((h, n_paths)), np.zeros((1, n_paths), np.int8), False, wide(price), wide(close), costs)
    rows = []
    for config in strategy.configs:
        held = _held_exposure(decide(strategy, bars, config, costs.fill, "real history"), bars, warmup, costs.fill)
        runs = _runs(held)
        target = np.empty((h, n_paths))
        for j, rng in enumerate(rngs):
            target[:, j] = np.concatenate([runs[k] for k in rng.permutation(len(runs))])
        metrics, values = run_executed(target, np.zeros((1, n_paths), np.int8), False, wide(price), wide(close), costs)
        rows.append(metric_rows(metrics, values, bh, bh_values, costs)[statistic])
    stat = best_of_grid(np.stack(rows))
    return NullTest("random-entry", real, stat, mc_p_value(real, stat))


def real_statistic(strategy: Strategy, split: SeedSplit, costs: Costs, statistic: str) -> float:
    """The best-of-grid statistic on the real history."""
    bars = real_bars(split, strategy.warmup)
    return float(best_of_grid(grid_statistic(strategy, bars, costs, statistic, "real history"))[0])


def run_null(kind: str, strategy: Strategy, split: SeedSplit, costs: Costs, n_paths: int, seed: int, statistic: str,
             real: float) -> NullTest:
    """One null test by name (the market nulls, or random-entry)."""
    if kind == "random-entry":
        return random_entry_test(strategy, real_bars(split, strategy.warmup), costs, n_paths, seed, statistic, real)
    return null_test(kind, strategy, split, costs, n_paths, seed, statistic, real)


def skill_tests(strategy: Strategy, split: SeedSplit, costs: Costs, n_paths: int = 1000, seed: int = 0,
                statistic: str = "excess_sharpe", nulls: tuple[str, ...] = NULLS + ("random-entry",)) -> list[NullTest]:
    """Every null test; empty when the data has fewer than 20 real bars after the cut."""
    n_real = split.realized_end - split.context_end
    if n_real < 20:
        return []
    real = real_statistic(strategy, split, costs, statistic)
    return [run_null(kind, strategy, split, costs, n_paths, seed, statistic, real)
            for kind in nulls if kind != "garch" or n_real >= MIN_GARCH_BARS]
