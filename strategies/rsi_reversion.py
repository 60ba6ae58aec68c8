"""RSI mean reversion: enter long when the 14-bar RSI drops below 30, exit when it rises above 55 (entry/exit signals)."""

import numpy as np

name = "rsi_reversion"
warmup = 50
params = {"low": [25, 30]}


def rsi(close, n=14):
    """Wilder's RSI along axis 0."""
    d = np.diff(close, axis=0, prepend=close[:1])
    up, down = np.clip(d, 0, None), np.clip(-d, 0, None)
    avg_up, avg_down = np.empty_like(close), np.empty_like(close)
    avg_up[0], avg_down[0] = up[0], down[0]
    for t in range(1, len(close)):
        avg_up[t] = avg_up[t - 1] + (up[t] - avg_up[t - 1]) / n
        avg_down[t] = avg_down[t - 1] + (down[t] - avg_down[t - 1]) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        return 100.0 - 100.0 / (1.0 + avg_up / avg_down)


def positions(bars, low=30):
    r = rsi(bars.close)
    return r < low, r > 55
