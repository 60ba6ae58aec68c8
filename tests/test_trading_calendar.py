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
    hours = pd.date_range("2024-01-01", periods=24 * 400, freq="h")
    us_days = pd.bdate_range("2023-01-02", periods=500)
    us_hours = pd.DatetimeIndex([d + pd.Timedelta(hours=14 + k) for d in us_days for k in range(7)])
    sun_thu = pd.bdate_range("2024-01-01", periods=300, freq="C", weekmask="Sun Mon Tue Wed Thu")
    mon_sat = pd.bdate_range("2024-01-01", periods=300, freq="C", weekmask="Mon Tue Wed Thu Fri Sat")
    assert bars_per_year(aapl.time) == 252.0  # NYSE: weekdays less holidays, the convention
    assert bars_per_year(ns(pd.date_range("2021-01-01", periods=500, freq="D"))) == 365.0  # crypto: every day
    assert bars_per_year(ns(hours)) == pytest.approx(24 * 365.25, rel=1e-3)  # the data's own pace
    assert bars_per_year(ns(us_hours)) == pytest.approx(7 * 5 * 365.25 / 7, rel=0.02)  # no holidays in this file
    assert bars_per_year(ns(sun_thu)) == 252.0 and trading_weekdays(ns(sun_thu)) == (0, 1, 2, 3, 6)
    assert bars_per_year(ns(mon_sat)) == pytest.approx(6 * 365.25 / 7, rel=0.01)
    assert bars_per_year(ns(pd.date_range("2000-01-07", periods=300, freq="W-FRI"))) == 52.0
    assert bars_per_year(ns(pd.date_range("2000-01-31", periods=120, freq="ME"))) == 12.0
    # data that is not one bar per trading day is annualised at its own pace (h13)
    every_other = pd.bdate_range("2020-01-01", periods=600)[::2]
    assert bars_per_year(ns(every_other)) == pytest.approx(365.25 * 5 / 7 / 2, rel=0.02)  # no holidays in it
    rng = np.random.default_rng(0)
    sparse = pd.bdate_range("2020-01-01", periods=600)[rng.random(600) < 0.6]
    assert bars_per_year(ns(sparse)) == pytest.approx(0.6 * 261, rel=0.06)
    # a handful of weekend sessions (< 5% of the bars) do not make a stock market trade every day
    odd = np.sort(np.concatenate([aapl.time[:1000], ns(pd.DatetimeIndex(["2013-03-02", "2013-06-08"]))]))
    assert bars_per_year(odd) == 252.0


def test_the_year_is_measured_before_the_cut_not_on_the_context_alone():
    """400 one-minute bars are one day: the split measures the year on the bars before the cut and every slice of
    it (the context the generators fit, the history stress scores) carries that figure (h13: 10,080 and 3,024
    where the market has 252 x 390 = 98,280)."""
    from parallelverse.market import Ohlcv
    from parallelverse.window import parse_seed_window, split_at_window

    days = pd.bdate_range("2023-01-02", "2024-06-28")
    t = ns(pd.DatetimeIndex([d + pd.Timedelta(hours=13, minutes=30 + k) for d in days for k in range(390)]))
    close = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 1e-3, len(t))))
    data = Ohlcv("US1M", "test", t, close, close * 1.001, close * 0.999, close, np.full(len(t), 1e3))
    split = split_at_window(data, parse_seed_window("2024-06-27"), 400, 30)
    want = len(days) * 390 / ((days[-1] - days[0]).days / 365.25)  # the file's own pace: no holidays in it
    assert split.history.year() == split.context.year() == split.realized.year() == pytest.approx(want, rel=0.01)
    assert abs(bars_per_year(split.context.time) / want - 1) > 0.2  # what the context alone would have said


def test_the_calendar_continues_on_the_datas_own_weekdays():
    every_day = ns(pd.date_range("2022-05-01", "2022-06-18", freq="D"))  # ends on a Saturday
    nxt = pd.DatetimeIndex(extend_calendar(every_day, 3))
    assert list(nxt.strftime("%a %m-%d")) == ["Sun 06-19", "Mon 06-20", "Tue 06-21"]
    sun_thu = ns(pd.bdate_range("2024-01-01", periods=100, freq="C", weekmask="Sun Mon Tue Wed Thu"))
    nxt = pd.DatetimeIndex(extend_calendar(sun_thu, 3))
    assert set(nxt.strftime("%a")) <= {"Sun", "Mon", "Tue", "Wed", "Thu"} and len(nxt) == 3
    # a market that moved from six days to five years ago continues on five (its calendar now, h13)
    six = pd.bdate_range("2010-01-01", "2018-12-31", freq="C", weekmask="Mon Tue Wed Thu Fri Sat")
    nxt = pd.DatetimeIndex(extend_calendar(ns(six.append(pd.bdate_range("2019-01-01", "2024-06-28"))), 20))
    assert "Sat" not in set(nxt.strftime("%a"))
    # month ends stay month ends (February included); other monthly stamps keep their day
    month_ends = ns(pd.date_range("2015-01-31", periods=100, freq="ME"))
    nxt = pd.DatetimeIndex(extend_calendar(month_ends, 14))
    assert all(nxt.is_month_end) and list(nxt.month[:3]) == [5, 6, 7] and nxt[9].month == 2
    business_ends = ns(pd.date_range("2015-01-30", periods=100, freq="BME"))
    nxt = pd.DatetimeIndex(extend_calendar(business_ends, 14))
    assert all(d == d + pd.offsets.BMonthEnd(0) for d in nxt)


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
