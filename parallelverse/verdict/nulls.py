"""Null markets for the skill test, built from the real horizon: nothing left to exploit.

Every null keeps the realized horizon's bars (their shapes, their volatility level)
but destroys what a strategy could time:

- permutation: the realized bars (log open/high/low/close relative to the previous
  close, and volume) in a random order per path. Same multiset of returns, so the
  same start and end price and the same buy-and-hold result on every path; any
  temporal structure is gone (Masters' Monte Carlo permutation test).
- bootstrap: a stationary block bootstrap of the *detrended* realized bars (the mean
  close-to-close log return is removed from every bar's four prices; mean block
  length as for the bootstrap generator), each bar independently kept or mirrored
  (log prices negated, high and low swapped) with probability 1/2 — a wild block
  bootstrap. Blocks keep volatility clustering and bar shapes; the random directions
  remove drift *and* the autocorrelation a plain block bootstrap keeps inside its
  blocks, which would otherwise be something left to exploit (measured: a plain block
  bootstrap detected a planted AR(1) momentum edge 13% of the time where the
  permutation null detected it 74% of the time).
- garch: a zero-mean GJR-GARCH(1,1) fitted to the realized returns less their mean,
  simulated with resampled standardised residuals (filtered historical simulation),
  bars synthesised from the realized bars' shapes, and the realized mean log return
  simulated back in (bar t's prices times exp(m_real t)).

Bootstrap paths are then given the realized horizon's drift exactly (each path's bar t
scaled by exp((m_real - m_path) t), m the mean close-to-close log return), so every path
ends at the real final price, as under permutation: buy-and-hold earns on every null
path what it earned on the real horizon, and the excess statistic compares the timing
alone instead of also each null path's luck in its own drift. A drift is nothing to
time (the excess over buy-and-hold removes it). Measured (benchmarks/verdict_size_power.py,
300 replications, B = 999): the bootstrap null's rejection rate for AR(1) phi 0.2 momentum
rose from 52% to 78%, with its size at 3.5-5.5% in all six no-edge settings. The same
tilt on the GARCH null raised its size to 12.5% for random fixed entries on zero-mean
GARCH markets (filtered paths' volatility differs from the realized one's, so a common
drift rewards different bars), so the GARCH null is not tilted. It is not drift-free
either: the excess over buy-and-hold removes the drift only from a book that is fully
long, so a zero-mean null made a falling market look like an edge for every book that
was flat or short (a hostile tester's -40%/yr i.i.d. market: the zero-mean GARCH null
rejected 45-53% of the time and the verdict said "Skill" 17-40% of the time at B = 999).
With the realized drift simulated in, that null's rejection rate is 0-3% there, size
stays at most 2% in the six no-edge settings and 0.7-8.7% per null in `size-extra`
(benchmarks/verdict_size_power.py size, size-extra, size-drift).

The random-entry null lives in `skill.py`: it keeps the market and shuffles the
strategy's own holding periods instead.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from parallelverse.bars import PathBatch, bars_from_relative, relative_bars
from parallelverse.generators.bootstrap import Bootstrap, FittedBootstrap, auto_block_length
from parallelverse.generators.garch import Garch
from parallelverse.market import Ohlcv
from parallelverse.rng import path_rngs

NULLS = ("permutation", "bootstrap", "garch")
MIN_GARCH_BARS = 100  # fewer realized bars cannot support a GARCH fit


def null_paths(kind: str, real: Ohlcv, n_paths: int, seed: int) -> PathBatch:
    """n_paths null paths shaped like `real` minus its first bar.

    real: the bar before the horizon followed by the realized horizon bars.
    """
    h = len(real) - 1
    rel, volume = relative_bars(real)
    last_close = float(real.close[0])
    target = float(np.log(real.close[-1] / real.close[0])) / h  # the realized mean close-to-close log return
    if kind == "permutation":
        idx = np.stack([rng.permutation(h) for rng in path_rngs(seed, "null-permutation", 0, n_paths)], axis=1)
        return bars_from_relative(rel, volume, idx, last_close)
    if kind == "bootstrap":
        detrended = rel - rel[3].mean()
        # a bar and its mirror image (log prices negated, high and low swapped)
        both = np.concatenate([detrended, -detrended[[0, 2, 1, 3]]], axis=1)
        fitted = FittedBootstrap(Bootstrap(), detrended, volume, last_close, auto_block_length(rel[3]))
        rngs = path_rngs(seed, "null-bootstrap", 0, n_paths)
        idx = fitted.indices(rngs, h)
        flip = np.stack([rng.random(h) < 0.5 for rng in rngs], axis=1)  # drawn after the indices, per path
        return with_drift(bars_from_relative(both, np.concatenate([volume, volume]), idx + h * flip, last_close),
                          last_close, target)
    if kind == "garch":
        # the realized drift simulated in: a zero-mean process fitted to the realized bars less their drift, then
        # every path's bar t moved by exp(target t)
        fitted = Garch(vol="gjr", dist="t", fhs=True, zero_mean=True, uncertainty="none").fit(trended(real, -target))
        return trended(fitted.sample(h, seed, 0, n_paths), target, first=1)
    raise ValueError(f"unknown null {kind!r}; choose from {', '.join(NULLS)}")


def trended(bars: Ohlcv | PathBatch, mean_log_return: float, first: int = 0) -> Ohlcv | PathBatch:
    """`bars` with bar i's four prices times exp(mean_log_return * (first + i))."""
    g = np.exp(mean_log_return * np.arange(first, first + len(bars.close)))
    g = g if bars.close.ndim == 1 else g[:, None]
    return replace(bars, open=bars.open * g, high=bars.high * g, low=bars.low * g, close=bars.close * g)


def with_drift(paths: PathBatch, last_close: float, mean_log_return: float) -> PathBatch:
    """Paths tilted so that each one's mean close-to-close log return is `mean_log_return` (it ends where
    last_close * exp(h * mean_log_return) is): bar t's four prices times exp((target - own mean) t)."""
    h = paths.shape[0]
    own = np.log(paths.close[-1] / last_close) / h
    tilt = np.exp(np.arange(1, h + 1)[:, None] * (mean_log_return - own)[None, :])
    return PathBatch(paths.open * tilt, paths.high * tilt, paths.low * tilt, paths.close * tilt, paths.volume)
