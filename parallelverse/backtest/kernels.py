"""Backtest kernels: numpy in, numpy out. Imports only numpy and numba.

Every kernel is written once as plain Python (`*_py`) and compiled with
`njit(cache=True)` (`*_nb`); tests check the twins agree. 1-D kernels take one
path; 2-D drivers loop over the columns of (n_bars, n_paths) arrays.

Order execution follows vectorbt's `buy_nb` / `sell_nb` exactly for the case we
use (direction both for target exposure, long-only for signals; no fixed fees, no
size limits or granularity, no cash locking, partial fills allowed), including its
float tolerances (relative 1e-9, absolute 1e-12), so results agree with
`vbt.Portfolio.from_orders` / `from_signals` to rounding:

- target exposure w at bar i: value = cash + position * price_i; order
  size = w * value / price_i - position;
- a buy fills at price * (1 + slippage) and pays fees on that notional; it is
  limited by cash (no margin): when cash is short, the size shrinks so that
  notional + fees = cash;
- a sell (or short sale) fills at price * (1 - slippage) and pays fees;
- equity is marked at each bar's close: value = cash + position * close.
"""

from __future__ import annotations

import os

import numba
import numpy as np
from numba import njit, prange

# Strategy code runs in forked children (sandbox.py). Numba's GNU OpenMP layer kills any child forked after it
# started ("fork() called from a process already using GNU OpenMP"), so the parallel kernel uses a fork-safe
# layer (TBB if installed, else numba's workqueue) unless the user chose one with NUMBA_THREADING_LAYER.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "forksafe"

REL_TOL = 1e-9
ABS_TOL = 1e-12

# Per-path metrics, in the order of the rows the kernels write.
METRICS = (
    "total_return",  # V_n / V_0 - 1
    "cagr",  # (V_n / V_0) ** (periods_per_year / n) - 1
    "volatility",  # std(r, ddof=1) * sqrt(periods_per_year)
    "sharpe",  # mean(r) / std(r, ddof=1) * sqrt(periods_per_year), risk-free 0; 0 for a path never invested
    "sortino",  # mean(r) * ppy / (sqrt(mean(min(r, 0) ** 2)) * sqrt(ppy))
    "max_drawdown",  # min over t of V_t / max(V_0..V_t) - 1  (<= 0; the initial capital counts as a peak)
    "calmar",  # cagr / |max_drawdown|
    "max_underwater_bars",  # longest run of bars with V_t below its running peak
    "n_trades",  # orders filled
    "turnover",  # sum of |traded notional| / equity at the order, per year
    "exposure",  # mean of |position * close| / V_t
    "hit_rate",  # share of bars in the market with r_t > 0
)
N_METRICS = len(METRICS)


def is_close_py(a, b):
    if np.isnan(a) or np.isnan(b) or np.isinf(a) or np.isinf(b):
        return False
    if a == b:
        return True
    return abs(a - b) <= max(REL_TOL * max(abs(a), abs(b)), ABS_TOL)


def add_py(a, b):
    """a + b, snapped to 0 when the two cancel within tolerance (vectorbt's add_nb)."""
    if np.sign(a) != np.sign(b):
        if is_close_py(abs(a), abs(b)):
            return 0.0
    elif is_close_py(a + b, 0.0):
        return 0.0
    return a + b


def simulate_1d_py(target, signal, use_signals, price, close, init_cash, fees, slippage,
                   value_out, exposure_out, traded_out, in_market_out):
    """Run one path. Returns the number of filled orders.

    target: (n,) exposure to hold from bar i (NaN = no order); used when not use_signals.
    signal: (n,) int8, +1 enter long with all cash, -1 exit, 0 nothing; used when use_signals.
    price: (n,) fill prices; close: (n,) marks. Writes per bar: value_out (equity at
    close), exposure_out (|position * close| / value), traded_out (|notional| / value
    at the order), in_market_out (1.0 if a position was held during the bar).
    """
    cash = init_cash
    position = 0.0
    n_fills = 0
    for i in range(price.shape[0]):
        p = price[i]
        pos_before = position
        traded_out[i] = 0.0
        # vectorbt values the book before its numerical-stability snaps
        value = cash
        if position != 0.0:
            value += position * p
        if is_close_py(cash, 0.0):
            cash = 0.0
        if is_close_py(position, 0.0):
            position = 0.0
        if is_close_py(value, 0.0):
            value = 0.0
        size = 0.0
        active = False
        if use_signals:
            s = signal[i]
            if s == 1 and position == 0.0:
                size = np.inf
                active = True
            elif s == -1 and position > 0.0:
                size = -position
                active = True
        else:
            w = target[i]
            if not np.isnan(w):
                if value > 0.0:
                    size = w * value / p - position
                    active = True
        if active:
            value_at_order = cash + position * p
            if size > 0.0:
                adj = p * (1.0 + slippage)
                if cash != 0.0:
                    req = size * adj
                    req_fees = req * fees
                    total = req + req_fees
                    if is_close_py(total, cash) or total < cash:
                        fill = size
                        spent = total
                    else:
                        max_req = 0.0 if is_close_py(cash, 0.0) else cash
                        max_req = max_req / (1.0 + fees)
                        if max_req > 0.0:
                            fill = max_req / adj
                            spent = cash
                        else:
                            fill = 0.0
                            spent = 0.0
                    if fill > 0.0 and not is_close_py(size, 0.0):
                        cash = add_py(cash, -spent)
                        position = add_py(position, fill)
                        traded_out[i] = fill * adj / value_at_order
                        n_fills += 1
            else:
                qty = -size
                if not is_close_py(qty, 0.0):
                    adj = p * (1.0 - slippage)
                    acq = qty * adj
                    net = add_py(acq, -acq * fees)
                    if net >= 0.0:
                        cash = cash + net
                        position = add_py(position, -qty)
                        traded_out[i] = acq / value_at_order
                        n_fills += 1
        v = cash + position * close[i] if position != 0.0 else cash
        value_out[i] = v
        exposure_out[i] = abs(position * close[i]) / v if v != 0.0 else 0.0
        in_market_out[i] = 1.0 if (pos_before != 0.0 or position != 0.0) else 0.0
    return n_fills


def metrics_1d_py(value, init_cash, exposure, traded, in_market, n_fills, ppy, out):
    """Fill out[0:N_METRICS] (see METRICS) from one path's equity curve."""
    n = value.shape[0]
    prev = init_cash
    total = 0.0
    for i in range(n):
        r = (value[i] - prev) / prev if prev != 0.0 else 0.0
        total += r
        prev = value[i]
    mean = total / n
    ss = 0.0
    down = 0.0
    hits = 0.0
    in_mkt = 0.0
    peak = init_cash
    max_dd = 0.0
    run = 0
    max_run = 0
    prev = init_cash
    for i in range(n):
        r = (value[i] - prev) / prev if prev != 0.0 else 0.0
        prev = value[i]
        ss += (r - mean) ** 2
        if r < 0.0:
            down += r * r
        if in_market[i] > 0.0:
            in_mkt += 1.0
            if r > 0.0:
                hits += 1.0
        if value[i] > peak:
            peak = value[i]
        dd = value[i] / peak - 1.0
        if dd < max_dd:
            max_dd = dd
        if value[i] < peak:
            run += 1
            if run > max_run:
                max_run = run
        else:
            run = 0
    growth = value[n - 1] / init_cash
    std = np.sqrt(ss / (n - 1)) if n > 1 else np.nan
    out[0] = growth - 1.0
    out[1] = growth ** (ppy / n) - 1.0 if growth > 0.0 else -1.0
    out[2] = std * np.sqrt(ppy)
    # A path that never moved (flat all along) scores 0; other degenerate cases are undefined.
    flat = std == 0.0 and mean == 0.0
    out[3] = mean / std * np.sqrt(ppy) if std > 0.0 else (0.0 if flat else np.nan)
    downside = np.sqrt(down / n)
    out[4] = mean * ppy / (downside * np.sqrt(ppy)) if downside > 0.0 else (0.0 if flat else np.nan)
    out[5] = max_dd
    out[6] = out[1] / abs(max_dd) if max_dd < 0.0 else np.nan
    out[7] = max_run
    out[8] = n_fills
    turnover = 0.0
    expo = 0.0
    for i in range(n):
        turnover += traded[i]
        expo += exposure[i]
    out[9] = turnover * ppy / n
    out[10] = expo / n
    out[11] = hits / in_mkt if in_mkt > 0.0 else np.nan


def run_paths_py(target, signal, use_signals, price, close, init_cash, fees, slippage, ppy, value_out, metrics_out):
    """2-D driver: every column is a path. metrics_out: (N_METRICS, n_paths); value_out: (n_bars, n_paths).

    `prange` is plain `range` in Python; compiled with parallel=True it spreads paths over cores.
    """
    n, m = price.shape
    for j in prange(m):
        expo = np.empty(n)
        traded = np.empty(n)
        in_mkt = np.empty(n)
        value = np.empty(n)
        fills = simulate_1d_py(target[:, j], signal[:, j], use_signals, price[:, j], close[:, j], init_cash,
                               fees, slippage, value, expo, traded, in_mkt)
        metrics_1d_py(value, init_cash, expo, traded, in_mkt, fills, ppy, metrics_out[:, j])
        value_out[:, j] = value

# The Python twins call their helpers by global name. `_compile` builds each compiled
# kernel from the *same* code object with those names bound to the compiled helpers,
# so there is one source of truth and no hand-kept copy.
_nb_globals: dict = {}


def _compile(fn, **options):
    """njit(cache=True) `fn`, with its `*_py` helper calls pointing at the `*_nb` twins."""
    import types

    g = dict(fn.__globals__)
    g.update(_nb_globals)
    name = fn.__name__.replace("_py", "_nb")
    clone = types.FunctionType(fn.__code__, g, name, fn.__defaults__, fn.__closure__)
    clone.__module__, clone.__qualname__ = fn.__module__, name
    compiled = njit(cache=True, **options)(clone)
    _nb_globals[fn.__name__] = compiled
    return compiled


is_close_nb = _compile(is_close_py)
add_nb = _compile(add_py)
simulate_1d_nb = _compile(simulate_1d_py)
metrics_1d_nb = _compile(metrics_1d_py)

run_paths_nb = _compile(run_paths_py, parallel=True)
