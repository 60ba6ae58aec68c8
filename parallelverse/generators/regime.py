"""The volatility regime a path runs in when the context's is not taken as known.

A generator fitted on a few hundred bars carries that window's volatility into the
future, but regimes change: on the real daily series available offline before 2020
(`train/sources.py`: the bundled six stocks, S&P 500 1962-2018, NASDAQ, MSFT,
AAPL/GOOG/IBM), the log ratio v of the next 252 bars' volatility to the trailing 400
bars' has a standard deviation of 0.38 (0.375 over 63 bars), far more than the
±0.05-0.1 a resampled or simulated path varies by. And regimes are not neutral: a
rise in volatility comes with falling prices (leverage and volatility feedback; Black
1976, Campbell & Hentschel 1992). On the same pre-2020 data the horizon's return,
in units of the context's volatility over the horizon (sigma sqrt(H)), falls by 0.82
per unit of v over 63 bars and by 0.71 over 252 bars (ordinary least squares, one
window every 21 bars; `benchmarks/vol_regime_study.py --regression`).

With a regime sd s > 0 every path draws z ~ N(0, 1) from its own stream
(`<universe>-vol`, so any chunking gives the same paths) and runs
- at its own volatility level: its deviations from the drift are multiplied by exp(s z);
- with its drift moved by LEVEL_DRIFT_SLOPE * s z * sigma / sqrt(H) per bar (sigma:
  the context's per-bar volatility, H: the horizon generated), so that over the
  horizon the return moves by the slope times v in units of sigma sqrt(H), as it
  did on real markets. The shift has mean zero: the median path keeps the fitted
  drift and level.
s is chosen per generator on pre-2020 windows only (`benchmarks/vol_regime_study.py`),
never on the held-out ones it is judged on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from parallelverse.bars import PathBatch
from parallelverse.errors import GeneratorError
from parallelverse.rng import path_rngs

LEVEL_DRIFT_SLOPE = -0.76  # pre-2020 OLS slope of R / (sigma sqrt(H)) on v: -0.82 (63 bars), -0.71 (252 bars)
MAX_REGIME_SD = 2.0


def check_regime_sd(generator: str, value: float) -> None:
    """The one check of a vol_regime_sd: finite, in [0, MAX_REGIME_SD]."""
    if not (np.isfinite(value) and 0 <= value <= MAX_REGIME_SD):
        raise GeneratorError(f"{generator} vol_regime_sd={value} must be in [0, {MAX_REGIME_SD:g}] (sd of log volatility; "
                             "0 = none)")


@dataclass(frozen=True)
class Regimes:
    level: np.ndarray  # (n_paths,) volatility multiplier exp(s z)
    drift: np.ndarray  # (n_paths,) per-bar log drift shift


def path_regimes(seed: int, name: str, start: int, stop: int, sd: float, sigma: float, horizon_bars: int) -> Regimes:
    """Regimes of paths start..stop-1 of universe `name`; level 1 and no shift when sd is 0."""
    if not sd > 0:
        return Regimes(np.ones(stop - start), np.zeros(stop - start))
    z = np.array([rng.standard_normal() for rng in path_rngs(seed, name + "-vol", start, stop)])
    return Regimes(np.exp(sd * z), LEVEL_DRIFT_SLOPE * sd * z * sigma / np.sqrt(horizon_bars))


def place_paths(b: PathBatch, last_close: float, level: np.ndarray, base_drift: float | np.ndarray,
                drift: np.ndarray) -> PathBatch:
    """Paths moved into their regimes: each log price relative to the last close, less base_drift * t, times
    the path's level (> 0, so every bar's OHLC order is kept), plus drift * t (drift: per path, per bar)."""
    t = np.arange(1, b.shape[0] + 1)[:, None]
    o, h, lo, c = (last_close * np.exp(level[None, :] * (np.log(x / last_close) - base_drift * t) + drift[None, :] * t)
                   for x in (b.open, b.high, b.low, b.close))
    return PathBatch(o, np.maximum(h, np.maximum(o, c)), np.minimum(lo, np.minimum(o, c)), c, b.volume)
