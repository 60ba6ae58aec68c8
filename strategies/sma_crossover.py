"""SMA crossover: long while the fast moving average of the close is above the slow one, flat otherwise."""

import numpy as np

name = "sma_crossover"
warmup = 200  # the slowest average needs 200 bars of real history before the horizon
params = {"fast": [20, 50], "slow": [100, 200]}


def sma(x, n):
    """Trailing n-bar mean along axis 0; NaN for the first n-1 bars."""
    c = np.cumsum(x, axis=0)
    out = np.full_like(x, np.nan)
    if len(x) >= n:
        out[n - 1] = c[n - 1] / n
        out[n:] = (c[n:] - c[:-n]) / n
    return out


def positions(bars, fast=50, slow=200):
    return (sma(bars.close, fast) > sma(bars.close, slow)).astype(float)
