"""A market from a known process, for checking that calibration scores tell right from wrong.

`gjr_garch_t_bars` draws daily bars (weekdays from 1990-01-01) whose close log returns
(x100) follow a constant-mean GJR-GARCH(1,1) with standardised Student-t innovations —
the model the `garch` generator fits — so its universes should be calibrated on them.
Opens, highs, lows and volumes are small independent perturbations around the closes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# daily returns in percent: mean, omega, alpha, gamma (leverage), beta, t degrees of freedom
GJR_PARAMS = {"mu": 0.04, "omega": 0.03, "alpha": 0.04, "gamma": 0.10, "beta": 0.88, "nu": 6.0}
BURN_IN = 500


def gjr_garch_t_bars(seed: int, n_bars: int, symbol: str = "GJR", params: dict | None = None) -> pd.DataFrame:
    """A frame with symbol, date, open, high, low, close, volume; the closes follow the GJR-GARCH-t process."""
    p = {**GJR_PARAMS, **(params or {})}
    rng = np.random.default_rng(seed)
    n = n_bars + BURN_IN
    z = rng.standard_t(p["nu"], n) * np.sqrt((p["nu"] - 2) / p["nu"])
    var = p["omega"] / (1 - p["alpha"] - p["gamma"] / 2 - p["beta"])  # unconditional variance
    r = np.empty(n)
    for t in range(n):
        e = np.sqrt(var) * z[t]
        r[t] = p["mu"] + e
        var = p["omega"] + (p["alpha"] + p["gamma"] * (e < 0)) * e * e + p["beta"] * var
    close = 50 * np.exp(np.cumsum(r[BURN_IN:] / 100))
    prev = np.concatenate([[50.0], close[:-1]])
    open_ = prev * np.exp(rng.normal(0, 0.002, n_bars))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.004, n_bars)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.004, n_bars)))
    dates = pd.bdate_range("1990-01-01", periods=n_bars)
    return pd.DataFrame({"symbol": symbol, "date": dates.strftime("%Y-%m-%d"), "open": open_, "high": high, "low": low,
                         "close": close, "volume": rng.integers(1_000, 5_000, n_bars)})
