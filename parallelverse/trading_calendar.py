"""The data's own trading calendar: how many bars make a year, and the timestamps after the data ends.

One home for both, so that a store's backtest metrics, its generators' drift prior and
calibrate's annualised figures use the same year. The year is measured once, when the
seed split is cut, on the bars of the CALENDAR_SPAN before the cut (not on the context
alone: 400 one-minute bars are one day, too little to know a year by), carried by the
split's bars (`Ohlcv.year`) and recorded in the store:
- daily, intraday and weekly bars: the data's own pace, bars per calendar year over that
  span (a market's holidays, half-days, missing days and sessions are all in it), with
  the conventions where the pace is theirs: 252 for a five-day stock market (within 6%),
  365 for one that trades every day (crypto), 52 for weekly bars;
- monthly 12, quarterly 4, yearly 1.
Past the end of the data, daily bars continue on the weekdays that hold at least 5% of
the span's bars (Monday to Friday for stocks, every day for crypto); other bars at their
median spacing, calendar months for monthly or slower bars.
`time` is naive wall-clock (daily) or UTC (intraday) int64 nanoseconds (`market.py`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from parallelverse.errors import WindowError

DAY_NS = 86_400 * 10**9
YEAR_NS = int(365.25 * DAY_NS)
CALENDAR_SPAN_NS = 2 * YEAR_NS  # the stretch before the cut a year is measured on
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MIN_WEEKDAY_SHARE = 0.05  # a weekday holding fewer of the bars is a stray (a one-off session), not a trading day
CONVENTIONS = ((252.0, 0.06), (365.0, 0.03), (52.0, 0.06))  # (bars a year, relative tolerance) taken as that convention


def recent(time: np.ndarray) -> np.ndarray:
    """The stamps of the last CALENDAR_SPAN_NS up to time[-1]: the calendar as the data trades now."""
    time = np.asarray(time, np.int64)
    return time[time >= time[-1] - CALENDAR_SPAN_NS] if len(time) else time


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


def bars_per_year(time: np.ndarray) -> float:
    """Bars in a year of this data's calendar, measured on its last CALENDAR_SPAN_NS (module docstring); 252 with
    fewer than 3 bars."""
    time = recent(time)
    if len(time) < 3 or time[-1] <= time[0]:
        return 252.0
    step_days = _step_ns(time) / DAY_NS
    if step_days >= 300:
        return 1.0
    if step_days >= 80:
        return 4.0
    if step_days >= 20:
        return 12.0
    if step_days >= 0.8:  # a bar per session: the gaps between the first and the last
        pace = (len(time) - 1) / (float(time[-1] - time[0]) / YEAR_NS)
    else:  # sessions of many bars: every bar over the whole days from the first to the last
        days = time[-1] // DAY_NS - time[0] // DAY_NS + 1
        pace = len(time) / (days * DAY_NS / YEAR_NS)
    for convention, tol in CONVENTIONS:
        if abs(pace / convention - 1) <= tol:
            return convention
    return float(pace)


def extend_calendar(time: np.ndarray, n: int) -> np.ndarray:
    """`n` timestamps after time[-1]: for daily data the next days on the data's trading weekdays (same time of
    day), calendar months for monthly or slower data, else the median spacing. Exchange holidays after the data are
    not known and are not skipped."""
    if n <= 0:
        return np.empty(0, np.int64)
    step = int(_step_ns(time)) if len(time) > 1 else 10 * DAY_NS
    last = pd.Timestamp(time[-1])
    try:
        if 0.8 * DAY_NS <= step <= 4 * DAY_NS:
            mask = " ".join(WEEKDAY_NAMES[d] for d in trading_weekdays(recent(time)))
            days = pd.bdate_range(last.normalize() + pd.Timedelta(days=1), periods=n, freq="C", weekmask=mask)
            out = days + (last - last.normalize())
        elif step >= 20 * DAY_NS:  # calendar months: month ends stay month ends, no day-of-month drift
            months = max(1, int(round(step / (YEAR_NS / 12))))
            offset = (pd.offsets.MonthEnd(months) if last.is_month_end else pd.offsets.BMonthEnd(months)
                      if pd.offsets.BMonthEnd().is_on_offset(last.normalize()) else pd.DateOffset(months=months))
            out = pd.DatetimeIndex([last + offset * k for k in range(1, n + 1)])
        else:
            out = last + pd.to_timedelta(np.arange(1, n + 1) * step, unit="ns")
        return np.asarray(pd.DatetimeIndex(out).as_unit("ns").asi8, dtype=np.int64)
    except (OverflowError, pd.errors.OutOfBoundsDatetime, pd.errors.OutOfBoundsTimedelta):
        raise WindowError(f"a horizon of {n:,} bars after {last.date()} runs past {pd.Timestamp.max.date()}, the last "
                          "date a timestamp holds; use a shorter --horizon") from None
