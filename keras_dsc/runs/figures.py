"""The figures of a run folder: cluster composites, calendar, latent space and training curves.

`plot_run` draws the PNG files `fit` writes (and `python cli.py plot RUN_DIR` redraws) from what
the run folder holds: `model.keras`, `preprocessing.json`, `config.json`, `history.csv` and
`assignments.csv`. The drawing itself is `keras_dsc.plots`; this module gathers its inputs.
"""

import pathlib

import dask
import numpy as np
import pandas as pd
import xarray as xr

from keras_dsc.errors import DataError, OptionError
from keras_dsc.runs.run_folder import (
    CONFIG_FILE,
    HISTORY_FILE,
    MODEL_FILE,
    check_run_dir,
    load_model,
    read_assignments_table,
    read_config,
    read_preprocessor,
    run_data_options,
)


def step_labels(n_steps, labels, window, stride):
    """The cluster of every time step: each window's label applies to all of its time steps.

    Where windows overlap (`stride < window`) a step takes the label of the last window that
    covers it; steps no window covers (a trailing remainder, gaps when `stride > window`) get -1.

    Args:
        n_steps: int, the length of the time axis.
        labels: int array `(n_windows,)`, the cluster of every window.
        window: int, time steps per window.
        stride: int, steps between window starts.

    Returns:
        int array `(n_steps,)`.

    Example:

    >>> step_labels(7, np.array([3, 5]), window=3, stride=3).tolist()
    [3, 3, 3, 5, 5, 5, -1]
    """
    out = np.full(int(n_steps), -1, dtype=np.int64)
    for i, label in enumerate(np.asarray(labels, dtype=np.int64)):
        start = i * stride
        out[start:start + window] = label
    return out


def cluster_composites(cube, variables, labels, window, stride):
    """Per-cluster mean anomalies, in physical units, with one pass over the cube.

    The anomaly is the value minus its time mean at each grid point over the whole cube;
    the composite of a cluster is the mean anomaly over the time steps of its windows
    (`step_labels`), NaN skipped. Points that are NaN at every such step (land in `sst`)
    stay NaN.

    Args:
        cube: the (resampled) `xarray.Dataset` in physical units, possibly lazy.
        variables: the variable names, in order.
        labels: int array `(n_windows,)`.
        window: int, time steps per window.
        stride: int, steps between window starts.

    Returns:
        An `xarray.DataArray` (cluster, latitude, longitude, variable) with a `units`
        coordinate along `variable`.
    """
    data = cube[list(variables)]
    steps = step_labels(data.sizes["time"], labels, window, stride)
    kept = np.flatnonzero(steps >= 0)
    clusters = xr.DataArray(steps[kept], dims="time", name="cluster")
    means = data.isel(time=kept).groupby(clusters).mean("time")  # NaN skipped
    overall = data.mean("time")
    means, overall = dask.compute(means, overall)  # one pass over a lazy cube
    anomalies = (means - overall).to_dataarray(dim="variable")
    units = [str(cube[v].attrs.get("units", "")) for v in variables]
    anomalies = anomalies.assign_coords(units=("variable", units))
    return anomalies.transpose("cluster", "latitude", "longitude", "variable")


def _land(description):
    """The land outline of the run's files (their land-sea mask or missing `sst`), if any."""
    from keras_dsc.runs.regimes import land_of

    files = description.get("files") or []
    if not files or str(description.get("source", "")).startswith("an xarray Dataset"):
        return None
    return land_of(files, (description.get("options") or {}).get("region"))


FIGURES = ("composites.png", "calendar.png", "latent.png", "training_curves.png")
"""The figures `plot_run` draws into a run folder."""


def plot_run(run_dir, data=None, labels=None, dpi=100, overwrite=False):
    """Draws a run's figures into its folder.

    * `composites.png`: per-cluster mean anomaly maps of every variable (physical units, one
      colour scale per variable centred on zero, land grey and outlined from the files' land-sea
      mask or missing `sst`, even when it was not clustered); titles count windows.
    * `calendar.png`: the cluster of every window along the calendar.
    * `latent.png`: the model's latent vectors projected with PCA, coloured by cluster, with
      the clustering layer's centres.
    * `training_curves.png`: reconstruction loss, clustering loss and label change per epoch,
      from `history.csv` (skipped when the run has none).

    Args:
        run_dir: the run folder (`model.keras`, `preprocessing.json`, `config.json`, ...).
        data: the run's `keras_dsc.data.PreparedData`; `None` re-opens the data that
            `config.json` describes, normalised with the saved `preprocessing.json`.
        labels: int array, the cluster of every window; `None` reads `assignments.csv`.
        dpi: int, pixels per inch. Defaults to 100.
        overwrite: bool, redraw figures the folder already holds (otherwise refused, naming
            `--overwrite`, before anything is read). Defaults to `False`.

    Returns:
        The list of `pathlib.Path`s of the PNG files written.

    Example:

    `run_dir` below is a run folder written by `keras_dsc.runs.fit.fit_run`:

    >>> [path.name for path in plot_run(run_dir, dpi=30)]
    ['composites.png', 'calendar.png', 'latent.png', 'training_curves.png']
    """
    import keras

    from keras_dsc import plots
    from keras_dsc.data import prepare_data
    from keras_dsc.training import embed

    run_dir = check_run_dir(run_dir, (CONFIG_FILE, MODEL_FILE))
    drawn = [run_dir / name for name in FIGURES if (run_dir / name).exists()]
    if drawn and not overwrite:
        raise OptionError(f"{drawn[0]} already exists; pass {{overwrite}} to redraw the run's "
                          f"figures", "overwrite")
    config = read_config(run_dir)
    if data is None:
        data = prepare_data(run_data_options(config), read_preprocessor(run_dir))
    windows = data.windows
    if labels is None:
        labels = read_assignments_table(run_dir, windows.start_times)["cluster"]
    labels = np.asarray(labels, np.int64)
    if labels.shape != (len(windows),):
        raise DataError(f"{run_dir}: {labels.shape[0]} cluster labels for {len(windows)} "
                        f"windows of the data (was the data changed since the run?)")
    batch_size = int(config.get("fit", {}).get("batch_size", 16))

    paths = []
    composites = cluster_composites(data.cube, windows.variables, labels, windows.window,
                                    windows.stride)
    # plot_composites averages per time step: one copy of its cluster's composite per window
    # gives the same means and titles that count windows.
    order = np.searchsorted(composites["cluster"].values, labels)
    per_window = composites.isel(cluster=order).rename(cluster="time")
    per_window = per_window.assign_coords(time=np.asarray(windows.start_times))
    land = _land(data.description)
    paths.append(plots.plot_composites(per_window, labels, run_dir / "composites.png", dpi=dpi,
                                       land=None if land is None else land.values))
    paths.append(plots.plot_calendar(windows.start_times, labels, run_dir / "calendar.png",
                                     dpi=dpi))

    model = load_model(run_dir)
    latent = embed(model, windows, batch_size)
    centres = keras.ops.convert_to_numpy(model.clustering.centres)
    if len(windows) >= 2:
        paths.append(plots.plot_latent(latent, labels, centres, run_dir / "latent.png",
                                       dpi=dpi))
    history = run_dir / HISTORY_FILE
    if history.is_file():
        try:
            frame = pd.read_csv(history)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
            raise DataError(f"{history}: not a readable CSV training log ({error})") from None
        frame = frame.dropna(axis="columns", how="all")  # CSVLogger's empty val_ columns
        paths.append(plots.plot_training_curves(frame, run_dir / "training_curves.png",
                                                dpi=dpi))
    return paths
