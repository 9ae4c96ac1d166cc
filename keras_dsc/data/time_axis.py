"""Time axes: their step, and how a step is written (`"3h"`, `"1D"`) in configs and messages."""

import numpy as np
import pandas as pd


def step_text(step):
    """A time step as a short pandas frequency string: `"3h"`, `"1D"`, `"30min"`, `"7D"`.

    Args:
        step: a `pandas.Timedelta`, `numpy.timedelta64` or frequency string.

    Example:

    >>> step_text(pd.Timedelta(hours=6)), step_text(np.timedelta64(1, "D")), step_text("90min")
    ('6h', '1D', '90min')
    """
    step = to_timedelta(step)
    if step % pd.Timedelta("1D") == pd.Timedelta(0):
        return f"{step // pd.Timedelta('1D')}D"
    text = pd.tseries.frequencies.to_offset(step).freqstr
    return text if text[:1].isdigit() else f"1{text}"


def to_timedelta(step):
    """`step` (a Timedelta, timedelta64 or fixed frequency string such as `"3h"`) as a Timedelta.

    Raises:
        ValueError: for a frequency that is not fixed (`"MS"`, month starts) or not a frequency.
    """
    if isinstance(step, str):
        return pd.Timedelta(pd.tseries.frequencies.to_offset(step))
    return pd.Timedelta(step)


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
    """`step_text` of the median step of a time axis; `None` for a single time."""
    step = median_step(times)
    return None if step is None else step_text(step)
