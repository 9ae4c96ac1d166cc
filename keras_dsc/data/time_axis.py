"""Time axes: their step, their gaps, and how a step is written (`"3h"`, `"1D"`, `"1MS"`).

A step is a `pandas.Timedelta` for fixed steps (hourly, 3-hourly, daily, ...) or a calendar
offset for monthly and annual data (`pandas.offsets.MonthBegin(n)`, `YearBegin(n)`), whose
steps are months or years of unequal length. Every helper here takes either kind.
"""

import numpy as np
import pandas as pd

DAY = pd.Timedelta("1D")
AUTO = "auto"
AUTO_STEP = pd.Timedelta("3h")
"""`resample="auto"` averages data finer than this to this step and keeps coarser data."""


def step_text(step):
    """A time step as a short pandas frequency string: `"3h"`, `"1D"`, `"30min"`, `"1MS"`.

    Args:
        step: a `pandas.Timedelta`, `numpy.timedelta64`, calendar offset (months, years) or
            frequency string.

    Example:

    >>> step_text(pd.Timedelta(hours=6)), step_text(np.timedelta64(1, "D")), step_text("90min")
    ('6h', '1D', '90min')
    >>> step_text(pd.offsets.MonthBegin(1)), step_text("YS")
    ('1MS', '1YS')
    """
    step = to_step(step)
    if isinstance(step, pd.offsets.MonthBegin):
        return f"{step.n}MS"
    if isinstance(step, pd.offsets.YearBegin):
        return f"{step.n}YS"
    if step % DAY == pd.Timedelta(0):
        return f"{step // DAY}D"
    text = pd.tseries.frequencies.to_offset(step).freqstr
    return text if text[:1].isdigit() else f"1{text}"


def to_step(step):
    """`step` as a `pandas.Timedelta`, or as a `MonthBegin`/`YearBegin` offset for months/years.

    Args:
        step: a Timedelta, timedelta64, offset or frequency string (`"3h"`, `"1D"`, `"MS"`).

    Raises:
        ValueError: for anything else (`"W"`, `"ME"`: steps keras_dsc does not window by).
    """
    if isinstance(step, (pd.offsets.MonthBegin, pd.offsets.YearBegin)):
        return step
    if isinstance(step, str):
        offset = pd.tseries.frequencies.to_offset(step)
        if isinstance(offset, pd.offsets.MonthBegin):
            return pd.offsets.MonthBegin(offset.n)
        if isinstance(offset, pd.offsets.YearBegin) and offset.month == 1:
            return pd.offsets.YearBegin(offset.n)
        step = pd.Timedelta(offset)
    step = pd.Timedelta(step)
    if step <= pd.Timedelta(0):
        raise ValueError(f"time step {step} is not positive")
    return step


def to_timedelta(step):
    """`step` (a Timedelta, timedelta64 or fixed frequency string such as `"3h"`) as a Timedelta.

    Raises:
        ValueError: for a frequency that is not fixed (`"MS"`, month starts) or not a frequency.
    """
    if isinstance(step, str):
        return pd.Timedelta(pd.tseries.frequencies.to_offset(step))
    return pd.Timedelta(step)


def is_calendar(step):
    """Whether a step is months or years (of unequal lengths) rather than a fixed duration."""
    return isinstance(to_step(step), (pd.offsets.MonthBegin, pd.offsets.YearBegin))


def is_sub_daily(step):
    """Whether a step is shorter than a day (`"3h"`: True; `"1D"`, `"1MS"`: False)."""
    if step is None:
        return False
    step = to_step(step)
    return not is_calendar(step) and step < DAY


def duration(step):
    """A step's length, for comparing steps: a month counts 30.44 days, a year 365.25.

    Example:

    >>> duration("1MS") > duration("1D")
    True
    """
    step = to_step(step)
    if isinstance(step, pd.offsets.MonthBegin):
        return pd.Timedelta(days=30.44 * step.n)
    if isinstance(step, pd.offsets.YearBegin):
        return pd.Timedelta(days=365.25 * step.n)
    return step


def _months(times):
    return np.asarray(times.year, "int64") * 12 + np.asarray(times.month, "int64") - 1


def _mode(values):
    values, counts = np.unique(values, return_counts=True)
    return values[np.argmax(counts)]  # the smallest of the most frequent


def _first_of_month(times):
    """Whether every time is 00:00 on the first of a month."""
    return bool(np.all(times == times.normalize()) and np.all(times.day == 1))


def _month_apart(times):
    """Per pair of consecutive times: whether they lie a whole number of months apart at the
    same place in their months (mid-month means, DJF means stamped in January, annual means
    stamped mid-year): the month numbers differ by m >= 1 and the times by 28m - 3 to
    31m + 3 days."""
    months = np.diff(_months(times))
    days = np.diff(np.asarray(times, dtype="datetime64[ns]")).astype("int64") / 86400e9
    return (months > 0) & (days >= 28 * months - 3) & (days <= 31 * months + 3)


def _calendar_times(times):
    """Whether the times are monthly or annual data: 00:00 on the first of each month, or
    one time a whole number of months after the other throughout (`_month_apart`)."""
    return _first_of_month(times) or bool(np.all(_month_apart(times)))


def infer_step(times):
    """The step of a time axis: its most frequent difference; `None` for fewer than 2 times.

    Times all at 00:00 on the first of a month, or each a whole number of months after the
    other at the same place in the month (mid-month, mid-season or mid-year stamps), are
    monthly (or annual) data: their step is a number of months (`MonthBegin`) or years
    (`YearBegin`). Gaps do not change the step.

    Example:

    >>> infer_step(pd.date_range("2021-01-01", periods=4, freq="6h"))
    Timedelta('0 days 06:00:00')
    >>> infer_step(pd.date_range("2021-01-01", periods=4, freq="MS"))
    <MonthBegin>
    >>> infer_step(pd.DatetimeIndex(["1999-01-15", "2000-01-15", "2001-01-15"]))
    <YearBegin: month=1>
    """
    times = pd.DatetimeIndex(times)
    if len(times) < 2:
        return None
    if _calendar_times(times):
        months = int(_mode(np.diff(_months(times))))
        if months > 0:
            if months % 12 == 0:
                return pd.offsets.YearBegin(months // 12)
            return pd.offsets.MonthBegin(months)
    diffs = np.diff(np.asarray(times, dtype="datetime64[ns]")).astype("int64")
    diffs = diffs[diffs > 0]
    if not diffs.size:
        return None
    return pd.Timedelta(int(_mode(diffs)), unit="ns")


def median_step(times):
    """The median step between consecutive times, a `pandas.Timedelta`; `None` for one time.

    Example:

    >>> median_step(pd.date_range("2021-01-01", periods=4, freq="3h"))
    Timedelta('0 days 03:00:00')
    """
    times = np.asarray(times, dtype="datetime64[ns]")
    if len(times) < 2:
        return None
    return pd.Timedelta(np.median(np.diff(times)))


def time_step_text(times):
    """`step_text` of the step of a time axis (`infer_step`); `None` for a single time."""
    step = infer_step(times)
    return None if step is None else step_text(step)


def _step_units(times, step):
    """The differences of consecutive times in units of `step` (float; 1.0: one step)."""
    if is_calendar(step):
        per = step.n * (12 if isinstance(step, pd.offsets.YearBegin) else 1)
        units = np.diff(_months(times).astype("float64")) / per
        if not _first_of_month(times):  # data stamped mid-month, mid-season or mid-year
            return np.where(_month_apart(times), units, np.nan)
        # On an axis of firsts of months, times off 00:00 on the first never count as a
        # whole number of steps.
        off = ~((times == times.normalize()) & (times.day == 1))
        return np.where(off[1:] | off[:-1], np.nan, units)
    ns = np.asarray(times, dtype="datetime64[ns]").astype("int64")
    return np.diff(ns) / float(step.value)


def consecutive(times, step):
    """Bool array of `len(times) - 1`: whether each time is followed by one exactly `step` later.

    Example:

    >>> times = pd.DatetimeIndex(["2021-01-01", "2021-01-02", "2021-01-05"])
    >>> consecutive(times, "1D").tolist()
    [True, False]
    """
    times = pd.DatetimeIndex(times)
    if len(times) < 2:
        return np.zeros(0, dtype=bool)
    return _step_units(times, to_step(step)) == 1.0


def first_irregular(times, step=None):
    """Where a time axis stops being one regular step with gaps; `None` when it never does.

    A gap (some steps missing: merged downloads that skip a month, a missing day) leaves the
    axis regular: every difference is a whole number of steps and the longer ones stand alone.
    Mixed steps (3-hourly, then hourly) do not: a difference shorter than the step or not a
    whole number of steps, or two longer differences in a row that are equal (a stretch at
    another step), makes the axis irregular.

    Args:
        times: a sorted time axis.
        step: its step; `None` for `infer_step(times)`.

    Returns:
        The position of the first time that does not follow the axis's step (int), or `None`.

    Example:

    >>> gap = pd.DatetimeIndex(["2021-01-01", "2021-01-02", "2021-01-06", "2021-01-07"])
    >>> first_irregular(gap) is None
    True
    >>> mixed = pd.date_range("2021-01-01", periods=5, freq="3h").append(
    ...     pd.date_range("2021-01-01 13:00", periods=10, freq="1h"))
    >>> mixed[first_irregular(mixed)]  # hourly record, 3-hourly until 12:00
    Timestamp('2021-01-01 03:00:00')
    """
    times = pd.DatetimeIndex(times)
    if len(times) < 3:
        return None
    step = infer_step(times) if step is None else to_step(step)
    units = _step_units(times, step)
    other = units != 1.0
    bad = other & (~np.isfinite(units) | (units < 1.0) | (np.mod(units, 1.0) != 0.0))
    runs = other[1:] & other[:-1] & (units[1:] == units[:-1])
    positions = np.concatenate([np.flatnonzero(bad), np.flatnonzero(runs)])
    if not positions.size:
        return None
    return int(positions.min()) + 1


def gaps(times, step):
    """The gaps of a time axis: `[(before, after, missing_steps), ...]`, times as Timestamps.

    `before` is the last time before the gap, `after` the first time after it, and
    `missing_steps` how many steps of `step` are missing between them (`None` when the gap
    is not a whole number of steps).

    Example:

    >>> times = pd.DatetimeIndex(["2021-01-05", "2021-01-06", "2021-01-10"])
    >>> gaps(times, "1D")
    [(Timestamp('2021-01-06 00:00:00'), Timestamp('2021-01-10 00:00:00'), 3)]
    """
    times = pd.DatetimeIndex(times)
    if len(times) < 2:
        return []
    units = _step_units(times, to_step(step))
    out = []
    for i in np.flatnonzero(units != 1.0):
        whole = np.isfinite(units[i]) and units[i] == np.round(units[i]) and units[i] > 1
        out.append((times[i], times[i + 1], int(units[i]) - 1 if whole else None))
    return out


def period_text(before, after):
    """A gap as the period it lacks, in a message: `"2021-01-06T00:00..2021-01-10T00:00"`."""
    return f"{_iso(before)}..{_iso(after)}"


def _iso(time):
    return pd.Timestamp(time).isoformat(timespec="minutes")


def auto_resample(step):
    """What `resample="auto"` does to data of this step: `(target or None, why)`.

    Data of a 3-hourly step or coarser keeps it (`None`); finer data is averaged to 3 h (to the
    first of 3h, 6h, 12h and 1D that is a whole number of its steps).

    Example:

    >>> auto_resample(pd.Timedelta("1h"))[0], auto_resample(pd.Timedelta("6h"))[0]
    ('3h', None)
    """
    if step is None:
        return None, "auto: a single time step is kept"
    if is_calendar(step) or to_step(step) >= AUTO_STEP:
        return None, f"auto: the data's step {step_text(step)} is 3-hourly or coarser, kept"
    step = to_step(step)
    for target in ("3h", "6h", "12h", "1D"):
        if pd.Timedelta(target) % step == pd.Timedelta(0):
            return target, (f"auto: the data's step {step_text(step)} is finer than 3h, "
                            f"averaged to {target}")
    return None, f"auto: the data's step {step_text(step)} divides no day; kept"


def auto_window(step):
    """What `window="auto"` is for data of this step: `(window, why)`.

    One day of steps for sub-daily data (8 three-hourly steps, 4 six-hourly ones), 1 for daily
    or coarser data.

    Example:

    >>> auto_window(pd.Timedelta("3h")), auto_window("1D")
    ((8, 'auto: one day of 3h steps'), (1, 'auto: one step of 1D'))
    """
    if step is None or not is_sub_daily(step):
        return 1, f"auto: one step of {step_text(step) if step is not None else 'the data'}"
    step = to_step(step)
    n = int(DAY // step)
    whole = "one day" if DAY % step == pd.Timedelta(0) else "about one day"
    return max(1, n), f"auto: {whole} of {step_text(step)} steps"
