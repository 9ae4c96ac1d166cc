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

While `fit` runs, the run is written into the hidden `<out>/.<run_name>.partial/`
(`partial_dir`), claimed before the long work starts (`claim_run_dir`) and renamed into place
when complete (`RunClaim.finish`), so that a folder `<out>/<run_name>/` is always complete. The
partial folder also holds `.lock` (`LOCK_FILE`, locked while a `fit` writes it) and
`training_state/` (`STATE_FOLDER`: the saved options and the Keras backups `fit --resume`
continues from), neither of which reaches the finished folder.

Nothing else in keras_dsc knows these names.
"""

import datetime
import fcntl
import json
import os
import pathlib
import shutil
import zipfile

import numpy as np
import pandas as pd

from keras_dsc.data import DataOptions, era5
from keras_dsc.data.preprocessing import CONFIG_FILE as PREPROCESSING_FILE
from keras_dsc.data.preprocessing import CubePreprocessor
from keras_dsc.data.time_axis import step_text, to_step
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
PARTIAL_SUFFIX = ".partial"
LOCK_FILE = ".lock"
STATE_FOLDER = "training_state"
RUN_OPTIONS_FILE = "options.json"


def partial_dir(run_dir):
    """The hidden folder a run is written into before it is renamed to `run_dir`:
    `<out>/.<run_name>.partial`."""
    run_dir = pathlib.Path(run_dir)
    return run_dir.parent / f".{run_dir.name}{PARTIAL_SUFFIX}"


def default_run_name(prefix="dsc"):
    """`<prefix>-<time stamp>`, the name of a run (or benchmark) not given one.

    Example:

    >>> default_run_name("benchmark").startswith("benchmark-")
    True
    """
    return datetime.datetime.now().strftime(f"{prefix}-%Y%m%d-%H%M%S")


def check_no_file_in_the_way(path):
    """Refuses an output `path` (naming `--out`) of which an existing ancestor, or `path`
    itself when it should be a folder's, is a file: nothing could be written below it."""
    path = pathlib.Path(path)
    for folder in (*reversed(path.parents), path):
        if folder.exists() and not folder.is_dir():
            raise OptionError(f"{{out}}: {folder} is a file, not a folder", "out")
        if not folder.exists():
            return


def free_run_dir(out, run_name, prefix="dsc"):
    """`<out>/<run_name>` (`run_name` None: `default_run_name(prefix)`); refuses an existing
    one, and one whose partial folder a killed `fit` left (pointing to `fit --resume`)."""
    run_name = run_name or default_run_name(prefix)
    check_no_file_in_the_way(out)
    run_dir = pathlib.Path(out) / run_name
    if run_dir.exists():
        raise OptionError(f"{{run_name}}: {run_dir} already exists; choose another name",
                          "run_name")
    partial = partial_dir(run_dir)
    if partial.exists():
        _refuse_partial(run_dir, partial)
    return run_dir


def _refuse_partial(run_dir, partial):
    """Raises the `OptionError` for a run name whose partial folder exists: another `fit` is
    writing it (its lock is held), or a killed one left it."""
    if not partial.is_dir():
        raise OptionError(f"{{run_name}}: {partial}, the name of {run_dir}'s partial folder, is "
                          f"taken by a file; choose another name", "run_name")
    if _is_locked(partial):
        raise OptionError(f"{{run_name}}: {run_dir} is being written by another fit "
                          f"({partial}); choose another name", "run_name")
    raise OptionError(f"{{run_name}}: {run_dir} was not finished: a stopped fit left {partial}; "
                      f"continue it with fit {{resume}} {run_dir.name} (or remove that folder)",
                      "run_name", "resume")


def _is_locked(partial):
    """Whether a running `fit` holds the lock of `partial` (or is creating or renaming it)."""
    try:
        descriptor = os.open(pathlib.Path(partial) / LOCK_FILE, os.O_RDWR)
    except FileNotFoundError:  # being created (the lock comes first) or being renamed
        return pathlib.Path(partial).exists()
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


def new_run_dir(out, run_name, prefix="dsc"):
    """Creates `<out>/<run_name>/` at once (commands whose output is quick to write, such as
    `select-k`); refuses an existing one so that no earlier run is lost."""
    run_dir = free_run_dir(out, run_name, prefix)
    try:
        run_dir.mkdir(parents=True)
    except FileExistsError:  # another process took the name since the look
        raise OptionError(f"{{run_name}}: {run_dir} already exists; choose another name",
                          "run_name") from None
    except OSError as error:
        raise OptionError(f"{{out}}: cannot create {run_dir}: {error.strerror}", "out") from None
    return run_dir


class RunClaim:
    """A run name claimed by one `fit`: the partial folder it writes into, locked.

    The lock (`fcntl.flock` on `<partial>/.lock`) is held for the life of the process, and the
    operating system releases it when the process ends, however it ends: so a partial folder
    whose lock is free was left by a stopped `fit`, and `fit --resume` may take it over.

    Attributes:
        run_dir: `pathlib.Path`, the finished folder's name, `<out>/<run_name>`.
        partial: `pathlib.Path`, the hidden folder written while the run is unfinished.
    """

    def __init__(self, run_dir, partial, descriptor):
        self.run_dir = pathlib.Path(run_dir)
        self.partial = pathlib.Path(partial)
        self._descriptor = descriptor

    @property
    def state_dir(self):
        """`<partial>/training_state/`: the saved options and the training backups."""
        return self.partial / STATE_FOLDER

    def finish(self):
        """Renames the complete partial folder into place, without its lock and training state.

        Returns:
            The finished run folder, a `pathlib.Path`.
        """
        if self.run_dir.exists():  # created behind fit's back; never overwritten
            raise OptionError(f"{{run_name}}: {self.run_dir} appeared while the run was "
                              f"written; the run stays in {self.partial}", "run_name")
        os.rename(self.partial, self.run_dir)
        # Killed now, the finished run would only keep these two as well.
        shutil.rmtree(self.run_dir / STATE_FOLDER, ignore_errors=True)
        (self.run_dir / LOCK_FILE).unlink(missing_ok=True)
        self.release()
        return self.run_dir

    def clear_outputs(self):
        """Removes what a stopped run had begun to write after its training (model, tables,
        figures, `regimes/`), keeping the lock, the training state and the training logs, so
        that a resumed run writes them afresh."""
        kept = {LOCK_FILE, STATE_FOLDER, HISTORY_FILE, CHECKPOINT_FILE, TENSORBOARD_FOLDER}
        for path in self.partial.iterdir():
            if path.name in kept:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()

    def abandon(self):
        """Removes the partial folder (of a run refused before its training began)."""
        shutil.rmtree(self.partial, ignore_errors=True)
        self.release()

    def release(self):
        """Lets the lock go (the process ending does it too)."""
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


def claim_run_dir(out, run_name, prefix="dsc"):
    """Claims `<out>/<run_name>` for a new run: creates its locked partial folder.

    `mkdir` is atomic, so of two `fit`s started at once into one name, exactly one creates the
    partial folder; the other is refused with one line. The lock file is locked before it
    appears in the folder, so a partial folder is never seen unlocked while its `fit` lives.

    Returns:
        A `RunClaim`.

    Raises:
        OptionError: naming `run_name` when the name is taken (finished, being written, or left
            by a stopped `fit`), or `out` when the folder cannot be created.
    """
    run_dir = free_run_dir(out, run_name, prefix)
    partial = partial_dir(run_dir)
    try:
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.mkdir()
    except FileExistsError:  # another process took the name since the look
        if run_dir.exists():
            raise OptionError(f"{{run_name}}: {run_dir} already exists; choose another name",
                              "run_name") from None
        _refuse_partial(run_dir, partial)
    except OSError as error:
        raise OptionError(f"{{out}}: cannot create {partial}: {error.strerror}", "out") from None
    return RunClaim(run_dir, partial, _locked(partial, fresh=True))


def _locked(partial, fresh):
    """A descriptor holding the lock of `partial` (created locked, then renamed in, if fresh)."""
    path = pathlib.Path(partial) / LOCK_FILE
    temporary = path.with_name(f"{LOCK_FILE}-{os.getpid()}") if fresh else path
    descriptor = os.open(temporary, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    if fresh:
        os.rename(temporary, path)
    return descriptor


def find_partial(run, out="saved_models"):
    """The partial folder of the unfinished run `run`: a run name (looked for in `out`), the
    path its finished folder would have, or the partial folder's own path.

    Raises:
        OptionError: naming `resume`, when there is no such unfinished run.
    """
    path = pathlib.Path(str(run))
    if path.name.startswith(".") and path.name.endswith(PARTIAL_SUFFIX):
        partial = path
        run_dir = path.parent / path.name[1:-len(PARTIAL_SUFFIX)]
    else:
        run_dir = path if len(path.parts) > 1 or path.is_absolute() else pathlib.Path(out) / path
        partial = partial_dir(run_dir)
    if not partial.is_dir():
        if (run_dir / MODEL_FILE).is_file():
            raise OptionError(f"{{resume}}: {run_dir} is finished; there is nothing to resume",
                              "resume")
        raise OptionError(f"{{resume}}: no unfinished run {run} ({partial} not found)", "resume")
    if not (partial / STATE_FOLDER / RUN_OPTIONS_FILE).is_file():
        raise OptionError(f"{{resume}}: {partial} holds no saved options "
                          f"({STATE_FOLDER}/{RUN_OPTIONS_FILE}); it cannot be resumed", "resume")
    return partial


def reclaim_run_dir(partial):
    """Takes over the partial folder of a stopped run (`fit --resume`): locks it.

    Returns:
        A `RunClaim`.

    Raises:
        OptionError: naming `resume`, when another `fit` holds it or the name is finished.
    """
    partial = pathlib.Path(partial)
    run_dir = partial.parent / partial.name[1:-len(PARTIAL_SUFFIX)]
    if run_dir.exists():
        raise OptionError(f"{{resume}}: {run_dir} already exists; a finished run is never "
                          f"overwritten", "resume")
    descriptor = _locked(partial, fresh=False)
    if descriptor is None:
        raise OptionError(f"{{resume}}: {partial} is being written by another fit", "resume")
    return RunClaim(run_dir, partial, descriptor)


def read_run_options(partial):
    """The options a run was started with (`training_state/options.json`), as a dict with
    `fit` and `data`."""
    path = pathlib.Path(partial) / STATE_FOLDER / RUN_OPTIONS_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(f"{path}: cannot read the saved options ({error})") from None


def write_run_options(claim, fit_options, data_options):
    """Saves the options of a run into its partial folder, for `fit --resume`."""
    import dataclasses

    claim.state_dir.mkdir(parents=True, exist_ok=True)
    data = {f.name: getattr(data_options, f.name) for f in dataclasses.fields(data_options)}
    if data.get("data") is not None and not isinstance(data["data"], (str, list, tuple)):
        data["data"] = None
        data["in_memory"] = True
    text = json.dumps({"fit": dataclasses.asdict(fit_options), "data": data}, indent=2,
                      default=str)
    temporary = claim.state_dir / f".{RUN_OPTIONS_FILE}.tmp"
    temporary.write_text(text)
    os.replace(temporary, claim.state_dir / RUN_OPTIONS_FILE)


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
    """The run's `config.json` as a dict; its data options (`data.options`: the window, the
    stride, the region, the level chosen) checked as `DataOptions` checks them, so that an
    edited or damaged file is refused naming it, not the command-line option."""
    path = check_run_dir(run_dir) / CONFIG_FILE
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error.msg})") from None
    data = config.get("data", {}) if isinstance(config, dict) else None
    options = data.get("options", {}) if isinstance(data, dict) else None
    if not isinstance(options, dict):
        raise DataError(f"{path}: not a run's config (its 'data' must be a mapping that holds "
                        f"the data options as a mapping)")
    given = {key: options[key] for key in ("window", "stride", "region", "select")
             if options.get(key) is not None}
    try:
        checked = DataOptions(**given)
    except OptionError as error:
        raise DataError(f"{path}: the data option '{error.options[0]}' is not valid "
                        f"({error})") from None
    for key in given:  # as checked: "pressure_level=500" or {"pressure_level": 500} a list
        value = getattr(checked, key)
        options[key] = list(value) if isinstance(value, tuple) else value
    return config


def read_preprocessor(run_dir):
    """The run's fitted `CubePreprocessor` (`preprocessing.json`, `climatology.nc`)."""
    return CubePreprocessor.load(check_run_dir(run_dir, (PREPROCESSING_FILE,)))


_KERAS_ARCHIVE_FILES = ("config.json", "model.weights.h5")  # what `model.save` writes


def load_model(run_dir):
    """Loads the run's `model.keras` (a keras_dsc model; no custom objects needed).

    A missing, truncated or damaged file is a `DataError` that says which.
    """
    path = check_run_dir(run_dir, (MODEL_FILE,)) / MODEL_FILE
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a .keras file (the zip archive is damaged or truncated)")
    with zipfile.ZipFile(path) as archive:  # checked before TensorFlow starts and talks
        missing = [n for n in _KERAS_ARCHIVE_FILES if n not in archive.namelist()]
    if missing:
        raise DataError(f"{path}: not a .keras file (the zip archive has no "
                        f"{' or '.join(missing)})")
    import keras

    import keras_dsc.models  # noqa: F401  (registers the serializable models)

    try:
        return keras.saving.load_model(path)
    except (OSError, ValueError, TypeError, KeyError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: cannot load the model ({era5.first_line(error)})") from None


def _assignments_csv(run_dir, config):
    """`(path, frame)` of the run's `assignments.csv` (`config`: its `config.json`, see
    `_config_or_nothing`); a missing or unreadable file is a `DataError` naming it."""
    path = pathlib.Path(run_dir) / ASSIGNMENTS_FILE
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
            OSError) as error:  # a file re-saved in another encoding, a folder
        raise DataError(f"{path}: not a readable CSV file "
                        f"({str(error).strip().splitlines()[0]})") from None
    windows = _windows_made(config)
    if windows is not None and len(frame) != windows:
        raise DataError(f"{path}: {len(frame)} rows, but the run made {windows} windows "
                        f"({CONFIG_FILE}); the file was shortened or replaced")
    return path, frame


def _windows_made(config):
    """The number of windows the run's `config.json` says it made, or `None` when it does not
    say (a run folder of another method)."""
    windowing = _section(_section(config, "data"), "windowing")
    windows = windowing.get("windows")
    return windows if isinstance(windows, int) and not isinstance(windows, bool) else None


def read_assignments(run_dir):
    """The `cluster` column of the run's `assignments.csv`, as an int array."""
    path, frame = _assignments_csv(run_dir, _config_or_nothing(run_dir))
    if "cluster" not in frame.columns:
        raise DataError(f"{path}: no 'cluster' column")
    return frame["cluster"].to_numpy(dtype=np.int64)


def read_assignments_table(run_dir, window_starts=None):
    """The run's `assignments.csv` as a table: `time` (datetime64, each window's start, once),
    `cluster` and, when the run has one, `probability` (of the assigned cluster).

    `window_starts`, the starts of the windows the run made (from its data), are checked
    row by row when given."""
    config = _config_or_nothing(run_dir)
    path, frame = _assignments_csv(run_dir, config)
    missing = [c for c in ("time", "cluster") if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: no {missing[0]!r} column")
    try:
        # Times with UTC offsets (a file re-saved elsewhere) are read in UTC, as the run's are.
        frame["time"] = pd.to_datetime(frame["time"], utc=True).dt.tz_localize(None)
    except (TypeError, ValueError):
        raise DataError(f"{path}: the 'time' column is not made of dates") from None
    if frame["time"].isna().any():
        raise DataError(f"{path}: row {int(frame['time'].isna().to_numpy().argmax()) + 2} has "
                        f"no time")
    twice = frame["time"].duplicated()
    if twice.any():
        raise DataError(f"{path}: the window starting at "
                        f"{frame['time'][twice].iloc[0].isoformat()} appears twice")
    clusters = pd.to_numeric(frame["cluster"], errors="coerce")
    n_clusters = _clusters_made(config)
    wrong = clusters.isna() | (np.mod(clusters, 1) != 0) | (clusters < 0)
    if n_clusters is not None:
        wrong |= clusters >= n_clusters
    clusters_of_run = f" (0..{n_clusters - 1}, {CONFIG_FILE})" if n_clusters else ""
    _refuse_first_row(path, wrong, lambda row: (
        f"has {_given(frame['cluster'].iloc[row], 'cluster')}, not one of the run's "
        f"clusters{clusters_of_run}"))
    frame["cluster"] = clusters.astype("int64")
    if "probability" in frame.columns:
        probabilities = pd.to_numeric(frame["probability"], errors="coerce")
        _refuse_first_row(path, probabilities.isna() | (probabilities < 0) | (probabilities > 1),
                          lambda row: f"has {_given(frame['probability'].iloc[row], 'probability')}"
                                      f", not a number in 0..1")
        frame["probability"] = probabilities.astype("float64")
    period = _period_of_data(config)
    if period is not None:
        starts = lambda row: f"starts at {frame['time'].iloc[row].isoformat()}"  # noqa: E731
        _refuse_first_row(path, (frame["time"] < period[0]) | (frame["time"] > period[1]),
                          lambda row: f"{starts(row)}, outside the run's data "
                                      f"({period[0].isoformat()} to {period[1].isoformat()}, "
                                      f"{CONFIG_FILE})")
        step = _fixed_step(run_dir)
        if step is not None:
            _refuse_first_row(path, ((frame["time"] - period[0]) % step) != pd.Timedelta(0),
                              lambda row: f"{starts(row)}, not a time step of the run's data "
                                          f"(every {step_text(step)} from "
                                          f"{period[0].isoformat()})")
    if window_starts is not None and len(window_starts) == len(frame):
        made = pd.DatetimeIndex(window_starts)
        _refuse_first_row(path, pd.Series(pd.DatetimeIndex(frame["time"]) != made),
                          lambda row: f"starts at {frame['time'].iloc[row].isoformat()}, where "
                                      f"the run's window {row + 1} starts at "
                                      f"{made[row].isoformat()}")
    return frame


def _refuse_first_row(path, wrong, says):
    """Raises the `DataError` naming the first row of `path` where `wrong` (a bool Series) is
    true; `says(row)` tells what is wrong with it."""
    if wrong.any():
        row = int(wrong.to_numpy().argmax())
        raise DataError(f"{path}: row {row + 2} {says(row)}; the file was edited or replaced")


def _given(value, what):
    """`"<what> <value>"`, or `"no <what>"` for an empty cell."""
    return f"no {what}" if pd.isna(value) else f"{what} {value}"


def _fixed_step(run_dir):
    """The run's time step (`preprocessing.json`) as a `pandas.Timedelta`, or `None` when it
    has none or it is months or years (of unequal lengths)."""
    try:
        step = to_step(read_time_step(run_dir))
    except (TypeError, ValueError, DataError):
        return None
    return step if isinstance(step, pd.Timedelta) and step > pd.Timedelta(0) else None


def _period_of_data(config):
    """The first and last time step of the run's data (`config.json`), or `None`."""
    time = _section(_section(config, "data"), "time")
    try:
        return pd.Timestamp(time["start"]), pd.Timestamp(time["end"])
    except (KeyError, TypeError, ValueError):
        return None


def _clusters_made(config):
    """The k the run's `config.json` says it was fitted with, or `None`."""
    n = _section(config, "fit").get("n_clusters")
    return int(n) if isinstance(n, int) and not isinstance(n, bool) and n >= 1 else None


def _config_or_nothing(run_dir):
    """The run's `config.json` as a dict, `{}` when it has none or it cannot be read
    (`read_config`, where the run needs it, says what is wrong)."""
    path = pathlib.Path(run_dir) / CONFIG_FILE
    try:
        config = json.loads(path.read_text()) if path.is_file() else {}
    except (json.JSONDecodeError, OSError, UnicodeDecodeError):
        return {}
    return config if isinstance(config, dict) else {}


def _section(config, key):
    """`config[key]` where it is a dict, else `{}`."""
    value = config.get(key)
    return value if isinstance(value, dict) else {}


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
