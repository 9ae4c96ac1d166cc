"""A training run: options in, a run folder with the model, assignments and scores out."""

import dataclasses
import importlib.metadata
import json
import platform
import sys
import time

import numpy as np
import pandas as pd

from keras_dsc.data import DataOptions, prepare_data
from keras_dsc.data.options import summary_lines
from keras_dsc.data.prepare import hold_windows
from keras_dsc.errors import DataError, OptionError
from keras_dsc.runs import run_folder
from keras_dsc.runs.options import FitOptions, build_dsc, train_with_options
from keras_dsc.scoring.metrics import score_run
from keras_dsc.training.classical import feature_weights


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


def train_method(windows, fit_options, seed, hardware, log_dir=None, verbose="auto",
                 backup_dir=None):
    """Trains the clustering `fit_options.method` names once, with `seed`; a DSC training
    backs itself up into `backup_dir` (and continues from what it holds, see `train_dsc`).

    Returns:
        `(model, result)`: the Keras model (a `DSC` or a `CentroidModel`) and a
        `keras_dsc.training.procedure.TrainingResult`.
    """
    import keras

    from keras_dsc.training.callbacks import soft_assignments
    from keras_dsc.training.classical import fit_centroid_model
    from keras_dsc.training.procedure import TrainingResult

    keras.utils.set_random_seed(seed)
    if fit_options.method != "dsc":
        model, info = fit_centroid_model(
            windows, fit_options.n_clusters, fit_options.method, fit_options.n_eofs,
            fit_options.explained_variance, fit_options.area_weighting, seed)
        probabilities = soft_assignments(model, windows, fit_options.batch_size)
        labels = probabilities.argmax(axis=1)
        return model, TrainingResult(labels, probabilities, labels, {}, True, details=info)
    from keras_dsc.training.hardware import Distribution
    from keras_dsc.training.start import start_partition

    partition, start = start_partition(windows, fit_options.n_clusters, fit_options.init,
                                       fit_options.n_eofs, fit_options.explained_variance,
                                       fit_options.area_weighting, seed, fit_options.batch_size)

    # Where the start holds group structure, the latent space takes its clusters' geometry.
    whiten = start["partition"] == "standardised-eofs"
    keras.utils.set_random_seed(seed)
    # The model is built, compiled and trained in the engine's scope (`--distribute`); the
    # k-means initialisation and the target distribution are computed once, on the host.
    with Distribution(fit_options.distribute):
        model = build_dsc(windows.sample_shape, fit_options.n_clusters, fit_options,
                          hardware["dtype_policy"], getattr(windows, "latitudes", None))
        options = dataclasses.replace(fit_options, seed=seed)
        result = train_with_options(model, windows, options, log_dir=log_dir, verbose=verbose,
                                    jit_compile=hardware["jit_compile"],
                                    initial_partition=partition, backup_dir=backup_dir,
                                    whiten_latent=whiten)
    if whiten:
        start["whitened_latent"] = True
    result.details = {"start": start}
    return model, result


def choose_seed(trained, windows, weights, fit_options):
    """Of several trainings `[(model, result), ...]`, the one with the most compact regimes.

    The label-free criterion is the within-cluster variance of the (area-weighted) windows,
    what k-means minimises, the same for every method. The stability is the mean pairwise ARI
    between the seeds' partitions when there are several; for a single training, the
    agreement of k-means refitted on bootstrap resamples of its embedding.

    Returns:
        `(model, result, stability)`.
    """
    from keras_dsc.scoring.stability import (
        bootstrap_stability,
        seed_stability,
        within_cluster_variance,
    )
    from keras_dsc.training import embed

    if len(trained) > 1:
        features = _scoring_features(windows, weights)
        variances = [within_cluster_variance(features, r.labels) for _, r in trained]
        model, result = trained[int(np.argmin(variances))]
        stability = seed_stability([r.labels for _, r in trained])
        stability["within_cluster_variance"] = [round(v, 6) for v in variances]
        return model, result, stability
    model, result = trained[0]
    embedding = embed(model, windows, fit_options.batch_size)
    stability = bootstrap_stability(embedding, result.labels, fit_options.n_clusters,
                                    seed=fit_options.seed)
    return model, result, stability


def _scoring_features(windows, weights, max_bytes=256 * 1024**2, seed=0):
    """The flattened, weighted windows (a seeded subset of a long record) for `choose_seed`."""
    n = len(windows)
    size = min(n, max(max_bytes // (4 * int(np.prod(windows.sample_shape))), 100))
    subset = None if size >= n else np.sort(np.random.default_rng(seed).choice(n, size, False))
    return windows.flatten_features(indices=subset) * weights


def fit_run(data_options=None, fit_options=None, echo=print, verbose="auto", given=None):
    """Trains DSC on the data the options describe and writes a run folder.

    The folder `<out>/<run_name>/` receives `model.keras`, `preprocessing.json` (the
    normalisation that new data must get), `config.json` (every hyperparameter, the data
    description, the seed, library versions), `history.csv`, `assignments.csv`,
    `metrics.json`, `assignments.nc` and, unless `plots=False`, PNG figures and the regime
    statistics (`regimes/`, see `keras_dsc.runs.regimes.regime_statistics`); with
    `tensorboard`, TensorBoard logs in `logs/`.

    The run is written into the hidden `<out>/.<run_name>.partial/`, claimed (locked) before
    TensorFlow starts, and renamed into place once complete, so a folder that looks finished
    is. A killed run leaves only its partial folder, with a backup of its training at every
    epoch end; `fit_options.resume` (the run's name or folder) continues it, with the options
    it was started with, to the same assignments as a run never stopped.

    Args:
        data_options: a `DataOptions` (default: the built-in cube). Ignored when resuming,
            except for the options in `given`.
        fit_options: a `FitOptions`.
        echo: function that prints a line of the summary.
        verbose: `fit`'s verbosity; `"auto"`: a progress bar on a terminal, one line per
            epoch otherwise (a log file, a batch job's output).
        given: when resuming, `{"data": {...}, "fit": {...}}`, the options the user set (the
            command line's); each must agree with the saved run's. Default: the options that
            differ from their defaults.

    Under `--distribute multi-worker` every worker calls `fit_run` with the same options;
    worker 0, the chief, writes the run folder; the others train into a scratch run
    `<out>/<run-name>.worker-<index>` (a partial folder, kept for `--resume` when killed) and
    remove it at the end.

    Returns:
        The run folder, a `pathlib.Path` (`None` on a worker that is not the chief).

    Example (a tiny model on six days of the built-in cube; the defaults train the real one):

    >>> from keras_dsc.data import DataOptions
    >>> options = FitOptions(n_clusters=2, filters=(2,), latent_dim=4, pretrain_steps=1,
    ...                      steps=1, plots=False, run_name="tiny")
    >>> fit_run(DataOptions(days=6), options, echo=lambda line: None, verbose=0)
    PosixPath('saved_models/tiny')
    """
    data_options = data_options or DataOptions()
    fit_options = fit_options or FitOptions()
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    worker = _worker_index(fit_options)
    if worker and fit_options.resume is not None:  # a worker resumes its own scratch run
        fit_options = dataclasses.replace(fit_options,
                                          resume=f"{str(fit_options.resume).rstrip('/')}"
                                                 f"{WORKER_SUFFIX}{worker}")
    claim = None
    if fit_options.resume is not None:
        partial = run_folder.find_partial(fit_options.resume, fit_options.out)
        data_options, fit_options = resumed_options(run_folder.read_run_options(partial),
                                                    data_options, fit_options, given)
        claim = run_folder.reclaim_run_dir(partial)
        claim.clear_outputs()
    else:
        name = fit_options.run_name
        if worker:  # not the chief: trains with the others into scratch, removed at the end
            name = f"{name or run_folder.default_run_name()}{WORKER_SUFFIX}{worker}"
        run_dir = run_folder.free_run_dir(fit_options.out, name)
        fit_options = dataclasses.replace(fit_options, run_name=run_dir.name)
    try:
        started = time.time()
        data = prepare_data(data_options)
        windows = data.windows
        fit_options.check_samples(len(windows), getattr(windows, "latitudes", None))
        # Every check on the user's input is done before TensorFlow is imported (its start-up
        # chatter on stderr would bury a one-line error) and before anything is written; the
        # run name is claimed then, so that of two fits into one name the second refuses now.
        if claim is None:
            claim = run_folder.claim_run_dir(fit_options.out, fit_options.run_name)
            run_folder.write_run_options(claim, fit_options, data_options)
    except (OptionError, DataError):
        if claim is not None and fit_options.resume is None:
            claim.abandon()
        raise
    import keras  # noqa: F401

    distribution = None
    if fit_options.distribute != "none":
        from keras_dsc.training.hardware import Distribution

        distribution = Distribution(fit_options.distribute).describe()
        if fit_options.batch_size < distribution["replicas"]:
            if fit_options.resume is None:
                claim.abandon()
            raise OptionError(f"{{batch_size}} {fit_options.batch_size} is smaller than the "
                              f"{distribution['replicas']} devices of {{distribute}} "
                              f"{fit_options.distribute}", "batch_size", "distribute")
    run_dir = claim.partial
    if fit_options.resume is not None:
        echo(f"resuming {claim.run_dir} from {run_dir}")
    echo(f"data: {len(windows)} windows of shape {windows.sample_shape} "
         f"(time, lat, lon, variables) from {data.description['source']}")
    for line in summary_lines(data.description):
        echo(line)
    windows, held = hold_windows(windows, claim.state_dir, data_options.stream)
    data.windows = windows
    data.description["windows_held"] = held
    echo(held)

    from keras_dsc.training.hardware import hardware_settings

    hardware = hardware_settings(fit_options.jit_compile, fit_options.mixed_precision)
    echo(f"hardware: {hardware['backend']} on {hardware['device']}, XLA "
         f"{'on' if hardware['jit_compile'] else 'off'}, {hardware['dtype_policy']}")
    if distribution is not None:
        hardware.update(distribution)
        echo(f"distribute: {fit_options.distribute} over {hardware['replicas']} devices "
             f"({', '.join(hardware['devices'])}), global batch {fit_options.batch_size}")
    trained = [train_method(windows, fit_options, fit_options.seed + i, hardware,
                            log_dir=run_dir if fit_options.n_init == 1 else None,
                            verbose=verbose,
                            backup_dir=claim.state_dir / f"seed-{fit_options.seed + i}")
               for i in range(fit_options.n_init)]
    weights = feature_weights(windows, fit_options.area_weighting)
    model, result, stability = choose_seed(trained, windows, weights, fit_options)
    if worker:
        claim.abandon()
        echo(f"worker {worker} of {hardware['workers']}: trained with the others; the chief "
             f"(worker 0) writes the run")
        _wait_for_the_workers(fit_options)
        return None
    if fit_options.n_init > 1 and result.history:
        pd.DataFrame(result.history).rename_axis("epoch").to_csv(
            run_dir / run_folder.HISTORY_FILE)
    model.save(run_dir / run_folder.MODEL_FILE)
    (run_dir / run_folder.CHECKPOINT_FILE).unlink(missing_ok=True)
    data.preprocessor.save(run_dir)
    run_folder.write_assignments(run_dir / run_folder.ASSIGNMENTS_FILE, windows.start_times,
                                 result.labels, result.probabilities)
    scores = score_run(windows, result.labels, weights=weights)
    scores["method"] = fit_options.method
    scores["stability"] = stability
    scores["converged"] = bool(result.converged)
    scores["epochs_run"] = len(result.history.get("loss", []))
    scores["stopping"] = result.stopping
    if result.details:
        scores["fitted"] = result.details
    scores["wall_time_s"] = round(time.time() - started, 1)
    (run_dir / run_folder.METRICS_FILE).write_text(json.dumps(scores, indent=2))
    config = {
        "fit": {**dataclasses.asdict(fit_options), "filters": list(fit_options.filters),
                "run_name": claim.run_dir.name},
        "data": data.description,
        "model": model.get_config(),
        "hardware": hardware,
        "versions": library_versions(),
    }
    (run_dir / run_folder.CONFIG_FILE).write_text(json.dumps(config, indent=2, default=str))
    if fit_options.plots and data.cube is None:
        echo("figures: skipped (a tfds: dataset has no physical-unit cube to draw maps from)")
    elif fit_options.plots:
        from keras_dsc.runs.figures import plot_run

        plot_run(run_dir, data=data, labels=result.labels, overwrite=True)
    from keras_dsc.runs import regimes

    regimes.write_run_assignments_netcdf(run_dir, windows.start_times, result.labels,
                                         result.probabilities, config)
    if fit_options.plots:
        statistics = regimes.regime_statistics(run_dir).out
        echo(f"regimes: frequencies, persistence, transitions in "
             f"{claim.run_dir / statistics.relative_to(run_dir)}")
    run_dir = claim.finish()
    summarise(echo, run_dir, result.labels, scores, fit_options.n_clusters)
    _wait_for_the_workers(fit_options)
    return run_dir


def _wait_for_the_workers(fit_options):
    """Under `--distribute multi-worker`, returns once every worker is done (the others wait
    for the chief to write the run)."""
    if fit_options.distribute == "multi-worker":
        from keras_dsc.training.workers import barrier

        barrier()


WORKER_SUFFIX = ".worker-"
"""A non-chief worker's scratch run is `<out>/<run-name>.worker-<index>` (removed once done)."""


def _worker_index(fit_options):
    """This process's worker index under `--distribute multi-worker` (0: the chief), else 0."""
    if fit_options.distribute != "multi-worker":
        return 0
    from keras_dsc.training.workers import worker_task

    return worker_task()[0]


def resumed_options(saved, data_options, fit_options, given=None):
    """The `(DataOptions, FitOptions)` of a resumed run: those it was started with.

    Args:
        saved: the run's saved options (`keras_dsc.runs.run_folder.read_run_options`).
        data_options, fit_options: the options of the `fit --resume` call.
        given: `{"data": {...}, "fit": {...}}`, the options the user set; default: those that
            differ from their defaults.

    Raises:
        OptionError: naming the first given option that contradicts the saved run's.
    """
    if saved.get("data", {}).get("in_memory"):
        raise OptionError("{resume}: the run was fitted on data in memory; it cannot be "
                          "resumed from the command line", "resume")
    if given is None:
        given = {"data": _non_defaults(data_options), "fit": _non_defaults(fit_options)}
    ignored = {"resume", "out"}
    for kind, options in (("data", given.get("data", {})), ("fit", given.get("fit", {}))):
        for name, value in options.items():
            if name in ignored or name not in saved[kind]:
                continue
            if _plain(value) != _plain(saved[kind][name]):
                raise OptionError(
                    f"{{{name}}} {_plain(value)!r} contradicts the run being resumed, which was "
                    f"started with {_plain(saved[kind][name])!r}; {{resume}} continues a run "
                    f"with its own options (leave {{{name}}} out)", name, "resume")
    data = {k: tuple(v) if isinstance(v, list) and k != "data" else v
            for k, v in saved["data"].items() if k in DataOptions.__dataclass_fields__}
    fit = {k: tuple(v) if isinstance(v, list) else v for k, v in saved["fit"].items()
           if k in FitOptions.__dataclass_fields__}
    fit["resume"] = fit_options.resume
    return DataOptions(**data), FitOptions(**fit)


def _non_defaults(options):
    return {f.name: getattr(options, f.name) for f in dataclasses.fields(options)
            if getattr(options, f.name) != f.default}


def _plain(value):
    """`value` as JSON has it (tuples as lists), to compare given and saved options."""
    return json.loads(json.dumps(value, default=str))


REASONS = {
    "budget": "its step budget was used up",
    "plateau": "the reconstruction loss had stopped improving",
    "converged": "fewer than --tol of the windows changed cluster",
    "none": "it did not run",
}


def stopping_text(stopping):
    """One line saying how long each training phase ran and what stopped it."""
    parts = []
    for phase, name in (("pretraining", "pre-training"), ("joint", "joint training")):
        if phase in stopping:
            info = stopping[phase]
            reason = REASONS.get(info["reason"], info["reason"])
            if "last_label_change" in info:
                reason += (f", while {100 * info['last_label_change']:.1f} % of the windows "
                           f"still changed cluster at its last update: a larger --steps lets "
                           f"it converge")
            parts.append(f"{name} {info['steps']} of {info['budget']} steps ({reason})")
    return "training: " + "; ".join(parts)


def start_text(start):
    """One line saying which partition DSC's joint training started from, and why."""
    from keras_dsc.training.start import STRUCTURE_GAP, STRUCTURE_Z

    if start["partition"] == "latent":
        return "start: k-means on the pre-trained latent vectors (--init latent)"
    if "structure_z" not in start:
        return "start: EOF + k-means (--init eof)"
    test = (f"gap {start['structure_gap']:.3f}, {start['structure_z']:.1f} null sd; clusters "
            f"from {STRUCTURE_GAP:g} and {STRUCTURE_Z:g} sd")
    if start["partition"] == "standardised-eofs":
        text = (f"start: k-means on the {start['standardised_eofs']} leading EOFs, each "
                f"standardised: they hold clusters ({test})")
        mixture = start.get("mixture")
        if mixture and not mixture["kept"]:
            text += (f"; refined by a Gaussian mixture with a shared covariance on the "
                     f"{mixture['n_eofs']} leading EOFs ({100 * mixture['changed']:.0f} % of "
                     f"the windows moved)")
        if start.get("whitened_latent"):
            text += "; the latent space whitened by its clusters' shared covariance"
        return text
    return (f"start: EOF + k-means (the {start['standardised_eofs']} leading EOFs, "
            f"standardised, hold no clusters: {test})")


def summarise(echo, run_dir, labels, scores, n_clusters):
    """Prints the clusters found (and which of the `n_clusters` asked for are empty), their
    sizes, the main scores, the start of DSC's joint training and what stopped training."""
    if scores.get("fitted", {}).get("start"):
        echo(start_text(scores["fitted"]["start"]))
    if scores.get("stopping"):
        echo(stopping_text(scores["stopping"]))
    if scores.get("fitted", {}).get("n_components"):
        fitted = scores["fitted"]
        echo(f"{fitted['method']}: {fitted['n_components']} EOFs explaining "
             f"{100 * fitted['explained_variance']:.1f} % of the variance")
    stability = scores.get("stability")
    if stability:
        what = (f"{stability['n']} seeds" if stability["kind"] == "seeds"
                else f"k-means on {stability['n']} bootstrap resamples of the embedding")
        echo(f"stability: mean ARI {stability['mean']:.3f} ± {stability['sd']:.3f} between "
             f"{what}")
    sizes = np.bincount(labels, minlength=max(n_clusters, len(scores.get("cluster_sizes", {}))))
    found = int((sizes > 0).sum())
    empty = [str(k) for k, n in enumerate(sizes) if n == 0]
    echo(f"clusters found: {found}"
         + (f" of the {n_clusters} asked for (no window in cluster {', '.join(empty)})"
            if empty else "")
         + "; sizes: " + ", ".join(f"{k}:{n}" for k, n in enumerate(sizes)))
    names = ["silhouette_cosine", "silhouette_euclidean", "davies_bouldin", "calinski_harabasz",
             "ari", "nmi"]
    shown = [f"{n}={scores[n]:.3f}" for n in names if scores.get(n) is not None]
    if not shown:
        shown = ["none" + (" (they need windows in at least 2 clusters)" if found < 2 else "")]
    echo("scores: " + ", ".join(shown))
    echo(f"wrote {run_dir}")
