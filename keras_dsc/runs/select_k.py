"""Choosing the number of clusters for DSC: scores over a range of k, a table, a plot, a pick.

Two ways, both ending in `keras_dsc.scoring.k_scores.recommend_k`:

* `latent` (fast): one autoencoder pre-training (`pretrain_autoencoder`), then k-means over k
  on the latent vectors (`keras_dsc.scoring.k_scores.score_k`).
* `full runs`: a complete DSC training (`keras_dsc.training.train_dsc`) per k, each clustering
  scored on the flattened normalised input windows, the one space all k share.
"""

import dataclasses
import json
import shutil
import time

import numpy as np
import pandas as pd

from keras_dsc.data.prepare import hold_windows
from keras_dsc.errors import OptionError
from keras_dsc.runs.options import FitOptions, build_dsc, train_with_options
from keras_dsc.runs.run_folder import new_run_dir
from keras_dsc.scoring.metrics import score_run
from keras_dsc.training.classical import feature_weights


def pretrain_autoencoder(windows, fit_options=None, verbose=0):
    """Builds DSC and pre-trains its autoencoder only (`keras_dsc.training.pretrain`).

    The clustering centres are never initialised: the model is only good for its encoder
    (`keras_dsc.training.embed`).

    Args:
        windows: the window source (a `WindowedCube` or NumPy array).
        fit_options: a `FitOptions` (architecture, `pretrain_steps`, `batch_size`,
            `learning_rate`, `seed`). Defaults to `FitOptions()`.
        verbose: `fit`'s verbosity. Defaults to 0.

    Returns:
        `(model, history)`: the pre-trained `DSC` and the dict of per-epoch losses.
    """
    import keras

    from keras_dsc.training import pretrain

    fit_options = fit_options or FitOptions()
    keras.utils.set_random_seed(fit_options.seed)
    sample_shape = getattr(windows, "sample_shape", None) or np.shape(windows)[1:]
    model = build_dsc(sample_shape, 2, fit_options)
    history, _ = pretrain(model, windows, fit_options.batch_size, fit_options.pretrain_steps,
                          fit_options.learning_rate, fit_options.seed,
                          callbacks=[keras.callbacks.TerminateOnNaN()], verbose=verbose)
    return model, history


def k_values(k_min, k_max, n_samples=None):
    """`range(k_min, k_max + 1)`, checked against the CLI rules and the number of samples
    (`None`: not yet known, the rest is checked before any data is read)."""
    if k_min < 2:
        raise OptionError(f"{{k_min}} must be at least 2, got {k_min}", "k_min")
    if k_max < k_min:
        raise OptionError(f"{{k_max}} {k_max} is less than {{k_min}} {k_min}", "k_max", "k_min")
    if n_samples is not None and k_max >= n_samples:
        raise OptionError(f"{{k_max}} {k_max} must be less than the number of samples "
                          f"({n_samples} windows); lower it or use more data", "k_max")
    return list(range(int(k_min), int(k_max) + 1))


def score_full_runs(windows, ks, fit_options=None, verbose=0, echo=None):
    """Trains DSC once per k and scores each clustering on the flattened normalised windows.

    Args:
        windows: a `WindowedCube`.
        ks: the numbers of clusters.
        fit_options: a `FitOptions` for every run (`n_clusters` is replaced by each k).
        verbose: `fit`'s verbosity.
        echo: optional function printing a line per k.

    Returns:
        A `pandas.DataFrame` with the columns of `keras_dsc.scoring.k_scores.score_k` (`k`,
        `silhouette`, `davies_bouldin`, `calinski_harabasz`, `inertia` the within-cluster
        sum of squares), plus `clusters_found`, `converged`, `ari`/`nmi` against the data's
        planted regimes when it has them, and `wall_time_s`.
    """
    import keras

    fit_options = fit_options or FitOptions()
    rows = []
    for k in ks:
        started = time.time()
        keras.backend.clear_session()  # free the previous k's model and traced functions
        model = build_dsc(windows.sample_shape, k, fit_options)
        result = train_with_options(model, windows, fit_options, verbose=verbose)
        scores = score_run(windows, result.labels,  # a seeded subset of a long record
                           weights=feature_weights(windows, fit_options.area_weighting))
        row = {
            "k": k,
            "silhouette": scores["silhouette_euclidean"],
            "davies_bouldin": scores["davies_bouldin"],
            "calinski_harabasz": scores["calinski_harabasz"],
            "inertia": scores["total_rmse"] ** 2 * scores["scored_windows"],
            "clusters_found": scores["n_clusters"],
            "converged": bool(result.converged),
        }
        if windows.labels is not None:
            row["ari"], row["nmi"] = scores["ari"], scores["nmi"]
        row["wall_time_s"] = round(time.time() - started, 1)
        rows.append(row)
        if echo is not None:
            echo(f"k={k}: {scores['n_clusters']} clusters found in {row['wall_time_s']} s")
    table = pd.DataFrame(rows)
    return table.astype({c: float for c in ("silhouette", "davies_bouldin",
                                            "calinski_harabasz")})


PREPARED_FOLDER = ".prepared"
"""Where a lazy cube's windows are prepared once while `select_k` trains (then removed)."""


def select_k(data_options=None, fit_options=None, k_min=2, k_max=12, full_runs=False,
             echo=print, verbose=0):
    """Scores k = `k_min`..`k_max` and writes the table, the plot and the recommendation.

    Writes into `<fit_options.out>/<fit_options.run_name or select-k-<timestamp>>/`:
    `k_selection.csv` (one row per k), `k_selection.png` (`keras_dsc.plots.plot_k_selection`)
    and `k_selection.json` (the recommended k, the reason, the features, the options).

    Args:
        data_options: a `keras_dsc.data.DataOptions` (default: the built-in cube).
        fit_options: a `FitOptions`: the architecture and training of the autoencoder (or of
            every full run), `out` and `run_name`. `n_clusters` is not used.
        k_min: int, the smallest k. Defaults to 2.
        k_max: int, the largest k. Defaults to 12.
        full_runs: `False` to score k-means on the pre-trained latent space (one training);
            `True` for a full DSC training per k, scored on the normalised input windows.
        echo: function printing a line.
        verbose: `fit`'s verbosity.

    Returns:
        A dict with `k`, `reason`, `features`, `table` (a `pandas.DataFrame`) and `out_dir`.

    Example:

    >>> from keras_dsc.data import DataOptions
    >>> result = select_k(DataOptions(days=8), FitOptions(pretrain_steps=2, filters=(2,),
    ...                                                   latent_dim=4, out="runs"),
    ...                   k_min=2, k_max=4, echo=lambda line: None)
    >>> result["table"]["k"].tolist(), result["k"] in (2, 3, 4)
    ([2, 3, 4], True)
    """
    from keras_dsc.data import DataOptions, prepare_data
    from keras_dsc.plots import plot_k_selection
    from keras_dsc.scoring.k_scores import recommend_k, score_k

    data_options = data_options or DataOptions()
    fit_options = fit_options or FitOptions()
    if fit_options.pretrain_steps < 1 and not full_runs:
        raise OptionError("{pretrain_steps} must be at least 1: the latent space of an "
                          "untrained autoencoder says nothing about k", "pretrain_steps")
    k_values(k_min, k_max)  # a wrong range is refused before the data is read
    started = time.time()
    data = prepare_data(data_options)
    windows = data.windows
    ks = k_values(k_min, k_max, len(windows))
    out_dir = new_run_dir(fit_options.out, fit_options.run_name, prefix="select-k")
    echo(f"data: {len(windows)} windows of shape {windows.sample_shape} "
         f"(time, lat, lon, variables) from {data.description['source']}")

    scratch = out_dir / PREPARED_FOLDER  # a lazy cube's windows, prepared once (removed)
    windows, held = hold_windows(windows, scratch, data_options.stream)
    echo(held)
    data.description["windows_held"] = held
    try:
        if full_runs:
            features = "normalised input windows, flattened (a full DSC training per k)"
            echo(f"training DSC for k = {ks[0]}..{ks[-1]} ...")
            table = score_full_runs(windows, ks, fit_options, verbose=verbose, echo=echo)
        else:
            from keras_dsc.training import embed

            echo(f"pre-training the autoencoder for at most {fit_options.pretrain_steps} steps ...")
            model, _ = pretrain_autoencoder(windows, fit_options, verbose=verbose)
            latent = embed(model, windows, fit_options.batch_size)
            features = (f"latent vectors of the pre-trained autoencoder "
                        f"({latent.shape[0]} x {latent.shape[1]}), k-means per k")
            table = score_k(latent, ks, seed=fit_options.seed)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    k, reason = recommend_k(table)
    table.to_csv(out_dir / "k_selection.csv", index=False)
    plot_k_selection(table, out_dir / "k_selection.png", recommended=k)
    summary = {
        "recommended_k": k,
        "reason": reason,
        "features": features,
        "k_min": ks[0],
        "k_max": ks[-1],
        "full_runs": bool(full_runs),
        "fit": {**dataclasses.asdict(fit_options), "filters": list(fit_options.filters),
                "run_name": out_dir.name},
        "data": data.description,
        "wall_time_s": round(time.time() - started, 1),
    }
    (out_dir / "k_selection.json").write_text(json.dumps(summary, indent=2, default=str))
    echo(f"scores on {features}:")
    echo(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    echo(f"recommended k: {k}. {reason}")
    echo(f"wrote {out_dir}")
    return {"k": k, "reason": reason, "features": features, "table": table,
            "out_dir": out_dir}

