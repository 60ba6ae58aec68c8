"""Real OHLCV in: the bundled dataset or a user's CSV / Parquet file, validated.

Everything downstream receives an `Ohlcv` (one symbol, 1-D float64 arrays, strictly
increasing int64-ns timestamps) that already satisfies the bar invariants
low <= min(open, close) <= max(open, close) <= high, prices > 0, volume >= 0.
Every check here fails with one line naming the file, the first offending row and
the fix, before anything is written anywhere.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from parallelverse.errors import DataError

BUNDLED = "bundled"
BUNDLED_NAME = "stocks_daily"
DEFAULT_SYMBOL = "AAPL"  # the most widely followed of the six bundled stocks

# Accepted spellings, compared after lower-casing and stripping. Spellings that
# *look* like a field but mean something else (adjusted closes) are refused below,
# never silently taken.
ALIASES = {
    "time": ("date", "datetime", "time", "timestamp"),
    "symbol": ("symbol", "ticker"),
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close",),
    "volume": ("volume", "vol"),
}
ADJUSTED_CLOSE = ("adj close", "adj_close", "adjclose", "adjusted close", "adjusted_close", "adjusted")
PRICE_FIELDS = ("open", "high", "low", "close")
FIELDS = PRICE_FIELDS + ("volume",)


@dataclass(frozen=True)
class Ohlcv:
    """One symbol's bars. Arrays are 1-D, aligned, oldest first."""

    symbol: str
    source: str  # "stocks_daily" or the user's file name, for messages and provenance
    time: np.ndarray  # (n_bars,) int64 nanoseconds since the epoch, UTC, strictly increasing
    open: np.ndarray  # (n_bars,) float64
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # (n_bars,) float64; zeros when the file had no volume column
    has_volume: bool = True

    def __len__(self) -> int:
        return len(self.time)

    def slice(self, start: int, stop: int) -> Ohlcv:
        """Bars [start, stop) as a new Ohlcv (views, no copies)."""
        return Ohlcv(
            self.symbol,
            self.source,
            self.time[start:stop],
            *(getattr(self, f)[start:stop] for f in FIELDS),
            has_volume=self.has_volume,
        )

    def dates(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.time.astype("datetime64[ns]"))

    def digest(self) -> str:
        """sha256 of the timestamps and the five fields: identifies the bars exactly."""
        h = hashlib.sha256()
        for a in (self.time, *(getattr(self, f) for f in FIELDS)):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


@dataclass(frozen=True)
class SymbolSummary:
    symbol: str
    n_bars: int
    first: pd.Timestamp
    last: pd.Timestamp


class Market:
    """A validated OHLCV file holding one or many symbols."""

    def __init__(self, source: str, frames: dict[str, pd.DataFrame], has_volume: bool):
        self.source = source
        self._frames = frames  # symbol -> frame with columns time + FIELDS, sorted, validated
        self.has_volume = has_volume

    @property
    def symbols(self) -> list[str]:
        return list(self._frames)

    def summary(self) -> list[SymbolSummary]:
        return [
            SymbolSummary(s, len(f), pd.Timestamp(f["time"].iloc[0]), pd.Timestamp(f["time"].iloc[-1]))
            for s, f in self._frames.items()
        ]

    def default_symbol(self) -> str:
        if DEFAULT_SYMBOL in self._frames and self.source == BUNDLED_NAME:
            return DEFAULT_SYMBOL
        if len(self._frames) == 1:
            return self.symbols[0]
        raise DataError(
            f"{self.source} holds {len(self._frames)} symbols ({', '.join(self.symbols)}); "
            "choose one with --symbol"
        )

    def select(self, symbol: str | None = None) -> Ohlcv:
        symbol = symbol or self.default_symbol()
        if symbol not in self._frames:
            # Forgive case only when it is unambiguous.
            matches = [s for s in self._frames if s.lower() == symbol.lower()]
            if len(matches) != 1:
                raise DataError(
                    f"unknown symbol {symbol!r} in {self.source}; "
                    f"available: {', '.join(self.symbols)} (see `parallelverse data`)"
                )
            symbol = matches[0]
        f = self._frames[symbol]
        return Ohlcv(
            symbol,
            self.source,
            f["time"].to_numpy("datetime64[ns]").astype(np.int64),
            *(f[c].to_numpy(np.float64) for c in FIELDS),
            has_volume=self.has_volume,
        )


# Real OHLCV that ships inside installed packages, usable offline as `--data arch:sp500`.
PACKAGE_DATA = {"arch:sp500": ("arch.data.sp500", "SP500"), "arch:nasdaq": ("arch.data.nasdaq", "NASDAQ")}


def load_market(path: str | Path | None = None) -> Market:
    """Read and validate the bundled dataset (path None or "bundled"), a package dataset
    ("arch:sp500", "arch:nasdaq": the S&P 500 and NASDAQ indices 1999-2018 from arch) or a CSV / Parquet file."""
    if str(path) in PACKAGE_DATA:
        import importlib

        module, symbol = PACKAGE_DATA[str(path)]
        raw = importlib.import_module(module).load().reset_index()
        return _validate(raw, str(path), csv=False, default_symbol=symbol)
    if path is None or str(path) == BUNDLED:
        with resources.files("parallelverse.data").joinpath("stocks_daily.csv.gz").open("rb") as fh:
            raw = pd.read_csv(gzip.GzipFile(fileobj=fh))
        return _validate(raw, BUNDLED_NAME, csv=True, default_symbol=DEFAULT_SYMBOL)
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} does not exist; pass an existing CSV or Parquet file to --data")
    suffixes = "".join(path.suffixes).lower()
    try:
        if suffixes.endswith((".parquet", ".pq")):
            raw, csv = pd.read_parquet(path), False
        elif suffixes.endswith((".csv", ".csv.gz", ".txt")):
            raw, csv = pd.read_csv(path), True
        else:
            raise DataError(f"{path.name}: unknown file type {path.suffix!r}; use a .csv, .csv.gz or .parquet file")
    except DataError:
        raise
    except Exception as exc:  # pandas / pyarrow parse errors carry long messages
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path.name}: could not be read ({first}); check that it is a valid CSV or Parquet file") from None
    return _validate(raw, path.name, csv=csv, default_symbol=path.stem.split(".")[0])


def _where(source: str, csv: bool, row: int) -> str:
    """Human location of original row `row` (0-based data row): CSV lines count the header."""
    return f"{source} line {row + 2}" if csv else f"{source} row {row + 1}"


def _map_columns(raw: pd.DataFrame, source: str) -> dict[str, str]:
    by_lower: dict[str, str] = {}
    for col in raw.columns:
        by_lower.setdefault(str(col).strip().lower(), str(col))
    mapping: dict[str, str] = {}
    for field, names in ALIASES.items():
        found = [by_lower[n] for n in names if n in by_lower]
        if len(found) > 1:
            raise DataError(
                f"{source}: columns {', '.join(map(repr, found))} all look like {field!r}; keep one or rename the others"
            )
        if found:
            mapping[field] = found[0]
    if "close" not in mapping:
        adjusted = [by_lower[n] for n in ADJUSTED_CLOSE if n in by_lower]
        if adjusted:
            raise DataError(
                f"{source}: has {adjusted[0]!r} but no 'close' column; an adjusted close does not match unadjusted "
                f"open/high/low, so it is not used as close — add a close column, or rename {adjusted[0]!r} to 'close' "
                "if your open/high/low are adjusted the same way"
            )
    missing = [f for f in ("time",) + PRICE_FIELDS if f not in mapping]
    if missing:
        want = ", ".join("date/time" if m == "time" else m for m in missing)
        raise DataError(
            f"{source}: missing column(s) {want} (found: {', '.join(map(str, raw.columns))}); "
            "the file needs a date or time column and open, high, low, close (volume and symbol optional)"
        )
    return mapping


def _parse_time(col: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(col):
        t = col
    elif pd.api.types.is_numeric_dtype(col):
        return pd.Series(pd.NaT, index=col.index, dtype="datetime64[ns]")  # epochs are ambiguous: refuse
    else:
        text = col.astype("string")
        t = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
        if t.isna().all():
            t = pd.to_datetime(text, errors="coerce", utc=True)
    if getattr(t.dt, "tz", None) is not None:
        t = t.dt.tz_convert("UTC").dt.tz_localize(None)
    return t.astype("datetime64[ns]")


def _validate(raw: pd.DataFrame, source: str, csv: bool, default_symbol: str) -> Market:
    if len(raw) == 0:
        raise DataError(f"{source}: has no rows; pass a file with at least a few hundred bars")
    mapping = _map_columns(raw, source)
    where = lambda row: _where(source, csv, int(row))  # noqa: E731

    df = pd.DataFrame({"_row": np.arange(len(raw))})
    time_col = raw[mapping["time"]]
    df["time"] = _parse_time(time_col).to_numpy()
    bad = np.flatnonzero(df["time"].isna().to_numpy())
    if len(bad):
        r = bad[0]
        raise DataError(
            f"{where(r)}: unparsable timestamp {time_col.iloc[r]!r} in column {mapping['time']!r}; "
            "use ISO dates like 2020-01-31 or 2020-01-31 15:30:00"
        )
    if "symbol" in mapping:
        sym = raw[mapping["symbol"]]
        bad = np.flatnonzero(sym.isna().to_numpy())
        if len(bad):
            raise DataError(f"{where(bad[0])}: empty symbol in column {mapping['symbol']!r}; fill it in or drop the row")
        df["symbol"] = sym.astype(str).str.strip().to_numpy()
    else:
        df["symbol"] = default_symbol

    for f in FIELDS:
        if f == "volume" and "volume" not in mapping:
            df[f] = 0.0
            continue
        values = pd.to_numeric(raw[mapping[f]], errors="coerce").to_numpy(np.float64)
        nonnum = np.flatnonzero(np.isnan(values) & raw[mapping[f]].notna().to_numpy())
        if len(nonnum):
            r = nonnum[0]
            raise DataError(f"{where(r)}: {f} {raw[mapping[f]].iloc[r]!r} is not a number; fix or drop the row")
        df[f] = values
    _check_values(df, where)

    frames: dict[str, pd.DataFrame] = {}
    for symbol, g in df.groupby("symbol", sort=False):
        t = g["time"].to_numpy("datetime64[ns]").astype(np.int64)
        step = np.diff(t)
        if (step == 0).any():
            i = int(np.flatnonzero(step == 0)[0]) + 1
            raise DataError(
                f"{where(g['_row'].iloc[i])}: duplicated timestamp {pd.Timestamp(t[i])} for {symbol}; "
                "keep one bar per timestamp"
            )
        if (step < 0).any():
            i = int(np.flatnonzero(step < 0)[0]) + 1
            raise DataError(
                f"{where(g['_row'].iloc[i])}: timestamp {pd.Timestamp(t[i])} for {symbol} comes before the row above it "
                f"({pd.Timestamp(t[i - 1])}); sort the file by time"
            )
        frames[str(symbol)] = g.drop(columns=["_row", "symbol"]).reset_index(drop=True)
    return Market(source, frames, has_volume="volume" in mapping)


def _check_values(df: pd.DataFrame, where) -> None:
    """Bar-level checks, each reporting the first offending row in file order."""
    o, h, lo, c, v = (df[f].to_numpy() for f in FIELDS)
    checks = []
    for f, x in zip(PRICE_FIELDS, (o, h, lo, c)):
        checks.append((~np.isfinite(x), lambda r, f=f, x=x: f"{f} is {x[r]}; prices must be finite — fix or drop the row"))
        checks.append((np.isfinite(x) & (x <= 0), lambda r, f=f, x=x: f"{f} is {x[r]}; prices must be > 0 — fix or drop the row"))
    checks += [
        (~np.isfinite(v), lambda r: f"volume is {v[r]}; volume must be finite — use 0 for no trades or drop the row"),
        (v < 0, lambda r: f"volume is {v[r]}; volume must be >= 0 — fix or drop the row"),
        (
            h < np.maximum(o, c),
            lambda r: f"high {h[r]} is below max(open {o[r]}, close {c[r]}); fix the bar or drop the row",
        ),
        (
            lo > np.minimum(o, c),
            lambda r: f"low {lo[r]} is above min(open {o[r]}, close {c[r]}); fix the bar or drop the row",
        ),
    ]
    first = None
    for mask, msg in checks:
        bad = np.flatnonzero(mask)
        if len(bad) and (first is None or bad[0] < first[0]):
            first = (int(bad[0]), msg)
    if first is not None:
        r, msg = first
        raise DataError(f"{where(df['_row'].iloc[r])}: {msg(r)}")
