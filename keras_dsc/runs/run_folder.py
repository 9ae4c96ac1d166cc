"""The run folder: its file names, its creation and its readers (one copy of each).

A run folder, `<out>/<run_name>/`, is what `fit` writes and every other command reads:

- `model.keras`: the trained Keras model (reloads with `keras.saving.load_model`);
- `preprocessing.json` (and `climatology.nc` for anomalies): the fitted `CubePreprocessor`;
- `config.json`: every option of the run, the data description, library versions;
- `assignments.csv`: `time`, `cluster`, `probability` of every window;
- `assignments.nc`: the same assignments as CF NetCDF, with every cluster's probability;
- `metrics.json`, `history.csv` (and `checkpoint.keras` while training, both written by
  `keras_dsc.train_dsc`), and the figures `FIGURES`;
- `regimes/` (`REGIMES_FOLDER`): the regime statistics, tables `REGIME_TABLES` and figures
  `REGIME_FIGURES` (`keras_dsc.runs.regimes.regime_statistics`);
- `composites-<variables>/`: composites of a field, `COMPOSITES_NETCDF`, `COMPOSITE_COUNTS`
  and `COMPOSITES_FIGURE` (`keras_dsc.runs.regimes.composites_run`);
- `logs/` (`TENSORBOARD_FOLDER`): TensorBoard logs, with `fit --tensorboard`.

Nothing else in keras_dsc knows these names.
"""

import datetime
import json
import pathlib
import zipfile

import numpy as np
import pandas as pd

from keras_dsc.data import DataOptions
from keras_dsc.data.preprocessing import CONFIG_FILE as PREPROCESSING_FILE
from keras_dsc.data.preprocessing import CubePreprocessor
from keras_dsc.errors import DataError, OptionError
from keras_dsc.training import CHECKPOINT_FILE, HISTORY_FILE

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
ASSIGNMENTS_FILE = "assignments.csv"
METRICS_FILE = "metrics.json"
FIGURES = ("composites.png", "calendar.png", "latent.png", "training_curves.png")
ASSIGNMENTS_NETCDF = "assignments.nc"
REGIMES_FOLDER = "regimes"
REGIME_TABLES = {
    "month": "frequency_month.csv",
    "season": "frequency_season.csv",
    "year": "frequency_year.csv",
    "climatology": "frequency_climatology.csv",
    "episodes": "episodes.csv",
    "persistence": "persistence.csv",
    "durations": "duration_histogram.csv",
    "longest": "longest_episodes.csv",
    "transition_counts": "transition_counts.csv",
    "transition_probabilities": "transition_probabilities.csv",
    "summary": "regimes.json",
}
FILTERED_ASSIGNMENTS = ("assignments_filtered.csv", "assignments_filtered.nc")
REGIME_FIGURES = {
    "frequencies": "frequencies.png",
    "persistence": "persistence.png",
    "transitions": "transitions.png",
    "calendar": "calendar.png",
}
COMPOSITES_PREFIX = "composites"
COMPOSITES_NETCDF = "composites.nc"
COMPOSITE_COUNTS = "composite_counts.csv"
COMPOSITES_FIGURE = "composites.png"
TENSORBOARD_FOLDER = "logs"


def free_run_dir(out, run_name, prefix="dsc"):
    """`<out>/<run_name>` (`run_name` None: `<prefix>-<time stamp>`); refuses an existing one."""
    run_name = run_name or datetime.datetime.now().strftime(f"{prefix}-%Y%m%d-%H%M%S")
    run_dir = pathlib.Path(out) / run_name
    if run_dir.exists():
        raise OptionError(f"{{run_name}}: {run_dir} already exists; choose another name",
                          "run_name")
    return run_dir


def new_run_dir(out, run_name, prefix="dsc"):
    """Creates `<out>/<run_name>/`; refuses an existing one so that no earlier run is lost."""
    run_dir = free_run_dir(out, run_name, prefix)
    try:
        run_dir.mkdir(parents=True)
    except FileExistsError:  # another process took the name since the look
        raise OptionError(f"{{run_name}}: {run_dir} already exists; choose another name",
                          "run_name") from None
    except OSError as error:
        raise OptionError(f"{{out}}: cannot create {run_dir}: {error.strerror}", "out") from None
    return run_dir


def check_run_dir(run_dir, needed=(CONFIG_FILE,)):
    """Returns `run_dir` as a `pathlib.Path`, raising `DataError` unless it holds `needed`."""
    run_dir = pathlib.Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: run folder not found")
    for name in needed:
        if not (run_dir / name).is_file():
            what = ("is an exported SavedModel, not a run folder" if
                    (run_dir / "saved_model.pb").is_file() else "not a run folder written by fit")
            raise DataError(f"{run_dir}: {what} ({name} is missing)")
    return run_dir


def read_config(run_dir):
    """The run's `config.json` as a dict."""
    path = check_run_dir(run_dir) / CONFIG_FILE
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error.msg})") from None


def read_preprocessor(run_dir):
    """The run's fitted `CubePreprocessor` (`preprocessing.json`, `climatology.nc`)."""
    return CubePreprocessor.load(check_run_dir(run_dir, (PREPROCESSING_FILE,)))


def load_model(run_dir):
    """Loads the run's `model.keras` (a keras_dsc model; no custom objects needed).

    A missing, truncated or damaged file is a `DataError` that says which.
    """
    path = check_run_dir(run_dir, (MODEL_FILE,)) / MODEL_FILE
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a .keras file (the zip archive is damaged or truncated)")
    import keras

    import keras_dsc.models  # noqa: F401  (registers the serializable models)

    try:
        return keras.saving.load_model(path)
    except (OSError, ValueError, TypeError, KeyError, zipfile.BadZipFile) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"{path}: cannot load the model ({first})") from None


def read_assignments(run_dir):
    """The `cluster` column of the run's `assignments.csv`, as an int array."""
    path = pathlib.Path(run_dir) / ASSIGNMENTS_FILE
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataError(f"{path}: not a readable CSV file ({error})") from None
    if "cluster" not in frame.columns:
        raise DataError(f"{path}: no 'cluster' column")
    return frame["cluster"].to_numpy(dtype=np.int64)


def read_assignments_table(run_dir):
    """The run's `assignments.csv` as a table: `time` (datetime64), `cluster` and, when the run
    has one, `probability` (of the assigned cluster)."""
    path = pathlib.Path(run_dir) / ASSIGNMENTS_FILE
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataError(f"{path}: not a readable CSV file ({error})") from None
    missing = [c for c in ("time", "cluster") if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: no {missing[0]!r} column")
    try:
        frame["time"] = pd.to_datetime(frame["time"])
    except (TypeError, ValueError):
        raise DataError(f"{path}: the 'time' column is not made of dates") from None
    return frame


def read_time_step(run_dir):
    """The time step of the run's data (`"3h"`, `"1D"`), from `preprocessing.json`; `None` when
    the run has none or it does not say."""
    path = pathlib.Path(run_dir) / PREPROCESSING_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text()).get("time_step")
    except (json.JSONDecodeError, AttributeError):
        raise DataError(f"{path}: not valid JSON") from None


def check_free(path, option="out"):
    """Returns `path` as a `pathlib.Path`; raises `OptionError` naming `option` when it exists
    (nothing is overwritten)."""
    path = pathlib.Path(path)
    if path.exists():
        raise OptionError(f"{{{option}}}: {path} already exists; give another {{{option}}} "
                          f"(nothing is overwritten)", option)
    return path


def free_output_dir(path, option="out"):
    """Creates the folder a command writes into; refuses an existing one (nothing is
    overwritten). Raises `OptionError` naming `option`."""
    path = check_free(path, option)
    try:
        path.mkdir(parents=True)
    except OSError as error:
        raise OptionError(f"{{{option}}}: cannot create {path}: {error.strerror}",
                          option) from None
    return path


def assignments_table(start_times, labels, probabilities):
    """The assignments as a table: window start (ISO 8601), cluster, that cluster's probability.

    Example:

    >>> assignments_table(np.array(["2021-01-01"], "datetime64[ns]"), np.array([1]),
    ...                   np.array([[0.25, 0.75]])).to_dict("records")
    [{'time': '2021-01-01T00:00:00', 'cluster': 1, 'probability': 0.75}]
    """
    labels = np.asarray(labels).astype(int)
    probabilities = np.asarray(probabilities)
    return pd.DataFrame({
        "time": pd.to_datetime(start_times).strftime("%Y-%m-%dT%H:%M:%S"),
        "cluster": labels,
        "probability": probabilities[np.arange(len(labels)), labels].round(6),
    })


def write_assignments(path, start_times, labels, probabilities):
    """Writes `assignments_table` as CSV (`assignments.csv` in a run folder)."""
    assignments_table(start_times, labels, probabilities).to_csv(path, index=False)


def run_data_options(config):
    """The `DataOptions` that reproduce a run's data, from its `config.json` dict.

    The built-in cube is described by its options (and regenerated if the cache lost it);
    NetCDF data by its file list.
    """
    data = config.get("data") or {}
    options = dict(data.get("options") or {})
    known = {f for f in DataOptions.__dataclass_fields__ if f != "data"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise DataError(f"{CONFIG_FILE}: unknown data option {unknown[0]!r}")
    for key in ("variables", "region", "time_range"):
        if options.get(key) is not None:
            options[key] = tuple(options[key])
    builtin = str(data.get("source", "")).startswith("built-in")
    files = None if builtin else data.get("files")
    if not builtin and not files:
        if str(data.get("source", "")).startswith("an xarray Dataset"):
            raise DataError(f"{CONFIG_FILE}: the run was fitted on an xarray Dataset in memory; "
                            f"give its data again (--data)")
        raise DataError(f"{CONFIG_FILE}: the data description names no files")
    return DataOptions(data=files, **options)
