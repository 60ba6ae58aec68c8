"""Bars of many paths, their invariants, and bar synthesis for close-only generators.

One array layout everywhere: each OHLCV field of a set of paths is a float64 array
shaped (n_bars, n_paths) — time on axis 0, one column per path, as in pandas and
vectorbt. Every bar of every path satisfies

    0 < low <= min(open, close) <= max(open, close) <= high,    volume >= 0.

Bar synthesis turns simulated close-to-close log returns into full bars by
borrowing the shape of a real context bar whose close move was of similar size
*in units of its own volatility*: the gap, upper and lower wicks are scaled by the
ratio of the synthetic bar's volatility to the donor's, and volume follows the
context's log-volume-on-log-volatility regression plus the donor's residual. Gaps,
wicks and the volume/volatility link of the real market carry over; invariants hold
by construction (wicks are >= 0 and applied outside open and close).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from parallelverse.market import Ohlcv
from parallelverse.window import SeedSplit

FIELDS = ("open", "high", "low", "close", "volume")
EWMA_LAMBDA = 0.94  # RiskMetrics daily decay: the volatility yardstick shapes are scaled by
DONOR_POOL = 10  # a synthetic bar borrows from one of the this-many context bars nearest in standardised move


@dataclass(frozen=True)
class PathBatch:
    """OHLCV of a block of paths, with their time stamps: the one bar container.

    Each field is (n_bars, n_paths) float64; `time` is (n_bars,) int64 ns, or None
    where the bars are not on a calendar yet (a generator's output before it is
    stored). Strategies receive one of these (see `backtest.strategy`).
    """

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    time: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.close.shape

    def as_dict(self) -> dict[str, np.ndarray]:
        """The five fields by name (without time)."""
        return {f: getattr(self, f) for f in FIELDS}

    def head(self, n: int) -> PathBatch:
        """The first n bars (for the look-ahead check)."""
        return PathBatch(*(getattr(self, f)[:n] for f in FIELDS), None if self.time is None else self.time[:n])

    def columns(self, idx) -> PathBatch:
        """Some paths, all bars."""
        return PathBatch(*(getattr(self, f)[:, idx] for f in FIELDS), self.time)

    def on(self, time: np.ndarray) -> PathBatch:
        """The same bars stamped with `time` (n_bars,)."""
        return replace(self, time=time)


def with_warmup(split: SeedSplit, warmup: int, paths: PathBatch) -> PathBatch:
    """The last `warmup` real context bars in front of every path: fields (warmup + horizon, n_paths).

    paths: horizon bars after the cut, with their time stamps.
    """
    h, ce = split.history, split.context_end
    m = paths.shape[1]
    cols = []
    for f in FIELDS:
        head = np.broadcast_to(getattr(h, f)[ce - warmup : ce, None], (warmup, m))
        cols.append(np.ascontiguousarray(np.vstack([head, getattr(paths, f)])))
    return PathBatch(*cols, np.concatenate([h.time[ce - warmup : ce], paths.time]))


def real_bars(split: SeedSplit, warmup: int) -> PathBatch:
    """The real future after the cut, with `warmup` real bars in front: one path, fields (warmup + realized, 1)."""
    s = slice(split.context_end - warmup, split.realized_end)
    h = split.history
    return PathBatch(*(np.ascontiguousarray(getattr(h, f)[s, None]) for f in FIELDS), h.time[s])


def invariant_violations(b: PathBatch) -> np.ndarray:
    """Boolean (n_bars, n_paths): True where a bar breaks an invariant or is not finite."""
    finite = np.ones(b.shape, bool)
    for a in (b.open, b.high, b.low, b.close, b.volume):
        finite &= np.isfinite(a)
    ok = (
        finite
        & (b.low > 0)
        & (b.low <= np.minimum(b.open, b.close))
        & (np.maximum(b.open, b.close) <= b.high)
        & (b.volume >= 0)
    )
    return ~ok


@dataclass(frozen=True)
class BarShapes:
    """Real bar shapes from a context, in volatility units, sorted by standardised close move."""

    z: np.ndarray  # (n,) close log return / EWMA vol, ascending
    gap: np.ndarray  # (n,) log(open / previous close) / vol
    upper: np.ndarray  # (n,) log(high / max(open, close)) / vol, >= 0
    lower: np.ndarray  # (n,) log(min(open, close) / low) / vol, >= 0
    volume_resid: np.ndarray  # (n,) log volume minus the regression on log vol; NaN where volume was 0
    volume_coef: tuple[float, float]  # (intercept, slope) of log volume on log vol
    last_var: float  # EWMA variance forecast for the first bar after the context
    has_volume: bool


def ewma_variance(log_returns: np.ndarray, init_var: float | np.ndarray, lam: float = EWMA_LAMBDA) -> np.ndarray:
    """One-step-ahead EWMA variance along axis 0: out[t] uses returns before t only.

    log_returns: (n_bars, ...) ; init_var: the variance forecast for bar 0. Returns
    (n_bars + 1, ...): out[n_bars] is the forecast for the bar after the last.
    """
    out = np.empty((len(log_returns) + 1,) + log_returns.shape[1:])
    out[0] = init_var
    for t in range(len(log_returns)):
        out[t + 1] = lam * out[t] + (1.0 - lam) * log_returns[t] ** 2
    return out


def bar_shapes(context: Ohlcv) -> BarShapes:
    """Measure every context bar (after the first) relative to its previous close."""
    prev = context.close[:-1]
    o, h, lo, c, v = (a[1:] for a in (context.open, context.high, context.low, context.close, context.volume))
    r = np.log(c / prev)
    var = ewma_variance(r, init_var=np.var(r[: min(len(r), 20)]) or np.var(r))
    vol = np.sqrt(np.maximum(var[:-1], 1e-16))
    order = np.argsort(r / vol, kind="stable")
    positive = v > 0
    if context.has_volume and positive.sum() >= 10:
        x, y = np.log(vol[positive]), np.log(v[positive])
        slope, intercept = np.polyfit(x, y, 1)
        resid = np.full(len(v), np.nan)
        resid[positive] = y - (intercept + slope * x)
    else:
        slope = intercept = 0.0
        resid = np.full(len(v), np.nan)
    return BarShapes(
        z=(r / vol)[order],
        gap=(np.log(o / prev) / vol)[order],
        upper=(np.log(h / np.maximum(o, c)) / vol)[order],
        lower=(np.log(np.minimum(o, c) / lo) / vol)[order],
        volume_resid=resid[order],
        volume_coef=(float(intercept), float(slope)),
        last_var=float(var[-1]),
        has_volume=bool(context.has_volume and positive.any()),
    )


def synthesize_bars(shapes: BarShapes, last_close: float, log_returns: np.ndarray, u: np.ndarray) -> PathBatch:
    """Full bars around simulated closes.

    log_returns: (n_bars, n_paths) close-to-close log returns of the paths.
    u: (n_bars, n_paths) uniforms in [0, 1) choosing the donor among the nearest
       DONOR_POOL context bars (drawn from each path's own stream by the caller).
    """
    var = ewma_variance(log_returns, shapes.last_var)[:-1]
    vol = np.sqrt(np.maximum(var, 1e-16))
    z = log_returns / vol
    n = len(shapes.z)
    pool = min(DONOR_POOL, n)
    pos = np.searchsorted(shapes.z, z)
    donor = np.clip(pos - pool // 2, 0, n - pool) + np.minimum((u * pool).astype(np.int64), pool - 1)

    close = last_close * np.exp(np.cumsum(log_returns, axis=0))
    prev = np.empty_like(close)
    prev[0] = last_close
    prev[1:] = close[:-1]
    open_ = prev * np.exp(shapes.gap[donor] * vol)
    high = np.maximum(open_, close) * np.exp(shapes.upper[donor] * vol)
    low = np.minimum(open_, close) * np.exp(-shapes.lower[donor] * vol)
    if shapes.has_volume:
        a, b = shapes.volume_coef
        volume = np.exp(a + b * np.log(vol) + shapes.volume_resid[donor])
        volume = np.where(np.isnan(volume), 0.0, volume)  # donors that traded nothing stay at zero
    else:
        volume = np.zeros_like(close)
    return PathBatch(open_, high, low, close, volume)


def relative_bars(bars: Ohlcv) -> tuple[np.ndarray, np.ndarray]:
    """Each bar after the first as log(open, high, low, close / previous close): (4, n - 1), plus volume (n - 1,)."""
    prev = bars.close[:-1]
    rel = np.log(np.stack([bars.open[1:], bars.high[1:], bars.low[1:], bars.close[1:]]) / prev)
    return rel, bars.volume[1:].copy()


def bars_from_relative(rel: np.ndarray, volume: np.ndarray, idx: np.ndarray, last_close: float) -> PathBatch:
    """Chain source bars idx (n_bars, n_paths) of `rel` (4, n) into paths starting after `last_close`."""
    ratio = np.exp(rel[:, idx])  # (4, n_bars, n_paths) price / previous close
    chain = np.empty((idx.shape[0] + 1, idx.shape[1]))
    chain[0] = last_close
    chain[1:] = ratio[3]
    chain = np.cumprod(chain, axis=0)  # close[t] = close[t-1] * ratio: the same product as below
    prev, close = chain[:-1], chain[1:]
    open_, high, low = prev * ratio[0], prev * ratio[1], prev * ratio[2]
    # high == close in a source bar gives the same product here; guard the last ulp anyway
    high = np.maximum(high, np.maximum(open_, close))
    low = np.minimum(low, np.minimum(open_, close))
    return PathBatch(open_, high, low, close, volume[idx])
