"""Markets, strategies and the replication loop for the verdict's size and power studies.

Shared by tests/test_verdict_size.py, tests/test_verdict_power.py (small, seeded) and
benchmarks/verdict_size_power.py (the larger versions quoted in reports). Every market is
(context + horizon) daily bars; the first `context` are history before the cut (the
strategies' warm-up), the rest the real horizon the skill test sees.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from parallelverse.backtest.engine import Costs
from parallelverse.backtest.strategy import Strategy
from parallelverse.calibrate.synthetic import gjr_garch_t_bars
from parallelverse.market import Ohlcv
from parallelverse.verdict.skill import DECIDING, decide_skill, skill_tests, timing_decisions
from parallelverse.verdict.stats import clopper_pearson
from parallelverse.window import SeedSplit, parse_seed_window

NO_COSTS = Costs(fees_bps=0.0, slippage_bps=0.0)
CONTEXT = 120


def _bars(rng, r: np.ndarray) -> dict:
    n = len(r)
    close = 100 * np.exp(np.cumsum(r))
    prev = np.concatenate([[100.0], close[:-1]])
    open_ = prev * np.exp(rng.normal(0, 0.001, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.003, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.003, n)))
    return {"open": open_, "high": high, "low": low, "close": close, "volume": np.ones(n)}


def iid_t(seed: int, n: int) -> dict:
    """i.i.d. Student-t(4) log returns, 1.2% daily, drift 10%/yr: nothing to time."""
    rng = np.random.default_rng(seed)
    return _bars(rng, 0.0004 + 0.012 * rng.standard_t(4, n) / np.sqrt(2))


def zero_mean_garch(seed: int, n: int) -> dict:
    """The known GJR-GARCH-t process of calibrate.synthetic with mu = 0."""
    df = gjr_garch_t_bars(seed, n, params={"mu": 0.0})
    return {f: df[f].to_numpy(float) for f in ("open", "high", "low", "close", "volume")}


def ar1(seed: int, n: int, phi: float = 0.2) -> dict:
    """AR(1) log returns with Student-t(5) innovations, 1% daily: a real momentum edge."""
    rng = np.random.default_rng(seed)
    e = 0.01 * rng.standard_t(5, n) / np.sqrt(5 / 3)
    r = np.empty(n)
    r[0] = e[0]
    for t in range(1, n):
        r[t] = phi * r[t - 1] + e[t]
    return _bars(rng, r)


def drift_regimes(seed: int, n: int, drift: float = 0.003, mean_regime: float = 120.0) -> dict:
    """Drift of +drift or -drift per bar, switching with probability 1/mean_regime; 1.5% daily noise."""
    rng = np.random.default_rng(seed)
    switch = rng.random(n) < 1 / mean_regime
    sign = np.where(np.cumsum(switch) % 2 == 0, 1.0, -1.0) * (1 if rng.random() < 0.5 else -1)
    return _bars(rng, drift * sign + 0.015 * rng.standard_normal(n))


def drifted_iid_t(annual: float):
    """i.i.d. Student-t(4) log returns, 1.5% daily, with a strong drift (annual log drift): nothing to time, but a
    book that is not fully long earns something different from buy-and-hold."""
    def market(seed: int, n: int) -> dict:
        rng = np.random.default_rng(seed)
        return _bars(rng, annual / 252 + 0.015 * rng.standard_t(4, n) / np.sqrt(2))
    return market


MARKETS = {"iid_t": iid_t, "zero_mean_garch": zero_mean_garch, "ar1": ar1, "drift_regimes": drift_regimes,
           "bear_iid_t": drifted_iid_t(-0.4), "bull_iid_t": drifted_iid_t(0.4)}


def split_of(hist: dict, context: int = CONTEXT) -> SeedSplit:
    n = len(hist["close"])
    time = np.arange(n, dtype=np.int64) * 86_400 * 10**9
    bars = Ohlcv("SIM", "simulated", time, *(hist[f] for f in ("open", "high", "low", "close", "volume")))
    return SeedSplit(parse_seed_window("1970"), bars, context, n, bars.time[context:])


# --- strategies (target exposure, (n_bars, n_paths)) --------------------------------------------------


def _sma(x, n):
    c = np.cumsum(x, axis=0)
    out = np.full_like(x, np.nan)
    out[n - 1] = c[n - 1] / n
    out[n:] = (c[n:] - c[:-n]) / n
    return out


def sma_cross(bars, fast=10, slow=50):
    return (_sma(bars.close, fast) > _sma(bars.close, slow)).astype(float)


def rsi_reversion(bars, n=14, low=30.0, high=70.0):
    """Long while the (Cutler) RSI is below `low`, flat once it rises above `high`, otherwise hold."""
    d = np.diff(bars.close, axis=0, prepend=bars.close[:1])
    up, down = _sma(np.maximum(d, 0), n), _sma(np.maximum(-d, 0), n)
    rsi = 100 - 100 / (1 + up / np.where(down > 0, down, np.nan))
    rsi = np.where(np.isnan(rsi) & (down == 0) & np.isfinite(up), 100.0, rsi)
    pos = np.zeros_like(rsi)
    state = np.zeros(rsi.shape[1])
    for t in range(len(rsi)):
        state = np.where(rsi[t] < low, 1.0, np.where(rsi[t] > high, 0.0, state))
        pos[t] = state
    return pos


def momentum_1bar(bars):
    """Long after an up bar, short after a down bar."""
    r = np.diff(np.log(bars.close), axis=0, prepend=np.log(bars.close[:1]))
    return np.sign(r)


def random_fixed(seed: int):
    """Exposure drawn once (blocks of 5 bars in {-1, 0, 1}), the same on every path: no look at prices."""
    def positions(bars):
        e = np.repeat(np.random.default_rng(seed).choice([-1.0, 0.0, 1.0], bars.shape[0] // 5 + 1), 5)[: bars.shape[0]]
        return np.broadcast_to(e[:, None], bars.shape).copy()
    return positions


def vol_target(bars):
    """Exposure targeting 15%/yr volatility from an EWMA (lambda 0.94) of squared returns, capped at 1x."""
    r = np.diff(np.log(bars.close), axis=0, prepend=np.log(bars.close[:1]))
    var = np.empty_like(r)
    var[0] = r[0] ** 2
    for t in range(1, len(r)):
        var[t] = 0.94 * var[t - 1] + 0.06 * r[t] ** 2
    return np.clip(0.15 / np.maximum(np.sqrt(var * 252), 1e-4), 0.0, 1.0)


def ts_momentum(bars, lookback=20):
    """Long after a positive trailing return over `lookback` bars, short after a negative one."""
    c = bars.close
    past = np.full_like(c, np.nan)
    past[lookback:] = c[lookback:] / c[:-lookback] - 1
    return np.sign(np.nan_to_num(past))


def dip_buyer(bars):
    """Long for one bar after a close-to-close fall of more than 2%, otherwise flat."""
    r = np.diff(np.log(bars.close), axis=0, prepend=np.log(bars.close[:1]))
    return (r < -0.02).astype(float)


def short_flat(bars):
    """Short, flat on every 7th bar: no look at prices."""
    e = -np.ones_like(bars.close)
    e[::7] = 0.0
    return e


def one_day(bars):
    """Flat, long for one bar 100 bars before the end: no look at prices."""
    e = np.zeros_like(bars.close)
    e[-100] = 1.0
    return e


def low_exposure(bars):
    """Long one bar in 20, flat otherwise: no look at prices."""
    e = np.zeros_like(bars.close)
    e[::20] = 1.0
    return e


def strategy(name: str, seed: int = 0) -> Strategy:
    if name == "sma_grid":
        return Strategy(Path("sma_grid.py"), "sma_grid", 50, tuple({"fast": f, "slow": s} for f in (5, 10) for s in (30, 50)),
                        "-", sma_cross)
    if name == "sma":
        return Strategy(Path("sma.py"), "sma", 40, ({"fast": 10, "slow": 40},), "-", sma_cross)
    if name == "rsi":
        return Strategy(Path("rsi.py"), "rsi", 30, ({},), "-", rsi_reversion)
    if name == "momentum":
        return Strategy(Path("momentum.py"), "momentum", 2, ({},), "-", momentum_1bar)
    if name == "random_fixed":
        return Strategy(Path("random_fixed.py"), "random_fixed", 1, ({},), "-", random_fixed(seed))
    if name == "vol_target":
        return Strategy(Path("vol_target.py"), "vol_target", 21, ({},), "-", vol_target)
    if name == "tsmom_grid":
        return Strategy(Path("tsmom_grid.py"), "tsmom_grid", 60, tuple({"lookback": k} for k in (10, 20, 40, 60)), "-",
                        ts_momentum)
    if name == "dip_buyer":
        return Strategy(Path("dip_buyer.py"), "dip_buyer", 2, ({},), "-", dip_buyer)
    if name == "short_flat":
        return Strategy(Path("short_flat.py"), "short_flat", 1, ({},), "-", short_flat)
    if name == "one_day":
        return Strategy(Path("one_day.py"), "one_day", 1, ({},), "-", one_day)
    if name == "low_exposure":
        return Strategy(Path("low_exposure.py"), "low_exposure", 1, ({},), "-", low_exposure)
    raise ValueError(name)


STRATEGIES = ("sma_grid", "rsi", "random_fixed", "momentum", "sma", "vol_target", "tsmom_grid", "dip_buyer", "short_flat",
              "one_day", "low_exposure")


def verdict_states(market: str, strat: str, reps: int, n_null: int, horizon: int = 252, seed0: int = 0,
                   nulls: tuple[str, ...] = DECIDING) -> tuple[list[str], dict[str, list[float]], list[str]]:
    """The skill state of each replication, each null's p-values, and the state under the old largest-p rule.

    Old rule (before issue 14): the largest p over `nulls`, Skill when its Monte Carlo interval lies below 0.05.
    """
    states, ps, old = [], {}, []
    for rep in range(reps):
        split = split_of(MARKETS[market](seed0 + rep, CONTEXT + horizon))
        s = strategy(strat, seed0 + rep)
        tests = skill_tests(s, split, NO_COSTS, n_paths=n_null, seed=rep, nulls=nulls)
        states.append(decide_skill(tests, timing_decisions(s, split, NO_COSTS)).state)
        ok = [t for t in tests if t.available]
        old.append("Skill" if ok and max(ok, key=lambda t: t.p.p).p.ci[1] < 0.05 else "other")
        for t in ok:
            ps.setdefault(t.name, []).append(t.p.p)
    return states, ps, old


def rate(states: list[str], state: str = "Skill") -> tuple[float, tuple[float, float]]:
    k = sum(s == state for s in states)
    return k / len(states), clopper_pearson(k, len(states))
