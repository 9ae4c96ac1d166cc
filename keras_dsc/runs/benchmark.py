"""The DSC paper's comparison, reproducible: every method on the same data, seeds and metrics.

`run_benchmark` prepares the data once, runs every method for every seed, scores each partition
with `keras_dsc.scoring.metrics.cluster_scores` on the flattened normalised windows (with ARI and NMI
against the planted regimes when the data has them), and writes a CSV and a Markdown table of
the mean and standard deviation over seeds, the wall time per method, and a paired test over
seeds of keras_dsc DSC against every other method.

Methods (`METHODS`, in table order):

- `kmeans`, `agglomerative`: scikit-learn k-means and Ward clustering of the flattened windows.
- `dec`, `dtc`, `cnn_encoder`, `cnn_autoencoder`, `cnn_lstm_encoder`: the baselines of
  `keras_dsc.models.baselines`, trained with `keras_dsc.train_dsc` like DSC.
- `dsc_published`: `PublishedDSC` with the authors' protocol: sequence length 1, no
  pre-training, SGD(1e-7, momentum 0.9), batch 8, k-means (30 restarts) on the untrained
  encoder, P every 50 iterations, tol 1e-7, an iteration cap.
- `dsc`: `keras_dsc.DSC` with our defaults (`keras_dsc.runs.fit.FitOptions`), and its ablations
  `dsc_no_pretrain`, `dsc_skip` (U-net skips on; our default is off), `dsc_gamma0` (no
  clustering loss) and `dsc_window1`.

The window-1 methods (`dsc_published`, `dsc_window1`) need samples of one time step. They use a
second preparation of the same cube: each sample is the mean over the span of one window of the
main data (for the built-in cube, 8 three-hourly steps: the daily mean, as the paper averaged
to days), window 1. With the default stride the samples are the same days as the main windows,
so ARI and NMI compare directly; the other scores of those rows are computed on THAT data's
flattened features (as the paper did), which are not the main rows' features.
"""

import dataclasses
import pathlib
import time

import numpy as np
import pandas as pd

from keras_dsc.data import DataOptions, prepare_data
from keras_dsc.errors import DataError, OptionError
from keras_dsc.runs import run_folder
from keras_dsc.runs.options import FitOptions

REFERENCE = "dsc"

SCORES = (
    ("ari", "ARI", True),
    ("nmi", "NMI", True),
    ("silhouette_cosine", "silhouette (cos)", True),
    ("silhouette_euclidean", "silhouette (euc)", True),
    ("davies_bouldin", "Davies-Bouldin", False),
    ("calinski_harabasz", "Calinski-Harabasz", True),
    ("total_rmse", "total RMSE", False),
    ("variance", "variance", False),
    ("inter_cluster_distance", "inter-cluster dist.", True),
)


@dataclasses.dataclass
class BenchmarkSize:
    """How big every method is trained: the default (for a GPU) or `--quick` (a small CPU).

    Attributes:
        days: the built-in cube's length under the CLI's `--quick` when `--days` is not given.
        pretrain_steps, steps, batch_size, update_interval, tol, learning_rate: the training
            of every Adam-trained deep model (`keras_dsc.runs.options.FitOptions`' defaults:
            the same step budgets and stopping rules for every method, at either size).
        filters, latent_dim: our DSC's ConvLSTM2D filters and latent size.
        baseline_filters: Conv2D filters of the CNN baselines; `lstm_units` their LSTMs'.
        dec_hidden: DEC's dense layers.
        published_width: `PublishedDSC`'s width (1.0: the paper's network).
        published_iterations: the iteration cap of the published protocol (the paper: 20000).
        kmeans_n_init: k-means restarts (the k-means baseline and every centre initialisation).
    """

    days: int = None
    pretrain_steps: int = FitOptions.pretrain_steps
    steps: int = FitOptions.steps
    batch_size: int = FitOptions.batch_size
    update_interval: int = FitOptions.update_interval
    tol: float = FitOptions.tol
    learning_rate: float = FitOptions.learning_rate
    filters: tuple = FitOptions.filters
    latent_dim: int = FitOptions.latent_dim
    baseline_filters: tuple = (16, 32)
    lstm_units: int = 64
    dec_hidden: tuple = (500, 500, 2000)
    published_width: float = 1.0
    published_iterations: int = 20000
    kmeans_n_init: int = 20


FULL = BenchmarkSize()
QUICK = BenchmarkSize(
    days=120,
    batch_size=8,
    filters=(4, 8),
    latent_dim=16,
    baseline_filters=(8, 16),
    lstm_units=32,
    dec_hidden=(64, 64, 256),
    published_width=0.125,
    published_iterations=150,
    kmeans_n_init=10,
)
QUICK_SEEDS = 3


@dataclasses.dataclass(frozen=True)
class Method:
    """One row of the benchmark: its table label, whether it needs window-1 data, how it runs."""

    name: str
    label: str
    window1: bool = False


METHODS = (
    Method("kmeans", "k-means"),
    Method("eof_kmeans", "EOF + k-means"),
    Method("som", "SOM (on the EOFs)"),
    Method("agglomerative", "agglomerative (Ward)"),
    Method("dec", "DEC"),
    Method("dtc", "DTC-style temporal AE"),
    Method("cnn_encoder", "CNN encoder"),
    Method("cnn_autoencoder", "CNN autoencoder"),
    Method("cnn_lstm_encoder", "CNN-LSTM encoder"),
    Method("dsc_published", "DSC as published (window 1)", window1=True),
    Method("dsc", "keras_dsc DSC"),
    Method("dsc_no_pretrain", "DSC, no pre-training"),
    Method("dsc_skip", "DSC, with skip connections"),
    Method("dsc_gamma0", "DSC, gamma = 0"),
    Method("dsc_window1", "DSC, window 1", window1=True),
)
METHOD_NAMES = tuple(m.name for m in METHODS)
FIT_METHODS = {"kmeans": "kmeans", "eof_kmeans": "eof-kmeans", "som": "som", "dsc": "dsc"}
"""The rows that run exactly what `fit --method ...` runs (the same code, the same defaults)."""


def check_methods(methods):
    """The methods to run, in table order; raises `DataError` naming an unknown one."""
    if methods is None:
        return list(METHODS)
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    methods = [m.replace("-", "_") for m in methods]  # eof-kmeans, as fit --method spells it
    unknown = [m for m in methods if m not in METHOD_NAMES]
    if unknown or not methods:
        raise OptionError(f"{{methods}}: unknown method {', '.join(unknown) or '(none)'}; "
                          f"choose from {','.join(METHOD_NAMES)}", "methods")
    return [m for m in METHODS if m.name in methods]


class _Data:
    """One prepared data set as the methods need it: windows in memory, features, labels.

    The features (what the feature-space scores and the scikit-learn baselines see) are the
    flattened windows weighted by sqrt(cos(latitude)), as every method of `fit` weighs them.
    """

    def __init__(self, prepared, labels=None):
        from keras_dsc.training.classical import feature_weights

        self.prepared = prepared
        cube = prepared.windows
        self.cube = cube
        self.windows = cube[np.arange(len(cube))]
        flat = np.nan_to_num(self.windows.reshape(len(self.windows), -1), nan=0.0)
        self.features = flat * feature_weights(cube)
        self.labels = cube.labels if labels is None else labels
        self.shape = cube.sample_shape

    def __len__(self):
        return len(self.windows)


def window1_options(options, prepared):
    """Data options for samples of one time step: the mean over one window's span, window 1."""
    times = pd.DatetimeIndex(prepared.cube["time"].values)
    window = prepared.windows.window
    if window == 1:
        return options
    if len(times) < 2:
        raise DataError("window-1 data: the series has a single time step")
    span = (times[1] - times[0]) * window
    return dataclasses.replace(options, window=1, stride=None,
                               resample=f"{int(span.total_seconds())}s")


class _Context:
    """What every method of one benchmark shares: the data sets, k and the size."""

    def __init__(self, options, n_clusters, size, verbose, labels_csv=None):
        self.options = options
        self.size = size
        self.verbose = verbose
        prepared = prepare_data(options)
        labels = None
        if labels_csv is not None:
            from keras_dsc.runs.evaluate import read_reference_labels

            labels = read_reference_labels(labels_csv, prepared.windows.start_times)
        self.main = _Data(prepared, labels)
        self.labels_csv = labels_csv
        self._window1 = None
        self.window1_unlabelled = None  # why the window-1 samples have no reference labels
        self.n_clusters = n_clusters

    @property
    def window1(self):
        if self._window1 is None:
            prepared = prepare_data(window1_options(self.options, self.main.prepared))
            same = len(prepared.windows) == len(self.main)
            labels = self.main.labels if same else None
            if not same and self.labels_csv is not None:
                # Other samples (windows that overlap, --stride): each takes the label at
                # its own start, as the windows do.
                from keras_dsc.runs.evaluate import read_reference_labels

                try:
                    labels = read_reference_labels(self.labels_csv,
                                                   prepared.windows.start_times)
                except DataError as error:
                    self.window1_unlabelled = str(error)
            self._window1 = _Data(prepared, labels)
        return self._window1

    def data_for(self, method):
        return self.window1 if method.window1 else self.main


def _train(context, model, data, seed, **overrides):
    from keras_dsc.training import train_dsc

    size = context.size
    settings = dict(batch_size=size.batch_size, pretrain_steps=size.pretrain_steps,
                    steps=size.steps, update_interval=size.update_interval, tol=size.tol,
                    learning_rate=size.learning_rate, seed=seed,
                    kmeans_n_init=size.kmeans_n_init, verbose=context.verbose)
    settings.update(overrides)
    result = train_dsc(model, data.windows, **settings)
    return result.labels, bool(result.converged)


def _run_method(method, context, seed):
    """Returns `(labels, converged)` of one method for one seed on `context.data_for(method)`."""
    data = context.data_for(method)
    k = context.n_clusters
    size = context.size
    if method.name in FIT_METHODS:
        from keras_dsc.runs.fit import train_method
        from keras_dsc.training.hardware import hardware_settings

        options = FitOptions(method=FIT_METHODS[method.name], n_clusters=k,
                             pretrain_steps=size.pretrain_steps, steps=size.steps,
                             batch_size=size.batch_size, update_interval=size.update_interval,
                             tol=size.tol, learning_rate=size.learning_rate,
                             filters=size.filters, latent_dim=size.latent_dim, seed=seed)
        _, result = train_method(data.cube, options, seed, hardware_settings(),
                                 verbose=context.verbose)
        return result.labels, bool(result.converged)
    if method.name == "agglomerative":
        from sklearn.cluster import AgglomerativeClustering

        return AgglomerativeClustering(k, linkage="ward").fit_predict(data.features), True

    import keras

    from keras_dsc.models import baselines
    from keras_dsc.models.dsc import DSC

    keras.utils.set_random_seed(seed)
    shape = data.shape
    if method.name == "dec":
        model = baselines.DEC(shape, k, hidden=size.dec_hidden, latent_dim=size.latent_dim)
    elif method.name == "dtc":
        model = baselines.TemporalAutoencoder(shape, k, conv_filters=size.baseline_filters[0],
                                              lstm_units=size.lstm_units,
                                              latent_dim=size.latent_dim)
    elif method.name == "cnn_encoder":
        model = baselines.CNNEncoder(shape, k, size.baseline_filters, size.latent_dim)
    elif method.name == "cnn_autoencoder":
        model = baselines.CNNAutoencoder(shape, k, size.baseline_filters, size.latent_dim)
    elif method.name == "cnn_lstm_encoder":
        model = baselines.CNNLSTMEncoder(shape, k, size.baseline_filters, size.lstm_units,
                                         size.latent_dim)
    elif method.name == "dsc_published":
        model = baselines.PublishedDSC(shape, k, width=size.published_width, gamma=1.0)
        sgd = {"class_name": "SGD",
               "config": {"learning_rate": 1e-7, "momentum": 0.9}}
        return _train(context, model, data, seed, batch_size=8, pretrain_steps=0,
                      steps=size.published_iterations, update_interval=50, tol=1e-7,
                      kmeans_n_init=30, optimizer=sgd)
    else:  # the ablations of keras_dsc's DSC
        model = DSC(shape, k, filters=size.filters, latent_dim=size.latent_dim,
                    skip=method.name == "dsc_skip",
                    gamma=0.0 if method.name == "dsc_gamma0" else FitOptions().gamma)
        if method.name == "dsc_no_pretrain":
            return _train(context, model, data, seed, pretrain_steps=0)
    return _train(context, model, data, seed)


def _cannot_run(method, context):
    """Why `method` cannot run on its data (a one-line reason), or `None`."""
    try:
        data = context.data_for(method)
    except DataError as error:
        return str(error)
    if len(data) < context.n_clusters:
        return (f"{len(data)} samples of shape {data.shape} are fewer than the "
                f"{context.n_clusters} clusters")
    if len(data) < 2:
        return f"{len(data)} sample"
    return None


def _record(method, seed, **fields):
    record = {"method": method.name, "label": method.label, "seed": seed}
    record.update(fields)
    return record


def paired_tests(reference, other):
    """Two-sided paired tests of `reference` against `other` (equal-length per-seed scores).

    Returns:
        `(p_wilcoxon, p_ttest)`: `scipy.stats.wilcoxon` and `scipy.stats.ttest_rel` p-values;
        1.0 when the two agree on every seed, NaN with fewer than two pairs.
    """
    from scipy import stats

    a = np.asarray(reference, dtype="float64")
    b = np.asarray(other, dtype="float64")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if a.size < 2:
        return float("nan"), float("nan")
    difference = a - b
    if np.allclose(difference, 0.0):
        return 1.0, 1.0
    p_wilcoxon = float(stats.wilcoxon(a, b).pvalue)
    if np.allclose(difference, difference[0]):
        p_ttest = 0.0  # the same nonzero difference on every seed
    else:
        p_ttest = float(stats.ttest_rel(a, b).pvalue)
    return p_wilcoxon, p_ttest


def summarise(records, reference=REFERENCE):
    """The benchmark table from per-seed records.

    Args:
        records: list of dicts, one per method and seed, with `method`, `label`, `seed`,
            `status` (`"ok"` or the reason it did not run), `wall_time_s`, optionally
            `cpu_time_s`, and the score keys
            of `SCORES`.
        reference: the method every other is tested against. Defaults to `"dsc"`.

    Returns:
        A DataFrame, one row per method in record order: `method`, `label`, `status`,
        `n_seeds`, `<score>_mean`/`<score>_std` (sample standard deviation over seeds),
        `wall_time_s_mean`, `cpu_time_s_mean` (process CPU time, all threads),
        `test_metric`, `difference_mean` (reference minus method on `test_metric`),
        `p_wilcoxon` and `p_ttest`.
    """
    frame = pd.DataFrame(records)
    for key, _, _ in SCORES:
        if key not in frame:
            frame[key] = np.nan
    frame[[k for k, _, _ in SCORES]] = frame[[k for k, _, _ in SCORES]].astype("float64")
    ok = frame[frame["status"] == "ok"]
    test_metric = "ari" if ok["ari"].notna().any() else "silhouette_cosine"
    reference_scores = ok[ok["method"] == reference].set_index("seed")[test_metric]
    rows = []
    for name in dict.fromkeys(frame["method"]):
        runs = frame[frame["method"] == name]
        done = runs[runs["status"] == "ok"]
        row = {"method": name, "label": runs["label"].iloc[0],
               "status": "ok" if len(done) else runs["status"].iloc[0],
               "n_seeds": len(done)}
        for key, _, _ in SCORES:
            row[f"{key}_mean"] = done[key].mean() if len(done) else np.nan
            row[f"{key}_std"] = done[key].std(ddof=1) if len(done) > 1 else np.nan
        for key in ("wall_time_s", "cpu_time_s"):
            row[f"{key}_mean"] = done[key].mean() if len(done) and key in done else np.nan
        row["test_metric"] = test_metric
        row["difference_mean"] = row["p_wilcoxon"] = row["p_ttest"] = np.nan
        if name != reference and len(done) and len(reference_scores):
            paired = done.set_index("seed")[test_metric].to_frame("other").join(
                reference_scores.rename("reference"), how="inner")
            if len(paired):
                row["difference_mean"] = float((paired["reference"] - paired["other"]).mean())
                row["p_wilcoxon"], row["p_ttest"] = paired_tests(paired["reference"],
                                                                 paired["other"])
        rows.append(row)
    return pd.DataFrame(rows)


def _cell(mean, std, digits=3):
    if not np.isfinite(mean):
        return "-"
    if abs(mean) >= 1000:
        text = f"{mean:.0f}"
        return text if not np.isfinite(std) else f"{text} ± {std:.0f}"
    text = f"{mean:.{digits}f}"
    return text if not np.isfinite(std) else f"{text} ± {std:.{digits}f}"


def _p(value):
    return "-" if not np.isfinite(value) else f"{value:.3g}"


def to_markdown(table, notes=()):
    """The table as Markdown: mean ± std per score, wall time, paired p-values, then notes."""
    scores = [(key, title, higher) for key, title, higher in SCORES
              if table[f"{key}_mean"].notna().any()]
    header = (["method"] + [f"{title} {'↑' if higher else '↓'}" for _, title, higher in scores]
              + ["wall/CPU s per seed", "Δ vs DSC", "p Wilcoxon", "p t-test"])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        if row["status"] != "ok":
            cells = [row["label"], f"not run: {row['status']}"] + [""] * (len(header) - 2)
        else:
            cells = ([row["label"]]
                     + [_cell(row[f"{k}_mean"], row[f"{k}_std"]) for k, _, _ in scores]
                     + [f"{row['wall_time_s_mean']:.0f} / {row['cpu_time_s_mean']:.0f}",
                        _cell(row["difference_mean"], np.nan),
                        _p(row["p_wilcoxon"]), _p(row["p_ttest"])])
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines + [""] + [f"- {note}" for note in notes]) + "\n"


def _window1_note(context):
    """What the window-1 rows are scored on."""
    window1 = context._window1
    if window1 is None or len(window1) == len(context.main):
        return ("Window-1 rows are trained and scored on the same cube averaged over each "
                "window's span (one sample per window, window 1): their ARI/NMI refer to the "
                "same samples, their other scores to those averaged features.")
    said = ("their ARI/NMI against the label at each sample's start" if window1.labels
            is not None else f"without reference labels, so no ARI/NMI "
            f"({context.window1_unlabelled})")
    return (f"Window-1 rows are trained and scored on the cube averaged over each window's "
            f"span, one sample per span ({len(window1)} samples, where the windows, with "
            f"their stride, are {len(context.main)}): {said}.")


def _notes(context, table, seeds, quick):
    main = context.main.prepared.description
    test_metric = table["test_metric"].iloc[0] if len(table) else "ari"
    notes = [
        f"Data: {main['source']}, {main['n_samples']} samples of shape "
        f"{tuple(main['sample_shape'])} (time, lat, lon, variables), k = {context.n_clusters}, "
        f"seeds 0..{seeds - 1}, {'--quick' if quick else 'full'} size.",
        "Scores are computed on the flattened normalised windows (NaN as 0), weighted by "
        "sqrt(cos(latitude)); ARI and NMI against the "
        + ("reference labels given." if context.labels_csv else "planted regimes.")
        if context.main.labels is not None else
        "Scores are computed on the flattened normalised windows (NaN as 0), weighted by "
        "sqrt(cos(latitude)); the data has no reference labels, so no ARI or NMI.",
        "k-means, EOF + k-means, SOM and keras_dsc DSC run exactly what `fit --method` runs "
        "(the same code and defaults, the step budgets included).",
        _window1_note(context),
        f"Mean ± sample standard deviation over seeds. Δ vs DSC: keras_dsc DSC minus the row "
        f"on {test_metric}; p: two-sided paired tests over seeds (scipy.stats.wilcoxon and "
        f"ttest_rel) of keras_dsc DSC against the row. With n seeds the smallest Wilcoxon p "
        f"is 2/2^n ({2 / 2 ** seeds:.3g} here), so the t-test p is given too.",
        "Time: wall-clock and process CPU seconds (all threads) per seed; on a shared machine "
        "the CPU time is the steadier measure of the work.",
        "DSC as published: the paper's network (width "
        f"{context.size.published_width:g}), no pre-training, SGD(1e-7, momentum 0.9), "
        f"batch 8, k-means (30 restarts) on the untrained encoder, tol 1e-7, at most "
        f"{context.size.published_iterations} iterations; P is refreshed every 50 iterations "
        "or once an epoch, whichever is sooner.",
    ]
    return notes


def _new_folder(out):
    name = run_folder.default_run_name("benchmark")
    folder = pathlib.Path(out) / name
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = pathlib.Path(out) / f"{name}-{suffix}"
    try:
        folder.mkdir(parents=True)
    except OSError as error:
        raise OptionError(f"{{out}}: cannot create {folder}: {error.strerror}", "out") from None
    return folder


def run_benchmark(data_options=None, seeds=5, quick=False, out="saved_models", methods=None,
                  n_clusters=None, size=None, echo=print, verbose=0, labels_csv=None):
    """Runs every method for every seed on the same data and writes the comparison table.

    Args:
        data_options: a `DataOptions` (default: the built-in cube), used as given (the CLI's
            `--quick` also shortens the built-in cube to `QUICK.days` unless `--days` is given).
        seeds: int, the number of seeds (0, 1, ...). Defaults to `5`.
        quick: bool, the small `QUICK` size (a 2-core CPU) instead of `FULL`. Defaults to
            `False`.
        out: parent folder; a new `benchmark-<timestamp>` folder is made in it.
        methods: names (list or comma-separated string) among `METHOD_NAMES`; `None`: all.
        n_clusters: k; `None`: the number of reference labels, else 6.
        size: a `BenchmarkSize` overriding `QUICK`/`FULL`.
        echo: function printing one line of progress.
        verbose: Keras `fit` verbosity. Defaults to `0`.
        labels_csv: optional CSV of reference labels (columns `time` and `label` or
            `cluster`, one row per window start) that ARI and NMI compare with; `None` for the
            data's planted regimes, if any.

    Returns:
        `(table, csv_path, markdown_path)`: the summary `DataFrame` (see `summarise`) and the
        paths of `benchmark.csv` and `benchmark.md`; `benchmark_seeds.csv` beside them holds
        every per-seed score.

    Example:

    >>> table, csv_path, md_path = run_benchmark(DataOptions(days=12), seeds=2, quick=True,
    ...                                          methods="kmeans,agglomerative",
    ...                                          echo=lambda line: None)
    >>> table["method"].tolist(), md_path.name
    (['kmeans', 'agglomerative'], 'benchmark.md')
    """
    data_options = data_options or DataOptions()
    size = size or (QUICK if quick else FULL)
    if isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer)) or seeds < 1:
        raise OptionError(f"{{seeds}} must be a positive integer, got {seeds!r}", "seeds")
    chosen = check_methods(methods)
    if n_clusters is not None and int(n_clusters) < 2:  # before the data is read
        raise OptionError(f"{{n_clusters}} must be at least 2, got {n_clusters}", "n_clusters")

    started = time.time()
    context = _Context(data_options, None, size, verbose, labels_csv)
    labels = context.main.labels
    if n_clusters is None:
        n_clusters = len(np.unique(labels[labels >= 0])) if labels is not None else 6
    if int(n_clusters) < 2:
        raise OptionError(f"{{n_clusters}} must be at least 2, got {n_clusters}", "n_clusters")
    if len(context.main) < int(n_clusters):  # no method could run: refused, nothing written
        raise OptionError(f"{{n_clusters}} {n_clusters} is more than the {len(context.main)} "
                          f"windows of the data", "n_clusters")
    context.n_clusters = int(n_clusters)
    echo(f"data: {len(context.main)} windows of shape {context.main.shape}; k = {n_clusters}; "
         f"{seeds} seeds; {len(chosen)} methods; prepared in {time.time() - started:.0f} s")
    folder = _new_folder(out)

    from keras_dsc.scoring.metrics import cluster_scores

    records = []
    for method in chosen:
        reason = _cannot_run(method, context)
        if reason is not None:
            echo(f"{method.name}: not run: {reason}")
            records.append(_record(method, None, status=reason))
            continue
        data = context.data_for(method)
        for seed in range(int(seeds)):
            tick, cpu_tick = time.time(), time.process_time()
            try:
                predicted, converged = _run_method(method, context, seed)
            except Exception as error:  # one failing method must not lose the whole table
                reason = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
                echo(f"{method.name} seed {seed}: failed: {reason}")
                records.append(_record(method, seed, status=reason))
                continue
            wall, cpu = time.time() - tick, time.process_time() - cpu_tick
            scores = cluster_scores(data.features, predicted, data.labels,
                                    features="flattened normalised windows, area-weighted")
            records.append(_record(
                method, seed, status="ok", wall_time_s=round(wall, 2), cpu_time_s=round(cpu, 2),
                converged=converged,
                clusters_found=scores["n_clusters"],
                **{key: scores.get(key) for key, _, _ in SCORES}))
            shown = "ari" if scores.get("ari") is not None else "silhouette_cosine"
            value = scores.get(shown)
            echo(f"{method.name} seed {seed}: {shown}="
                 f"{'n/a' if value is None else f'{value:.3f}'} in {wall:.0f} s")

    table = summarise(records)
    per_seed = pd.DataFrame(records)
    per_seed.to_csv(folder / "benchmark_seeds.csv", index=False)
    csv_path = folder / "benchmark.csv"
    table.to_csv(csv_path, index=False)
    markdown = to_markdown(table, _notes(context, table, int(seeds), quick)
                           + [f"Total wall time {time.time() - started:.0f} s."])
    md_path = folder / "benchmark.md"
    md_path.write_text(markdown)
    return table, csv_path, md_path
