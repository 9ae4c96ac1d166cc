"""Composites: the mean anomaly of any field in each weather regime, with its significance.

The field need not be one that was clustered, nor on the clustered grid: it is averaged over
each window's time span (`window_means`), so an hourly or daily precipitation file composites
on windows of any length. Anomalies are taken against the mean of the windows of the same
calendar month (`climatology="month"`, the default: the seasonal cycle of temperature or sea
surface temperature would otherwise dominate every regime's spread), or of all the windows the
field covers (`"all"`), and each regime's mean anomaly is tested per grid point:

* `"t-test"`: Student's one-sample t-test of the regime's window anomalies against zero
  (two-sided; `scipy.stats.t`), the usual test of a composite;
* `"bootstrap"`: the regime's composite against `n_resamples` composites of as many windows
  drawn at random (without replacement) from all the windows, two-sided: p is the fraction of
  random composites at least as far from zero, `(1 + count) / (1 + n_resamples)`.

With `correction="fdr"` the p-values of each map are adjusted for the many grid points tested
(Benjamini-Hochberg, `scipy.stats.false_discovery_control`; Wilks 2016's advice for field
significance). The window means of the field are held in memory (windows x grid points).
"""

import numbers
import warnings

import numpy as np
import pandas as pd
import xarray as xr

from keras_dsc.errors import DataError, OptionError
from keras_dsc.regimes.statistics import NO_REGIME, as_labels, window_step

TESTS = ("t-test", "bootstrap")
CLIMATOLOGIES = ("all", "month")
CORRECTIONS = ("none", "fdr")


def _as_dataset(field):
    if isinstance(field, xr.DataArray):
        return field.to_dataset(name=field.name or "field"), True
    if isinstance(field, xr.Dataset):
        return field, False
    raise DataError(f"field: expected an xarray Dataset or DataArray, got "
                    f"{type(field).__name__}")


def _duration_text(step):
    """`"31 days"`, `"6 hours"`, `"30 minutes"`: a duration for messages."""
    for unit, length in (("day", pd.Timedelta(days=1)), ("hour", pd.Timedelta(hours=1)),
                         ("minute", pd.Timedelta(minutes=1))):
        if step >= length or unit == "minute":
            count = step / length
            count = int(count) if float(count).is_integer() else round(float(count), 1)
            return f"{count} {unit}{'' if count == 1 else 's'}"


def window_means(field, labels, window=None, name=None):
    """The mean of a field over each window's span, `[start, start + window)`, NaN skipped.

    A field whose time step (the median time between its steps) is longer than 1.5 windows
    (monthly means for daily windows) is refused: each window would hold one of its values
    or none.

    Args:
        field: an `xarray.Dataset` or `DataArray` with a `time` dimension (any other
            dimensions, any time step); possibly lazy (dask).
        labels: the regime sequence (see `keras_dsc.regimes.as_labels`); its index gives the
            window starts.
        window: each window's length (`"1D"`, a `pandas.Timedelta`); `None`: the time between
            window starts (`window_step`).
        name: how messages name the field (its file); `None`: `"field"`.

    Returns:
        `(means, labels)`: the field's means on `time` = the starts of the windows that hold
        all of their time steps in the field (as many as the window over the field's step),
        and the labels of those windows. A window holding some of its steps only (a day with
        its mornings missing, the record's last day begun late) is left out, not averaged
        over part of its span: `means.attrs["partial_windows_left_out"]` counts them, and
        `means.attrs["windows_without_the_field"]` the windows holding none (a gap, a field
        shorter than the run).

    Example:

    >>> field = xr.DataArray(np.arange(6.0), dims="time",
    ...                      coords={"time": pd.date_range("2021-01-01", periods=6, freq="12h")})
    >>> labels = pd.Series([0, 1], index=pd.to_datetime(["2021-01-01", "2021-01-02"]))
    >>> means, kept = window_means(field, labels, "1D")
    >>> means.values.tolist(), kept.tolist()
    ([0.5, 2.5], [0, 1])
    """
    labels = as_labels(labels)
    data, single = _as_dataset(field)
    where = "field" if name is None else name
    if "time" not in data.dims:
        raise DataError(f"{where}: no time dimension (dimensions: {', '.join(map(str, data.dims))})")
    if window is None:
        window = window_step(labels)
    try:
        window = pd.Timedelta(window)
    except (TypeError, ValueError):
        raise OptionError(f"{{window}}: {window!r} is not a duration", "window") from None
    if window <= pd.Timedelta(0):
        raise OptionError(f"{{window}} must be positive, got {window}", "window")
    if not data.indexes["time"].is_monotonic_increasing:
        data = data.sortby("time")
    times = data.indexes["time"]
    step = pd.Timedelta(np.median(np.diff(times.values))) if len(times) > 1 else None
    if step is not None and step > 1.5 * window:  # 1.5: months differ in length
        raise DataError(f"{where}: its time step ({_duration_text(step)}) is longer than the "
                        f"windows ({_duration_text(window)}): each window would hold one of "
                        f"its values or none; give the field at the windows' step or finer")
    starts = labels.index
    first = np.searchsorted(times.values, starts.values, side="left")
    last = np.searchsorted(times.values, (starts + window).values, side="left")
    covered = last > first
    if not covered.any():
        raise DataError(f"{where}: its times ({times[0]:%Y-%m-%d %H:%M} to "
                        f"{times[-1]:%Y-%m-%d %H:%M}) fall in none of the windows "
                        f"({starts[0]:%Y-%m-%d %H:%M} to {starts[-1]:%Y-%m-%d %H:%M})")
    # Every step of a window in the field: a window's mean over part of its span (no
    # mornings) differs from the mean over all of it by the diurnal cycle.
    expected = max(1, int(round(window / step))) if step is not None else 1
    partial = covered & (last - first < expected)
    if not (covered & ~partial).any():
        raise DataError(f"{where}: every window holds only some of its {expected} time steps "
                        f"in the field (windows of {_duration_text(window)}, steps of "
                        f"{_duration_text(step)})")
    covered &= ~partial
    first, last, starts = first[covered], last[covered], starts[covered]
    overlapping = bool(np.any(first[1:] < last[:-1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN points of a window
        if not overlapping:  # each step in at most one window: one grouped pass
            owner = np.full(len(times), -1)
            for i, (a, b) in enumerate(zip(first, last)):
                owner[a:b] = i
            kept = np.flatnonzero(owner >= 0)
            groups = xr.DataArray(owner[kept], dims="time", name="window")
            means = data.isel(time=kept).groupby(groups).mean("time", keep_attrs=True)
            means = means.rename(window="time").assign_coords(time=starts.values)
        else:
            means = xr.concat([data.isel(time=slice(a, b)).mean("time", keep_attrs=True)
                               for a, b in zip(first, last)], dim="time")
            means = means.assign_coords(time=starts.values)
        means = means.load()
    for name in means.data_vars:
        means[name].attrs = dict(data[name].attrs)
    means = means[list(means.data_vars)[0]] if single else means
    means.attrs["partial_windows_left_out"] = int(partial.sum())
    means.attrs["windows_without_the_field"] = int(len(labels) - covered.sum() - partial.sum())
    return means, labels[covered]


def _anomalies(values, months, climatology):
    if climatology == "all":
        return values - _nanmean(values)
    out = np.empty_like(values)
    for month in np.unique(months):
        chosen = months == month
        out[chosen] = values[chosen] - _nanmean(values[chosen])
    return out


def _nanmean(block):
    count = np.sum(np.isfinite(block), axis=0)
    return np.where(count > 0, np.nansum(block, axis=0) / np.maximum(count, 1), np.nan)


def _t_test(block):
    """Two-sided one-sample t-test against zero per point: (mean, p) with NaN skipped."""
    from scipy import stats

    count = np.sum(np.isfinite(block), axis=0)
    mean = _nanmean(block)
    with np.errstate(invalid="ignore", divide="ignore"):
        deviation = np.where(np.isfinite(block), block - mean, 0.0)
        variance = np.sum(deviation**2, axis=0) / np.maximum(count - 1, 1)
        t = mean / np.sqrt(variance / np.maximum(count, 1))
        p = 2.0 * stats.t.sf(np.abs(t), df=np.maximum(count - 1, 1))
    p = np.where(variance == 0, np.where(mean == 0, 1.0, 0.0), p)  # no spread at all
    p = np.where((count >= 2) & np.isfinite(mean), p, np.nan)
    return mean, p


def _bootstrap(block, pool, n_resamples, rng):
    """Two-sided Monte Carlo test: random composites of as many windows from the pool."""
    mean = _nanmean(block)
    beyond = np.zeros(mean.shape, np.int64)
    size = block.shape[0]
    for _ in range(n_resamples):
        sample = pool[rng.choice(pool.shape[0], size=size, replace=False)]
        with np.errstate(invalid="ignore"):
            beyond += np.abs(_nanmean(sample)) >= np.abs(mean)
    p = (1.0 + beyond) / (1.0 + n_resamples)
    return mean, np.where(np.isfinite(mean), p, np.nan)


def _fdr(p):
    from scipy import stats

    out = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        out[finite] = stats.false_discovery_control(p[finite])
    return out


def _check_choice(value, name, choices):
    if value not in choices:
        raise OptionError(f"{{{name}}} must be one of {', '.join(choices)}, got {value!r}", name)


def composites(field, labels, window=None, test="t-test", level=0.05, n_resamples=1000,
               climatology="month", correction="none", clusters=None, seed=0, name=None):
    """The mean anomaly of each variable of a field in each regime, with a significance mask.

    Args:
        field: an `xarray.Dataset` (or `DataArray`) with a `time` dimension, in physical
            units; any grid, any time step (see `window_means`).
        labels: the regime sequence (see `keras_dsc.regimes.as_labels`); no-regime (-1)
            windows count in the climatology but form no composite.
        window: each window's length; `None`: the time between window starts.
        test: `"t-test"` or `"bootstrap"` (see the module's description), or `None` for no
            test.
        level: the significance level, in (0, 1). Defaults to 0.05.
        n_resamples: random composites of the bootstrap. Defaults to 1000.
        climatology: `"month"` (anomalies from the mean of the windows of the same calendar
            month, the default) or `"all"` (from the mean of all covered windows).
        correction: `"none"` or `"fdr"` (Benjamini-Hochberg over each map's points).
        clusters: the regimes to composite: their number `k` or a list; `None`: those found.
        seed: seed of the bootstrap's draws.
        name: how messages name the field (its file); `None`: `"field"`.

    Returns:
        An `xarray.Dataset` on `cluster` and the field's other dimensions: per variable `v`,
        `v` (the mean anomaly, float32, the field's `units`), and with a test `v_p_value`
        and `v_significant` (bool: p <= level); `count(cluster)`, the windows of each regime
        that the field covers. CF attributes (`units`, `long_name`, flags) are set.

    Example:

    >>> times = pd.date_range("2021-01-01", periods=40)
    >>> labels = pd.Series(np.arange(40) % 2, index=times)
    >>> noise = np.random.default_rng(0).normal(size=(40, 3))
    >>> tp = xr.DataArray(noise + 5.0 * labels.to_numpy()[:, None], dims=("time", "x"),
    ...                   coords={"time": times}, name="tp", attrs={"units": "mm"})
    >>> result = composites(tp, labels)
    >>> np.round(result["tp"].values.astype(float), 1).tolist(), result["count"].values.tolist()
    ([[-2.4, -2.3, -2.6], [2.4, 2.3, 2.6]], [20, 20])
    >>> result["tp_significant"].values.all(), result["tp"].attrs["units"]
    (np.True_, 'mm')
    """
    if test is not None:
        _check_choice(test, "test", TESTS)
    _check_choice(climatology, "climatology", CLIMATOLOGIES)
    _check_choice(correction, "correction", CORRECTIONS)
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < level < 1:
        raise OptionError(f"{{level}} must be a significance level in (0, 1), got {level!r}",
                          "level")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, numbers.Integral) or (
            n_resamples < 1):
        raise OptionError(f"{{n_resamples}} must be a positive integer, got {n_resamples!r}",
                          "n_resamples")
    data, _ = _as_dataset(field)
    means, kept = window_means(data, labels, window, name)
    values_of = kept.to_numpy()
    found = sorted(set(values_of) - {NO_REGIME})
    if clusters is None:
        chosen = found
    elif isinstance(clusters, numbers.Integral):
        chosen = list(range(int(clusters)))
    else:
        chosen = sorted(int(c) for c in clusters)
    if not chosen:
        raise DataError("labels: no window of the field's times is in a regime")
    months = kept.index.month.to_numpy()
    where = "field" if name is None else name
    if climatology == "month" and np.unique(months, return_counts=True)[1].max() < 2:
        raise OptionError(f"{where}: each calendar month holds one window of its times "
                          f"({len(months)} in all), so every anomaly from the monthly "
                          f"climatology is zero; give a longer field or {{climatology}} all",
                          "climatology")
    if len(months) < 2:
        raise DataError(f"{where}: its times are in one window only, so its anomaly from "
                        f"the climatology is zero; give a longer field")
    rng = np.random.default_rng(seed)
    out = xr.Dataset(coords={"cluster": ("cluster", np.asarray(chosen, np.int32),
                                         {"long_name": "weather regime (cluster)",
                                          "units": "1"})})
    for name, var in means.data_vars.items():
        var = var.transpose("time", ...)
        dims = var.dims[1:]
        values = np.asarray(var.values, dtype=np.float64)
        anomalies = _anomalies(values, months, climatology)
        mean_maps, p_maps = [], []
        for cluster in chosen:
            block = anomalies[values_of == cluster]
            if block.shape[0] == 0:
                mean_maps.append(np.full(values.shape[1:], np.nan))
                p_maps.append(np.full(values.shape[1:], np.nan))
            elif test == "bootstrap":
                mean, p = _bootstrap(block, anomalies, int(n_resamples), rng)
                mean_maps.append(mean)
                p_maps.append(p)
            else:
                mean, p = _t_test(block)
                mean_maps.append(mean)
                p_maps.append(p)
        attrs = dict(var.attrs)
        title = attrs.get("long_name", name)
        coords = {d: var[d] for d in dims if d in var.coords}
        out[name] = xr.DataArray(
            np.stack(mean_maps).astype(np.float32), dims=("cluster", *dims), coords=coords,
            attrs={"long_name": f"mean anomaly of {title} in each regime",
                   "units": str(attrs.get("units", "1")),
                   "cell_methods": "time: mean (anomaly from the "
                   + ("mean of all windows)" if climatology == "all"
                      else "mean of the windows of the same calendar month)")})
        if test is not None:
            p = np.stack(p_maps)
            if correction == "fdr":
                p = np.stack([_fdr(map_) for map_ in p])
            out[f"{name}_p_value"] = xr.DataArray(
                p.astype(np.float32), dims=("cluster", *dims), coords=coords,
                attrs={"long_name": f"p-value of the {test} of the {name} composite"
                       + (" (Benjamini-Hochberg adjusted)" if correction == "fdr" else ""),
                       "units": "1"})
            out[f"{name}_significant"] = xr.DataArray(
                p <= level, dims=("cluster", *dims), coords=coords,
                attrs={"long_name": f"{name} composite significant at the {level:g} level "
                       f"({test})",
                       "flag_values": np.array([0, 1], np.int8),
                       "flag_meanings": "not_significant significant"})
    counts = [int(np.sum(values_of == c)) for c in chosen]
    out["count"] = xr.DataArray(np.asarray(counts, np.int32), dims="cluster",
                                attrs={"long_name": "number of windows in the regime",
                                       "units": "1"})
    out.attrs.update({
        "test": test or "none", "significance_level": float(level),
        "climatology": climatology, "correction": correction,
        "n_windows": int(len(kept)),
        "partial_windows_left_out": int(means.attrs.get("partial_windows_left_out", 0)),
        "windows_without_the_field": int(means.attrs.get("windows_without_the_field", 0)),
    })
    if test == "bootstrap":
        out.attrs["n_resamples"] = int(n_resamples)
    return out
