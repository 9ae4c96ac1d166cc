"""Frequencies, episodes, persistence and transitions of a sequence of weather regimes.

Every function takes the sequence as `labels`: a `pandas.Series` of integer cluster labels
indexed by the windows' start times (see `as_labels` for the other forms accepted). Windows are
consecutive when the next one starts at most 1.5 time steps later, the step being the median
time between window starts (`window_step`: the run's stride in time); a longer gap (a missing
stretch, a record of winters only) ends an episode and is no transition.

`NO_REGIME` (-1) labels a window in no regime (see `filter_probability`, `filter_duration`).
It is reported like a regime, as the last column or row, when it occurs.
"""

import numbers

import numpy as np
import pandas as pd

from keras_dsc.errors import DataError, OptionError

NO_REGIME = -1
"""The label of a window in no regime."""

SEASONS = ("DJF", "MAM", "JJA", "SON")
"""The meteorological seasons, in order; December counts in the winter of the next year."""

_SEASON_OF_MONTH = {12: "DJF", 1: "DJF", 2: "DJF", 3: "MAM", 4: "MAM", 5: "MAM",
                    6: "JJA", 7: "JJA", 8: "JJA", 9: "SON", 10: "SON", 11: "SON"}
_BY = ("month", "season", "year", "all")
_RULES = ("merge", "no-regime")
_DAY = pd.Timedelta("1D")


def as_labels(labels):
    """The regime sequence as a `pandas.Series` of int64 labels on a sorted `DatetimeIndex`.

    Args:
        labels: a `pandas.Series` indexed by time, an `xarray.DataArray` with one dimension
            `time`, or a `pandas.DataFrame` with `time` and `cluster` columns (the form of
            `assignments.csv`).

    Returns:
        A `pandas.Series` named `cluster`, its index named `time`.

    Example:

    >>> frame = pd.DataFrame({"time": ["2021-01-02", "2021-01-01"], "cluster": [1, 0]})
    >>> as_labels(frame).tolist()
    [0, 1]
    """
    if isinstance(labels, pd.DataFrame):
        if not {"time", "cluster"} <= set(labels.columns):
            raise DataError("labels: a table of labels needs 'time' and 'cluster' columns")
        series = pd.Series(labels["cluster"].to_numpy(), index=pd.to_datetime(labels["time"]))
    elif isinstance(labels, pd.Series):
        series = labels
    elif hasattr(labels, "to_series") and hasattr(labels, "dims"):  # an xarray.DataArray
        if tuple(labels.dims) != ("time",):
            raise DataError(f"labels: expected one dimension 'time', got {tuple(labels.dims)}")
        series = labels.to_series()
    else:
        raise DataError(f"labels: expected a pandas Series on time, an xarray DataArray on "
                        f"time or a table with time and cluster columns, got "
                        f"{type(labels).__name__}")
    try:
        index = pd.DatetimeIndex(series.index)
    except (TypeError, ValueError):
        raise DataError("labels: the index must be the windows' start times") from None
    if index.hasnans:
        raise DataError("labels: a start time is missing (NaT)")
    if index.has_duplicates:
        raise DataError(f"labels: start time {index[index.duplicated()][0]} appears twice")
    values = pd.to_numeric(pd.Series(series.to_numpy()), errors="coerce")
    if values.isna().any() or not np.all(np.mod(values, 1) == 0):
        raise DataError("labels: the labels must be whole numbers (-1 for no regime)")
    if (values < NO_REGIME).any():
        raise DataError(f"labels: {int(values.min())} is not a regime (labels are 0, 1, ..., "
                        f"or -1 for no regime)")
    out = pd.Series(values.to_numpy(dtype=np.int64), index=index.rename("time"), name="cluster")
    return out.sort_index()


def _clusters(labels, clusters):
    """The columns to report: `clusters` (a count or a list) or the labels found; -1 last."""
    found = sorted(set(labels.unique()) - {NO_REGIME})
    if clusters is None:
        chosen = found
    elif isinstance(clusters, numbers.Integral):
        chosen = list(range(int(clusters)))
    else:
        chosen = sorted(int(c) for c in clusters if int(c) != NO_REGIME)
    unknown = sorted(set(found) - set(chosen))
    if unknown:
        raise DataError(f"labels: regime {unknown[0]} is not one of the clusters {chosen}")
    if (labels == NO_REGIME).any():
        chosen = [*chosen, NO_REGIME]
    return chosen


def window_step(labels):
    """The time between consecutive window starts: the median step, a `pandas.Timedelta`.

    Example:

    >>> window_step(pd.Series([0, 1, 1], index=pd.date_range("2021-01-01", periods=3)))
    Timedelta('1 days 00:00:00')
    """
    index = as_labels(labels).index
    if len(index) < 2:
        raise DataError("labels: one window has no time step; give the step explicitly")
    return pd.Timedelta(np.median(np.diff(index.values)))


def _step(labels, step):
    if step is None:
        return window_step(labels)
    try:
        step = pd.Timedelta(step)
    except (TypeError, ValueError):
        raise OptionError(f"{{step}}: {step!r} is not a time step like 1D or 3h", "step") from None
    if step <= pd.Timedelta(0):
        raise OptionError(f"{{step}} must be positive, got {step}", "step")
    return step


def _period(index, by):
    if by == "month":
        return pd.Index(index.month, name="month")
    if by == "season":
        return pd.Index(index.month.map(_SEASON_OF_MONTH), name="season")
    if by == "year":
        return pd.Index(index.year, name="year")
    if by == "all":
        return pd.Index(["all"] * len(index), name="period")
    raise OptionError(f"{{by}} must be one of {', '.join(_BY)}, got {by!r}", "by")


def frequencies(labels, by="month", clusters=None, normalize=True):
    """How often each regime occurs per calendar month, season or year.

    Args:
        labels: the regime sequence (see `as_labels`).
        by: `"month"` (rows 1-12), `"season"` (rows `DJF`, `MAM`, `JJA`, `SON`), `"year"` or
            `"all"` (one row). Only periods with windows appear.
        clusters: the regimes to report as columns: their number `k` (0..k-1) or a list;
            `None`: the labels found. Regimes that never occur get 0. A `-1` (no regime)
            column follows when some window is in no regime.
        normalize: fractions of the period's windows (`True`, rows sum to 1) or counts.

    Returns:
        A `pandas.DataFrame`: one row per period, one column per regime.

    Example:

    >>> labels = pd.Series([0, 0, 1, 1, 1, 0],
    ...                    index=pd.to_datetime(["2021-01-30", "2021-01-31", "2021-02-01",
    ...                                          "2021-02-02", "2021-03-01", "2021-03-02"]))
    >>> frequencies(labels, by="month")  # doctest: +NORMALIZE_WHITESPACE
    cluster    0    1
    month
    1        1.0  0.0
    2        0.0  1.0
    3        0.5  0.5
    >>> frequencies(labels, by="season", normalize=False)  # doctest: +NORMALIZE_WHITESPACE
    cluster  0  1
    season
    DJF      2  2
    MAM      1  1
    """
    labels = as_labels(labels)
    columns = _clusters(labels, clusters)
    period = _period(labels.index, by)
    table = pd.crosstab(np.asarray(period), labels.to_numpy(), rownames=[period.name],
                        colnames=["cluster"])
    table = table.reindex(columns=columns, fill_value=0)
    if by == "season":
        table = table.reindex([s for s in SEASONS if s in table.index])
    table.columns = pd.Index(columns, name="cluster")
    if normalize:
        table = table.div(table.sum(axis=1), axis=0)
    return table


def _season_year(index):
    """The year of each time's season: December belongs to the next year's winter."""
    return index.year + (index.month == 12)


def frequency_climatology(labels, clusters=None):
    """Each regime's climatological frequency, over the record and per season, and its spread.

    For every period (`all`, then the seasons present) and regime: `frequency`, the fraction
    of the period's windows in the regime over the whole record; then, over the years
    (calendar years for `all`; seasons' years, December counting in the next year's winter),
    the mean (`year_mean`), standard deviation (`year_std`, ddof 1; NaN for one year), minimum
    and maximum of the yearly fractions, and `n_years`.

    Args:
        labels: the regime sequence (see `as_labels`).
        clusters: the regimes to report (see `frequencies`).

    Returns:
        A `pandas.DataFrame` with columns `period`, `cluster`, `frequency`, `year_mean`,
        `year_std`, `year_min`, `year_max`, `n_years`.

    Example:

    >>> times = pd.to_datetime(["2021-01-01", "2021-01-02", "2022-01-01", "2022-01-02"])
    >>> table = frequency_climatology(pd.Series([0, 0, 0, 1], index=times))
    >>> table[table.period == "all"][["cluster", "frequency", "year_mean", "year_std"]]
       cluster  frequency  year_mean  year_std
    0        0       0.75       0.75  0.353553
    1        1       0.25       0.25  0.353553
    """
    labels = as_labels(labels)
    columns = _clusters(labels, clusters)
    index = labels.index
    seasons = index.month.map(_SEASON_OF_MONTH)
    rows = []
    for period in ("all", *SEASONS):
        chosen = np.ones(len(index), bool) if period == "all" else np.asarray(seasons == period)
        if not chosen.any():
            continue
        values = labels.to_numpy()[chosen]
        years = (index.year if period == "all" else _season_year(index))[chosen]
        yearly = pd.crosstab(np.asarray(years), values, rownames=["year"],
                             colnames=["cluster"], normalize="index").reindex(columns=columns, fill_value=0.0)
        for cluster in columns:
            series = yearly[cluster]
            rows.append({
                "period": period, "cluster": cluster,
                "frequency": float(np.mean(values == cluster)),
                "year_mean": float(series.mean()),
                "year_std": float(series.std(ddof=1)) if len(series) > 1 else float("nan"),
                "year_min": float(series.min()), "year_max": float(series.max()),
                "n_years": int(len(series)),
            })
    return pd.DataFrame(rows)


def _window_durations(index, step):
    """Per window: the time to the next window start when consecutive, else one step; and
    whether each window follows its predecessor."""
    starts = index.values
    if len(starts) == 0:
        return np.array([], "timedelta64[ns]"), np.array([], bool)
    gaps = np.diff(starts)
    consecutive = gaps <= (1.5 * step).to_timedelta64()
    durations = np.append(np.where(consecutive, gaps, step.to_timedelta64()),
                          step.to_timedelta64())
    return durations, np.concatenate([[False], consecutive])


def episodes(labels, step=None):
    """The episodes of the sequence: runs of consecutive windows in one regime.

    Args:
        labels: the regime sequence (see `as_labels`).
        step: the time between window starts; `None`: `window_step(labels)`.

    Returns:
        A `pandas.DataFrame`, one row per episode in time order, with columns `cluster`,
        `start` (the first window's start), `end` (the end of the last window's step:
        `start + duration`), `n_windows` and `duration_days` (the sum of the windows' steps).

    Example:

    >>> labels = pd.Series([2, 2, 2, 0, 2], index=pd.date_range("2021-01-01", periods=5))
    >>> episodes(labels)[["cluster", "n_windows", "duration_days"]]
       cluster  n_windows  duration_days
    0        2          3            3.0
    1        0          1            1.0
    2        2          1            1.0
    """
    labels = as_labels(labels)
    step = _step(labels, step)
    values = labels.to_numpy()
    durations, follows = _window_durations(labels.index, step)
    new = np.ones(len(values), bool)
    new[1:] = (values[1:] != values[:-1]) | ~follows[1:]
    episode = np.cumsum(new) - 1
    frame = pd.DataFrame({"episode": episode, "cluster": values, "start": labels.index,
                          "duration": durations})
    grouped = frame.groupby("episode", sort=True)
    table = pd.DataFrame({
        "cluster": grouped["cluster"].first().to_numpy(dtype=np.int64),
        "start": grouped["start"].first().to_numpy(),
        "n_windows": grouped.size().to_numpy(dtype=np.int64),
        "duration": grouped["duration"].sum().to_numpy(),
    })
    table.insert(2, "end", table["start"] + table["duration"])
    table["duration_days"] = table.pop("duration") / _DAY
    return table


def persistence(labels, step=None, clusters=None):
    """Mean, median and longest episode duration of each regime, in days.

    Args:
        labels: the regime sequence (see `as_labels`).
        step: the time between window starts; `None`: `window_step(labels)`.
        clusters: the regimes to report (see `frequencies`).

    Returns:
        A `pandas.DataFrame` indexed by `cluster` with columns `n_windows`, `n_episodes`,
        `mean_duration_days`, `median_duration_days`, `max_duration_days` (NaN for a regime
        without episodes).

    Example:

    >>> labels = pd.Series([1, 1, 1, 0, 1], index=pd.date_range("2021-01-01", periods=5))
    >>> columns = ["n_episodes", "mean_duration_days", "max_duration_days"]
    >>> persistence(labels)[columns]  # doctest: +NORMALIZE_WHITESPACE
             n_episodes  mean_duration_days  max_duration_days
    cluster
    0                 1                 1.0                1.0
    1                 2                 2.0                3.0
    """
    labels = as_labels(labels)
    columns = _clusters(labels, clusters)
    table = episodes(labels, step)
    grouped = table.groupby("cluster")["duration_days"]
    out = pd.DataFrame({
        "n_windows": table.groupby("cluster")["n_windows"].sum(),
        "n_episodes": grouped.size(),
        "mean_duration_days": grouped.mean(),
        "median_duration_days": grouped.median(),
        "max_duration_days": grouped.max(),
    }).reindex(columns)
    out[["n_windows", "n_episodes"]] = out[["n_windows", "n_episodes"]].fillna(0).astype(
        np.int64)
    out.index.name = "cluster"
    return out


def duration_histogram(labels, step=None, clusters=None):
    """How many episodes of each regime last each duration.

    Args:
        labels: the regime sequence (see `as_labels`).
        step: the time between window starts; `None`: `window_step(labels)`.
        clusters: the regimes to report (see `frequencies`).

    Returns:
        A `pandas.DataFrame` of episode counts, indexed by `duration_days` (every duration
        that occurs, ascending), one column per regime.

    Example:

    >>> labels = pd.Series([1, 1, 0, 1, 1], index=pd.date_range("2021-01-01", periods=5))
    >>> duration_histogram(labels)  # doctest: +NORMALIZE_WHITESPACE
    cluster        0  1
    duration_days
    1.0            1  0
    2.0            0  2
    """
    labels = as_labels(labels)
    columns = _clusters(labels, clusters)
    table = episodes(labels, step)
    counts = pd.crosstab(table["duration_days"], table["cluster"])
    counts = counts.reindex(columns=columns, fill_value=0)
    counts.columns = pd.Index(columns, name="cluster")
    return counts.sort_index()


def longest_episodes(labels, n=5, step=None):
    """The `n` longest episodes of each regime (no-regime stretches left out), with dates.

    Args:
        labels: the regime sequence (see `as_labels`).
        n: episodes per regime. Defaults to 5.
        step: the time between window starts; `None`: `window_step(labels)`.

    Returns:
        The rows of `episodes`, by regime, longest first (ties: the earlier first), with a
        `rank` column (1 for a regime's longest).

    Example:

    >>> labels = pd.Series([0, 0, 1, 0, 0, 0], index=pd.date_range("2021-01-01", periods=6))
    >>> longest_episodes(labels, n=1)[["cluster", "rank", "start", "duration_days"]]
       cluster  rank      start  duration_days
    0        0     1 2021-01-04            3.0
    1        1     1 2021-01-03            1.0
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise OptionError(f"{{n}} must be a positive integer, got {n!r}", "n")
    table = episodes(labels, step)
    table = table[table["cluster"] != NO_REGIME]
    table = table.sort_values(["cluster", "duration_days", "start"],
                              ascending=[True, False, True], kind="stable")
    table = table.groupby("cluster").head(int(n)).copy()
    table.insert(1, "rank", table.groupby("cluster").cumcount() + 1)
    return table.reset_index(drop=True)


def transitions(labels, step=None, clusters=None, normalize=False):
    """The regime-to-regime transition matrix between consecutive windows.

    Row `i`, column `j` counts the windows in regime `i` whose next window (consecutive in
    time) is in regime `j`; the diagonal counts the windows that stay. With `normalize`, each
    row is divided by its sum: the probability of going from `i` to `j` in one step, the
    diagonal being the regime's persistence probability (NaN for a row without transitions).

    Args:
        labels: the regime sequence (see `as_labels`).
        step: the time between window starts; `None`: `window_step(labels)`.
        clusters: the regimes to report (see `frequencies`).
        normalize: probabilities (`True`) or counts (`False`, the default).

    Returns:
        A square `pandas.DataFrame`, index `from`, columns `to`.

    Example:

    >>> labels = pd.Series([0, 0, 1, 1, 1, 0], index=pd.date_range("2021-01-01", periods=6))
    >>> transitions(labels)  # doctest: +NORMALIZE_WHITESPACE
    to    0  1
    from
    0     1  1
    1     1  2
    >>> transitions(labels, normalize=True).round(3)  # doctest: +NORMALIZE_WHITESPACE
    to        0      1
    from
    0     0.500  0.500
    1     0.333  0.667
    """
    labels = as_labels(labels)
    columns = _clusters(labels, clusters)
    step = _step(labels, step)
    _, follows = _window_durations(labels.index, step)
    values = labels.to_numpy()
    pairs = follows[1:]
    origin, target = values[:-1][pairs], values[1:][pairs]
    counts = pd.crosstab(origin, target, rownames=["from"], colnames=["to"])
    counts = counts.reindex(index=columns, columns=columns, fill_value=0).astype(np.int64)
    counts.index.name, counts.columns.name = "from", "to"
    if normalize:
        totals = counts.sum(axis=1).replace(0, np.nan)
        return counts.div(totals, axis=0)
    return counts


def filter_probability(labels, probability, min_probability):
    """Marks as no regime (-1) the windows whose assignment probability is below a threshold.

    Args:
        labels: the regime sequence (see `as_labels`).
        probability: the probability of each window's regime: a `pandas.Series` on the same
            times, or an array in the order of `labels`.
        min_probability: the threshold, in 0..1.

    Returns:
        The filtered sequence, a `pandas.Series`.

    Example:

    >>> labels = pd.Series([0, 1, 1], index=pd.date_range("2021-01-01", periods=3))
    >>> filter_probability(labels, [0.9, 0.4, 0.6], 0.5).tolist()
    [0, -1, 1]
    """
    if isinstance(min_probability, bool) or not isinstance(min_probability, numbers.Real) or (
            not 0.0 <= float(min_probability) <= 1.0):
        raise OptionError(f"{{min_probability}} must be a probability in 0..1, got "
                          f"{min_probability!r}", "min_probability")
    labels = as_labels(labels)
    if isinstance(probability, pd.Series):
        probability = probability.copy()
        probability.index = pd.DatetimeIndex(probability.index)
        probability = probability.reindex(labels.index)
    probability = np.asarray(probability, dtype=np.float64)
    if probability.shape != labels.shape:
        raise DataError(f"probability: one value per window expected ({len(labels)}), got "
                        f"shape {probability.shape}")
    out = labels.copy()
    out[~(probability >= float(min_probability))] = NO_REGIME
    return out


def _duration(value):
    if isinstance(value, numbers.Number) or (isinstance(value, str)
                                             and value.strip().replace(".", "", 1).isdigit()):
        raise OptionError(f"{{min_duration}}: {value!r} needs a unit, like 3D or 36h",
                          "min_duration")
    try:
        duration = pd.Timedelta(value)
    except (TypeError, ValueError):
        raise OptionError(f"{{min_duration}}: {value!r} is not a duration like 3D or 36h",
                          "min_duration") from None
    if duration <= pd.Timedelta(0):
        raise OptionError(f"{{min_duration}} must be positive, got {value!r}", "min_duration")
    return duration


def filter_duration(labels, min_duration, rule="merge", step=None):
    """Removes the episodes shorter than `min_duration`.

    The rule, applied once to the episodes of `labels` (see `episodes`):

    * `"merge"` (the default): a short episode that interrupts one regime, between two
      episodes of that same regime that each last at least `min_duration` and are consecutive
      with it, takes that regime (the interruption is noise in a persistent regime); every
      other short episode becomes no regime (-1).
    * `"no-regime"`: every short episode becomes no regime.

    No-regime stretches are left as they are. Apply `filter_probability` first when both
    filters are wanted (its no-regime windows then end episodes).

    Args:
        labels: the regime sequence (see `as_labels`).
        min_duration: the shortest episode kept: `"3D"`, `"36h"`, a `pandas.Timedelta`.
        rule: `"merge"` or `"no-regime"`.
        step: the time between window starts; `None`: `window_step(labels)`.

    Returns:
        The filtered sequence, a `pandas.Series`.

    Example:

    >>> labels = pd.Series([0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 1],
    ...                    index=pd.date_range("2021-01-01", periods=11))
    >>> filter_duration(labels, "3D").tolist()
    [0, 0, 0, 0, 0, 0, 0, -1, 1, 1, 1]
    >>> filter_duration(labels, "3D", rule="no-regime").tolist()
    [0, 0, 0, -1, 0, 0, 0, -1, 1, 1, 1]
    """
    min_duration = _duration(min_duration)
    if rule not in _RULES:
        raise OptionError(f"{{rule}} must be one of {', '.join(_RULES)}, got {rule!r}", "rule")
    labels = as_labels(labels)
    table = episodes(labels, step)
    long = table["duration_days"].to_numpy() * _DAY >= min_duration
    clusters = table["cluster"].to_numpy()
    starts, ends = table["start"].to_numpy(), table["end"].to_numpy()
    new = clusters.copy()
    for i in range(len(table)):
        if long[i] or clusters[i] == NO_REGIME:
            continue
        new[i] = NO_REGIME
        if rule == "merge" and 0 < i < len(table) - 1:
            before, after = i - 1, i + 1
            if (clusters[before] == clusters[after] != NO_REGIME and long[before]
                    and long[after] and ends[before] == starts[i] and ends[i] == starts[after]):
                new[i] = clusters[before]
    episode = np.repeat(np.arange(len(table)), table["n_windows"].to_numpy())
    return pd.Series(new[episode], index=labels.index, name="cluster")
