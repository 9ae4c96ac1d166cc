"""A training run: options in, a run folder with the model, assignments and scores out."""

import dataclasses
import datetime
import importlib.metadata
import json
import pathlib
import platform
import time

import numpy as np
import pandas as pd

from keras_dsc.data import DataOptions, prepare_data
from keras_dsc.errors import DataError

MODEL_FILE = "model.keras"
SCORE_BYTES = 256 * 1024**2
"""The flattened windows (float32) `score_run` holds at most; longer records are scored on a
subset. The scores work on a float64 copy: about three times this at the peak."""


@dataclasses.dataclass
class FitOptions:
    """Model and training hyperparameters of a run (the CLI's model options).

    Attributes mirror `keras_dsc.DSC` and `keras_dsc.train_dsc`; `out` is the parent folder
    and `run_name` the run's folder inside it (`None`: a time stamp).
    """

    n_clusters: int = 6
    epochs: int = 20
    pretrain_epochs: int = 15
    batch_size: int = 16
    gamma: float = 0.1
    update_interval: int = 20
    tol: float = 0.001
    latent_dim: int = 16
    filters: tuple = (8, 16)
    skip: bool = False
    recurrent_decoder: bool = True
    learning_rate: float = 2e-3
    seed: int = 0
    out: str = "saved_models"
    run_name: str = None
    plots: bool = True


def check_fit_options(options, n_samples=None):
    """Raises `DataError` naming the CLI option for any invalid hyperparameter."""
    checks = [
        (options.n_clusters >= 2, f"--n-clusters must be at least 2, got {options.n_clusters}"),
        (options.epochs >= 1, f"--epochs must be positive, got {options.epochs}"),
        (options.pretrain_epochs >= 0,
         f"--pretrain-epochs must be 0 or more, got {options.pretrain_epochs}"),
        (options.batch_size >= 1, f"--batch-size must be positive, got {options.batch_size}"),
        (options.gamma >= 0, f"--gamma must not be negative, got {options.gamma}"),
        (options.update_interval >= 1,
         f"--update-interval must be positive, got {options.update_interval}"),
        (options.tol >= 0, f"--tol must not be negative, got {options.tol}"),
        (options.latent_dim >= 1, f"--latent-dim must be positive, got {options.latent_dim}"),
        (len(options.filters) >= 1 and all(f >= 1 for f in options.filters),
         f"--filters must be positive integers, one per depth level, got {options.filters}"),
        (options.learning_rate > 0,
         f"--learning-rate must be positive, got {options.learning_rate}"),
    ]
    if n_samples is not None:
        checks.append((options.n_clusters <= n_samples,
                       f"--n-clusters {options.n_clusters} is more than the {n_samples} samples "
                       f"of the data"))
    for ok, message in checks:
        if not ok:
            raise DataError(message)


def free_run_dir(out, run_name):
    """`<out>/<run_name>` (`run_name` None: a time stamp); refuses an existing folder."""
    run_name = run_name or datetime.datetime.now().strftime("dsc-%Y%m%d-%H%M%S")
    run_dir = pathlib.Path(out) / run_name
    if run_dir.exists():
        raise DataError(f"--run-name: {run_dir} already exists; choose another name")
    return run_dir


def new_run_dir(out, run_name):
    """Creates `<out>/<run_name>/`; refuses an existing one so no earlier run is overwritten."""
    run_dir = free_run_dir(out, run_name)
    try:
        run_dir.mkdir(parents=True)
    except OSError as error:
        raise DataError(f"--out: cannot create {run_dir}: {error.strerror}") from None
    return run_dir


def build_dsc(sample_shape, n_clusters, fit_options):
    """A `keras_dsc.DSC` with the architecture options of `fit_options` (a `FitOptions`)."""
    from keras_dsc.models.dsc import DSC

    return DSC(
        input_shape=tuple(sample_shape),
        n_clusters=n_clusters,
        filters=tuple(fit_options.filters),
        latent_dim=fit_options.latent_dim,
        skip=fit_options.skip,
        recurrent_decoder=fit_options.recurrent_decoder,
        gamma=fit_options.gamma,
    )


def train_with_options(model, windows, fit_options, log_dir=None, verbose="auto"):
    """`keras_dsc.train_dsc` with the training options of `fit_options` (a `FitOptions`)."""
    from keras_dsc.training import train_dsc

    return train_dsc(
        model, windows,
        batch_size=fit_options.batch_size,
        pretrain_epochs=fit_options.pretrain_epochs,
        epochs=fit_options.epochs,
        update_interval=fit_options.update_interval,
        tol=fit_options.tol,
        learning_rate=fit_options.learning_rate,
        seed=fit_options.seed,
        log_dir=log_dir,
        verbose=verbose,
    )


def library_versions():
    names = ["keras_dsc", "keras", "tensorflow", "numpy", "xarray", "scikit-learn"]
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def write_assignments(path, start_times, labels, probabilities):
    """`assignments.csv`: window start (ISO 8601), cluster, that cluster's probability."""
    frame = pd.DataFrame({
        "time": pd.to_datetime(start_times).strftime("%Y-%m-%dT%H:%M:%S"),
        "cluster": labels.astype(int),
        "probability": probabilities[np.arange(len(labels)), labels].round(6),
    })
    frame.to_csv(path, index=False)


def score_run(windows, labels, features="normalised input windows", reference=None,
              max_bytes=SCORE_BYTES, seed=0):
    """Clustering scores of `labels` on the flattened normalised windows (NaN as 0).

    The scores in feature space (silhouettes, Davies-Bouldin, Calinski-Harabasz, the paper's
    three) need the windows flattened in memory, so a record whose flattened windows would
    exceed `max_bytes` (float32) is scored on a seeded random subset of windows of that size
    (at least 100 windows); `n_clusters`, `cluster_sizes` and ARI/NMI against the data's labels
    always count every window. `scored_windows` says how many windows the feature-space scores
    saw.

    Args:
        windows: a `WindowedCube`.
        labels: int array `(len(windows),)`, the clusters to score.
        features: the description stored under `"features"`.
        reference: int array `(len(windows),)`, the partition ARI and NMI compare with;
            `None` for the windows' own `labels` (none when the data has none).
        max_bytes: int, the memory the flattened windows may take. Defaults to 256 MiB.
        seed: int, seed of the subset. Defaults to `0`.

    Returns:
        The dict of `keras_dsc.scoring.metrics.cluster_scores`, plus `scored_windows`.
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from keras_dsc.scoring.metrics import cluster_scores

    labels = np.asarray(labels)
    n = len(windows)
    per_window = 4 * int(np.prod(windows.sample_shape))
    size = min(n, max(int(max_bytes) // per_window, 100))
    subset = None
    if size < n:
        subset = np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
        features = f"{features} (a random {size} of {n} windows)"
    reference = windows.labels if reference is None else np.asarray(reference)
    scores = cluster_scores(
        windows.flatten_features(indices=subset),
        labels if subset is None else labels[subset],
        None if reference is None else (reference if subset is None else reference[subset]),
        features=features)
    if subset is not None:  # the counts and the label agreement over every window
        ids, counts = np.unique(labels, return_counts=True)
        scores["n_clusters"] = int(ids.size)
        scores["cluster_sizes"] = {int(i): int(c) for i, c in zip(ids, counts)}
        if reference is not None:
            scores["ari"] = float(adjusted_rand_score(reference, labels))
            scores["nmi"] = float(normalized_mutual_info_score(reference, labels))
    scores["scored_windows"] = int(size)
    return scores


def fit_run(data_options=None, fit_options=None, echo=print, verbose="auto"):
    """Trains DSC on the data the options describe and writes a run folder.

    The folder `<out>/<run_name>/` receives `model.keras`, `preprocessing.json` (the
    normalisation that new data must get), `config.json` (every hyperparameter, the data
    description, the seed, library versions), `history.csv`, `assignments.csv`,
    `metrics.json` and, unless `plots=False`, PNG figures.

    Args:
        data_options: a `DataOptions` (default: the built-in cube).
        fit_options: a `FitOptions`.
        echo: function that prints a line of the summary.
        verbose: `fit`'s verbosity.

    Returns:
        The run folder, a `pathlib.Path`.
    """
    data_options = data_options or DataOptions()
    fit_options = fit_options or FitOptions()
    check_fit_options(fit_options)
    free_run_dir(fit_options.out, fit_options.run_name)
    started = time.time()
    data = prepare_data(data_options)
    windows = data.windows
    check_fit_options(fit_options, n_samples=len(windows))
    # Every check on the user's input is done before TensorFlow is imported (its start-up
    # chatter on stderr would bury a one-line error) and before anything is written.
    import keras

    run_dir = new_run_dir(fit_options.out, fit_options.run_name)
    echo(f"data: {len(windows)} windows of shape {windows.sample_shape} "
         f"(time, lat, lon, variables) from {data.description['source']}")

    keras.utils.set_random_seed(fit_options.seed)
    model = build_dsc(windows.sample_shape, fit_options.n_clusters, fit_options)
    result = train_with_options(model, windows, fit_options, log_dir=run_dir, verbose=verbose)
    model.save(run_dir / MODEL_FILE)
    (run_dir / "checkpoint.keras").unlink(missing_ok=True)
    data.preprocessor.save(run_dir)
    write_assignments(run_dir / "assignments.csv", windows.start_times, result.labels,
                      result.probabilities)
    scores = score_run(windows, result.labels)
    scores["converged"] = bool(result.converged)
    scores["epochs_run"] = len(result.history.get("loss", []))
    scores["wall_time_s"] = round(time.time() - started, 1)
    (run_dir / "metrics.json").write_text(json.dumps(scores, indent=2))
    config = {
        "fit": {**dataclasses.asdict(fit_options), "filters": list(fit_options.filters),
                "run_name": run_dir.name},
        "data": data.description,
        "model": model.get_config(),
        "versions": library_versions(),
    }
    (run_dir / "config.json").write_text(json.dumps(config, indent=2, default=str))
    if fit_options.plots and data.cube is None:
        echo("figures: skipped (a tfds: dataset has no physical-unit cube to draw maps from)")
    elif fit_options.plots:
        from keras_dsc.runs.figures import plot_run

        plot_run(run_dir, data=data, labels=result.labels)
    summarise(echo, run_dir, result.labels, scores)
    return run_dir


def summarise(echo, run_dir, labels, scores):
    sizes = np.bincount(labels, minlength=len(scores.get("cluster_sizes", {})) or None)
    echo(f"clusters found: {int((sizes > 0).sum())}; sizes: "
         + ", ".join(f"{k}:{n}" for k, n in enumerate(sizes)))
    names = ["silhouette_cosine", "silhouette_euclidean", "davies_bouldin", "calinski_harabasz",
             "ari", "nmi"]
    shown = [f"{n}={scores[n]:.3f}" for n in names if scores.get(n) is not None]
    echo("scores: " + ", ".join(shown))
    echo(f"wrote {run_dir}")
