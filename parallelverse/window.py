"""Seed windows: where real history stops and the synthetic futures begin.

`--seed-window` is YYYY, YYYY-MM, YYYY-MM-DD or START:END (each side any of the
three). The window's last bar is the *cut*: the model context is the last
`context_bars` bars up to and including the cut, and synthetic futures start at the
first bar after it. The horizon's timestamps follow the data's own calendar while
real bars exist, so the universes line up bar for bar with what really happened;
past the end of the data they continue on the data's own trading weekdays (daily
data) or at the median bar spacing (intraday or weekly data); `trading_calendar.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from parallelverse.errors import WindowError
from parallelverse.inputs import MIN_CONTEXT_BARS  # the --context bound lives with the other option bounds
from parallelverse.market import Ohlcv
from parallelverse.trading_calendar import bars_per_year, extend_calendar
_PART = re.compile(r"^([0-9]{4})(?:-([0-9]{2}))?(?:-([0-9]{2}))?$")  # ASCII digits only (int() reads full-width ones)


@dataclass(frozen=True)
class SeedWindow:
    """A calendar span [start, end) in naive UTC timestamps, plus the text it came from."""

    spec: str
    start: pd.Timestamp
    end: pd.Timestamp  # exclusive


def _period(text: str, whole: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    m = _PART.match(text.strip())
    bad = WindowError(
        f"--seed-window {whole!r} is not YYYY, YYYY-MM, YYYY-MM-DD or START:END; e.g. 2020-01 or 2019-06:2020-01"
    )
    if not m:
        raise bad
    y, mo, d = m.groups()
    try:
        if d is not None:
            start = pd.Timestamp(int(y), int(mo), int(d))
            return start, start + pd.Timedelta(days=1)
        if mo is not None:
            start = pd.Timestamp(int(y), int(mo), 1)
            return start, start + pd.DateOffset(months=1)
        start = pd.Timestamp(int(y), 1, 1)
        return start, start + pd.DateOffset(years=1)
    except ValueError:
        raise bad from None


def parse_seed_window(spec: str) -> SeedWindow:
    # one spelling per window (the store's identity records it): "2020-01 : 2020-02" is 2020-01:2020-02
    spec = re.sub(r"\s*:\s*", ":", str(spec).strip())
    if ":" in spec:
        left, _, right = spec.partition(":")
        start, _ = _period(left, spec)
        _, end = _period(right, spec)
        if end <= start:
            raise WindowError(f"--seed-window {spec!r} ends before it starts; write START:END with START first")
        return SeedWindow(spec, start, end)
    start, end = _period(spec, spec)
    return SeedWindow(spec, start, end)


@dataclass(frozen=True)
class SeedSplit:
    """Real bars around the cut: history[:context_end] is the context, history[context_end:realized_end] the realized future."""

    window: SeedWindow
    history: Ohlcv  # context + realized future, oldest first
    context_end: int  # == context_bars: index of the first future bar in `history`
    realized_end: int  # bars of real future available, up to horizon_bars, after the context
    horizon_time: np.ndarray  # (horizon_bars,) int64 ns: real timestamps, then the extrapolated calendar

    @property
    def context(self) -> Ohlcv:
        return self.history.slice(0, self.context_end)

    @property
    def realized(self) -> Ohlcv:
        return self.history.slice(self.context_end, self.realized_end)

    @property
    def horizon_bars(self) -> int:
        return len(self.horizon_time)

    @property
    def scored_bars(self) -> int:
        """Bars of each synthetic path that `stress` scores: the real future's length when the data ends inside the
        horizon with a real result to compare (2 bars or more), so both are measured over the same bars; else the
        whole horizon."""
        realized = self.realized_end - self.context_end
        return realized if 2 <= realized < self.horizon_bars else self.horizon_bars


def split_at_window(data: Ohlcv, window: SeedWindow, context_bars: int, horizon_bars: int) -> SeedSplit:
    """Cut `data` at the last bar of `window`; fail with the fix when the data cannot support it."""
    if context_bars < MIN_CONTEXT_BARS:
        raise WindowError(f"--context {context_bars} is too short; use at least {MIN_CONTEXT_BARS} bars")
    if horizon_bars < 1:
        raise WindowError(f"--horizon {horizon_bars} must be at least 1 bar")
    dates = data.dates()
    first, last = dates[0], dates[-1]
    inside = np.flatnonzero((dates >= window.start) & (dates < window.end))
    span = f"{data.symbol} in {data.source} runs {first.date()} to {last.date()}"
    if len(inside) == 0:
        if window.start > first and window.start <= last:  # inside the data's span: a holiday or weekend
            before = dates[dates < window.start][-1].date()
            after = dates[dates >= window.end][0].date() if (dates >= window.end).any() else None
            raise WindowError(f"seed window {window.spec!r} has no bars (no trading then?): {data.symbol} has bars on "
                              f"{before}{f' and {after}' if after else ''}; choose a window that holds a bar, e.g. "
                              f"--seed-window {before}")
        raise WindowError(
            f"seed window {window.spec!r} has no bars: {span}; choose a window inside that range"
        )
    cut = int(inside[-1])  # last bar of the window
    if cut + 1 < context_bars and len(dates) < max(context_bars, MIN_CONTEXT_BARS):
        fits = f"use --context {len(dates)} or fewer, with a later seed window, or " if len(dates) >= MIN_CONTEXT_BARS else ""
        raise WindowError(f"{span}: {len(dates)} bars in all, fewer than --context {context_bars}; {fits}give more data "
                          f"(at least {MIN_CONTEXT_BARS} bars of context are needed)")
    if cut + 1 < context_bars:
        earliest = dates[context_bars - 1].strftime("%Y-%m-%d")
        if cut + 1 >= MIN_CONTEXT_BARS:
            other = f", or --context {cut + 1}"
        elif context_bars > MIN_CONTEXT_BARS:
            other = f", or --context {MIN_CONTEXT_BARS} with --seed-window {dates[MIN_CONTEXT_BARS - 1].strftime('%Y-%m-%d')} or later"
        else:
            other = ""
        raise WindowError(
            f"seed window {window.spec!r} leaves {cut + 1} bars of context for {data.symbol} in {data.source} "
            f"(need --context {context_bars}); use --seed-window {earliest} or later{other}"
        )
    lo = cut + 1 - context_bars
    realized_end = min(len(data), cut + 1 + horizon_bars)
    # the year is measured on the bars up to the cut (the context alone can be a day of minute bars)
    history = replace(data.slice(lo, realized_end), bars_per_year=bars_per_year(data.time[:cut + 1]))
    context_end = context_bars
    real_future = history.time[context_end:]
    extra = horizon_bars - len(real_future)
    horizon_time = np.concatenate([real_future, extend_calendar(data.time, extra)]) if extra else real_future.copy()
    return SeedSplit(window, history, context_end, len(history), horizon_time)


GAP_FACTOR = 10  # a spacing this many times the median between daily (or slower) bars is a gap in the data


def context_gaps(split: SeedSplit) -> list[tuple[np.datetime64, np.datetime64]]:
    """(last bar before, first bar after) each gap inside the context: spacings over GAP_FACTOR times the median,
    for daily or slower bars (intraday bars have overnight and weekend spacings by design). Models read the bars
    either side of a gap as consecutive, so it is worth a warning."""
    t = split.context.time
    if len(t) < 3:
        return []
    d = np.diff(t)
    median = float(np.median(d))
    if median < 86_400e9 * 0.9:
        return []
    return [(np.datetime64(int(t[i]), "ns"), np.datetime64(int(t[i + 1]), "ns"))
            for i in np.flatnonzero(d > GAP_FACTOR * median)]
