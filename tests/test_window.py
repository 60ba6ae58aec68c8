"""Seed windows: parsing, the cut, the context, and the horizon's calendar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from parallelverse.errors import WindowError
from parallelverse.trading_calendar import extend_calendar
from parallelverse.window import parse_seed_window, split_at_window


@pytest.mark.parametrize(
    "spec, start, end",
    [
        ("2020", "2020-01-01", "2021-01-01"),
        ("2020-01", "2020-01-01", "2020-02-01"),
        ("2020-02-28", "2020-02-28", "2020-02-29"),
        ("2019-06:2020-01", "2019-06-01", "2020-02-01"),
        ("2019:2019-03-15", "2019-01-01", "2019-03-16"),
    ],
)
def test_parse(spec, start, end):
    w = parse_seed_window(spec)
    assert (w.start, w.end) == (pd.Timestamp(start), pd.Timestamp(end))


@pytest.mark.parametrize("spec", ["20", "2020-1", "2020-02-30", "Jan 2020", "2020-01:", ""])
def test_parse_rejects(spec):
    with pytest.raises(WindowError, match="is not YYYY"):
        parse_seed_window(spec)


def test_cut_context_and_realized_future(aapl):
    s = split_at_window(aapl, parse_seed_window("2020-01"), context_bars=400, horizon_bars=252)
    d = s.history.dates()
    # The cut is the window's last bar; futures start at the next bar.
    assert d[s.context_end - 1] == pd.Timestamp("2020-01-31")
    assert d[s.context_end] == pd.Timestamp("2020-02-03")
    assert s.context_end == 400 and len(s.context) == 400
    assert s.realized_end - s.context_end == 252  # the data has a full year after the cut
    np.testing.assert_array_equal(s.horizon_time, s.realized.time)
    # Context bars are exactly the 400 bars before and including the cut.
    i = int(np.flatnonzero(aapl.dates() == "2020-01-31")[0])
    np.testing.assert_array_equal(s.context.close, aapl.close[i - 399 : i + 1])


def test_start_end_window_cuts_at_end(aapl):
    a = split_at_window(aapl, parse_seed_window("2019-06:2020-01"), 400, 252)
    b = split_at_window(aapl, parse_seed_window("2020-01"), 400, 252)
    np.testing.assert_array_equal(a.history.time, b.history.time)


def test_horizon_past_the_data_follows_weekdays(aapl):
    s = split_at_window(aapl, parse_seed_window("2023-09"), 400, 10)
    assert s.realized_end - s.context_end == 0  # September 2023 is the last month of the data
    times = pd.DatetimeIndex(s.horizon_time.astype("datetime64[ns]"))
    assert list(times.strftime("%Y-%m-%d")) == [
        "2023-09-22", "2023-09-25", "2023-09-26", "2023-09-27", "2023-09-28",
        "2023-09-29", "2023-10-02", "2023-10-03", "2023-10-04", "2023-10-05",
    ]


def test_partly_realized_horizon(aapl):
    s = split_at_window(aapl, parse_seed_window("2023-08"), 400, 252)
    n_real = s.realized_end - s.context_end
    assert n_real == 14  # 2023-09-01 .. 2023-09-21, Labor Day (09-04) closed
    np.testing.assert_array_equal(s.horizon_time[:n_real], s.realized.time)
    assert np.all(np.diff(s.horizon_time) > 0) and len(s.horizon_time) == 252


def test_intraday_calendar_uses_median_spacing():
    t = pd.date_range("2024-01-02 09:30", periods=50, freq="5min").as_unit("ns").asi8
    nxt = extend_calendar(t, 3)
    assert list(pd.DatetimeIndex(nxt).strftime("%H:%M")) == ["13:40", "13:45", "13:50"]


def test_one_spelling_per_window():
    # the store's identity records the window's text: a spaced spelling is the same window, full-width digits are not a year
    assert parse_seed_window(" 2019-06 : 2020-01 ").spec == "2019-06:2020-01" == parse_seed_window("2019-06:2020-01").spec
    with pytest.raises(WindowError, match="is not YYYY"):
        parse_seed_window("２０２０-01")


def test_gaps_in_the_context_are_found_and_real_calendars_have_none(market):
    """Holidays and long weekends are no gap (every bundled symbol, every month 2015-2023); six missing months are."""
    from parallelverse.market import Ohlcv
    from parallelverse.window import context_gaps

    for symbol in market.symbols:
        data = market.select(symbol)
        for year in range(2015, 2024):
            for month in (1, 4, 7, 10):
                if f"{year}-{month:02d}" <= "2023-07":
                    split = split_at_window(data, parse_seed_window(f"{year}-{month:02d}"), 400, 20)
                    assert context_gaps(split) == [], (symbol, year, month)
    aapl = market.select("AAPL")
    d = aapl.dates()
    keep = ~((d >= "2019-03-01") & (d < "2019-09-01"))
    holed = Ohlcv(aapl.symbol, aapl.source, aapl.time[keep], aapl.open[keep], aapl.high[keep], aapl.low[keep],
                  aapl.close[keep], aapl.volume[keep])
    gaps = context_gaps(split_at_window(holed, parse_seed_window("2020-01"), 400, 20))
    assert [(str(a)[:10], str(b)[:10]) for a, b in gaps] == [("2019-02-28", "2019-09-03")]
