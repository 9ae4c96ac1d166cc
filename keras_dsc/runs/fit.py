"""A training run: options in, a run folder with the model, assignments and scores out."""

import dataclasses
import importlib.metadata
import json
import platform
import time

import numpy as np

from keras_dsc.data import DataOptions, prepare_data
from keras_dsc.runs import run_folder
from keras_dsc.runs.options import FitOptions, build_dsc, train_with_options
from keras_dsc.scoring.metrics import score_run


def library_versions():
    """The versions of Python and of the libraries a run depends on, for `config.json`."""
    names = ["keras_dsc", "keras", "tensorflow", "numpy", "xarray", "scikit-learn"]
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def fit_run(data_options=None, fit_options=None, echo=print, verbose="auto"):
    """Trains DSC on the data the options describe and writes a run folder.

    The folder `<out>/<run_name>/` receives `model.keras`, `preprocessing.json` (the
    normalisation that new data must get), `config.json` (every hyperparameter, the data
    description, the seed, library versions), `history.csv`, `assignments.csv`,
    `metrics.json`, `assignments.nc` and, unless `plots=False`, PNG figures and the regime
    statistics (`regimes/`, see `keras_dsc.runs.regimes.regime_statistics`); with
    `tensorboard`, TensorBoard logs in `logs/`.

    Args:
        data_options: a `DataOptions` (default: the built-in cube).
        fit_options: a `FitOptions`.
        echo: function that prints a line of the summary.
        verbose: `fit`'s verbosity.

    Returns:
        The run folder, a `pathlib.Path`.

    Example (a tiny model on six days of the built-in cube; the defaults train the real one):

    >>> from keras_dsc.data import DataOptions
    >>> options = FitOptions(n_clusters=2, filters=(2,), latent_dim=4, pretrain_epochs=1,
    ...                      epochs=1, plots=False, run_name="tiny")
    >>> fit_run(DataOptions(days=6), options, echo=lambda line: None, verbose=0)
    PosixPath('saved_models/tiny')
    """
    data_options = data_options or DataOptions()
    fit_options = fit_options or FitOptions()
    run_folder.free_run_dir(fit_options.out, fit_options.run_name)
    started = time.time()
    data = prepare_data(data_options)
    windows = data.windows
    fit_options.check_samples(len(windows))
    # Every check on the user's input is done before TensorFlow is imported (its start-up
    # chatter on stderr would bury a one-line error) and before anything is written.
    import keras

    run_dir = run_folder.new_run_dir(fit_options.out, fit_options.run_name)
    echo(f"data: {len(windows)} windows of shape {windows.sample_shape} "
         f"(time, lat, lon, variables) from {data.description['source']}")

    keras.utils.set_random_seed(fit_options.seed)
    model = build_dsc(windows.sample_shape, fit_options.n_clusters, fit_options)
    result = train_with_options(model, windows, fit_options, log_dir=run_dir, verbose=verbose)
    model.save(run_dir / run_folder.MODEL_FILE)
    (run_dir / run_folder.CHECKPOINT_FILE).unlink(missing_ok=True)
    data.preprocessor.save(run_dir)
    run_folder.write_assignments(run_dir / run_folder.ASSIGNMENTS_FILE, windows.start_times,
                                 result.labels, result.probabilities)
    scores = score_run(windows, result.labels)
    scores["converged"] = bool(result.converged)
    scores["epochs_run"] = len(result.history.get("loss", []))
    scores["wall_time_s"] = round(time.time() - started, 1)
    (run_dir / run_folder.METRICS_FILE).write_text(json.dumps(scores, indent=2))
    config = {
        "fit": {**dataclasses.asdict(fit_options), "filters": list(fit_options.filters),
                "run_name": run_dir.name},
        "data": data.description,
        "model": model.get_config(),
        "versions": library_versions(),
    }
    (run_dir / run_folder.CONFIG_FILE).write_text(json.dumps(config, indent=2, default=str))
    if fit_options.plots and data.cube is None:
        echo("figures: skipped (a tfds: dataset has no physical-unit cube to draw maps from)")
    elif fit_options.plots:
        from keras_dsc.runs.figures import plot_run

        plot_run(run_dir, data=data, labels=result.labels)
    from keras_dsc.runs import regimes

    regimes.write_run_assignments_netcdf(run_dir, windows.start_times, result.labels,
                                         result.probabilities, config)
    if fit_options.plots:
        echo(f"regimes: frequencies, persistence, transitions in "
             f"{regimes.regime_statistics(run_dir).out}")
    summarise(echo, run_dir, result.labels, scores)
    return run_dir


def summarise(echo, run_dir, labels, scores):
    """Prints the clusters found, their sizes and the main scores of a run."""
    sizes = np.bincount(labels, minlength=len(scores.get("cluster_sizes", {})) or None)
    echo(f"clusters found: {int((sizes > 0).sum())}; sizes: "
         + ", ".join(f"{k}:{n}" for k, n in enumerate(sizes)))
    names = ["silhouette_cosine", "silhouette_euclidean", "davies_bouldin", "calinski_harabasz",
             "ari", "nmi"]
    shown = [f"{n}={scores[n]:.3f}" for n in names if scores.get(n) is not None]
    echo("scores: " + ", ".join(shown))
    echo(f"wrote {run_dir}")
