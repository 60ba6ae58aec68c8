"""Training windows for Kronos: real OHLCV cut into (lookback + predict)-bar windows.

Each window is normalised with the statistics of its *lookback* bars only — never the
bars it is asked to predict (upstream's fine-tuning code z-scored over lookback +
horizon and leaked the future into the inputs) — in the checkpoint's representation
(`generators.kronos.representation`: `zscore` levels or `logret` returns), with the
same functions the sampler uses. The split is by time: per symbol, windows that end before `val_from` train,
windows that start on or after it validate; a held-out symbol validates only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from parallelverse.errors import DataError
from parallelverse.generators.kronos import representation as rep
from parallelverse.generators.kronos import stamps
from parallelverse.market import Ohlcv


MAX_WINDOW_BARS = 2048  # lookback + predict: Kronos-mini's max_context, the longest of any Kronos checkpoint


@dataclass(frozen=True)
class Windows:
    x: np.ndarray  # (n_windows, window, 6) float32, normalised on the lookback
    stamp: np.ndarray  # (n_windows, window, 5) float32
    symbols: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.x)


def normalise_window(x: np.ndarray, lookback: int, kind: str = "zscore") -> np.ndarray:
    """(window, d) raw features -> normalised with the first `lookback` rows' statistics, clipped."""
    return rep.normalise(x, rep.fit_scale(kind, x[:lookback]))


def check_window_options(lookback: int, predict: int, stride: int) -> None:
    """One-line errors for window shapes that cannot train."""
    for name, v, example in (("lookback", lookback, 120), ("predict", predict, 8), ("stride", stride, 3)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise DataError(f"--{name} {v!r} must be a whole number >= 1; e.g. --{name} {example}")
    if lookback + predict > MAX_WINDOW_BARS:
        raise DataError(f"--lookback {lookback} + --predict {predict} = {lookback + predict:,} bars per window is more "
                        f"than {MAX_WINDOW_BARS:,} (the longest context a Kronos model reads, Kronos-mini's; attention "
                        "memory grows with its square); use e.g. --lookback 90 --predict 10")


def cut_date(option: str, text: str | None) -> int | None:
    """A date option (--until, --val-from) as int64 ns, None when not given; a one-line error when it is not a date."""
    if text is None:
        return None
    try:
        return pd.Timestamp(str(text)).value
    except (ValueError, TypeError, OverflowError):
        raise DataError(f"{option} {text!r} is not a date; write YYYY-MM-DD, e.g. {option} 2020-01-01") from None


def make_windows(series: list[Ohlcv], lookback: int, predict: int, stride: int, val_from: str | None,
                 until: str | None, holdout: str | None, kind: str = "zscore") -> tuple[Windows, Windows, dict]:
    """Train and validation windows plus a description of the data used (for the model card).
    logret windows start at a series' second bar (the first has no previous close)."""
    check_window_options(lookback, predict, stride)
    rep.check(kind)
    w = lookback + predict
    tr_x, tr_s, va_x, va_s, used = [], [], [], [], {}
    cut, vf = cut_date("--until", until), cut_date("--val-from", val_from)
    symbols = sorted({s.symbol for s in series})
    if holdout and holdout not in symbols:
        raise DataError(f"--holdout-symbol {holdout!r} is not in the data; choose one of {', '.join(symbols)}")
    for s in series:
        keep = s.time < cut if cut is not None else np.ones(len(s), bool)
        n = int(keep.sum())
        if n < w:
            continue
        sub = s.slice(0, n)
        x = rep.raw_features(kind, sub.open, sub.high, sub.low, sub.close, sub.volume if sub.has_volume else
                             np.zeros(n))
        st = stamps(sub.time)
        used[s.symbol] = {"source": s.source, "bars": n, "first": str(pd.Timestamp(sub.time[0]).date()),
                          "last": str(pd.Timestamp(sub.time[-1]).date())}
        for start in range(1 if kind == "logret" else 0, n - w + 1, stride):
            end_time, start_time = sub.time[start + w - 1], sub.time[start]
            xw = normalise_window(x[start : start + w], lookback, kind)
            if holdout and s.symbol == holdout or (vf is not None and start_time >= vf):
                va_x.append(xw), va_s.append(st[start : start + w])
            elif vf is None or end_time < vf:
                tr_x.append(xw), tr_s.append(st[start : start + w])
    if not tr_x and holdout and all(s.symbol == holdout for s in series):
        raise DataError(f"--holdout-symbol {holdout} is the only symbol, so nothing is left to train on; add "
                        "--symbols to train on, or use --val-from instead")
    if not tr_x:
        before = f"end before --val-from {val_from}" if vf is not None else "fit in the data"
        later = "set a later --val-from, " if vf is not None else ""
        raise DataError(f"no training windows of {w} bars {before}; {later}use data that starts earlier, or a "
                        "shorter --lookback/--predict")
    if not va_x:
        raise DataError("no validation windows; set --val-from inside the data (or --holdout-symbol)")
    syms = tuple(used)
    return (Windows(np.stack(tr_x), np.stack(tr_s), syms), Windows(np.stack(va_x), np.stack(va_s), syms), used)
