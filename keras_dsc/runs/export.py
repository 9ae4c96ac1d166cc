"""Export a trained run as a TensorFlow SavedModel for TF Serving: physical units in, clusters out.

The export holds everything a server needs and nothing of keras_dsc: TF Serving loads it with no
Python at all, and `tf.saved_model.load` with TensorFlow alone. Its `serving_default` signature
takes windows in PHYSICAL units (the variables' own units, NaN where data is missing) and runs
the run's normalisation, the NaN filling and padding, the encoder and the clustering head inside
the graph. A run trained on anomalies also takes each window's start time and subtracts its
climatology (seasonal harmonics and diurnal cycle per grid point, at every step's time of year
and of day) inside the graph. The variable order, units, grid, window and normalisation
statistics travel with it as JSON in `assets/keras_dsc.json`, so that a client can check what
it sends.

Layout (the one TF Serving watches): `<out>/<name>/<version>/` with `saved_model.pb`,
`variables/` and `assets/`. The export is written into a hidden temporary folder beside the
versions and renamed into place at the end, so a server never sees a half-written version.
"""

import json
import os
import pathlib
import re
import shutil
import tempfile

import numpy as np

from keras_dsc.data.preprocessing import HOURS, YEAR_DAYS
from keras_dsc.data.time_axis import is_calendar, to_step
from keras_dsc.errors import DataError, OptionError
from keras_dsc.runs import run_folder

SIGNATURE = "serving_default"
"""The signature TF Serving calls when a request names none."""

INPUT_NAME = "windows"
"""The name of the signature's windows input."""

START_TIME_NAME = "start_time"
"""The second input of an anomalies run's signature: each window's first time step, int64
seconds since 1970-01-01T00:00:00 UTC."""

_FIRST_YEAR, _LAST_YEAR = 1800, 2400  # the start times an anomalies export accepts

METADATA_FILE = "keras_dsc.json"
"""The JSON in the SavedModel's `assets/`: variables, units, grid, window, normalisation."""

FORMAT = "keras_dsc.serving/1"
_TMP_PREFIX = ".tmp-"
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def export_run(run_dir, out="saved_models", name="dsc", version=None, overwrite=False):
    """Writes a run's model as a SavedModel that TF Serving loads, with physical-unit inputs.

    The `serving_default` signature takes `windows`, float32 `[batch, window, lat, lon,
    variables]` in the training data's physical units, NaN allowed, and returns `cluster`
    (int64 `[batch]`), `probabilities` (float32 `[batch, k]`) and `embedding` (float32
    `[batch, latent]`). Inside the graph: `(x - offset[v]) / scale[v]` per variable with the
    run's statistics, then the model (which fills NaN and pads the grid itself).

    A run trained with `anomalies=True` needs the time of every step, so its signature takes a
    second input, `start_time` (int64 `[batch]`, seconds since 1970-01-01T00:00:00 UTC of
    each window's first step, steps `time_step` apart), and subtracts the run's climatology
    at those times before normalising, exactly as `CubePreprocessor.transform` does; start
    times outside the years 1800-2399 are rejected by the graph.

    Args:
        run_dir: a run folder written by `keras_dsc.runs.fit.fit_run` (`model.keras`,
            `preprocessing.json`, `config.json`).
        out: parent folder of the exported models. Defaults to `"saved_models"`.
        name: the model's name, the folder under `out` (TF Serving's `MODEL_NAME`).
            Defaults to `"dsc"`.
        version: positive int, the version folder; `None` for the next free number.
        overwrite: replace an existing `version`. Defaults to `False` (an existing version is
            an error).

    Returns:
        The version folder written, a `pathlib.Path`.

    Example (`run_dir`: a run folder written by `keras_dsc.runs.fit.fit_run`):

    >>> export_run(run_dir, out="saved_models")
    PosixPath('saved_models/dsc/1')
    >>> export_run(run_dir, out="saved_models")  # the next version; 1 is never overwritten
    PosixPath('saved_models/dsc/2')
    """
    run_dir = pathlib.Path(run_dir)
    _check_name(name)
    if version is not None and (isinstance(version, bool) or not isinstance(
            version, (int, np.integer)) or not 1 <= version < 2**63):
        # TF Serving reads version folders as signed 64-bit integers.
        raise OptionError(f"{{version}} must be a positive integer below 2**63 (TF Serving "
                          f"reads versions as 64-bit integers), got {version!r}", "version")
    preprocessor, config = read_run(run_dir)
    parent = pathlib.Path(out) / name
    if version is not None:
        _check_free(parent / str(int(version)), overwrite)

    model = run_folder.load_model(run_dir)
    metadata = serving_metadata(model, preprocessor, config, run_dir.name)
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OptionError(f"{{out}}: cannot create {parent}: {error.strerror}", "out") from None
    _remove_abandoned(parent)
    serve, module = _serving_module(model, preprocessor)

    import tensorflow as tf

    work = pathlib.Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-", dir=parent))
    try:
        metadata_path = work / METADATA_FILE
        metadata_path.write_text(json.dumps(metadata, indent=2))
        module.metadata = tf.saved_model.Asset(str(metadata_path))
        written = work / "saved_model"
        tf.saved_model.save(module, str(written), signatures={SIGNATURE: serve})
        return _move_into_place(written, parent, version, overwrite, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def read_run(run_dir):
    """A run folder's preprocessor and `config.json`: what serving needs besides the model.

    Args:
        run_dir: a run folder written by `keras_dsc.runs.fit.fit_run`.

    Returns:
        `(preprocessor, config)`: a `CubePreprocessor` and the run's config dict.
    """
    run_folder.check_run_dir(run_dir, (run_folder.MODEL_FILE, run_folder.CONFIG_FILE))
    return run_folder.read_preprocessor(run_dir), run_folder.read_config(run_dir)


def serving_metadata(model, preprocessor, config=None, run=None):
    """The JSON-serialisable description of a model's serving input and output.

    Args:
        model: a `keras_dsc` model (`window_shape`, `n_clusters`, `assignment_model`).
        preprocessor: its fitted `CubePreprocessor`.
        config: the run's `config.json` dict (its data options give `region` and `stride`).
        run: the run's name.

    Returns:
        A dict: `signature_name`, `inputs` and `outputs` (name -> dtype, shape), `variables`,
        `units`, `latitudes`, `longitudes`, `window`, `time_step`, `stride`, `region`,
        `select` (the `NAME=VALUE` items choosing a level, or `None`),
        `method`, `offset`, `scale` (normalised = (x - offset[v]) / scale[v], after the
        climatology is subtracted when `anomalies`), `typical_ranges` (where the median of
        data like the training data lies, see `CubePreprocessor.typical_ranges`), `anomalies`,
        `season` (the parts of the year its climatology covers, `covered_season`; `None`: all),
        `hours_of_day` (the hours its diurnal cycle was fitted at, `diurnal_hours`; `None`:
        none, or an export from before this was recorded),
        `n_clusters`, `latent_dim`,
        `run`. An anomalies run's `inputs` also hold `start_time`.
    """
    window, n_lat, n_lon, n_var = (int(n) for n in model.window_shape)
    fitted = (len(preprocessor.latitudes), len(preprocessor.longitudes),
              len(preprocessor.variables))
    if (n_lat, n_lon, n_var) != fitted:
        raise DataError(f"model input {(n_lat, n_lon, n_var)} (lat, lon, variables) does not "
                        f"match the preprocessor's grid and variables {fitted}")
    latent = int(model.assignment_model.output["embedding"].shape[-1])
    options = ((config or {}).get("data") or {}).get("options") or {}
    region = options.get("region")
    inputs = {INPUT_NAME: {"dtype": "float32", "shape": [None, window, n_lat, n_lon, n_var],
                           "dims": ["batch", "time", "latitude", "longitude", "variable"]}}
    if preprocessor.anomalies:
        inputs[START_TIME_NAME] = {"dtype": "int64", "shape": [None], "dims": ["batch"],
                                   "units": "seconds since 1970-01-01T00:00:00 UTC"}
    return {
        "format": FORMAT,
        "signature_name": SIGNATURE,
        "inputs": inputs,
        "outputs": {
            "cluster": {"dtype": "int64", "shape": [None]},
            "probabilities": {"dtype": "float32", "shape": [None, int(model.n_clusters)]},
            "embedding": {"dtype": "float32", "shape": [None, latent]},
        },
        "variables": list(preprocessor.variables),
        "units": list(preprocessor.units),
        "latitudes": [float(v) for v in preprocessor.latitudes],
        "longitudes": [float(v) for v in preprocessor.longitudes],
        "window": window,
        "time_step": preprocessor.time_step,
        "stride": int(options.get("stride") or window),
        "region": list(region) if region is not None else None,
        "select": list(options.get("select") or []) or None,
        "method": preprocessor.method,
        "offset": [float(v) for v in preprocessor.offset],
        "scale": [float(v) for v in preprocessor.scale],
        "typical_ranges": preprocessor.typical_ranges(),
        "anomalies": bool(preprocessor.anomalies),
        "season": preprocessor.season,
        "hours_of_day": preprocessor.diurnal_hours(),
        "n_clusters": int(model.n_clusters),
        "latent_dim": latent,
        "run": run,
    }


def read_metadata(version_dir):
    """Reads `assets/keras_dsc.json` of an exported version folder."""
    path = pathlib.Path(version_dir) / "assets" / METADATA_FILE
    try:
        metadata = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (was this SavedModel written by "
                        f"keras_dsc export?)") from None
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error.msg})") from None
    if metadata.get("format") != FORMAT:
        raise DataError(f"{path}: format {metadata.get('format')!r} is not {FORMAT!r}")
    return metadata


def next_version(parent):
    """The next free version number under `parent` (1 when there is none)."""
    versions = [int(p.name) for p in pathlib.Path(parent).glob("*") if p.name.isdigit()]
    return max(versions, default=0) + 1


def _serving_module(model, preprocessor):
    """A `tf.Module` holding the model's variables, and the traced serving function."""
    import tensorflow as tf

    assignment = model.assignment_model
    offset = tf.constant(np.asarray(preprocessor.offset, "float32"), name="offset")
    scale = tf.constant(np.asarray(preprocessor.scale, "float32"), name="scale")
    specs = [tf.TensorSpec((None, *model.window_shape), tf.float32, name=INPUT_NAME)]
    module = tf.Module()
    if preprocessor.anomalies:
        specs.append(tf.TensorSpec((None,), tf.int64, name=START_TIME_NAME))
        module.climatology = tf.Variable(_climatology_coefficients(preprocessor),
                                         trainable=False, name="climatology")
        terms = preprocessor.climatology["term"].values.tolist()
        step = _step_seconds(preprocessor.time_step, model.window_shape[0])

    def assign(normalised):
        outputs = assignment(normalised, training=False)
        probabilities = outputs["probabilities"]
        return {
            "cluster": tf.argmax(probabilities, axis=-1, output_type=tf.int64),
            "probabilities": probabilities,
            "embedding": outputs["embedding"],
        }

    if preprocessor.anomalies:
        @tf.function(input_signature=specs, autograph=False)
        def serve(windows, start_time):
            times = start_time[:, None] + tf.range(model.window_shape[0], dtype=tf.int64) * step
            design = design_matrix(times, terms)  # (batch, time, term)
            climatology = tf.einsum("btk,kyxv->btyxv", design, module.climatology)
            return assign((windows - climatology - offset) / scale)
    else:
        @tf.function(input_signature=specs, autograph=False)
        def serve(windows):
            return assign((windows - offset) / scale)

    concrete = serve.get_concrete_function()
    # Track the variables the function reads (as keras.export.ExportArchive does), not the
    # Keras objects: the SavedModel then needs nothing of Keras or keras_dsc to load.
    module.model_variables = [getattr(v, "value", v) for v in assignment.variables]
    module.serve = serve
    return concrete, module


def _step_seconds(time_step, window):
    """Seconds between the steps of a window, for the graph's climatology (0: one step)."""
    if int(window) == 1 or time_step is None:
        return 0
    if is_calendar(time_step):
        raise DataError(f"export: windows of {window} steps of {time_step} cannot be served "
                        f"with anomalies: months and years are not a fixed number of seconds")
    return int(to_step(time_step).total_seconds())


def _climatology_coefficients(preprocessor):
    """The run's climatology as float32 `(term, latitude, longitude, variable)`."""
    coef = preprocessor.climatology.sel(variable=list(preprocessor.variables))
    return coef.transpose("term", "latitude", "longitude", "variable").values.astype("float32")


def design_matrix(seconds, terms):
    """The climatology's design matrix at the given times, in TensorFlow ops.

    The graph version of `keras_dsc.data.preprocessing`'s design: `mean`, the annual and semi-annual
    harmonics of the fractional day of the year (`sin1 cos1 sin2 cos2`, period 365.25 days) and
    the one-hot hour of day (`hour00`..`hour23`). The calendar comes from a table of the days
    on which each year from 1800 to 2399 starts (proleptic Gregorian), so no date library is
    needed at serving time.

    Args:
        seconds: int64 tensor of any shape, seconds since 1970-01-01T00:00:00 UTC.
        terms: list of the term names, in the climatology's order.

    Returns:
        float32 tensor `seconds.shape + (len(terms),)`.
    """
    import tensorflow as tf

    years = np.arange(_FIRST_YEAR, _LAST_YEAR + 1)
    new_years = tf.constant(np.array([f"{y:04d}-01-01" for y in years], "datetime64[D]")
                            .astype("int64"))  # days since 1970-01-01; the last one ends the range
    days = tf.math.floordiv(seconds, 86400)
    second_of_day = seconds - days * 86400
    flat = tf.reshape(days, (1, -1))
    in_range = [
        tf.debugging.assert_greater_equal(flat, new_years[0], message=(
            f"{START_TIME_NAME} before {_FIRST_YEAR}-01-01")),
        tf.debugging.assert_less(flat, new_years[-1], message=(
            f"{START_TIME_NAME} after {_LAST_YEAR - 1}-12-31")),
    ]
    with tf.control_dependencies(in_range):  # checked before the table is read
        year = tf.searchsorted(new_years[None, :], flat, side="right") - 1
    day_of_year = days - tf.reshape(tf.gather(new_years, year), tf.shape(days))
    day = tf.cast(day_of_year, tf.float64) + tf.cast(second_of_day, tf.float64) / 86400.0
    angle = 2.0 * np.pi * day / YEAR_DAYS
    hour = tf.math.floordiv(second_of_day, 3600)
    columns = {"mean": tf.ones_like(angle), "sin1": tf.sin(angle), "cos1": tf.cos(angle),
               "sin2": tf.sin(2.0 * angle), "cos2": tf.cos(2.0 * angle)}
    for h, name in enumerate(HOURS):
        columns[name] = tf.cast(tf.equal(hour, h), tf.float64)
    return tf.cast(tf.stack([columns[t] for t in terms], axis=-1), tf.float32)


def _check_name(name):
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise OptionError(f"{{name}}: {name!r} must be a folder name of letters, digits, '_', "
                          f"'.' or '-' (TF Serving's MODEL_NAME)", "name")


def _check_free(target, overwrite):
    if target.exists() and not overwrite:
        raise OptionError(f"{{version}} {target.name}: {target} already exists; pass "
                          f"{{overwrite}} to replace it", "version", "overwrite")


def _move_into_place(written, parent, version, overwrite, work):
    """Renames the finished export to `parent/<version>`; returns that folder."""
    for _ in range(100):
        target = parent / str(int(version) if version is not None else next_version(parent))
        replaced = None
        if target.exists():
            _check_free(target, overwrite)
            replaced = work / "replaced"  # deleted with `work` once the new one is in place
            os.rename(target, replaced)
        try:
            os.rename(written, target)
            return target
        except OSError:
            if replaced is not None:
                os.rename(replaced, target)
            if version is not None or not target.exists():
                raise
            # A concurrent export took this number between the look and the rename: next one.
    raise OptionError(f"{{out}}: could not find a free version number in {parent}", "out")


def _remove_abandoned(parent):
    """Removes temporary folders of exports whose process no longer runs (killed midway)."""
    for path in pathlib.Path(parent).glob(f"{_TMP_PREFIX}*"):
        pid = path.name[len(_TMP_PREFIX):].split("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
