"""The data's own trading calendar: how many bars make a year, and the timestamps after the data ends.

One home for both, so that a store's backtest metrics, its generators' drift prior and
calibrate's annualised figures use the same year:
- daily bars (a median spacing of 0.8 to 4 days) trade on the weekdays the data shows
  (those holding at least 5% of its bars): 252 bars a year for a five-day week (exchange
  holidays included), 365 for a market that trades every day (crypto: no holidays), and
  252 x 6/5 for a six-day week;
- intraday bars: that many trading days times the median number of bars per day;
- weekly 52, monthly 12, quarterly 4, yearly 1.
`bars` times are naive wall-clock (daily) or UTC (intraday) int64 nanoseconds (`market.py`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from parallelverse.errors import WindowError

DAY_NS = 86_400 * 10**9
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MIN_WEEKDAY_SHARE = 0.05  # a weekday holding fewer of the bars is a stray (a one-off session), not a trading day


def _step_ns(time: np.ndarray) -> float:
    return float(np.median(np.diff(time[-min(len(time), 500):])))


def trading_weekdays(time: np.ndarray) -> tuple[int, ...]:
    """The weekdays (0 = Monday) the bars trade on: those holding at least MIN_WEEKDAY_SHARE of them;
    Monday to Friday when there are too few bars to tell."""
    if len(time) < 20:
        return (0, 1, 2, 3, 4)
    days = np.asarray(time, np.int64) // DAY_NS
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
    share = np.bincount(weekday, minlength=7) / len(weekday)
    return tuple(int(d) for d in np.flatnonzero(share >= MIN_WEEKDAY_SHARE)) or (0, 1, 2, 3, 4)


def trading_days_per_year(time: np.ndarray) -> float:
    """252 for a five-day week, 365 for every day, 252 x n/5 for n trading weekdays otherwise."""
    n = len(trading_weekdays(time))
    return 365.0 if n == 7 else 252.0 * max(n, 1) / 5


def bars_per_year(time: np.ndarray) -> float:
    """Bars in a year of this data's calendar (module docstring); 252 with fewer than 3 bars."""
    if len(time) < 3:
        return 252.0
    step_days = _step_ns(time) / DAY_NS
    if step_days >= 300:
        return 1.0
    if step_days >= 80:
        return 4.0
    if step_days >= 20:
        return 12.0
    if step_days >= 4:
        return 52.0
    if step_days >= 0.8:
        return trading_days_per_year(time)
    _, per_day = np.unique(np.asarray(time, np.int64) // DAY_NS, return_counts=True)
    return trading_days_per_year(time) * float(np.median(per_day))


def extend_calendar(time: np.ndarray, n: int) -> np.ndarray:
    """`n` timestamps after time[-1]: for daily data the next days on the data's trading weekdays (same time of
    day), else the median spacing. Exchange holidays after the data are not known and are not skipped."""
    if n <= 0:
        return np.empty(0, np.int64)
    step = int(_step_ns(time)) if len(time) > 1 else 10 * DAY_NS
    last = pd.Timestamp(time[-1])
    try:
        if 0.8 * DAY_NS <= step <= 4 * DAY_NS:
            mask = " ".join(WEEKDAY_NAMES[d] for d in trading_weekdays(time))
            days = pd.bdate_range(last.normalize() + pd.Timedelta(days=1), periods=n, freq="C", weekmask=mask)
            out = days + (last - last.normalize())
        else:
            out = last + pd.to_timedelta(np.arange(1, n + 1) * step, unit="ns")
        return np.asarray(pd.DatetimeIndex(out).as_unit("ns").asi8, dtype=np.int64)
    except (OverflowError, pd.errors.OutOfBoundsDatetime, pd.errors.OutOfBoundsTimedelta):
        raise WindowError(f"a horizon of {n:,} bars after {last.date()} runs past {pd.Timestamp.max.date()}, the last "
                          "date a timestamp holds; use a shorter --horizon") from None
