"""From a strategy's output to per-path metrics: fill timing, costs, buy-and-hold, excess.

`run_grid` is the one place a params grid meets the bars: every configuration
backtested, buy-and-hold on the same paths, and the excess of one over the other.

Execution model (documented in README):
- the exposure decided from bars up to t is traded at bar t+1's open (`fill="open"`,
  the default) or at bar t's close (`fill="close"`);
- the first horizon bar's open trades the decision taken at the last real bar
  before the horizon (the end of the warm-up), so a strategy can be invested from
  the first synthetic bar; `first_decision_bar` is that rule, written once;
- fees and slippage are in basis points of traded notional: buys fill at
  price * (1 + slippage), sells at price * (1 - slippage), and fees are charged on
  the filled notional (vectorbt's semantics);
- equity is marked at each bar's close, starting from `init_cash` at the cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from parallelverse.backtest.kernels import METRICS, N_METRICS, run_paths_nb
from parallelverse.backtest.strategy import Output, Strategy
from parallelverse.bars import PathBatch

EXCESS = ("total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar")
FILLS = ("open", "close")


@dataclass(frozen=True)
class Costs:
    fees_bps: float = 1.0  # commission, bps of traded notional
    slippage_bps: float = 2.0  # price impact / half-spread, bps of the fill price
    fill: str = "open"  # "open": next bar's open; "close": same bar's close
    init_cash: float = 100_000.0
    periods_per_year: float = 252.0  # annualisation: the data's bars per year (trading_calendar.bars_per_year)

    def record(self) -> dict:
        return {"fees_bps": self.fees_bps, "slippage_bps": self.slippage_bps, "fill": self.fill,
                "init_cash": self.init_cash, "periods_per_year": self.periods_per_year}


def decision_lag(fill: str) -> int:
    """Bars between a decision and its fill: 1 at the next bar's open, 0 at the same bar's close."""
    return 1 if fill == "open" else 0


def first_decision_bar(warmup: int, fill: str) -> int:
    """The first bar whose decision is traded; earlier outputs are never used (NaN is allowed there)."""
    return max(warmup - decision_lag(fill), 0)


def fill_prices(bars: PathBatch, warmup: int, fill: str) -> tuple[np.ndarray, np.ndarray]:
    """Per horizon bar: the fill price (open or close) and the close equity is marked at, (horizon, n_paths) each."""
    close = np.ascontiguousarray(bars.close[warmup:])
    price = np.ascontiguousarray(bars.open[warmup:]) if fill == "open" else close
    return price, close


def execution_arrays(out: Output, bars: PathBatch, warmup: int, fill: str):
    """Per horizon bar: what to trade (target or signal), at which price, marked at which close."""
    price, close = fill_prices(bars, warmup, fill)
    h, m = close.shape
    if out.is_signals:
        src, empty = out.signal, 0
    else:
        src, empty = out.target, np.nan
    start = warmup - decision_lag(fill)  # the bar whose decision the first horizon bar trades
    if start < 0:  # fill at open without warm-up: nothing decided before the first bar
        exe = np.empty((h, m), src.dtype)
        exe[0] = empty
        exe[1:] = src[: h - 1]
    else:
        exe = np.ascontiguousarray(src[start : start + h])
    if out.is_signals:  # the kernel ignores the unused input; give it the right dtype and width
        return np.zeros((1, m)), exe, True, price, close
    return exe, np.zeros((1, m), np.int8), False, price, close


def backtest(out: Output, bars: PathBatch, warmup: int, costs: Costs) -> tuple[np.ndarray, np.ndarray]:
    """Metrics (N_METRICS, n_paths) and equity (horizon, n_paths) of one configuration."""
    return run_executed(*execution_arrays(out, bars, warmup, costs.fill), costs)


def buy_and_hold(bars: PathBatch, warmup: int, costs: Costs) -> tuple[np.ndarray, np.ndarray]:
    """Fully invested from the first horizon bar (its open, or its close with fill="close"), same costs."""
    price, close = fill_prices(bars, warmup, costs.fill)
    return run_executed(np.ones(close.shape), np.zeros((1, close.shape[1]), np.int8), False, price, close, costs)


def run_executed(target, signal, use_signals, price, close, costs: Costs) -> tuple[np.ndarray, np.ndarray]:
    h, m = close.shape
    values = np.empty((h, m))
    metrics = np.empty((N_METRICS, m))
    run_paths_nb(target, signal, use_signals, price, close, float(costs.init_cash), costs.fees_bps * 1e-4,
                 costs.slippage_bps * 1e-4, float(costs.periods_per_year), values, metrics)
    return metrics, values


def excess_metrics(metrics: np.ndarray, bh: np.ndarray, values: np.ndarray, bh_values: np.ndarray,
                   costs: Costs) -> dict[str, np.ndarray]:
    """Strategy minus buy-and-hold on the same path, and the information ratio of the bar-by-bar difference."""
    out = {f"excess_{m}": metrics[METRICS.index(m)] - bh[METRICS.index(m)] for m in EXCESS}
    def rets(v):
        prev = np.vstack([np.full((1, v.shape[1]), costs.init_cash), v[:-1]])
        with np.errstate(divide="ignore", invalid="ignore"):  # a book wiped out by costs: NaN, not a warning
            return (v - prev) / prev
    d = rets(values) - rets(bh_values)
    sd = d.std(axis=0, ddof=1) if len(d) > 1 else np.full(d.shape[1], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["information_ratio"] = np.where(sd > 0, d.mean(axis=0) / sd * np.sqrt(costs.periods_per_year), np.nan)
    return out


def metric_rows(metrics: np.ndarray, values: np.ndarray, bh: np.ndarray, bh_values: np.ndarray,
                costs: Costs) -> dict[str, np.ndarray]:
    """Every metric by name, (n_paths,) each: the kernel's METRICS, then the excess over buy-and-hold."""
    row = {m: metrics[k] for k, m in enumerate(METRICS)}
    row.update(excess_metrics(metrics, bh, values, bh_values, costs))
    return row


def decide(strategy: Strategy, bars: PathBatch, config: dict, fill: str, label: str) -> Output:
    """The strategy's output for one configuration, checked from the first bar whose decision is traded."""
    return strategy.call(bars, config, label, first_decision_bar(strategy.warmup, fill))


@dataclass(frozen=True)
class GridResult:
    """A params grid on a set of paths."""

    metrics: dict[str, np.ndarray]  # name -> (n_configs, n_paths): METRICS, excess_*, information_ratio
    bh: dict[str, np.ndarray]  # bh_<metric> -> (1, n_paths): buy-and-hold on the same paths
    equity: tuple[np.ndarray, ...]  # per configuration (horizon, n_paths), when asked for; else ()
    bh_equity: np.ndarray  # (horizon, n_paths)
    max_long: float = 0.0  # the largest long exposure asked for (traded bars); above 1 it is filled up to the cash


def run_grid(strategy: Strategy, bars: PathBatch, costs: Costs, label: str, keep_equity: bool = False) -> GridResult:
    """Every configuration of the grid on every path of `bars`, with buy-and-hold and the excess over it.

    bars: the strategy's `warmup` bars followed by the horizon; label names the paths in messages.
    """
    warmup = strategy.warmup
    bh, bh_values = buy_and_hold(bars, warmup, costs)
    rows, equity, max_long = [], [], 0.0
    first = first_decision_bar(warmup, costs.fill)
    for config in strategy.configs:
        out = decide(strategy, bars, config, costs.fill, label)
        if out.target is not None and out.target[first:].size:
            max_long = max(max_long, float(out.target[first:].max()))
        metrics, values = backtest(out, bars, warmup, costs)
        rows.append(metric_rows(metrics, values, bh, bh_values, costs))
        if keep_equity:
            equity.append(values)
    stacked = {k: np.stack([r[k] for r in rows]) for k in rows[0]}
    return GridResult(stacked, {f"bh_{m}": bh[k][None, :] for k, m in enumerate(METRICS)}, tuple(equity), bh_values,
                      max_long)


def best_config(real_sharpe: np.ndarray | None) -> int:
    """The configuration shown: the best Sharpe on the real history (NaN never wins; 0 without a real history).

    real_sharpe: (n_configs,) or None.
    """
    if real_sharpe is None or len(real_sharpe) < 2:
        return 0
    return int(np.nanargmax(np.where(np.isfinite(real_sharpe), real_sharpe, -np.inf)))
