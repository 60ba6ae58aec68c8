"""Real OHLCV in: the bundled dataset or a user's CSV / Parquet file, validated.

Everything downstream receives an `Ohlcv` (one symbol, 1-D float64 arrays, strictly
increasing int64-ns timestamps) that already satisfies the bar invariants
low <= min(open, close) <= max(open, close) <= high, prices > 0, volume >= 0.
Every check here fails with one line naming the file, the first offending row and
the fix, before anything is written anywhere. Files that are not what their name
says (Excel or gzip named .csv, semicolon-separated, decimal commas, not UTF-8) get
a hint instead of a parser's message.

Timestamps: daily bars (every bar at the same local time of day) keep their own
wall-clock date and time, whatever their UTC offset, so a `+09:00` bar stays on its
trading day; intraday bars with offsets are converted to UTC.
"""

from __future__ import annotations

import gzip
import hashlib
import re
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
MAX_VOLUME = 1e18  # shares or contracts per bar; beyond any market's, far from float overflow in exp/log
MAX_PRICE = 1e15  # prices above this (no asset trades there) overflow equity x shares and the metrics


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
    bars_per_year: float | None = None  # the data's year, measured on the bars before the cut (split_at_window)

    def __len__(self) -> int:
        return len(self.time)

    def year(self) -> float:
        """Bars in a year of this data's calendar: the figure measured when the seed split was cut (kept by every
        slice), else measured on these bars (trading_calendar.bars_per_year)."""
        from parallelverse.trading_calendar import bars_per_year

        return self.bars_per_year if self.bars_per_year is not None else bars_per_year(self.time)

    def slice(self, start: int, stop: int) -> Ohlcv:
        """Bars [start, stop) as a new Ohlcv (views, no copies)."""
        return Ohlcv(
            self.symbol,
            self.source,
            self.time[start:stop],
            *(getattr(self, f)[start:stop] for f in FIELDS),
            has_volume=self.has_volume,
            bars_per_year=self.bars_per_year,
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
        if symbol is not None and not symbol.strip():
            raise DataError(f"--symbol is empty; pass one of {', '.join(self.symbols)} (see `parallelverse data`)")
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
    if not str(path).strip():
        raise DataError("--data is empty; pass a CSV or Parquet file, or leave --data out for the bundled data")
    path = Path(path)
    if path.is_dir():
        raise DataError(f"--data {str(path)!r} is a directory; pass a CSV or Parquet file")
    if path.exists() and not path.is_file():
        raise DataError(f"--data {str(path)!r} is not a regular file (a device, pipe or socket); pass a CSV or "
                        "Parquet file")
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} does not exist; pass an existing CSV or Parquet file to --data")
    suffixes = "".join(path.suffixes).lower()
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise DataError(f"{str(path)!r} cannot be read ({exc.strerror or exc}); check its permissions") from None
    if suffixes.endswith((".parquet", ".pq")):
        kind = "parquet"
    elif suffixes.endswith((".csv", ".csv.gz", ".txt")):
        kind = "csv"
    elif suffixes.endswith((".xlsx", ".xls", ".xlsm", ".ods")):
        raise DataError(f"{path.name}: spreadsheets are not read; save it as CSV (in Excel: File > Save As > CSV UTF-8)")
    else:
        raise DataError(f"{path.name}: unknown file type {path.suffix!r}; use a .csv, .csv.gz or .parquet file")
    if not head:
        raise DataError(f"{path.name}: is empty; pass a file with a header row and bars")
    if kind == "csv":
        _sniff_csv(path, head)
    try:
        raw = pd.read_parquet(path) if kind == "parquet" else pd.read_csv(path, encoding="utf-8")
    except UnicodeDecodeError:
        byte, offset, line = _first_non_utf8(path)
        raise DataError(
            f"{path.name}: is not UTF-8 text (byte 0x{byte:02x} on line {line}, at byte offset {offset} of the "
            "file); save it as UTF-8 (in Excel: CSV UTF-8), e.g. iconv -f latin1 -t utf-8"
        ) from None
    except OSError as exc:
        raise DataError(f"{str(path)!r} cannot be read ({exc.strerror or exc}); check the file") from None
    except Exception as exc:  # pandas / pyarrow parse errors carry long messages
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path.name}: could not be read ({first}); check that it is a valid CSV or Parquet file") from None
    if kind == "csv":
        _check_csv_shape(raw, path.name)
        _symbols_as_text(raw, path)
    return _validate(raw, path.name, csv=kind == "csv", default_symbol=path.stem.split(".")[0])


def _symbols_as_text(raw: pd.DataFrame, path: Path) -> None:
    """Re-read a CSV's symbol column as plain text: pandas' guessing would read the ticker NA (or None, null)
    as missing, 0700 as 700 and 1E5 as 100000.0."""
    for col in raw.columns:
        if str(col).strip().lower() in ALIASES["symbol"]:
            raw[col] = pd.read_csv(path, usecols=[col], dtype=str, keep_default_na=False, encoding="utf-8")[col]


# Leading bytes of files that are not CSV text, whatever their name says.
_MAGIC = (
    (b"PK\x03\x04", "an Excel .xlsx workbook (or another zip archive)", "save it from Excel as CSV (CSV UTF-8)"),
    (b"\xd0\xcf\x11\xe0", "an Excel .xls workbook", "save it from Excel as CSV (CSV UTF-8)"),
    (b"PAR1", "a Parquet file", "rename it to end in .parquet"),
    (b"\xff\xfe", "UTF-16 text", "save it as UTF-8 (in Excel: CSV UTF-8)"),
    (b"\xfe\xff", "UTF-16 text", "save it as UTF-8 (in Excel: CSV UTF-8)"),
)
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+\s*$")


def _sniff_csv(path: Path, head: bytes) -> None:
    """Refuse files named like CSV whose bytes say otherwise (Excel, gzip, Parquet, UTF-16,
    semicolons or tabs between fields), with the fix."""
    gz = "".join(path.suffixes).lower().endswith(".gz")
    if head.startswith(b"\x1f\x8b") and not gz:
        raise DataError(f"{path.name}: is gzip-compressed but named {path.suffix}; rename it to {path.name}.gz")
    if gz:
        return
    for magic, what, fix in _MAGIC:
        if head.startswith(magic):
            raise DataError(f"{path.name}: is {what}, not CSV text; {fix}")
    with open(path, "rb") as fh:
        lines = fh.read(8192).decode("utf-8", errors="replace").splitlines()
    header = lines[0] if lines else ""
    if header.lstrip("\ufeff").lstrip().startswith("#"):
        raise DataError(f"{path.name}: line 1 is a comment ({header.strip()[:40]!r}); remove the comment lines so that "
                        "the first line is the header (date,open,high,low,close,...)")
    for sep, word in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
        if sep in header and "," not in header:
            comma = any(_DECIMAL_COMMA.match(v) for line in lines[1:6] for v in line.split(sep))
            raise DataError(
                f"{path.name}: columns are separated by {word}, not commas"
                + (" and numbers use decimal commas" if comma else "")
                + "; save it as comma-separated"
                + (" with decimal points (41.5, not 41,5)" if comma else "")
                + " (in Excel: CSV UTF-8 with '.' as the decimal separator)"
            )


def _check_csv_shape(raw: pd.DataFrame, name: str) -> None:
    """More fields in the rows than names in the header: pandas would silently shift columns."""
    if not isinstance(raw.index, pd.RangeIndex):
        raise DataError(
            f"{name}: rows have more fields than the header has names (decimal commas such as 41,5?); "
            "use decimal points (41.5) or quote the values, and one comma between fields"
        )


def _where(source: str, csv: bool, row: int) -> str:
    """Human location of original row `row` (0-based data row): CSV lines count the header."""
    return f"{source} line {row + 2}" if csv else f"{source} row {row + 1}"


def _map_columns(raw: pd.DataFrame, source: str) -> dict[str, str]:
    by_lower: dict[str, str] = {}
    known = {n for names in ALIASES.values() for n in names} | set(ADJUSTED_CLOSE)
    for col in raw.columns:
        key = str(col).strip().lower()
        if key in by_lower and key in known:  # `close` and `Close`: which one is meant is not ours to guess
            raise DataError(f"{source}: columns {by_lower[key]!r} and {str(col)!r} differ only in case; keep one")
        by_lower.setdefault(key, str(col))
    mapping: dict[str, str] = {}
    for field, names in ALIASES.items():
        found = [by_lower[n] for n in names if n in by_lower]
        if field == "time" and len(found) == 2 and {by_lower.get("date"), by_lower.get("time")} == set(found):
            raise DataError(f"{source}: columns {found[0]!r} and {found[1]!r} hold the date and the time of day apart; "
                            "combine them into one 'datetime' column (e.g. '2024-01-02 09:30')")
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


_UTC_OFFSET = re.compile(r"(?:[Zz]|[+-]\d{2}:?\d{2})$")


def _one_time_of_day(t: pd.Series) -> bool:
    """True when every bar sits at the same time of day: daily (or coarser) bars."""
    tod = (t - t.dt.normalize()).dropna()
    return len(tod) > 0 and tod.nunique() == 1


def _parse_time(col: pd.Series) -> pd.Series:
    """Naive timestamps: daily bars keep their own wall clock; intraday bars with offsets become UTC."""
    if pd.api.types.is_datetime64_any_dtype(col):
        t = col
        if getattr(t.dt, "tz", None) is not None:
            local = t.dt.tz_localize(None)  # wall clock in the column's own zone
            t = local if _one_time_of_day(local) else t.dt.tz_convert("UTC").dt.tz_localize(None)
        return t.astype("datetime64[ns]")
    if pd.api.types.is_numeric_dtype(col):
        return pd.Series(pd.NaT, index=col.index, dtype="datetime64[ns]")  # epochs are ambiguous: refuse
    text = col.astype("string").str.strip()
    if text.str.contains(_UTC_OFFSET, na=False).any():
        local = _to_datetime(text.str.replace(_UTC_OFFSET, "", regex=True), utc=False)
        if _one_time_of_day(local) and not local.isna().any():
            return local.astype("datetime64[ns]")
    t = _to_datetime(text, utc=True)
    if getattr(t.dt, "tz", None) is not None:
        t = t.dt.tz_convert("UTC").dt.tz_localize(None)
    return t.astype("datetime64[ns]")


def _out_of_range(v) -> bool:
    """Whether one timestamp value parses but falls outside what nanosecond times hold."""
    try:
        pd.Timestamp(str(v).strip()).as_unit("ns")
    except (pd.errors.OutOfBoundsDatetime, OverflowError):
        return True
    except (ValueError, TypeError):
        return False
    return False


def _to_datetime(text: pd.Series, utc: bool) -> pd.Series:
    t = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=utc)
    if t.isna().all():
        import warnings

        with warnings.catch_warnings():  # 'Could not infer format' is pandas' note to itself, not the user's
            warnings.simplefilter("ignore", UserWarning)
            t = pd.to_datetime(text, errors="coerce", utc=utc)
    return t


def _validate(raw: pd.DataFrame, source: str, csv: bool, default_symbol: str) -> Market:
    if len(raw) == 0:
        raise DataError(f"{source}: has no rows; pass a file with at least a few hundred bars")
    mapping = _map_columns(raw, source)
    where = lambda row: _where(source, csv, int(row))  # noqa: E731

    df = pd.DataFrame({"_row": np.arange(len(raw))})
    time_col = raw[mapping["time"]]
    try:
        df["time"] = _parse_time(time_col).to_numpy()
    except pd.errors.OutOfBoundsDatetime:
        r = next(i for i, v in enumerate(time_col) if _out_of_range(v))
        raise DataError(f"{where(r)}: timestamp '{time_col.iloc[r]}' in column {mapping['time']!r} is outside "
                        "1677-09-22 .. 2262-04-11 (the range of nanosecond times); fix or drop the row") from None
    bad = np.flatnonzero(df["time"].isna().to_numpy())
    if len(bad):
        r = bad[0]
        numeric = pd.api.types.is_numeric_dtype(time_col)
        shown = time_col.iloc[r]
        if shown is None or (isinstance(shown, float) and np.isnan(shown)) or not str(shown).strip():
            raise DataError(f"{where(r)}: the timestamp in column {mapping['time']!r} is empty; fill it in or drop the row")
        raise DataError(
            f"{where(r)}: unparsable timestamp '{time_col.iloc[r]}' in column {mapping['time']!r}; "
            + ("numbers are not read as times (epoch seconds and YYYYMMDD look alike); " if numeric else "")
            + "use ISO dates like 2020-01-31 or 2020-01-31 15:30:00"
        )
    if "symbol" in mapping:
        sym = raw[mapping["symbol"]]
        bad = np.flatnonzero(sym.isna().to_numpy())
        if len(bad):
            raise DataError(f"{where(bad[0])}: empty symbol in column {mapping['symbol']!r}; fill it in or drop the row")
        df["symbol"] = sym.astype(str).str.strip().to_numpy()
        bad = np.flatnonzero(df["symbol"].to_numpy() == "")
        if len(bad):
            raise DataError(f"{where(bad[0])}: empty symbol in column {mapping['symbol']!r}; fill it in or drop the row")
        _check_symbol_case(df, source, csv)
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
            text = raw[mapping[f]].iloc[r]
            hint = (f"; use a decimal point ({str(text).strip().replace(',', '.')})" if _DECIMAL_COMMA.match(str(text))
                    else "; fix or drop the row")
            raise DataError(f"{where(r)}: {f} {text!r} is not a number{hint}")
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


def _check_symbol_case(df: pd.DataFrame, source: str, csv: bool) -> None:
    """`AAPL` and `aapl` in one file are a typo, not two series: refuse with both spellings."""
    first_row = df.groupby("symbol", sort=False)["_row"].first()
    by_lower: dict[str, list[str]] = {}
    for sym in first_row.index:
        by_lower.setdefault(str(sym).lower(), []).append(str(sym))
    for spellings in by_lower.values():
        if len(spellings) > 1:
            a, b = spellings[:2]
            line = lambda s: _where(source, csv, int(first_row[s])).removeprefix(source + " ")  # noqa: E731
            raise DataError(
                f"{source}: symbols {a!r} ({line(a)}) and {b!r} ({line(b)}) differ only in case; "
                "spell them the same if they are one series, or rename one"
            )


def _check_values(df: pd.DataFrame, where) -> None:
    """Bar-level checks, each reporting the first offending row in file order."""
    o, h, lo, c, v = (df[f].to_numpy() for f in FIELDS)
    checks = []
    for f, x in zip(PRICE_FIELDS, (o, h, lo, c)):
        checks.append((~np.isfinite(x), lambda r, f=f, x=x: f"{f} is {x[r]}; prices must be finite — fix or drop the row"))
        checks.append((np.isfinite(x) & (x <= 0), lambda r, f=f, x=x: f"{f} is {x[r]}; prices must be > 0 — fix or drop the row"))
        checks.append((np.isfinite(x) & (x > MAX_PRICE), lambda r, f=f, x=x: (
            f"{f} is {x[r]:g}; prices above {MAX_PRICE:g} overflow the backtest's arithmetic — rescale the series")))
    checks += [
        (~np.isfinite(v), lambda r: f"volume is {v[r]}; volume must be finite — use 0 for no trades or drop the row"),
        (v < 0, lambda r: f"volume is {v[r]}; volume must be >= 0 — fix or drop the row"),
        (np.isfinite(v) & (v > MAX_VOLUME), lambda r: (
            f"volume is {v[r]:g}; volumes above {MAX_VOLUME:g} overflow the volume model's arithmetic — rescale them")),
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


# Split factors k seen in practice: k-for-1 splits divide the price by k overnight,
# 1-for-k reverse splits multiply it by k. 3-for-2 is common too but a 33% gap also
# happens on real news, so it gets a tighter price tolerance.
SPLIT_FACTORS = (1.5, 2, 3, 4, 5, 6, 7, 8, 10, 15, 20, 25, 30, 40, 50, 100)
_SPLIT_TOLERANCE = {1.5: 0.02}  # relative distance of the gap from 1/k (or k); 4% otherwise
_VOLUME_BARS = 10  # bars on each side whose median volume is compared


@dataclass(frozen=True)
class SuspectedSplit:
    """An overnight jump that looks like an unadjusted split (see find_unadjusted_splits)."""

    symbol: str
    time: pd.Timestamp  # the first bar after the jump
    ratio: float  # open of that bar / close of the bar before
    factor: float  # k: 2 = 2-for-1 (price halves), 1/10 = 1-for-10 reverse split (price x10)
    volume_ratio: float | None  # median volume of the 10 bars from `time` / of the 10 before; None without volume

    def describe(self) -> str:
        kind = (f"{self.factor:g}-for-1 split" if self.factor > 1 else f"1-for-{1 / self.factor:g} reverse split")
        vol = f", volume x{self.volume_ratio:.1f}" if self.volume_ratio is not None else ""
        return (f"{self.symbol} opens at {self.ratio:.3f}x the previous close on {self.time.date()}{vol}: "
                f"looks like an unadjusted {kind}")


def _first_non_utf8(path: Path) -> tuple[int, int, int]:
    """(byte, offset in the file, 1-based line) of the first byte that is not UTF-8 (pandas' own position is
    within a chunk of one line); the file as read, gunzipped for .gz."""
    import gzip

    data = gzip.open(path).read() if path.name.lower().endswith(".gz") else path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return data[exc.start], exc.start, data.count(b"\n", 0, exc.start) + 1
    return 0, 0, 1


def find_unadjusted_splits(bars: Ohlcv) -> list[SuspectedSplit]:
    """Jumps between consecutive bars that look like an unadjusted stock split.

    Bar t is suspected when its open is within 4% (2% for 3-for-2) of the previous
    close divided by a split factor k (forward split) or multiplied by it (reverse
    split), and, when the file has volume, volume moved the other way as a split
    moves it: the median volume of the 10 bars from t is at least k/3 times the
    median of the 10 bars before (at most 3/k for a reverse split). Real crashes
    rarely gap by almost exactly 1/2, 1/3, 1/4... at the open; when one does,
    `--accept-splits` takes it as real.
    """
    return [s for s, volume_followed in _split_sized_gaps(bars) if volume_followed]


def split_sized_moves(bars: Ohlcv) -> list[SuspectedSplit]:
    """Jumps of almost exactly a split's ratio that find_unadjusted_splits takes as real because volume did not
    move as a split moves it; worth a warning, since a file may hold split-adjusted volume beside unadjusted prices."""
    return [s for s, volume_followed in _split_sized_gaps(bars) if not volume_followed]


def _split_sized_gaps(bars: Ohlcv) -> list[tuple[SuspectedSplit, bool]]:
    """Every opening gap within tolerance of a split factor, and whether volume followed (True without volume)."""
    if len(bars) < 2:
        return []
    gap = np.log(bars.open[1:] / bars.close[:-1])  # (n_bars - 1,)
    found = []
    for i in np.flatnonzero(np.abs(gap) > np.log(1.4)):  # no split factor is closer to 1 than 1.5 - 2%
        t = int(i) + 1
        for k in SPLIT_FACTORS:
            tol = np.log1p(_SPLIT_TOLERANCE.get(k, 0.04))
            if abs(gap[i] + np.log(k)) <= tol:
                factor = float(k)
            elif abs(gap[i] - np.log(k)) <= tol:
                factor = 1.0 / k
            else:
                continue
            q = _volume_ratio(bars, t)
            followed = q is None or not (q < factor / 3 if factor > 1 else q > 3 * factor)
            found.append((SuspectedSplit(bars.symbol, pd.Timestamp(bars.time[t]), float(np.exp(gap[i])), factor, q),
                          followed))
            break
    return found


def _volume_ratio(bars: Ohlcv, t: int) -> float | None:
    if not bars.has_volume:
        return None
    before = np.median(bars.volume[max(0, t - _VOLUME_BARS):t])
    after = np.median(bars.volume[t:t + _VOLUME_BARS])
    return float(after / before) if before > 0 and after > 0 else None


def splits_error(source: str, found: list[SuspectedSplit]) -> DataError:
    """The one-line refusal for suspected splits, naming the first and the fix."""
    s = found[0]
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    k = s.factor
    adjust = (f"divide prices before {s.time.date()} by {k:g} and multiply volume by {k:g}" if k > 1 else
              f"multiply prices before {s.time.date()} by {1 / k:g} and divide volume by {1 / k:g}")
    return DataError(f"{source}: {s.describe()}{more}; {adjust}, or pass --accept-splits if the move was real")
