"""The regime analysis of a run folder: statistics, composites and their NetCDF files.

These commands need only what every run folder holds, whatever method made it:
`assignments.csv` (window start, cluster, probability), `config.json` (the run's data options:
window, stride) and `preprocessing.json` (the time step). The statistics themselves are
`keras_dsc.regimes`; this module reads the run, writes the tables, NetCDF files and figures,
and never overwrites a file: each command writes a new folder inside the run.
"""

import dataclasses
import datetime
import json
import numbers
import pathlib

import numpy as np
import pandas as pd
import xarray as xr

from keras_dsc import regimes as stats
from keras_dsc.data.time_axis import step_text, to_timedelta
from keras_dsc.errors import DataError, OptionError
from keras_dsc.runs import run_folder

SHORT_EPISODES = ("merge", "no-regime")
CONVENTIONS = "CF-1.8"


@dataclasses.dataclass
class RegimeStatistics:
    """What `regime_statistics` computed and wrote.

    Attributes:
        labels: the analysed sequence (`pandas.Series` on window starts; filtered when asked,
            -1 for no regime).
        raw: the run's own assignments, unfiltered.
        step: the time between window starts.
        tables: dict of the tables written (`frequencies`' month/season/year, `climatology`,
            `episodes`, `persistence`, `durations`, `longest`, `transition_counts`,
            `transition_probabilities`).
        out: the folder written.
        files: the paths written, in order.
    """

    labels: pd.Series
    raw: pd.Series
    step: pd.Timedelta
    tables: dict
    out: pathlib.Path
    files: list


def window_timing(run_dir, config, starts):
    """`(step, length)`: the time between window starts and each window's length.

    From the run's options (`window`, `stride`) and its time step (`preprocessing.json`, else
    `resample`); a run that records neither takes the median time between window starts for
    both.
    """
    options = ((config or {}).get("data") or {}).get("options") or {}
    time_step = run_folder.read_time_step(run_dir) or options.get("resample")
    median = None
    if len(starts) > 1:
        median = pd.Timedelta(np.median(np.diff(np.asarray(starts, "datetime64[ns]"))))
    try:
        time_step = to_timedelta(time_step) if time_step else None
    except (TypeError, ValueError):
        time_step = None
    window = int(options.get("window") or 1)
    stride = int(options.get("stride") or window)
    if time_step is None:
        if median is None:
            raise DataError(f"{run_dir}: one window and no time step in the run's files")
        return median, median
    return stride * time_step, window * time_step


def _labels_of(table):
    return stats.as_labels(table[["time", "cluster"]])


def _open_run(run_dir):
    """What the `regimes` and `composites` commands read of a run folder: `(run_dir, config,
    assignments table, raw labels, step, window length)`."""
    run_dir = run_folder.check_run_dir(run_dir, (run_folder.CONFIG_FILE,
                                                 run_folder.ASSIGNMENTS_FILE))
    config = run_folder.read_config(run_dir)
    table = run_folder.read_assignments_table(run_dir)
    raw = _labels_of(table)
    step, length = window_timing(run_dir, config, raw.index)
    return run_dir, config, table, raw, step, length


def _n_clusters(config, labels):
    fit = (config or {}).get("fit") or {}
    n = fit.get("n_clusters")
    if isinstance(n, numbers.Integral) and n >= 1:
        return int(n)
    return int(labels.max()) + 1 if len(labels) else 0


def filtered_labels(table, step, min_probability=None, min_duration=None,
                    short_episodes=None):
    """The run's assignments with the filters applied: probability first, then duration.

    Args:
        table: the run's assignments (`run_folder.read_assignments_table`).
        step: the time between window starts.
        min_probability: windows whose cluster's probability is below this are no regime.
        min_duration: episodes shorter than this (`"3D"`) are merged or dropped
            (`keras_dsc.regimes.filter_duration`).
        short_episodes: the rule for short episodes, `"merge"` (`None`: the default) or
            `"no-regime"`; only with `min_duration`, whose episodes it acts on.

    Returns:
        A `pandas.Series` of labels on the window starts, -1 for no regime.
    """
    if short_episodes is not None and min_duration is None:
        raise OptionError("{short_episodes} acts on the episodes {min_duration} removes: give "
                          "{min_duration} too", "short_episodes", "min_duration")
    short_episodes = "merge" if short_episodes is None else short_episodes
    if short_episodes not in SHORT_EPISODES:
        raise OptionError(f"{{short_episodes}} must be one of {', '.join(SHORT_EPISODES)}, got "
                          f"{short_episodes!r}", "short_episodes")
    labels = _labels_of(table)
    if min_probability is not None:
        if "probability" not in table.columns:
            raise OptionError("{min_probability}: the run's assignments have no probability "
                              "column", "min_probability")
        probability = pd.Series(table["probability"].to_numpy(dtype=float),
                                index=pd.DatetimeIndex(table["time"]))
        labels = stats.filter_probability(labels, probability, min_probability)
    if min_duration is not None:
        labels = stats.filter_duration(labels, min_duration, rule=short_episodes, step=step)
    return labels


def config_attributes(config):
    """The run's config as NetCDF global attributes: `fit_*` and `data_*` options, the data
    source, and the whole `config.json` (but the model's layer config) as `keras_dsc_config`.

    Example:

    >>> config_attributes({"fit": {"n_clusters": 6, "skip": False, "filters": [8, 16]},
    ...                    "data": {"options": {"stride": None}}})["fit_filters"]
    '8,16'
    """
    def value(item):
        if item is None:
            return "none"
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, numbers.Number):
            return item
        if isinstance(item, (list, tuple)):
            return ",".join(str(v) for v in item)
        return str(item)

    config = config or {}
    attrs = {}
    for key, item in ((config.get("fit") or {}).items()):
        attrs[f"fit_{key}"] = value(item)
    data = config.get("data") or {}
    for key, item in ((data.get("options") or {}).items()):
        attrs[f"data_{key}"] = value(item)
    if data.get("source"):
        attrs["data_source"] = str(data["source"])
    if data.get("files"):
        attrs["data_files"] = ",".join(str(f) for f in data["files"])
    if data.get("variables"):
        attrs["data_variables"] = ",".join(data["variables"])
    kept = {k: v for k, v in config.items() if k != "model"}
    attrs["keras_dsc_config"] = json.dumps(kept, default=str)
    return attrs


def _global_attributes(config, title):
    import keras_dsc

    __version__ = keras_dsc.__version__
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    method = ((config or {}).get("fit") or {}).get("method", "dsc")
    return {
        "Conventions": CONVENTIONS,
        "title": title,
        "source": f"keras_dsc {__version__} (method {method})",
        "history": f"{now}: written by keras_dsc {__version__}",
        "references": "Faruque et al. (2023), Deep Spatiotemporal Clustering, arXiv 2304.14541",
        **config_attributes(config),
    }


def _flags(labels, n_clusters):
    values = list(range(n_clusters))
    meanings = [f"regime_{k}" for k in values]
    if np.any(np.asarray(labels) == stats.NO_REGIME):
        values, meanings = [stats.NO_REGIME, *values], ["no_regime", *meanings]
    return np.asarray(values, np.int32), " ".join(meanings)


def assignments_dataset(start_times, labels, probabilities, window_length, config=None,
                        n_clusters=None):
    """The assignments as a CF `xarray.Dataset`, the content of `assignments.nc`.

    Args:
        start_times: the windows' start times.
        labels: int array, the cluster of each window (-1: no regime).
        probabilities: float array `(windows, clusters)` of every cluster's probability, or
            `(windows,)`, the assigned cluster's only; or `None`.
        window_length: each window's length (a `pandas.Timedelta`), for the time bounds.
        config: the run's `config.json` dict, written as global attributes.
        n_clusters: the number of clusters; `None`: from `probabilities` or the labels.

    Returns:
        A Dataset on `time` (each window's start, with `time_bounds` its start and end):
        `cluster(time)` int32 with `flag_values` / `flag_meanings`, and `probability(time,
        regime)` (or `probability(time)` for the assigned cluster's only).

    Example:

    >>> ds = assignments_dataset(pd.date_range("2021-01-01", periods=2), [0, 1],
    ...                          np.array([[0.9, 0.1], [0.3, 0.7]]), pd.Timedelta("1D"))
    >>> ds["cluster"].attrs["flag_meanings"], ds["probability"].dims
    ('regime_0 regime_1', ('time', 'regime'))
    """
    starts = pd.DatetimeIndex(start_times).values.astype("datetime64[ns]")
    labels = np.asarray(labels).astype(np.int32)
    probabilities = None if probabilities is None else np.asarray(probabilities, np.float32)
    if n_clusters is None:
        n_clusters = (probabilities.shape[1] if probabilities is not None and
                      probabilities.ndim == 2 else int(labels.max()) + 1 if labels.size else 0)
    values, meanings = _flags(labels, n_clusters)
    length = pd.Timedelta(window_length).to_timedelta64()
    ds = xr.Dataset(coords={
        "time": ("time", starts, {"standard_name": "time", "long_name": "start of the window",
                                  "axis": "T", "bounds": "time_bounds"}),
    })
    ds["time_bounds"] = (("time", "bounds"), np.stack([starts, starts + length], axis=1),
                         {"long_name": "start and end of the window"})
    ds["cluster"] = ("time", labels, {
        "long_name": "weather regime (cluster) of the window",
        "flag_values": values, "flag_meanings": meanings})
    if probabilities is not None and probabilities.ndim == 2:
        ds = ds.assign_coords(regime=("regime", np.arange(probabilities.shape[1], dtype=np.int32),
                                      {"long_name": "weather regime (cluster)",
                                       "units": "1"}))
        ds["probability"] = (("time", "regime"), probabilities, {
            "long_name": "probability of each regime (soft assignment)", "units": "1"})
    elif probabilities is not None:
        ds["probability"] = ("time", probabilities, {
            "long_name": "probability of the window's regime", "units": "1"})
    ds.attrs = _global_attributes(config, "keras_dsc weather-regime assignments")
    return ds


def write_netcdf(ds, path):
    """Writes a Dataset as NetCDF-4 with CF time units; refuses an existing file."""
    path = pathlib.Path(path)
    if path.exists():
        raise OptionError(f"{{out}}: {path} already exists (nothing is overwritten)", "out")
    encoding = {}
    for name in ("time", "time_bounds"):
        if name in ds.variables:
            encoding[name] = {"units": "hours since 1970-01-01 00:00:00",
                              "calendar": "proleptic_gregorian", "dtype": "float64",
                              "_FillValue": None}
    ds.to_netcdf(path, encoding=encoding)
    return path


def write_run_assignments_netcdf(run_dir, start_times, labels, probabilities, config=None):
    """Writes the run's `assignments.nc` (see `assignments_dataset`) unless it exists.

    Returns:
        The path, or `None` when the run already has one.
    """
    run_dir = pathlib.Path(run_dir)
    path = run_dir / run_folder.ASSIGNMENTS_NETCDF
    if path.exists():
        return None
    config = config if config is not None else run_folder.read_config(run_dir)
    _, length = window_timing(run_dir, config, start_times)
    ds = assignments_dataset(start_times, labels, probabilities, length, config,
                             _n_clusters(config, pd.Series(np.asarray(labels))))
    return write_netcdf(ds, path)


def regime_statistics(run_dir, out=None, min_probability=None, min_duration=None,
                      short_episodes=None, plots=True, dpi=100, longest=5):
    """Frequencies, persistence and transitions of a run's regimes, written into the run.

    Writes into `out` (default `RUN_DIR/regimes/`; refused when it exists):

    * `frequency_month.csv`, `frequency_season.csv`, `frequency_year.csv`: the fraction of
      windows in each regime per calendar month, season (DJF, MAM, JJA, SON) and year (a
      `n_windows` column, then one per regime; `-1` for no regime);
      `frequency_climatology.csv`: each regime's frequency over the record and per season,
      with the mean, standard deviation, minimum and maximum of its yearly frequency;
    * `episodes.csv` (every episode: regime, start, end, windows, days), `persistence.csv`
      (episodes, mean, median and longest duration per regime), `duration_histogram.csv` and
      `longest_episodes.csv` (the `longest` longest of each regime, with their dates);
    * `transition_counts.csv`, `transition_probabilities.csv` (rows from, columns to; the
      diagonal is persistence);
    * with a filter, `assignments_filtered.csv` / `.nc`: the raw cluster beside the filtered
      regime of each window (the run's own `assignments.csv` is never touched);
    * `regimes.json` (what was computed, the filters, a summary per regime) and, with
      `plots`, `frequencies.png`, `persistence.png`, `transitions.png`, `calendar.png`.

    The run's `assignments.nc` is written too when the run has none.

    Args:
        run_dir: a run folder (`assignments.csv`, `config.json`, `preprocessing.json`).
        out: the folder to write; `None`: `RUN_DIR/regimes`.
        min_probability: windows whose cluster's probability is below this are no regime.
        min_duration: episodes shorter than this (`"3D"`, `"36h"`) are removed by the rule
            `short_episodes` (see `keras_dsc.regimes.filter_duration`).
        short_episodes: `"merge"` (`None`: the default) or `"no-regime"`; only with
            `min_duration`.
        plots: whether to draw the PNG figures.
        dpi: pixels per inch of the figures.
        longest: episodes per regime in `longest_episodes.csv`.

    Returns:
        A `RegimeStatistics`.

    Example (`run_dir`: a run folder written by `keras_dsc.runs.fit.fit_run`):

    >>> result = regime_statistics(run_dir, min_duration="2D", plots=False)
    >>> result.out.name, sorted(result.tables)[:3]
    ('regimes', ['climatology', 'durations', 'episodes'])
    """
    run_dir, config, table, raw, step, length = _open_run(run_dir)
    out = run_folder.check_free(out if out is not None else
                                run_dir / run_folder.REGIMES_FOLDER)
    labels = filtered_labels(table, step, min_probability, min_duration, short_episodes)
    short_episodes = "merge" if short_episodes is None else short_episodes
    filtered = min_probability is not None or min_duration is not None
    n_clusters = _n_clusters(config, raw)
    files = []
    tables = {by: stats.frequencies(labels, by=by, clusters=n_clusters)
              for by in ("month", "season", "year")}
    counts = {by: stats.frequencies(labels, by=by, clusters=n_clusters, normalize=False)
              for by in tables}
    tables["climatology"] = stats.frequency_climatology(labels, clusters=n_clusters)
    tables["episodes"] = stats.episodes(labels, step=step)
    tables["persistence"] = stats.persistence(labels, step=step, clusters=n_clusters)
    tables["durations"] = stats.duration_histogram(labels, step=step, clusters=n_clusters)
    tables["longest"] = stats.longest_episodes(labels, n=longest, step=step)
    tables["transition_counts"] = stats.transitions(labels, step=step, clusters=n_clusters)
    tables["transition_probabilities"] = stats.transitions(labels, step=step,
                                                           clusters=n_clusters, normalize=True)
    names = run_folder.REGIME_TABLES
    run_folder.free_output_dir(out)
    for by in ("month", "season", "year"):
        frame = tables[by].copy()
        frame.insert(0, "n_windows", counts[by].sum(axis=1))
        files.append(_csv(frame, out / names[by]))
    files.append(_csv(tables["climatology"], out / names["climatology"], index=False))
    files.append(_csv(_dated(tables["episodes"]), out / names["episodes"], index=False))
    files.append(_csv(tables["persistence"], out / names["persistence"]))
    files.append(_csv(tables["durations"], out / names["durations"]))
    files.append(_csv(_dated(tables["longest"]), out / names["longest"], index=False))
    files.append(_csv(tables["transition_counts"], out / names["transition_counts"]))
    files.append(_csv(tables["transition_probabilities"],
                      out / names["transition_probabilities"]))
    if filtered:
        csv_name, nc_name = run_folder.FILTERED_ASSIGNMENTS
        frame = pd.DataFrame({"time": raw.index.strftime("%Y-%m-%dT%H:%M:%S"),
                              "cluster": raw.to_numpy(), "regime": labels.to_numpy()})
        if "probability" in table.columns:
            frame.insert(2, "probability", table.set_index("time")["probability"]
                         .reindex(raw.index).to_numpy())
        files.append(_csv(frame, out / csv_name, index=False))
        ds = assignments_dataset(raw.index, labels.to_numpy(),
                                 frame["probability"].to_numpy() if "probability" in frame
                                 else None, length, config, n_clusters)
        ds["cluster"].attrs["long_name"] = "weather regime of the window, after the filters"
        ds["raw_cluster"] = ("time", raw.to_numpy().astype(np.int32), {
            "long_name": "weather regime (cluster) of the window before the filters",
            "flag_values": np.arange(n_clusters, dtype=np.int32),
            "flag_meanings": " ".join(f"regime_{k}" for k in range(n_clusters))})
        ds.attrs.update({"min_probability": "none" if min_probability is None
                         else float(min_probability),
                         "min_duration": "none" if min_duration is None else str(min_duration),
                         "short_episodes": short_episodes})
        files.append(write_netcdf(ds, out / nc_name))
    summary = _summary(tables, labels, step, length, min_probability, min_duration,
                       short_episodes, n_clusters)
    summary_path = out / names["summary"]
    summary_path.write_text(json.dumps(summary, indent=2))
    files.append(summary_path)
    if plots:
        files += _regime_figures(tables, labels, out, dpi)
    netcdf = write_run_assignments_netcdf(
        run_dir, raw.index, raw.to_numpy(),
        table["probability"].to_numpy() if "probability" in table.columns else None, config)
    if netcdf is not None:
        files.append(netcdf)
    return RegimeStatistics(labels, raw, step, tables, out, files)


def _csv(frame, path, index=True):
    frame.to_csv(path, index=index)
    return path


def _dated(table):
    table = table.copy()
    for column in ("start", "end"):
        table[column] = pd.DatetimeIndex(table[column]).strftime("%Y-%m-%dT%H:%M:%S")
    return table


def _summary(tables, labels, step, length, min_probability, min_duration, short_episodes,
             n_clusters):
    probabilities = tables["transition_probabilities"]
    climatology = tables["climatology"]
    overall = climatology[climatology["period"] == "all"].set_index("cluster")
    persistence = tables["persistence"]
    regimes = []
    for cluster in persistence.index:
        row = persistence.loc[cluster]
        regimes.append({
            "regime": int(cluster),
            "frequency": _number(overall.loc[cluster, "frequency"]),
            "year_to_year_std": _number(overall.loc[cluster, "year_std"]),
            "episodes": int(row["n_episodes"]),
            "mean_duration_days": _number(row["mean_duration_days"]),
            "median_duration_days": _number(row["median_duration_days"]),
            "max_duration_days": _number(row["max_duration_days"]),
            "persistence_probability": _number(probabilities.loc[cluster, cluster]),
        })
    return {
        "n_windows": int(len(labels)),
        "n_clusters": int(n_clusters),
        "start": labels.index[0].isoformat() if len(labels) else None,
        "end": labels.index[-1].isoformat() if len(labels) else None,
        "window_step": step_text(step),
        "window_length": step_text(length),
        "filters": {"min_probability": min_probability,
                    "min_duration": None if min_duration is None else str(min_duration),
                    "short_episodes": short_episodes if min_duration is not None else None},
        "no_regime_windows": int(np.sum(labels.to_numpy() == stats.NO_REGIME)),
        "regimes": regimes,
    }


def _number(value):
    value = float(value)
    return None if not np.isfinite(value) else round(value, 6)


def _regime_figures(tables, labels, out, dpi):
    from keras_dsc import plots

    figures = run_folder.REGIME_FIGURES
    return [
        plots.plot_frequencies(tables, tables["climatology"], out / figures["frequencies"],
                               dpi=dpi),
        plots.plot_persistence(tables["durations"], tables["persistence"],
                               out / figures["persistence"], dpi=dpi),
        plots.plot_transitions(tables["transition_probabilities"],
                               tables["transition_counts"], out / figures["transitions"],
                               dpi=dpi),
        plots.plot_calendar(labels.index, labels.to_numpy(), out / figures["calendar"],
                            dpi=dpi),
    ]


def summary_lines(result):
    """One line per regime for the command line: frequency, mean duration, persistence."""
    summary = json.loads((result.out / run_folder.REGIME_TABLES["summary"]).read_text())
    lines = [f"{summary['n_windows']} windows of {summary['window_length']} every "
             f"{summary['window_step']}, {summary['start'][:10]} to {summary['end'][:10]}"
             + (f"; {summary['no_regime_windows']} in no regime"
                if summary["no_regime_windows"] else "")]
    for row in summary["regimes"]:
        name = "no regime" if row["regime"] < 0 else f"regime {row['regime']}"
        mean = row["mean_duration_days"]
        stay = row["persistence_probability"]
        lines.append(f"{name}: frequency {row['frequency']:.3f}, {row['episodes']} episodes"
                     + (f", mean {mean:.2f} days" if mean is not None else "")
                     + (f", persistence {stay:.2f}" if stay is not None else ""))
    return lines


def _run_field_source(run_dir, config):
    """The files of the run's own data (the built-in cube regenerated if the cache lost it)."""
    from keras_dsc.data.prepare import builtin_cube_path

    options = run_folder.run_data_options(config)
    if options.tfds:
        raise OptionError("{data}: the run read a tfds: dataset; give the NetCDF files of the "
                          "field with {data}", "data")
    if options.builtin:
        return [str(builtin_cube_path(options.days, options.n_regimes))], options
    return options.data, options


def composites_run(run_dir, data=None, variables=None, region=None, test="t-test",
                   level=0.05, n_resamples=1000, climatology="month", correction="none",
                   min_probability=None, min_duration=None, short_episodes=None, out=None,
                   plots=True, dpi=100, projection="auto", seed=0, treat_as_missing=None):
    """Composites of any field in the run's regimes: `composites.nc`, counts and maps.

    The field is opened with `keras_dsc.data.era5.open_cube` (ERA5, CMIP or NCEP files, any
    grid and any time step), its values checked as training checks them (an undeclared fill
    value such as 1e30, an infinity or a value beyond any physical range is refused, never
    averaged in: `keras_dsc.data.values.check_values`), averaged over each window's span and composited per regime
    with a significance test per grid point (`keras_dsc.regimes.composites`). Writes into
    `out` (default `RUN_DIR/composites-<variables>/`; refused when it exists):

    * `composites.nc`: per variable `v`, `v(cluster, latitude, longitude)`, the mean anomaly
      in the field's units, `v_significant` and `v_p_value` with a test; `count(cluster)`,
      the windows of each regime the field covers; CF attributes and the run's config;
    * `composite_counts.csv`: `cluster,count`;
    * with `plots`, `composites.png` (`keras_dsc.maps.composite_figure`: significant points
      hatched, a land outline from the file's land-sea mask or the field's missing points).

    Args:
        run_dir: a run folder (`assignments.csv`, `config.json`, `preprocessing.json`).
        data: NetCDF path, glob or list of paths of the field; `None`: the run's own files
            (any of their variables, clustered or not).
        variables: the variables to composite; `None`: all of the field's.
        region: `(north, west, south, east)`, or `None` for the file's whole grid.
        test: `"t-test"`, `"bootstrap"` or `None`.
        level: the significance level.
        n_resamples: random composites of the bootstrap.
        climatology: `"month"` or `"all"` (see `keras_dsc.regimes.composites`).
        correction: `"none"` or `"fdr"`.
        min_probability, min_duration, short_episodes: the filters of `regime_statistics`;
            windows in no regime form no composite.
        out: the folder to write; `None`: `RUN_DIR/composites-<variables>`.
        plots: whether to draw `composites.png`.
        dpi: pixels per inch of the figure.
        projection: `"auto"`, `"cartopy"` or `"none"` (see `keras_dsc.maps`).
        seed: seed of the bootstrap.
        treat_as_missing: values read as missing (e.g. `[1e30]`); `None`: the run's own
            setting for its own files, none for other files.

    Returns:
        `(dataset, out)`: the composites `xarray.Dataset` and the folder written.

    Example (`run_dir`: a run folder on the built-in cube; `t2m` was clustered, any variable
    of any file on a grid that covers the run's times works the same):

    >>> ds, out = composites_run(run_dir, variables=["t2m"], plots=False)
    >>> ds["t2m"].dims, out.name
    (('cluster', 'latitude', 'longitude'), 'composites-t2m')
    """
    from keras_dsc.data import era5
    from keras_dsc.data.values import check_values

    run_dir, config, table, raw, step, length = _open_run(run_dir)
    labels = filtered_labels(table, step, min_probability, min_duration, short_episodes)
    if out is not None:
        run_folder.check_free(out)
    time_range = None
    if data is None:
        data, options = _run_field_source(run_dir, config)
        region = options.region if region is None else region
        time_range = options.time_range
        if treat_as_missing is None:
            treat_as_missing = options.treat_as_missing
    if variables is not None:
        variables = [variables] if isinstance(variables, str) else list(variables)
    field = era5.open_cube(data, variables, region, time_range,
                           treat_as_missing=treat_as_missing)
    try:  # the files are closed once read, also when refused, not whenever garbage is collected
        files = era5.sources_text(field, _files_text(data))
        notes = list(field.attrs.get(era5.NOTES) or []) + check_values(field, files)
        variables = list(field.data_vars)
        n_clusters = _n_clusters(config, raw)
        result = stats.composites(field, labels, window=length, test=test, level=level,
                                  n_resamples=n_resamples, climatology=climatology,
                                  correction=correction, clusters=n_clusters, seed=seed,
                                  name=files)
    finally:
        field.close()
    land = land_of(data, region, time_range, treat_as_missing)  # opens the files again
    outside = int(result.attrs.get("windows_without_the_field", 0))
    if outside:
        notes.append(f"{files}: {outside} of the run's {len(labels)} windows hold none of the "
                     f"field's time steps (gaps, or a field shorter than the run): left out")
    partial = int(result.attrs.get("partial_windows_left_out", 0))
    if partial:
        notes.append(f"{files}: {partial} windows holding only some of their time steps in "
                     f"the field left out (not averaged over part of their span)")
    for axis, standard in (("latitude", "degrees_north"), ("longitude", "degrees_east")):
        result[axis].attrs.update({"standard_name": axis, "units": standard,
                                   "long_name": axis})
    result.attrs = {**_global_attributes(config, "keras_dsc weather-regime composites"),
                    **result.attrs, "window_length": step_text(length),
                    "field_files": _files_text(data),
                    "min_probability": "none" if min_probability is None
                    else float(min_probability),
                    "min_duration": "none" if min_duration is None else str(min_duration)}
    if notes:
        result.attrs["notes"] = "\n".join(notes)  # what opening and averaging the field did
    out = pathlib.Path(out) if out is not None else (
        run_dir / f"{run_folder.COMPOSITES_PREFIX}-{'-'.join(variables)}")
    out = run_folder.free_output_dir(out)
    write_netcdf(result, out / run_folder.COMPOSITES_NETCDF)
    counts = pd.DataFrame({"cluster": result["cluster"].values,
                           "count": result["count"].values})
    counts.to_csv(out / run_folder.COMPOSITE_COUNTS, index=False)
    if plots:
        from keras_dsc import maps

        maps.plot_composite_maps(result, out / run_folder.COMPOSITES_FIGURE, dpi=dpi,
                                 land=None if land is None else land.values,
                                 projection=projection,
                                 title=f"mean anomaly per regime; hatched: significant at "
                                 f"{level:g} ({test})" if test else "mean anomaly per regime")
    return result, out


def _files_text(data):
    if isinstance(data, (list, tuple)):
        return ",".join(str(p) for p in data)
    return str(data)


def land_of(data, region=None, time_range=None, treat_as_missing=None):
    """Land points of the files' grid for map outlines, or `None`.

    From a land-sea mask variable of the files when they hold one, else from a variable
    missing over land (such as `sst`) at their first time step (`keras_dsc.maps.land_mask`),
    whichever variables are being drawn.
    """
    from keras_dsc import maps
    from keras_dsc.data import era5

    try:
        cube = era5.open_cube(data, None, region, time_range, treat_as_missing=treat_as_missing)
    except DataError:
        return None
    try:
        return maps.land_mask(cube.isel(time=slice(0, 1)))
    finally:
        cube.close()
