"""Pictures of a clustering: cluster-mean maps, a calendar, the latent space, training and k curves.

Every function draws one figure with matplotlib's non-interactive Agg canvas (no pyplot, no global
state, no display needed), writes it to a PNG file and returns the path. The image is
`figsize * dpi` pixels exactly; each function documents its default `figsize`.

Clusters keep the same colour in every figure: the i-th smallest label takes the i-th colour of
`tab10` (`tab20` beyond 10 clusters).
"""

import pathlib
import warnings

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from keras_dsc.errors import DataError, OptionError

_DIM_ALIASES = {
    "time": ("time", "valid_time"),
    "latitude": ("latitude", "lat"),
    "longitude": ("longitude", "lon"),
    "variable": ("variable",),
}
_CURVES = ("reconstruction_loss", "clustering_loss", "label_change")
_CURVE_TITLES = {
    "reconstruction_loss": "reconstruction loss",
    "clustering_loss": "clustering loss (KL)",
    "label_change": "fraction of labels changed",
}
_K_PANELS = {
    "silhouette": "silhouette (higher is better)",
    "davies_bouldin": "Davies-Bouldin (lower is better)",
    "calinski_harabasz": "Calinski-Harabasz (higher is better)",
    "inertia": "k-means inertia (elbow)",
}


def _png_path(path):
    path = pathlib.Path(path)
    if path.suffix.lower() != ".png":
        raise DataError(f"{path}: the figure is written as PNG; give a path ending in .png")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _figure(figsize, dpi):
    figure = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path):
    figure.savefig(path, format="png", dpi=figure.dpi)
    return path


def cluster_colours(n_clusters):
    """Returns `n_clusters` RGBA colours, the same for a given cluster in every figure.

    Args:
        n_clusters: int, the number of clusters.

    Returns:
        A list of RGBA tuples.
    """
    name = "tab10" if n_clusters <= 10 else "tab20"
    colormap = matplotlib.colormaps[name]
    if n_clusters <= colormap.N:
        return [colormap(i) for i in range(n_clusters)]
    return [matplotlib.colormaps["turbo"](x) for x in np.linspace(0, 1, n_clusters)]


def _labels(labels, n, what):
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise DataError(f"labels: expected one cluster per {what} ({n}), got shape {labels.shape}")
    return labels.astype(np.int64)


def _find_dim(array, canonical):
    for name in _DIM_ALIASES[canonical]:
        if name in array.dims:
            return name
    raise DataError(
        f"anomalies: dimension '{canonical}' not found; dimensions are {', '.join(array.dims)}"
    )


def plot_composites(anomalies, labels, path, units=None, figsize=None, dpi=100):
    """Draws the mean map of every variable in every cluster (composites).

    Rows are clusters (their size in the panel titles), columns are variables. Each variable has
    one colour scale, symmetric about zero (limits +-max |mean| over clusters), in the diverging
    colormap `RdBu_r`, with one colour bar below its column labelled with its units. Points that
    are NaN in a cluster mean (land in `sst`) are grey.

    Args:
        anomalies: `xarray.DataArray` with dimensions `time`, `latitude`, `longitude` and
            `variable` (any order; `valid_time`, `lat`, `lon` are accepted), in physical units;
            an `xarray.Dataset` of `(time, latitude, longitude)` variables is also accepted.
        labels: integer array of shape `(time,)`, the cluster of every time step.
        path: where to write the PNG.
        units: optional dict `{variable: units}`. Defaults to the `units` coordinate along
            `variable`, else each Dataset variable's `units` attribute, else no units.
        figsize: `(width, height)` in inches. Defaults to `(3 * n_variables,
            2.6 * n_clusters + 1)`.
        dpi: int, pixels per inch. Defaults to 100.

    Returns:
        The `pathlib.Path` of the PNG.

    Example:

    >>> import xarray as xr
    >>> anomalies = xr.DataArray(
    ...     np.random.default_rng(0).normal(size=(10, 5, 6, 1)),
    ...     dims=("time", "latitude", "longitude", "variable"), coords={"variable": ["t2m"]})
    >>> plot_composites(anomalies, np.arange(10) % 2, "composites.png", units={"t2m": "K"})
    PosixPath('composites.png')
    """
    import xarray as xr

    path = _png_path(path)
    found_units = {}
    if isinstance(anomalies, xr.Dataset):
        found_units = {
            str(name): var.attrs.get("units", "") for name, var in anomalies.data_vars.items()
        }
        anomalies = anomalies.to_dataarray(dim="variable")
    if not isinstance(anomalies, xr.DataArray):
        raise DataError("anomalies: expected an xarray.DataArray or xarray.Dataset")
    dims = [_find_dim(anomalies, d) for d in ("time", "latitude", "longitude", "variable")]
    anomalies = anomalies.transpose(*dims)
    time_dim, lat_dim, lon_dim, var_dim = dims
    labels = _labels(labels, anomalies.sizes[time_dim], "time step")
    names = [str(v) for v in anomalies[var_dim].values]
    if "units" in anomalies.coords and anomalies.coords["units"].dims == (var_dim,):
        found_units.update(zip(names, (str(u) for u in anomalies.coords["units"].values)))
    found_units.update(units or {})

    values = np.asarray(anomalies.values, dtype=np.float64)
    clusters = np.unique(labels)
    sizes = [int(np.sum(labels == c)) for c in clusters]
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.stack([_nanmean(values[labels == c]) for c in clusters])  # (k, y, x, v)
    latitude = np.asarray(anomalies[lat_dim].values)
    longitude = np.asarray(anomalies[lon_dim].values)

    n_rows, n_cols = clusters.size, len(names)
    figure = _figure(figsize or (3.0 * n_cols, 2.6 * n_rows + 1.0), dpi)
    axes = np.atleast_2d(figure.subplots(n_rows, n_cols, squeeze=False, sharex=True, sharey=True))
    colormap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.6")
    for v, name in enumerate(names):
        limit = np.nanmax(np.abs(means[..., v])) if np.any(np.isfinite(means[..., v])) else 0.0
        limit = float(limit) if limit > 0 else 1.0
        for r, cluster in enumerate(clusters):
            ax = axes[r, v]
            mesh = ax.pcolormesh(
                longitude,
                latitude,
                np.ma.masked_invalid(means[r, :, :, v]),
                cmap=colormap,
                vmin=-limit,
                vmax=limit,
                shading="nearest",
            )
            ax.set_facecolor("0.6")
            ax.set_title(f"{name}, cluster {cluster} (n={sizes[r]})", fontsize="small")
            if v == 0:
                ax.set_ylabel("latitude")
            if r == n_rows - 1:
                ax.set_xlabel("longitude")
        unit = found_units.get(name, "")
        figure.colorbar(
            mesh,
            ax=axes[:, v].tolist(),
            orientation="horizontal",
            location="bottom",
            shrink=0.9,
            label=f"{name} ({unit})" if unit else name,
        )
    return _save(figure, path)


def _nanmean(block):
    """Mean over the first axis ignoring NaN; all-NaN points stay NaN, without a warning."""
    count = np.sum(np.isfinite(block), axis=0)
    total = np.nansum(block, axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _calendar_grid(days, cluster_index):
    """Builds (grid, row labels, column label, ticks) for the calendar image."""
    first, last = days.min(), days.max()
    months = pd.period_range(first, last, freq="M")
    if len(months) <= 24:  # one row per month, one column per day of the month
        grid = np.full((len(months), 31), np.nan)
        row = (days.year - first.year) * 12 + days.month - first.month
        grid[row, days.day - 1] = cluster_index
        row_labels = [str(m) for m in months]
        return grid, row_labels, "day of month", (np.arange(0, 31, 5), np.arange(1, 32, 5))
    years = np.arange(first.year, last.year + 1)  # one row per year, one column per day of year
    grid = np.full((years.size, 366), np.nan)
    grid[days.year - first.year, days.day_of_year - 1] = cluster_index
    starts = pd.date_range("2000-01-01", periods=12, freq="MS")  # a leap year: day-of-year ticks
    return grid, [str(y) for y in years], "month", (starts.day_of_year - 1, starts.strftime("%b"))


def plot_calendar(times, labels, path, figsize=None, dpi=100):
    """Draws the cluster of every sample along the calendar, so a year reads at a glance.

    Up to 24 months: one row per month, one column per day of the month. Longer spans: one row
    per year, one column per day of the year. Cells are coloured by cluster (see
    `cluster_colours`) and white where there is no sample. With several samples on one day the
    most frequent cluster of the day is shown.

    Args:
        times: the time of every sample: a `pandas.DatetimeIndex`, an array of `datetime64`, or
            anything `pandas.to_datetime` reads.
        labels: integer array of the same length, the cluster of every sample.
        path: where to write the PNG.
        figsize: `(width, height)` in inches. Defaults to `(11, 0.3 * n_rows + 1.4)`.
        dpi: int, pixels per inch. Defaults to 100.

    Returns:
        The `pathlib.Path` of the PNG.

    Example:

    >>> labels = np.arange(365) // 7 % 4
    >>> plot_calendar(pd.date_range("2021-01-01", periods=365), labels, "calendar.png")
    PosixPath('calendar.png')
    """
    path = _png_path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "could not infer format"
            times = pd.DatetimeIndex(pd.to_datetime(np.asarray(times).ravel()))
    except (TypeError, ValueError) as error:
        raise DataError(f"times: cannot be read as dates ({error})") from None
    if times.size == 0:
        raise DataError("times: no samples")
    if times.hasnans:
        raise DataError("times: contains missing dates (NaT)")
    labels = _labels(labels, times.size, "time")
    clusters = np.unique(labels)
    frame = pd.DataFrame({"day": times.normalize(), "cluster": np.searchsorted(clusters, labels)})
    daily = frame.groupby("day")["cluster"].agg(lambda s: s.value_counts().idxmax())
    grid, row_labels, x_label, (tick_positions, tick_labels) = _calendar_grid(
        pd.DatetimeIndex(daily.index), daily.to_numpy()
    )

    colours = cluster_colours(clusters.size)
    colormap = ListedColormap(colours).with_extremes(bad="white")
    norm = BoundaryNorm(np.arange(clusters.size + 1) - 0.5, clusters.size)
    n_rows = grid.shape[0]
    figure = _figure(figsize or (11.0, 0.3 * n_rows + 1.4), dpi)
    ax = figure.subplots()
    ax.imshow(np.ma.masked_invalid(grid), cmap=colormap, norm=norm, aspect="auto",
              interpolation="nearest")
    ax.set_yticks(np.arange(n_rows), row_labels, fontsize="small")
    ax.set_xticks(tick_positions, tick_labels)
    ax.set_xlabel(x_label)
    ax.set_xticks(np.arange(grid.shape[1] + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(n_rows + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=0.5)
    ax.tick_params(which="minor", length=0)
    counts = [int(np.sum(labels == c)) for c in clusters]
    handles = [Patch(color=colours[i], label=f"cluster {c} (n={counts[i]})")
               for i, c in enumerate(clusters)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
              frameon=False)
    ax.set_title(f"cluster of each day, {times.min():%Y-%m-%d} to {times.max():%Y-%m-%d}")
    return _save(figure, path)


def plot_latent(latent, labels, centres, path, method="pca", seed=0, figsize=(7.0, 6.0), dpi=100):
    """Draws a 2-D projection of the latent vectors coloured by cluster, with the centres marked.

    Args:
        latent: array of shape `(n_samples, latent_dim)`.
        labels: integer array of shape `(n_samples,)`.
        centres: array of shape `(n_clusters, latent_dim)`, the cluster centres in the latent
            space (drawn as black crosses with their number), or `None`. Row `i` belongs to
            cluster label `i`.
        path: where to write the PNG.
        method: `"pca"` (`sklearn.decomposition.PCA`, centres projected with the same fit) or
            `"tsne"` (`sklearn.manifold.TSNE` on the samples and centres together).
            Defaults to `"pca"`.
        seed: int, `random_state` of t-SNE. Defaults to 0.
        figsize: `(width, height)` in inches. Defaults to `(7, 6)`.
        dpi: int, pixels per inch. Defaults to 100.

    Returns:
        The `pathlib.Path` of the PNG.

    Example:

    >>> z = np.random.default_rng(0).normal(size=(40, 8))
    >>> labels = (z[:, 0] > 0).astype(int)
    >>> centres = np.stack([z[labels == k].mean(axis=0) for k in (0, 1)])
    >>> plot_latent(z, labels, centres, "latent.png")
    PosixPath('latent.png')
    """
    path = _png_path(path)
    latent = np.asarray(latent, dtype=np.float64)
    if latent.ndim != 2 or latent.shape[0] < 2:
        raise DataError(f"latent: expected a 2-D array with 2 or more samples, got {latent.shape}")
    labels = _labels(labels, latent.shape[0], "sample")
    if centres is not None:
        centres = np.asarray(centres, dtype=np.float64)
        if centres.ndim != 2 or centres.shape[1] != latent.shape[1]:
            raise DataError(
                f"centres: expected shape (n_clusters, {latent.shape[1]}), got {centres.shape}"
            )
    n = latent.shape[0]
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=min(2, *latent.shape)).fit(latent)
        points = pca.transform(latent)
        projected = pca.transform(centres) if centres is not None else None
        ratios = list(pca.explained_variance_ratio_) + [0.0]
        axis_labels = [f"PC{i + 1} ({100 * ratios[i]:.0f}% of variance)" for i in range(2)]
    elif method == "tsne":
        from sklearn.manifold import TSNE

        stacked = latent if centres is None else np.concatenate([latent, centres])
        perplexity = float(min(30.0, max(1.0, (stacked.shape[0] - 1) / 3)))
        embedded = TSNE(n_components=2, perplexity=perplexity, init="pca",
                        random_state=seed).fit_transform(stacked)
        points, projected = embedded[:n], (embedded[n:] if centres is not None else None)
        axis_labels = ["t-SNE 1", "t-SNE 2"]
    else:
        raise OptionError(f"{{projection}}: unknown method '{method}'; use 'pca' or 'tsne'",
                          "projection")
    points = np.pad(points, ((0, 0), (0, 2 - points.shape[1])))
    if projected is not None:
        projected = np.pad(projected, ((0, 0), (0, 2 - projected.shape[1])))

    clusters = np.unique(labels)
    colours = cluster_colours(clusters.size)
    figure = _figure(figsize, dpi)
    ax = figure.subplots()
    for i, cluster in enumerate(clusters):
        members = points[labels == cluster]
        ax.scatter(members[:, 0], members[:, 1], s=14, color=colours[i], alpha=0.8,
                   label=f"cluster {cluster} (n={members.shape[0]})")
    if projected is not None:
        ax.scatter(projected[:, 0], projected[:, 1], marker="X", s=140, color="black",
                   edgecolors="white", linewidths=1.0, label="centres")
        for i, (x, y) in enumerate(projected):
            ax.annotate(str(i), (x, y), textcoords="offset points", xytext=(6, 6),
                        fontweight="bold")
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_title(f"latent space ({method.upper() if method == 'pca' else 't-SNE'})")
    ax.legend(fontsize="small", loc="best")
    return _save(figure, path)


def _history_frame(history):
    if isinstance(history, pd.DataFrame):
        return history, "history"
    if isinstance(history, dict):
        try:
            return pd.DataFrame(history), "history"
        except ValueError as error:
            raise DataError(f"history: the columns must have equal lengths ({error})") from None
    source = pathlib.Path(history)
    try:
        return pd.read_csv(source), str(source)
    except FileNotFoundError:
        raise DataError(f"{source}: training log not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataError(f"{source}: not a readable CSV training log ({error})") from None


def plot_training_curves(history, path, figsize=None, dpi=100):
    """Draws the training curves: reconstruction loss, clustering loss, fraction of changed labels.

    One panel per curve found among the columns `reconstruction_loss`, `clustering_loss` and
    `label_change` (missing ones are skipped); a `val_` column beside one is drawn in the same
    panel. The x axis is the `epoch` column when there is one, else the row number. The label
    change panel has a logarithmic axis when all its values are positive.

    Args:
        history: path of a CSV log (for example from `keras.callbacks.CSVLogger`), a dict of
            lists (`keras.callbacks.History.history`) or a `pandas.DataFrame`.
        path: where to write the PNG.
        figsize: `(width, height)` in inches. Defaults to `(4 * n_panels, 3.2)`.
        dpi: int, pixels per inch. Defaults to 100.

    Returns:
        The `pathlib.Path` of the PNG.

    Example:

    >>> history = {"epoch": [0, 1, 2], "reconstruction_loss": [0.9, 0.5, 0.4],
    ...            "clustering_loss": [0.0, 0.1, 0.05]}
    >>> plot_training_curves(history, "training_curves.png")
    PosixPath('training_curves.png')
    """
    path = _png_path(path)
    frame, source = _history_frame(history)
    present = [c for c in _CURVES if c in frame.columns]
    if not present:
        raise DataError(
            f"{source}: none of the columns {', '.join(_CURVES)}; "
            f"found {', '.join(map(str, frame.columns))}"
        )
    epochs = frame["epoch"].to_numpy() if "epoch" in frame.columns else np.arange(len(frame))
    figure = _figure(figsize or (4.0 * len(present), 3.2), dpi)
    axes = figure.subplots(1, len(present), squeeze=False)[0]
    for ax, column in zip(axes, present):
        ax.plot(epochs, frame[column].to_numpy(dtype=float), marker=".", label="training")
        if f"val_{column}" in frame.columns:
            ax.plot(epochs, frame[f"val_{column}"].to_numpy(dtype=float), marker=".",
                    label="validation")
            ax.legend(fontsize="small")
        values = frame[column].to_numpy(dtype=float)
        if column == "label_change" and np.all(values[np.isfinite(values)] > 0) and len(values):
            ax.set_yscale("log")
        ax.set_title(_CURVE_TITLES[column])
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    return _save(figure, path)


def plot_k_selection(table, path, recommended=None, figsize=(9.0, 6.5), dpi=100):
    """Draws the scores of `keras_dsc.scoring.k_scores.score_k` against k.

    One panel per column found among `silhouette`, `davies_bouldin`, `calinski_harabasz` and
    `inertia`; a dashed line marks the `recommended` k (for example
    `keras_dsc.scoring.k_scores.recommend_k`'s choice).

    Args:
        table: a `pandas.DataFrame` with a `k` column, as returned by `score_k`.
        path: where to write the PNG.
        recommended: int, the k to mark, or `None`. Defaults to `None`.
        figsize: `(width, height)` in inches. Defaults to `(9, 6.5)`.
        dpi: int, pixels per inch. Defaults to 100.

    Returns:
        The `pathlib.Path` of the PNG.

    Example:

    >>> import pandas as pd
    >>> table = pd.DataFrame({"k": [2, 3, 4], "inertia": [9.0, 4.0, 3.5]})
    >>> plot_k_selection(table, "k_selection.png", recommended=3)
    PosixPath('k_selection.png')
    """
    path = _png_path(path)
    if "k" not in table.columns or len(table) == 0:
        raise DataError("k-selection table: expected rows with a 'k' column")
    present = [c for c in _K_PANELS if c in table.columns]
    if not present:
        raise DataError(f"k-selection table: none of the columns {', '.join(_K_PANELS)}")
    table = table.sort_values("k")
    chosen = recommended
    figure = _figure(figsize, dpi)
    n_cols = 2 if len(present) > 1 else 1
    n_rows = -(-len(present) // n_cols)
    axes = figure.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax, column in zip(axes, present):
        ax.plot(table["k"], table[column], marker="o")
        if chosen is not None:
            ax.axvline(chosen, color="0.3", linestyle="--", label=f"recommended k={chosen}")
            ax.legend(fontsize="small")
        ax.set_title(_K_PANELS[column])
        ax.set_xlabel("k")
        ax.set_xticks(table["k"])
        ax.grid(alpha=0.3)
    for ax in axes[len(present):]:
        ax.set_visible(False)
    return _save(figure, path)
