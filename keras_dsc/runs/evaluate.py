"""Evaluating a trained run on its own data or on other data: assignments and cluster scores.

`evaluate_run` loads a run's model and saved normalisation, prepares data with them, assigns
every window to a cluster and computes `keras_dsc.scoring.metrics.cluster_scores`, on the flattened
normalised windows (as the DSC paper did) or on the model's latent vectors, with ARI and NMI
against reference labels when there are any.
"""

import dataclasses
import json
import os
import pathlib
import unicodedata
import warnings

import numpy as np
import pandas as pd

from keras_dsc.data import DataOptions
from keras_dsc.data.era5 import first_line
from keras_dsc.data.options import AUTO
from keras_dsc.data.time_axis import infer_step, step_text, to_step
from keras_dsc.errors import DataError, OptionError
from keras_dsc.runs.run_folder import (
    CONFIG_FILE,
    MODEL_FILE,
    PREPROCESSING_FILE,
    check_no_file_in_the_way,
    check_run_dir,
    load_model,
    read_config,
    read_preprocessor,
    run_data_options,
)

FEATURES = {
    "input": "normalised input windows, flattened",
    "latent": "latent vectors of the model's encoder",
}
#: Data options a run's own data passes on to other data given with `--data`.
INHERITED = ("variables", "region", "select", "resample", "window", "stride")
_TABLE = [
    ("silhouette_cosine", "higher is better"),
    ("silhouette_euclidean", "higher is better"),
    ("davies_bouldin", "lower is better"),
    ("calinski_harabasz", "higher is better"),
    ("total_rmse", "lower is better (paper)"),
    ("variance", "lower is better (paper)"),
    ("inter_cluster_distance", "paper"),
    ("ari", "agreement with the reference, 1 is perfect"),
    ("nmi", "agreement with the reference, 1 is perfect"),
]


def evaluation_data_options(run_dir, **overrides):
    """The data options for evaluating a run: the run's own, with `overrides` replacing them.

    Given other data (`data=...`), the run's time range and built-in cube length are dropped
    (other data covers other dates) while its variables, region, resampling and window are
    kept (and the chosen level, `select`), since the model needs them; any of them can be
    overridden too.

    Args:
        run_dir: the run folder.
        **overrides: `DataOptions` fields to replace.

    Returns:
        A `DataOptions`.
    """
    own = run_data_options(read_config(run_dir))
    unknown = sorted(set(overrides) - set(DataOptions.__dataclass_fields__))
    if unknown:
        raise DataError(f"evaluate: unknown data option {unknown[0]!r}")
    for name in ("normalization", "anomalies"):  # fixed by the run's preprocessing.json
        if name in overrides and overrides[name] != getattr(own, name):
            raise OptionError(f"{{{name}}}: the model of {run_dir} takes data normalised as it "
                              f"was trained ({name} {getattr(own, name)}, saved in "
                              f"{PREPROCESSING_FILE}); leave the option out", name)
    if "data" in overrides and overrides["data"] != own.data:
        base = DataOptions(**{name: getattr(own, name) for name in INHERITED})
    else:
        base = own
    return dataclasses.replace(base, **overrides)


def read_reference_labels(path, start_times):
    """Reference labels for the windows from a CSV file with columns `time` and `cluster`/`label`.

    Each window takes the label of the row at its start time (an `assignments.csv` of another
    run works as is); daily, monthly and annual windows whose start is not in the file take
    the label of their day, month or year where the file gives one per period (an index
    table written by month, `1950-01`, against monthly means stamped mid-month). Labels are
    integers of 0 or more, or names of classes (`El Nino`, `Neutral`, `La Nina`), numbered in
    sorted order.

    Args:
        path: the CSV file.
        start_times: datetime64 array, the start of every window.

    Returns:
        int array `(n_windows,)`.
    """
    path = pathlib.Path(path)
    try:
        # Times as text: 20200101 is a date, not 20200101 nanoseconds since 1970.
        frame = pd.read_csv(path, dtype={"time": str})
    except FileNotFoundError:
        raise DataError(f"{path}: labels file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
            OSError) as error:  # OSError: a folder, a file that cannot be read
        raise DataError(f"{path}: not a readable CSV file ({first_line(error)})") from None
    both = [c for c in ("cluster", "label") if c in frame.columns]
    if len(both) > 1:
        raise DataError(f"{path}: both a cluster and a label column; keep the one that holds "
                        f"the reference labels")
    if "time" not in frame.columns or not both:
        raise DataError(f"{path}: expected the columns time and cluster (or label), found "
                        f"{', '.join(map(str, frame.columns))}")
    column = both[0]
    if frame.empty:
        raise DataError(f"{path}: no labels (the file has its header only)")
    with warnings.catch_warnings():  # "could not infer format": the refusal below says it
        warnings.simplefilter("ignore", UserWarning)
        try:
            times = pd.to_datetime(frame["time"])
        except (ValueError, TypeError):
            try:  # times in several UTC offsets: each in UTC, as the windows are
                times = pd.to_datetime(frame["time"], utc=True)
            except (ValueError, TypeError):
                raise DataError(f"{path}: the time column is not made of dates (the first: "
                                f"{frame['time'].iloc[0]!r})") from None
    if times.dt.tz is not None:
        times = times.dt.tz_convert(None)
    values = _class_numbers(frame[column], path, column)
    if (values < 0).any():
        negative = int((values < 0).sum())
        raise DataError(f"{path}: {negative} negative label{'s' if negative > 1 else ''} (the first "
                        f"{int(values[values < 0].iloc[0])}); the scores count every label as "
                        f"a class: give each class, a 'no regime' one too, a label of 0 or more")
    if times.duplicated().any():
        raise DataError(f"{path}: time {times[times.duplicated()].iloc[0].isoformat()} "
                        f"appears more than once")
    series = pd.Series(values.astype(np.int64).to_numpy(), index=pd.DatetimeIndex(times))
    found = series.reindex(pd.DatetimeIndex(start_times))
    if found.isna().any():
        found = _by_period(series, pd.DatetimeIndex(start_times), found)
    missing = found.index[found.isna()]
    if len(missing):
        raise DataError(f"{path}: no label for {len(missing)} of the {len(found)} window start "
                        f"times, the first {missing[0].isoformat()} (the file's times run "
                        f"{series.index.min().isoformat()} to {series.index.max().isoformat()})")
    labels = found.to_numpy(dtype=np.int64)
    if len(np.unique(labels)) < 2:
        raise DataError(f"{path}: every window has the label {labels[0]}; the scores need at "
                        f"least two classes")
    return labels


def _class_numbers(column, path, name):
    """The labels of a CSV column as integers: integers as they are, names of classes (text
    such as `El Nino`, `Neutral`) numbered in sorted order; anything else refused."""
    text = column.astype("string").str.strip()
    if text.isna().any() or (text == "").any():
        row = int(np.flatnonzero((text.isna() | (text == "")).to_numpy())[0])
        raise DataError(f"{path}: the {name} column has no label on line "
                        f"{_line_of_row(path, row)}; give every time a class")
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().all():
        fractions = numbers[np.mod(numbers, 1) != 0]
        if len(fractions):
            raise DataError(f"{path}: the {name} column must hold integer labels or names of "
                            f"classes, not fractions (the first: {fractions.iloc[0]:g})")
        return numbers
    if numbers.notna().any():
        raise DataError(f"{path}: the {name} column mixes numbers and names (the first: "
                        f"{text[numbers.notna()].iloc[0]!r} and {text[numbers.isna()].iloc[0]!r});"
                        f" give every class as a number or every class as a name")
    names = sorted(text.unique())
    seen = {}
    for label in names:  # "El Nino", "el nino" and "El Niño" are one class written three ways
        folded = " ".join("".join(c for c in unicodedata.normalize("NFKD", label)
                                  if not unicodedata.combining(c)).casefold().split())
        if folded in seen:
            raise DataError(f"{path}: the {name} column names one class in two ways "
                            f"({seen[folded]!r} and {label!r}, equal but for case, accents or "
                            f"spaces); write each class one way")
        seen[folded] = label
    return pd.Series(pd.Categorical(text, categories=names).codes, index=column.index)


def _by_period(series, starts, found):
    """Labels matched to daily, monthly or annual windows by their day, month or year, where
    the times differ within it (an index table written by month, 1950-01-01 or 1950-01,
    against means stamped mid-month) and the labels give one class per such period; `found`
    (the exact match) otherwise."""
    step = infer_step(starts)
    if isinstance(step, pd.offsets.YearBegin):
        period = "Y"
    elif isinstance(step, pd.offsets.MonthBegin):
        period = "M"
    elif step is not None and step >= pd.Timedelta("1D") and step % pd.Timedelta("1D") == \
            pd.Timedelta(0):
        period = "D"
    else:
        return found
    labels = pd.Series(series.to_numpy(), index=series.index.to_period(period))
    if labels.index.duplicated().any():  # several labels in one period: which one is unknown
        return found
    return pd.Series(labels.reindex(starts.to_period(period)).to_numpy(), index=starts)


def _line_of_row(path, row):
    """The line of the file that holds data row `row` (from 0), as pandas counts rows: blank
    lines are skipped."""
    lines = pathlib.Path(path).read_text(encoding="utf-8-sig", errors="replace").splitlines()
    filled = [number for number, line in enumerate(lines, 1) if line.strip()]
    return filled[row + 1] if row + 1 < len(filled) else row + 2


def _check_against_model(run_dir, model, preprocessor, windows, cube):
    """Raises `OptionError` when prepared data does not fit the model trained in `run_dir`."""
    step = infer_step(cube.indexes["time"])
    if preprocessor.time_step is not None and step is not None:
        if step_text(step) != step_text(preprocessor.time_step):
            raise _other_step(step_text(step), preprocessor.time_step, run_dir)
    expected = tuple(int(n) for n in model.window_shape)
    if tuple(windows.sample_shape) != expected:
        raise OptionError(f"{{window}}: samples of shape {tuple(windows.sample_shape)} (time, "
                          f"lat, lon, variables) do not fit the model of {run_dir}, trained on "
                          f"{expected}", "window")


def _other_step(step, trained, run_dir):
    return OptionError(f"{{resample}}: the data's time step {step} differs from the {trained} "
                       f"of the run {run_dir} (pass {{resample}} {trained})", "resample")


def _check_variables(run_dir, preprocessor, options):
    """Options asking for other variables than the model's are refused."""
    if options.variables is not None and list(options.variables) != list(preprocessor.variables):
        raise OptionError(f"{{variables}}: {','.join(options.variables)} differ from the "
                          f"variables of the run {run_dir} ({','.join(preprocessor.variables)})",
                          "variables")


def evaluate_run(run_dir, data_options=None, labels_csv=None, features="input", batch_size=None):
    """Assigns a run's model's clusters to data and scores them.

    Args:
        run_dir: the run folder written by `keras_dsc.runs.fit.fit_run`.
        data_options: a `DataOptions` for the data to evaluate on; `None` for the run's own
            data (see `evaluation_data_options` to change only some options). Other data must
            have the run's variables, grid, time step and window; it is normalised with the
            run's saved `preprocessing.json`.
        labels_csv: optional CSV file of reference labels (columns `time` and `cluster` or
            `label`); without it, the data's planted regimes are the reference when it has them.
        features: `"input"` (the flattened normalised windows, NaN as 0, as the paper) or
            `"latent"` (the encoder's latent vectors): the space the scores are computed in.
        batch_size: windows per prediction batch; `None` for the run's batch size.

    Returns:
        A JSON-ready dict: `keras_dsc.scoring.metrics.cluster_scores`' keys (with `features`), plus
        `run_dir`, `data` (source, files, first and last window start, number of windows),
        `reference` (what ARI/NMI compare with, or `None`) and `assignments` (the cluster of
        every window: `{"time": [...], "cluster": [...]}`).

    Example (`run_dir`: a run folder written by `keras_dsc.runs.fit.fit_run`, here 6 days of
    the built-in cube with a latent size of 4):

    >>> scores = evaluate_run(run_dir, features="latent")
    >>> scores["features"]
    "latent vectors of the model's encoder (6 x 4)"
    """
    from keras_dsc.data import prepare_data
    from keras_dsc.scoring.metrics import cluster_scores, score_run

    if features not in FEATURES:
        raise OptionError(f"{{features}}: expected one of {', '.join(FEATURES)}, got "
                          f"{features!r}", "features")
    run_dir = check_run_dir(run_dir, (CONFIG_FILE, PREPROCESSING_FILE, MODEL_FILE))
    config = read_config(run_dir)
    own_data = data_options is None
    options = run_data_options(config) if own_data else data_options
    preprocessor = read_preprocessor(run_dir)
    _check_variables(run_dir, preprocessor, options)
    # Asking for exactly the model's variables: data without one of them is refused by name.
    options = dataclasses.replace(options, variables=tuple(preprocessor.variables))
    if options.resample == AUTO:  # the run's step, whatever auto would choose for this data
        options = dataclasses.replace(options, resample=preprocessor.time_step)
    trained_window = ((config.get("data") or {}).get("options") or {}).get("window")
    if options.window == AUTO and isinstance(trained_window, int):
        options = dataclasses.replace(options, window=trained_window)
    if options.resample and preprocessor.time_step and (
            step_text(to_step(options.resample)) != step_text(preprocessor.time_step)):
        # refused by its option name before the normaliser (fitted on that step) sees the data
        raise _other_step(options.resample, preprocessor.time_step, run_dir)
    data = prepare_data(options, preprocessor)
    windows = data.windows
    model = load_model(run_dir)
    _check_against_model(run_dir, model, preprocessor, windows, data.cube)
    if len(windows) < 2:
        raise OptionError(f"{{data}}: only {len(windows)} window of {windows.window} steps; "
                          f"the scores need at least 2", "data")

    from keras_dsc.data.batches import window_batches

    batch_size = batch_size or int(config.get("fit", {}).get("batch_size", 16))
    outputs = model.assignment_model.predict(window_batches(windows, batch_size),
                                             verbose=0)
    labels = np.asarray(outputs["probabilities"]).argmax(axis=1)

    if labels_csv is not None:
        reference = read_reference_labels(labels_csv, windows.start_times)
        reference_name = f"labels from {labels_csv}"
    elif windows.labels is not None:
        reference, reference_name = windows.labels, "planted regimes of the data"
    else:
        reference, reference_name = None, None

    if features == "input":  # bounded in memory: a seeded subset of a long record
        description = f"{FEATURES[features]} ({len(windows)} x {np.prod(windows.sample_shape)})"
        from keras_dsc.training.classical import feature_weights

        # Weighted as the run was scored (runs from before area weighting were not).
        weighted = bool(config.get("fit", {}).get("area_weighting", False))
        scores = score_run(windows, labels, description, reference,
                           weights=feature_weights(windows) if weighted else None)
    else:
        X = np.asarray(outputs["embedding"], dtype=np.float64)
        description = f"{FEATURES[features]} ({X.shape[0]} x {X.shape[1]})"
        scores = cluster_scores(X, labels, reference, features=description)
    starts = pd.DatetimeIndex(windows.start_times)
    return {
        "run_dir": str(run_dir),
        "data": {
            "own_data": own_data,
            "source": data.description.get("source"),
            "files": data.description.get("files"),
            "first_window": starts[0].isoformat(),
            "last_window": starts[-1].isoformat(),
            "n_windows": len(windows),
            "sample_shape": list(windows.sample_shape),
            "notes": list(data.description.get("notes") or []),
        },
        "reference": reference_name,
        **scores,
        "assignments": {
            "time": [t.isoformat() for t in starts],
            "cluster": [int(c) for c in labels],
        },
    }


def write_evaluation(result, path, overwrite=False):
    """Writes `evaluate_run`'s dict as indented JSON, whole or not at all; returns the path.

    Args:
        result: the dict of `evaluate_run`.
        path: the JSON file to write.
        overwrite: replace an existing `path` (otherwise refused, naming `--out`).
    """
    path = check_evaluation_out(path, overwrite)
    partial = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps(result, indent=2))
        os.replace(partial, path)
    except OSError as error:
        if partial.is_file():
            partial.unlink()
        raise OptionError(f"{{out}}: cannot write {path}: {error.strerror}", "out") from None
    return path


def check_evaluation_out(path, overwrite=False):
    """Refuses an `--out` that is a folder, or an existing file unless `overwrite`.

    Called before the evaluation, so that a refused `--out` costs nothing.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        raise OptionError(f"{{out}}: {path} is a folder; give the JSON file to write", "out")
    check_no_file_in_the_way(path.parent)
    if path.exists() and not overwrite:
        raise OptionError(f"{{out}}: {path} already exists; pass {{overwrite}} to replace it",
                          "out", "overwrite")
    return path


def format_scores(result):
    """The scores of `evaluate_run` as a plain-text table, one score a line."""
    lines = [f"scores on {result['features']}"]
    if result.get("reference"):
        lines.append(f"reference labels: {result['reference']}")
    width = max(len(name) for name, _ in _TABLE)
    for name, note in _TABLE:
        if name not in result:
            continue
        value = result[name]
        text = "undefined" if value is None else f"{value:.4g}"
        lines.append(f"  {name:<{width}}  {text:>10}   {note}")
    sizes = ", ".join(f"{k}:{n}" for k, n in result["cluster_sizes"].items())
    lines.append(f"clusters: {result['n_clusters']}; windows per cluster: {sizes}")
    lines += [f"note: {note}" for note in (result.get("data") or {}).get("notes") or ()]
    return "\n".join(lines)
