"""GARCH / GJR-GARCH(1,1) path simulation: numpy in, numpy out. Imports only numpy and numba.

The same arithmetic as arch's simulation forecaster (`ARCHModelResult.forecast(params=...,
method="simulation")` of a constant- or zero-mean GARCH(1,1) / GJR-GARCH(1,1,1), power 2):
the in-sample variance recursion under the path's parameters, started from arch's backcast
(0.94-weighted mean of the first 75 squared residuals) and held inside arch's variance
bounds, gives the one-step forecast; the path then follows

    e_h = z_h sqrt(s_h),  s_{h+1} = omega + (alpha + gamma [e_h < 0]) e_h^2 + beta s_h,  r_h = mu + e_h

in arch's order of floating-point operations, so paths equal arch's to the last bits
(tests/test_generators.py). What it adds is one call for many parameter sets: arch
simulates one parameter vector per call, and with estimation uncertainty each block of
paths has its own, which made GARCH generation 3.6x slower.

`gjr_paths_py` is the plain-Python twin of the compiled `gjr_paths_nb`.
"""

from __future__ import annotations

import math

from numba import njit

EWMA_LAM = 0.94  # arch's backcast and variance-bound smoothing
BACKCAST_BARS = 75


def gjr_paths_py(returns, params, shocks, out):
    """returns (n,) context returns (x100 log); params (n_paths, 5) rows mu, omega, alpha, gamma, beta;
    shocks (n_paths, horizon) standardised; writes out (horizon, n_paths) simulated returns (x100 log)."""
    n = returns.shape[0]
    horizon = shocks.shape[1]
    tau = min(BACKCAST_BARS, n)
    for k in range(params.shape[0]):
        mu, omega, alpha, gamma, beta = params[k, 0], params[k, 1], params[k, 2], params[k, 3], params[k, 4]
        # arch's backcast and its variance bounds, from this path's residuals
        wsum = 0.0
        for i in range(tau):
            wsum += EWMA_LAM ** i
        bc = 0.0
        mean = 0.0
        max_sq = 0.0
        for i in range(n):
            e = returns[i] - mu
            mean += e
            if e * e > max_sq:
                max_sq = e * e
        mean /= n
        var = 0.0
        for i in range(n):
            d = returns[i] - mu - mean
            var += d * d
        var /= n
        for i in range(tau):
            e = returns[i] - mu
            bc += e * e * (EWMA_LAM ** i / wsum)
        lower, upper, min_upper = var / 1e8, 1e7 * (1 + max_sq), 1 + max_sq
        bc_t = math.sqrt(bc) ** 2.0  # arch's backcast_transform
        ewma = bc  # variance_bounds' ewma, started at the same weighted mean
        s2 = 0.0
        for t in range(n + 1):  # t = n: the one-step forecast, unbounded
            s = omega
            if t == 0:
                s += alpha * bc_t
                s += gamma * 0.5 * bc_t
                s += beta * bc_t
            else:
                e = returns[t - 1] - mu
                s += alpha * (e * e)
                if e < 0:
                    s += gamma * (e * e)
                s += beta * s2
            if t < n:
                if t > 0:
                    e = returns[t - 1] - mu
                    ewma = 0.0 + (1.0 - EWMA_LAM) * (e * e) + EWMA_LAM * ewma
                lo, hi = ewma / 1e6, ewma * 1e6
                if lo < lower:
                    lo = lower
                if hi < min_upper:
                    hi = min_upper
                if hi > upper:
                    hi = upper
                if s < lo:
                    s = lo
                elif s > hi:
                    s = hi + math.log(s / hi) if not math.isinf(s) else hi + 1000.0
            s2 = s
        for h in range(horizon):
            e = shocks[k, h] * math.sqrt(s2)
            out[h, k] = mu + e
            s = omega + alpha * (e * e)
            if e < 0:
                s += gamma * (e * e)
            s2 = s + beta * s2


gjr_paths_nb = njit(cache=True)(gjr_paths_py)
