"""Time-series momentum (Moskowitz, Ooi & Pedersen 2012): long after a positive trailing return, short after a negative one."""

import numpy as np

name = "ts_momentum"
warmup = 127  # the longest lookback, plus the bar whose decision fills at the first open
params = {"lookback": [63, 126]}


def positions(bars, lookback=126):
    close = bars.close
    past = np.full_like(close, np.nan)
    past[lookback:] = close[lookback:] / close[:-lookback] - 1.0
    return np.sign(np.nan_to_num(past))
