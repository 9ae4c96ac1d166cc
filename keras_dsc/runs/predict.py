"""Assign new data to the clusters of a trained model: a run folder or an exported SavedModel.

Both kinds describe what they expect the same way (variables, grid, time step, window; see
`keras_dsc.runs.export.serving_metadata`), and the data is checked against it before any window is
computed. A run folder normalises with its `CubePreprocessor` and calls the Keras model; an
exported version folder receives the windows in physical units and normalises in its graph. The
same data gives the same clusters through both.
"""

import os
import pathlib
import re
import tempfile

import numpy as np

from keras_dsc.data import era5
from keras_dsc.data.grid import axis_text, same_axis
from keras_dsc.data.time_axis import duration, first_irregular, infer_step, step_text, to_step
from keras_dsc.data.values import check_values
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


def predict(model, data, out=None, batch_size=64, overwrite=False, treat_as_missing=None):
    """Assigns every window of new data to a cluster.

    The data is opened with `keras_dsc.data.era5.open_cube` (the model's variables, in its order,
    and its region when the run selected one), averaged to the model's time step when finer,
    checked against the model's variables, grid and window, then cut into windows with the
    run's window and stride. Windows are only made of steps exactly the model's time step
    apart: windows across a gap of the data, or with no value at all, are left out (the
    table's `attrs["windowing"]` says which).

    Args:
        model: a run folder (`model.keras`, `preprocessing.json`) or an exported SavedModel
            version folder (`saved_models/<name>/<version>`).
        data: NetCDF path, glob pattern or list of paths.
        out: CSV to write (`time,cluster,probability`: the window's first time step, its
            cluster and that cluster's probability), or `None`. An existing file is refused
            unless `overwrite`; the file is written whole or not at all.
        batch_size: windows per model call. Defaults to `64`.
        overwrite: replace an existing `out`. Defaults to `False`.
        treat_as_missing: values of the files that stand for missing data (`1e30`), as
            `keras_dsc.data.era5.open_cube` takes them. Defaults to none.

    Returns:
        A `pandas.DataFrame` with columns `time`, `cluster`, `probability`.

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
        if out.exists() and not overwrite:
            raise OptionError(f"{{out}}: {out} already exists; pass {{overwrite}} to replace "
                              f"it", "out", "overwrite")
    assigner = load_assigner(model)
    cube, where = open_for_model(data, assigner.metadata, treat_as_missing)
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
    labels = np.concatenate(labels).astype("int64")
    probabilities = np.concatenate(probabilities)
    table = run_folder.assignments_table(start_times, labels, probabilities)
    table.attrs["windowing"] = report.as_dict()
    table.attrs["dropped"] = report.text()
    if out is not None:
        _write_whole(table, out)
    return table


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
                              f"({str(error).strip().splitlines()[0]})", "model") from None
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


def open_for_model(data, metadata, treat_as_missing=None):
    """Opens data for a model and checks it: variables, grid, time step, window length.

    Args:
        data: NetCDF path, glob or list of paths.
        metadata: the model's `serving_metadata` dict.
        treat_as_missing: values read as missing (see `era5.open_cube`).

    Returns:
        `(cube, where)`: the canonical Dataset, resampled to the model's time step when finer,
        and a short description of the files for messages.
    """
    if isinstance(data, (list, tuple)):
        paths = [str(p) for p in data]
        where = paths[0] if len(paths) == 1 else f"{paths[0]} (and {len(paths) - 1} more files)"
    else:
        paths = str(data)
        where = paths
    variables = metadata["variables"]
    try:
        select = dict(item.split("=", 1) for item in metadata.get("select") or ())
        cube = era5.open_cube(paths, variables, metadata.get("region"), select=select,
                              treat_as_missing=treat_as_missing)
    except OptionError:
        raise
    except DataError as error:
        if "not found; available" in str(error):
            raise DataError(f"{error} (the model needs {', '.join(variables)})") from None
        raise
    try:
        for axis, expected in (("latitude", metadata["latitudes"]),
                               ("longitude", metadata["longitudes"])):
            given = cube[axis].values
            if not same_axis(given, expected):
                raise DataError(f"{where}: the {axis}s differ from the model's: given "
                                f"{axis_text(given)}, the model has {axis_text(expected)}")
        check_values(cube, era5.sources_text(cube, where))
        resampled = _to_model_step(cube, metadata.get("time_step"), where)
        n_steps = resampled.sizes["time"]
        if n_steps < metadata["window"]:
            raise DataError(f"{where}: {n_steps} time steps of {metadata.get('time_step')}, "
                            f"fewer than the model's window of {metadata['window']} steps")
    except DataError:
        cube.close()  # refused: the files are closed now, not whenever garbage is collected
        raise
    return resampled, where


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
    return era5.resample_time(cube, model_step)
