"""The data's own year (trading_calendar.py): stock, crypto, intraday, weekly calendars, one figure for every stage."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import zarr

from parallelverse.trading_calendar import bars_per_year, extend_calendar, trading_weekdays


def ns(index) -> np.ndarray:
    return pd.DatetimeIndex(index).as_unit("ns").asi8


def test_bars_per_year_follows_the_calendar(aapl):
    hours = pd.date_range("2024-01-01", periods=24 * 60, freq="h")
    us_hours = pd.DatetimeIndex([d + pd.Timedelta(hours=14 + k) for d in pd.bdate_range("2024-01-01", periods=60)
                                 for k in range(7)])
    sun_thu = pd.bdate_range("2024-01-01", periods=300, freq="C", weekmask="Sun Mon Tue Wed Thu")
    mon_sat = pd.bdate_range("2024-01-01", periods=300, freq="C", weekmask="Mon Tue Wed Thu Fri Sat")
    assert bars_per_year(aapl.time) == 252.0  # NYSE: weekdays, holidays included in the convention
    assert bars_per_year(ns(pd.date_range("2021-01-01", periods=500, freq="D"))) == 365.0  # crypto: every day
    assert bars_per_year(ns(hours)) == 24 * 365.0
    assert bars_per_year(ns(us_hours)) == 7 * 252.0
    assert bars_per_year(ns(sun_thu)) == 252.0 and trading_weekdays(ns(sun_thu)) == (0, 1, 2, 3, 6)
    assert bars_per_year(ns(mon_sat)) == pytest.approx(252.0 * 6 / 5)
    assert bars_per_year(ns(pd.date_range("2000-01-07", periods=300, freq="W-FRI"))) == 52.0
    assert bars_per_year(ns(pd.date_range("2000-01-31", periods=120, freq="ME"))) == 12.0
    # a handful of weekend sessions (< 5% of the bars) do not make a stock market trade every day
    odd = np.sort(np.concatenate([aapl.time[:1000], ns(pd.DatetimeIndex(["2013-03-02", "2013-06-08"]))]))
    assert bars_per_year(odd) == 252.0


def test_the_calendar_continues_on_the_datas_own_weekdays():
    every_day = ns(pd.date_range("2022-05-01", "2022-06-18", freq="D"))  # ends on a Saturday
    nxt = pd.DatetimeIndex(extend_calendar(every_day, 3))
    assert list(nxt.strftime("%a %m-%d")) == ["Sun 06-19", "Mon 06-20", "Tue 06-21"]
    sun_thu = ns(pd.bdate_range("2024-01-01", periods=100, freq="C", weekmask="Sun Mon Tue Wed Thu"))
    nxt = pd.DatetimeIndex(extend_calendar(sun_thu, 3))
    assert set(nxt.strftime("%a")) <= {"Sun", "Mon", "Tue", "Wed", "Thu"} and len(nxt) == 3


def crypto_csv(path, n=800, seed=0):
    """Daily bars on every day of the week, 60%/yr volatility over 365 days."""
    rng = np.random.default_rng(seed)
    close = 20_000 * np.exp(np.cumsum(rng.normal(0, 0.6 / np.sqrt(365), n)))
    open_ = np.r_[close[0], close[:-1]]
    pd.DataFrame({"date": pd.date_range("2019-01-01", periods=n, freq="D").strftime("%Y-%m-%d"), "open": open_,
                  "high": np.maximum(open_, close) * 1.01, "low": np.minimum(open_, close) * 0.99, "close": close,
                  "volume": 1e6}).to_csv(path, index=False)


def test_a_crypto_store_uses_one_365_day_year_everywhere(run_cli, tmp_path):
    """Stress's annualised metrics and the generators' drift prior read the same year off the data: 365 bars."""
    from parallelverse.store import read_store

    data, store = tmp_path / "btc.csv", tmp_path / "btc.zarr"
    crypto_csv(data)
    assert run_cli("generate", "--data", data, "--seed-window", "2020-06", "--context", "300", "--horizon", "60",
                   "--n-paths", "20", "--generators", "garch,bootstrap", "--out", store).exit_code == 0
    buy_hold = tmp_path / "hold.py"
    buy_hold.write_text("import numpy as np\nwarmup = 1\n\ndef positions(bars):\n    return np.ones_like(bars.close)\n")
    result = run_cli("stress", buy_hold, "--store", store, "--json", "--fill", "close", "--fees", "0", "--slippage", "0")
    assert result.exit_code == 0, result.output
    g = zarr.open_group(str(store), mode="r")
    res = g["results/hold"]
    assert res.attrs["costs"]["periods_per_year"] == 365.0
    assert g["universes/garch-gjr-t"].attrs["fitted"]["drift_prior"]["bars_per_year"] == 365.0
    assert g["universes/bootstrap"].attrs["fitted"]["drift"]["bars_per_year"] == 365.0
    equity = np.r_[res.attrs["costs"]["init_cash"], res["real"]["equity"][0]]  # V_0 .. V_n
    r = np.diff(equity) / equity[:-1]
    js = json.loads(result.stdout)
    vol = js["universes"]["garch-gjr-t"]["metrics"]["volatility"]["real"]
    assert vol == pytest.approx(np.std(r, ddof=1) * np.sqrt(365), rel=1e-9)
    split = read_store(store).split()
    assert bars_per_year(split.history.time) == 365.0
