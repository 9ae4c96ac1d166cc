"""Assign new data to the clusters of a trained model: a run folder or an exported SavedModel.

Both kinds describe what they expect the same way (variables, grid, time step, window; see
`keras_dsc.runs.export.serving_metadata`), and the data is checked against it before any window is
computed. A run folder normalises with its `CubePreprocessor` and calls the Keras model; an
exported version folder receives the windows in physical units and normalises in its graph. The
same data gives the same clusters through both.
"""

import glob
import os
import pathlib
import re
import tempfile

import numpy as np
import pandas as pd
import xarray as xr

from keras_dsc.data import DataOptions, era5
from keras_dsc.data.grid import axis_text, cut_to_grid
from keras_dsc.data.time_axis import duration, first_irregular, infer_step, step_text, to_step
from keras_dsc.data.preprocessing import check_hours_of_day, check_in_season
from keras_dsc.data.values import (
    check_level,
    check_units,
    check_values,
    check_varies_in_time,
)
from keras_dsc.data.windows import WindowedCube
from keras_dsc.errors import DataError, OptionError
from keras_dsc.runs import run_folder
from keras_dsc.runs.export import (
    INPUT_NAME,
    SIGNATURE,
    START_TIME_NAME,
    read_metadata,
    read_run,
    serving_metadata,
)


ENSEMBLE_DIM = "number"
"""The ensemble member dimension (ERA5's ensemble of data assimilations, ensemble forecasts)."""
LEAD_DIMS = era5.LEAD_DIMS
"""Forecast-time axes: lead times after an initial time (`forecast_reference_time` or `time`)."""
INIT_NAMES = ("forecast_reference_time", "time", "init_time")


def predict(model, data, out=None, batch_size=64, overwrite=False, treat_as_missing=None,
            select=None):
    """Assigns every window of new data to a cluster: reanalyses, forecasts and ensembles.

    The data is opened with `keras_dsc.data.era5.open_cube` (the model's variables, in its order,
    and its region when the run selected one), averaged to the model's time step when finer,
    checked against the model's variables, grid and window, then cut into windows with the
    run's window and stride. Windows are only made of steps exactly the model's time step
    apart: windows across a gap of the data, or with no value at all, are left out (the
    table's `attrs["windowing"]` says which).

    Files with an ensemble dimension `number` (ERA5's ensemble of data assimilations, ensemble
    forecasts) are assigned member by member, and files on a forecast-time axis (a lead time
    `step` or `forecast_period` after each `forecast_reference_time` or `time`) forecast by
    forecast, on the valid times (initial time + lead time); see `forecast_series`. The table
    then has a `number` column (and `forecast_reference_time` for forecasts), and `out` gets a
    second file beside it, `<out>_counts.csv`: for every (forecast and) window start, how many
    members are in each regime and which fraction (`member_counts`).

    Args:
        model: a run folder (`model.keras`, `preprocessing.json`) or an exported SavedModel
            version folder (`saved_models/<name>/<version>`).
        data: NetCDF path, glob pattern or list of paths, or an `xarray.Dataset`.
        out: CSV to write (`time,cluster,probability`: the window's first time step, its
            cluster and that cluster's probability), or `None`. An existing file is refused
            unless `overwrite`; the file is written whole or not at all.
        batch_size: windows per model call. Defaults to `64`.
        overwrite: replace an existing `out`. Defaults to `False`.
        treat_as_missing: values of the files that stand for missing data (`1e30`), as
            `keras_dsc.data.era5.open_cube` takes them. Defaults to none.
        select: `NAME=VALUE` items choosing one value of an extra dimension of the files
            (`("pressure_level=500",)`), added to the level the run chose; a value other than
            the run's own for the same dimension is refused. Defaults to none.

    Returns:
        A `pandas.DataFrame` with columns `time`, `cluster`, `probability` (after `number`
        and `forecast_reference_time` for ensembles and forecasts).

    Example (`run_dir`: a run folder written by `keras_dsc.runs.fit.fit_run` on the built-in
    cube's grid; an exported version folder works the same):

    >>> from keras_dsc.data.synthetic import write_cube
    >>> path = write_cube("era5_2024_01.nc", days=3, start="2024-01-01", seed=1)
    >>> table = predict(run_dir, "era5_2024_*.nc", out="clusters_2024.csv")
    >>> table.columns.tolist(), len(table)
    (['time', 'cluster', 'probability'], 3)
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or (
            batch_size < 1):
        raise OptionError(f"{{batch_size}} must be a positive integer, got {batch_size!r}",
                          "batch_size")
    if out is not None:
        out = pathlib.Path(out)
        if out.is_dir():
            raise OptionError(f"{{out}}: {out} is a folder; give the CSV file to write", "out")
        run_folder.check_no_file_in_the_way(out.parent)
        if out.exists() and not overwrite:
            raise OptionError(f"{{out}}: {out} already exists; pass {{overwrite}} to replace "
                              f"it", "out", "overwrite")
    series = forecast_series(data) if isinstance(data, xr.Dataset) else None
    assigner = load_assigner(model)
    if series is None:
        # Files are opened once, by the usual path; only files it cannot take as one time
        # series (an ensemble or lead-time dimension) are opened again, as forecasts.
        try:
            cube, where = open_for_model(data, assigner.metadata, treat_as_missing, select)
        except DataError as error:
            series = forecast_series(data) if _forecast_layout(error) else None
            if series is None:
                raise
        else:
            table = _assign_cube(assigner, cube, batch_size)
            if out is not None:
                _write_whole(table, out)
            return table
    tables = []
    for key, member in series:
        cube, where = open_for_model(member, assigner.metadata, treat_as_missing, select)
        table = _assign_cube(assigner, cube, batch_size)
        for i, (name, value) in enumerate(key.items()):
            table.insert(i, name, value)
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    if out is not None:
        counts = counts_path(out)
        if counts.exists() and not overwrite:
            raise OptionError(f"{{out}}: {counts} already exists; pass {{overwrite}} to "
                              f"replace it", "out", "overwrite")
        _write_whole(table, out)
        _write_whole(member_counts(table, int(assigner.metadata["n_clusters"])), counts)
    return table


def _forecast_layout(error):
    """Whether `open_cube` refused the data for an ensemble or forecast-time dimension."""
    dims = "|".join(re.escape(d) for d in (ENSEMBLE_DIM, *LEAD_DIMS))
    return bool(re.search(rf"extra dimension '({dims})'|no time dimension", str(error)))


def counts_path(out):
    """Where `predict` writes the member counts beside `out`: `<stem>_counts.csv`."""
    out = pathlib.Path(out)
    return out.with_name(f"{out.stem}_counts{out.suffix or '.csv'}")


def _assign_cube(assigner, cube, batch_size):
    """The assignments table of every window of `cube` (its files closed when done)."""
    # The files are closed when done, not left open until the garbage collector finds them.
    with cube:
        windows = assigner.windows(cube)
        report = windows.report
        start_times = windows.start_times
        labels, probabilities = [], []
        for start in range(0, len(windows), batch_size):
            stop = min(start + batch_size, len(windows))
            cluster, probability = assigner.assign(windows[start:stop], start_times[start:stop])
            labels.append(cluster)
            probabilities.append(probability)
    table = run_folder.assignments_table(start_times, np.concatenate(labels).astype("int64"),
                                         np.concatenate(probabilities))
    table.attrs["windowing"] = report.as_dict()
    table.attrs["dropped"] = report.text()
    table.attrs["notes"] = list(cube.attrs.get(era5.NOTES) or [])
    return table


def member_counts(table, n_clusters):
    """How many ensemble members are in each regime, per (forecast and) window start.

    Args:
        table: `predict`'s table of an ensemble (`number`, [`forecast_reference_time`],
            `time`, `cluster`, `probability`).
        n_clusters: int, the model's number of clusters.

    Returns:
        A `pandas.DataFrame`: the keys ([`forecast_reference_time`], `time`), `n_members`,
        `count_0` ... `count_<k-1>` and `fraction_0` ... `fraction_<k-1>`.

    Example:

    >>> table = pd.DataFrame({"number": [0, 1, 2], "time": ["2024-01-01T00:00:00"] * 3,
    ...                       "cluster": [1, 1, 0], "probability": [0.9, 0.8, 0.7]})
    >>> member_counts(table, 2).to_dict("records")[0]["fraction_1"]
    0.666667
    """
    keys = [c for c in ("forecast_reference_time", "time") if c in table.columns]
    counts = pd.crosstab([table[k] for k in keys], table["cluster"])
    counts = counts.reindex(columns=range(n_clusters), fill_value=0)
    members = counts.sum(axis=1)
    out = pd.DataFrame({"n_members": members})
    for k in range(n_clusters):
        out[f"count_{k}"] = counts[k]
    for k in range(n_clusters):
        out[f"fraction_{k}"] = (counts[k] / members).round(6)
    return out.reset_index()


def _files(data):
    """The files `data` names (a path, a glob or a list), or `None` when that is not clear."""
    if isinstance(data, (list, tuple)):
        files = [os.fspath(p) for p in data]
    elif isinstance(data, (str, os.PathLike)):
        text = os.path.expanduser(os.fspath(data))
        files = sorted(glob.glob(text)) if glob.has_magic(text) else [text]
    else:
        return None
    return files if files and all(os.path.isfile(f) for f in files) else None


def _layout(ds):
    """`(members, lead)`: whether `ds` has an ensemble dimension of several members, and its
    forecast-time (lead) dimension or `None`."""
    members = ENSEMBLE_DIM in ds.dims and ds.sizes[ENSEMBLE_DIM] > 1
    lead = next((d for d in LEAD_DIMS if d in ds.dims), None)
    return members, lead


def forecast_series(data):
    """Splits ensemble and forecast data into time series on valid times, one per member and
    forecast; `None` for data with neither (the usual path of `predict`).

    Ensemble members are the values of the dimension `number`. A forecast-time axis is a
    lead-time dimension (`LEAD_DIMS`: `step`, `forecast_period`, ...) of timedeltas after an
    initial time, a dimension or a scalar coordinate among `forecast_reference_time`, `time`,
    `init_time`; each forecast becomes a series on its valid times (initial time + lead).

    Args:
        data: NetCDF path, glob or list of paths, or an `xarray.Dataset`.

    Returns:
        `None`, or a list of `(key, dataset)`: `key` a dict (`number`, and
        `forecast_reference_time` for forecasts, ISO 8601), `dataset` an `xarray.Dataset` on
        `time` that `keras_dsc.data.era5.open_cube` reads.

    Example:

    >>> ds = xr.Dataset({"t2m": (("number", "valid_time", "latitude", "longitude"),
    ...                          np.zeros((2, 3, 1, 1)))},
    ...                 coords={"number": [0, 1], "latitude": [0.0], "longitude": [0.0],
    ...                         "valid_time": pd.date_range("2024-01-01", periods=3)})
    >>> [key for key, member in forecast_series(ds)]
    [{'number': 0}, {'number': 1}]
    """
    if isinstance(data, xr.Dataset):
        ds, where = data, str(data.encoding.get("source") or "the xarray Dataset")
    else:
        files = _files(data)
        if files is None:
            return None  # the usual path reports what is wrong with the paths
        where = files[0] if len(files) == 1 else f"{files[0]} (and {len(files) - 1} more files)"
        try:
            ds = (xr.open_dataset(files[0], chunks={}) if len(files) == 1 else
                  xr.open_mfdataset(files, combine="by_coords", chunks={}))
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as error:
            raise DataError(f"{where}: cannot combine the files of the ensemble "
                            f"({era5.first_line(error)})") from None
    members, lead = _layout(ds)
    if not members and lead is None:
        return None
    forecasts = _forecasts(ds, lead, where) if lead is not None else [({}, ds)]
    series = []
    for key, forecast in forecasts:
        numbers = forecast[ENSEMBLE_DIM].values if members else [None]
        for i, number in enumerate(numbers):
            member = forecast.isel({ENSEMBLE_DIM: i}) if members else forecast
            label = {ENSEMBLE_DIM: _plain(number) if members else 0, **key}
            member.encoding["source"] = f"{where} (" + ", ".join(
                f"{k}={v}" for k, v in label.items()) + ")"
            series.append((label, member))
    return series


def _plain(value):
    value = np.asarray(value)
    return value.item() if value.ndim == 0 else value.tolist()


def _forecasts(ds, lead, where):
    """One dataset on valid `time` per initial time of a forecast file."""
    if not np.issubdtype(ds[lead].dtype, np.timedelta64):
        raise DataError(f"{where}: the forecast-time axis {lead!r} is not made of lead times "
                        f"(timedeltas; dtype {ds[lead].dtype})")
    init = next((n for n in INIT_NAMES if n in ds.variables and n != lead), None)
    if init is None:
        raise DataError(f"{where}: a forecast-time axis {lead!r} but no initial time (looked "
                        f"for {', '.join(INIT_NAMES)})")
    starts = ds[init]
    inits = starts.values if init in ds.dims else [starts.values]
    out = []
    for i, start in enumerate(inits):
        forecast = ds.isel({init: i}) if init in ds.dims else ds
        valid = np.datetime64(pd.Timestamp(start)) + forecast[lead].values
        drop = [n for n in ("valid_time", "time", "forecast_reference_time", "init_time")
                if n in forecast.variables and n != lead]
        forecast = forecast.drop_vars(drop).assign_coords({lead: valid}).rename({lead: "time"})
        out.append(({"forecast_reference_time": pd.Timestamp(start).strftime(
            "%Y-%m-%dT%H:%M:%S")}, forecast))
    return out


def _write_whole(table, out):
    """Writes the CSV into a temporary file beside `out`, then renames it into place."""
    partial = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial",
                                           dir=out.parent)
        with os.fdopen(handle, "w", newline="") as stream:
            table.to_csv(stream, index=False)
        os.replace(partial, out)
    except OSError as error:
        if partial is not None and os.path.exists(partial):
            os.remove(partial)
        raise OptionError(f"{{out}}: cannot write {out}: {error.strerror}", "out") from None


def load_assigner(path):
    """Opens a run folder or an exported version folder for prediction.

    Args:
        path: the folder.

    Returns:
        An object with `metadata` (the dict of `keras_dsc.runs.export.serving_metadata`),
        `windows(cube)` (a `WindowedCube` of the model's inputs) and
        `assign(batch, start_times)` (`(clusters, probabilities)` numpy arrays).
    """
    path = pathlib.Path(path)
    if (path / "saved_model.pb").is_file():
        return SavedModelAssigner(path)
    if (path / run_folder.MODEL_FILE).is_file():
        return RunAssigner(path)
    versions = sorted((p.name for p in path.glob("*") if p.name.isdigit()), key=int)
    if versions:
        raise OptionError(f"{{model}}: {path} holds exported versions; name one, e.g. "
                          f"{path / versions[-1]}", "model")
    raise OptionError(f"{{model}}: {path} is neither a run folder ({run_folder.MODEL_FILE}) nor "
                      f"an exported SavedModel version folder (saved_model.pb)", "model")


class RunAssigner:
    """Prediction through a run folder's Keras model and preprocessor."""

    def __init__(self, run_dir):
        self.preprocessor, config = read_run(run_dir)
        self.model = run_folder.load_model(run_dir)
        self.metadata = serving_metadata(self.model, self.preprocessor, config,
                                         pathlib.Path(run_dir).name)

    def windows(self, cube):
        return WindowedCube(self.preprocessor.transform(cube), self.metadata["window"],
                            self.metadata["stride"], time_step=self.metadata.get("time_step"))

    def assign(self, batch, start_times=None):
        # The windows are already anomalies (the preprocessor knew their times).
        outputs = self.model.assignment_model(batch, training=False)
        probabilities = np.asarray(outputs["probabilities"])
        return probabilities.argmax(axis=-1), probabilities


class SavedModelAssigner:
    """Prediction through an exported SavedModel's `serving_default` signature."""

    def __init__(self, version_dir):
        import tensorflow as tf

        self.metadata = read_metadata(version_dir)
        self._tf = tf
        try:
            self._loaded = tf.saved_model.load(str(version_dir))
        except (OSError, ValueError) as error:
            raise OptionError(f"{{model}}: cannot load the SavedModel {version_dir} "
                              f"({era5.first_line(error)})", "model") from None
        self._serve = self._loaded.signatures[SIGNATURE]

    def windows(self, cube):
        array = cube[self.metadata["variables"]].to_dataarray(dim="variable")
        array = array.transpose("time", "latitude", "longitude", "variable").astype("float32")
        return WindowedCube(array, self.metadata["window"], self.metadata["stride"],
                            time_step=self.metadata.get("time_step"))

    def assign(self, batch, start_times):
        inputs = {INPUT_NAME: self._tf.constant(batch, self._tf.float32)}
        if START_TIME_NAME in self.metadata["inputs"]:
            seconds = np.asarray(start_times, "datetime64[s]").astype("int64")
            inputs[START_TIME_NAME] = self._tf.constant(seconds, self._tf.int64)
        try:
            outputs = self._serve(**inputs)
        except self._tf.errors.InvalidArgumentError as error:  # the graph's own checks
            failed = re.search(r"assertion failed: \[([^\]]*)\]", str(error.message))
            message = failed.group(1) if failed else str(error.message).strip().splitlines()[-1]
            raise OptionError(f"{{data}}: the model refused the windows: {message}",
                              "data") from None
        return outputs["cluster"].numpy(), outputs["probabilities"].numpy()


def open_for_model(data, metadata, treat_as_missing=None, select=None):
    """Opens data for a model and checks it: variables, grid, units, time step, window length.

    Args:
        data: NetCDF path, glob or list of paths, or an `xarray.Dataset`.
        metadata: the model's `serving_metadata` dict.
        treat_as_missing: values read as missing (see `era5.open_cube`).
        select: `NAME=VALUE` items (see `predict`), added to the model's own `select`.

    Returns:
        `(cube, where)`: the canonical Dataset, resampled to the model's time step when finer,
        and a short description of the files for messages.
    """
    if isinstance(data, xr.Dataset):
        paths = data
        where = str(data.encoding.get("source") or "the xarray Dataset")
    elif isinstance(data, (list, tuple)):
        paths = [str(p) for p in data]
        where = paths[0] if len(paths) == 1 else f"{paths[0]} (and {len(paths) - 1} more files)"
    else:
        paths = str(data)
        where = paths
    variables = metadata["variables"]
    try:
        select = _levels(metadata.get("select"), select)
        cube = era5.open_cube(paths, variables, metadata.get("region"), select=select,
                              treat_as_missing=treat_as_missing)
    except OptionError:
        raise
    except DataError as error:
        if "not found; available" in str(error):
            raise DataError(f"{error} (the model needs {', '.join(variables)})") from None
        raise
    try:
        cube = _cut_to_model_grid(cube, metadata, where)
        check_units(cube, variables, metadata.get("units"), where)
        check_in_season(cube.indexes["time"], metadata.get("season"), where)
        partly = check_values(cube, era5.sources_text(cube, where))
        cube.attrs[era5.NOTES] = list(cube.attrs.get(era5.NOTES) or []) + partly
        check_level(cube, variables, metadata.get("typical_ranges"), where)
        check_varies_in_time(cube, variables, where)
        resampled = _to_model_step(cube, metadata.get("time_step"), where)
        check_hours_of_day(resampled.indexes["time"], metadata.get("hours_of_day"), where)
        n_steps = resampled.sizes["time"]
        if n_steps < metadata["window"]:
            raise DataError(f"{where}: {n_steps} time steps of {metadata.get('time_step')}, "
                            f"fewer than the model's window of {metadata['window']} steps")
    except DataError:
        cube.close()  # refused: the files are closed now, not whenever garbage is collected
        raise
    return resampled, where


def _levels(model_select, given):
    """`{name: value}` of the model's own `select` and the given one; another value for a
    dimension the model chose is refused (the model knows that level's fields only)."""
    def same(a, b):  # 500 and 500.0 are one level
        try:
            return float(a) == float(b)
        except ValueError:
            return a == b

    levels = dict(item.split("=", 1) for item in model_select or ())
    for name, value in (item.split("=", 1) for item in DataOptions(select=given).select or ()):
        if not same(levels.get(name, value), value):
            raise OptionError(f"{{select}}: the model was trained on {name}={levels[name]}, "
                              f"not {name}={value}", "select")
        levels.setdefault(name, value)
    return levels


def _cut_to_model_grid(cube, metadata, where):
    """The data on the model's grid: as given, or cut from a larger grid that holds its every
    point (with a note); refused otherwise."""
    notes = list(cube.attrs.get(era5.NOTES) or [])
    cube, cuts, mismatch = cut_to_grid(cube, metadata["latitudes"], metadata["longitudes"])
    if mismatch is not None:
        axis, given, expected = mismatch
        raise DataError(f"{where}: the {axis}s differ from the model's: given "
                        f"{axis_text(given)}, the model has {axis_text(expected)}")
    cube.attrs[era5.NOTES] = notes + [f"{where}: {cut}" for cut in cuts]
    return cube


def _to_model_step(cube, model_step, where):
    """The data at the model's step: kept when it has it, averaged when finer (or irregular)."""
    times = cube.indexes["time"]
    if model_step is None or len(times) < 2:
        return cube
    step = infer_step(times)
    wanted = to_step(model_step)
    irregular = first_irregular(times, step) is not None
    if step_text(step) == step_text(wanted) and not irregular:
        return cube
    if not irregular and duration(step) > duration(wanted):
        raise DataError(f"{where}: the data's time step {step_text(step)} is coarser than the "
                        f"model's {model_step}; the window needs {model_step} steps")
    resampled = era5.resample_time(cube, model_step)
    notes = list(resampled.attrs.get(era5.NOTES) or [])
    notes.append(f"{where}: {'irregular steps' if irregular else f'steps of {step_text(step)}'} "
                 f"averaged to the model's {model_step}")
    incomplete = era5.incomplete_periods_note(resampled, model_step, where)
    resampled.attrs[era5.NOTES] = notes + ([incomplete] if incomplete else [])
    return resampled
