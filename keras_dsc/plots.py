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

from keras_dsc import maps
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


def plot_composites(anomalies, labels, path, units=None, figsize=None, dpi=100, land=None,
                    projection="auto"):
    """Draws the mean map of every variable in every cluster (composites).

    The cluster means of the time steps are drawn by `keras_dsc.maps.composite_figure`: one
    panel per cluster and variable keeping the grid's aspect (laid out by
    `keras_dsc.maps.map_layout` for wide and tall domains alike), their size in the titles,
    one colour scale per variable symmetric about zero in the diverging `RdBu_r`, one colour
    bar per variable labelled with its units, a land outline, and grey where a cluster mean is
    NaN (land in `sst`).

    Args:
        anomalies: `xarray.DataArray` with dimensions `time`, `latitude`, `longitude` and
            `variable` (any order; `valid_time`, `lat`, `lon` are accepted), in physical units;
            an `xarray.Dataset` of `(time, latitude, longitude)` variables is also accepted.
        labels: integer array of shape `(time,)`, the cluster of every time step.
        path: where to write the PNG.
        units: optional dict `{variable: units}`. Defaults to the `units` coordinate along
            `variable`, else each Dataset variable's `units` attribute, else no units.
        figsize: `(width, height)` in inches. Defaults to `keras_dsc.maps.map_layout`'s.
        dpi: int, pixels per inch. Defaults to 100.
        land: optional boolean (latitude, longitude) mask of land for the outline; `None`:
            the NaN points of the means (`keras_dsc.maps.land_mask`).
        projection: `"auto"`, `"cartopy"` or `"none"` (see `keras_dsc.maps.composite_figure`).

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
    sizes = {int(c): int(np.sum(labels == c)) for c in clusters}
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.stack([_nanmean(values[labels == c]) for c in clusters])  # (k, y, x, v)
    latitude = np.asarray(anomalies[lat_dim].values, np.float64) if lat_dim in \
        anomalies.coords else np.arange(anomalies.sizes[lat_dim], dtype=np.float64)
    longitude = np.asarray(anomalies[lon_dim].values, np.float64) if lon_dim in \
        anomalies.coords else np.arange(anomalies.sizes[lon_dim], dtype=np.float64)
    composites = xr.DataArray(
        means, dims=("cluster", "latitude", "longitude", "variable"),
        coords={"cluster": clusters, "latitude": latitude, "longitude": longitude,
                "variable": names})
    figure = maps.composite_figure(composites, counts=sizes, land=land, units=found_units,
                                   projection=projection, figsize=figsize, dpi=dpi)
    return _save(figure, path)


def _nanmean(block):
    """Mean over the first axis ignoring NaN; all-NaN points stay NaN, without a warning."""
    count = np.sum(np.isfinite(block), axis=0)
    total = np.nansum(block, axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


MAX_CALENDAR_HEIGHT = 12.0
"""Inches of calendar rows at most: a long record gets thinner rows, never a taller image."""

NO_REGIME_COLOUR = "0.75"


def regime_colours(clusters):
    """The colour of each label in `clusters`: regimes as `cluster_colours`, -1 (no regime) grey.

    The colours of the regimes do not change when some windows are in no regime.

    Example:

    >>> regime_colours([0, 1, -1])[-1]
    '0.75'
    """
    clusters = [int(c) for c in clusters]
    regimes = sorted(c for c in clusters if c >= 0)
    colours = dict(zip(regimes, cluster_colours(max(len(regimes), 1))))
    return [colours.get(c, NO_REGIME_COLOUR) for c in clusters]


def _regime_name(cluster):
    return "no regime" if int(cluster) < 0 else f"cluster {cluster}"


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


def _dates(times):
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
    return times


def calendar_kind(times):
    """`"calendar"` for daily and sub-daily samples, `"timeline"` for monthly and coarser.

    Example:

    >>> calendar_kind(pd.date_range("1800-01-01", periods=240, freq="YS"))
    'timeline'
    """
    times = _dates(times)
    steps = np.diff(np.unique(times.values))
    if steps.size and pd.Timedelta(np.median(steps)) >= pd.Timedelta("28D"):
        return "timeline"
    return "calendar"


def plot_calendar(times, labels, path, figsize=None, dpi=100):
    """Draws the cluster of every sample along the calendar, so a record reads at a glance.

    The drawing adapts to the record (`calendar_kind`). Daily and sub-daily samples: up to 24
    months, one row per month and one column per day of the month; longer spans, one row per
    year and one column per day of the year, the rows thinner as the years add up so that the
    image stays at most `MAX_CALENDAR_HEIGHT` inches of rows (and at most 40 year labels).
    Monthly and coarser samples (a 240-year annual record): a timeline strip, one coloured
    span per sample (see `plot_timeline`). Cells are coloured by cluster (see
    `regime_colours`; no regime, -1, grey) and white where there is no sample. With several
    samples on one day the most frequent cluster of the day is shown.

    Args:
        times: the time of every sample: a `pandas.DatetimeIndex`, an array of `datetime64`, or
            anything `pandas.to_datetime` reads.
        labels: integer array of the same length, the cluster of every sample.
        path: where to write the PNG.
        figsize: `(width, height)` in inches. Defaults to `(11, h + 1.4)` with `h` the smaller
            of `0.3 * n_rows` and `MAX_CALENDAR_HEIGHT`; a timeline's is `(11, 2.4)`.
        dpi: int, pixels per inch. Defaults to 100.

    Returns:
        The `pathlib.Path` of the PNG.

    Example:

    >>> labels = np.arange(365) // 7 % 4
    >>> plot_calendar(pd.date_range("2021-01-01", periods=365), labels, "calendar.png")
    PosixPath('calendar.png')
    """
    path = _png_path(path)
    times = _dates(times)
    labels = _labels(labels, times.size, "time")
    if calendar_kind(times) == "timeline":
        return plot_timeline(times, labels, path, figsize=figsize, dpi=dpi)
    clusters = np.unique(labels)
    frame = pd.DataFrame({"day": times.normalize(), "cluster": np.searchsorted(clusters, labels)})
    daily = frame.groupby("day")["cluster"].agg(lambda s: s.value_counts().idxmax())
    grid, row_labels, x_label, (tick_positions, tick_labels) = _calendar_grid(
        pd.DatetimeIndex(daily.index), daily.to_numpy()
    )

    colours = regime_colours(clusters)
    colormap = ListedColormap(colours).with_extremes(bad="white")
    norm = BoundaryNorm(np.arange(clusters.size + 1) - 0.5, clusters.size)
    n_rows = grid.shape[0]
    figure = _figure(figsize or (11.0, min(0.3 * n_rows, MAX_CALENDAR_HEIGHT) + 1.4), dpi)
    ax = figure.subplots()
    ax.imshow(np.ma.masked_invalid(grid), cmap=colormap, norm=norm, aspect="auto",
              interpolation="nearest")
    every = max(1, -(-n_rows // 40))  # at most 40 row labels
    ax.set_yticks(np.arange(0, n_rows, every), row_labels[::every], fontsize="small")
    ax.set_xticks(tick_positions, tick_labels)
    ax.set_xlabel(x_label)
    if n_rows <= 60:  # cell borders, while the rows are tall enough to show them
        ax.set_xticks(np.arange(grid.shape[1] + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(n_rows + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="white", linewidth=0.5)
    ax.tick_params(which="minor", length=0)
    _regime_legend(ax, clusters, labels, colours)
    ax.set_title(f"cluster of each day, {times.min():%Y-%m-%d} to {times.max():%Y-%m-%d}")
    return _save(figure, path)


def _regime_legend(ax, clusters, labels, colours):
    counts = [int(np.sum(labels == c)) for c in clusters]
    handles = [Patch(color=colours[i], label=f"{_regime_name(c)} (n={counts[i]})")
               for i, c in enumerate(clusters)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
              frameon=False)


def plot_timeline(times, labels, path, figsize=(11.0, 2.4), dpi=100):
    """Draws the cluster of every sample as a strip along time: one coloured span per sample.

    The form for monthly to yearly samples and records of any length (centuries of annual
    regimes): each sample's span reaches the next sample's time (the median step for the
    last), white where there is none.

    Args:
        times: the time of every sample (see `plot_calendar`).
        labels: integer array of the same length, the cluster of every sample.
        path: where to write the PNG.
        figsize: `(width, height)` in inches. Defaults to `(11, 2.4)`.
        dpi: int, pixels per inch. Defaults to 100.

    Returns:
        The `pathlib.Path` of the PNG.

    Example:

    >>> times = pd.date_range("1801-01-01", periods=240, freq="YS")
    >>> plot_timeline(times, np.arange(240) % 3, "timeline.png")
    PosixPath('timeline.png')
    """
    import matplotlib.dates as mdates

    path = _png_path(path)
    times = _dates(times)
    labels = _labels(labels, times.size, "time")
    order = np.argsort(times.values, kind="stable")
    times, labels = times[order], labels[order]
    steps = np.diff(times.values)
    step = np.median(steps) if steps.size else np.timedelta64(1, "D")
    ends = np.append(np.where(steps <= 1.5 * step, times.values[1:],
                              times.values[:-1] + step), times.values[-1] + step)
    clusters = np.unique(labels)
    colours = regime_colours(clusters)
    colour_of = dict(zip(clusters, colours))
    figure = _figure(figsize or (11.0, 2.4), dpi)
    ax = figure.subplots()
    starts_num = mdates.date2num(times.to_pydatetime())
    ends_num = mdates.date2num(pd.DatetimeIndex(ends).to_pydatetime())
    for cluster in clusters:
        chosen = labels == cluster
        spans = list(zip(starts_num[chosen], (ends_num - starts_num)[chosen]))
        ax.broken_barh(spans, (0, 1), facecolors=colour_of[cluster], linewidth=0)
    ax.set_xlim(starts_num[0], ends_num[-1])
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    locator = mdates.AutoDateLocator(maxticks=12)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    _regime_legend(ax, clusters, labels, colours)
    ax.set_title(f"cluster of each sample, {times.min():%Y-%m-%d} to {times.max():%Y-%m-%d}")
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


def _stacked_bars(ax, table, colours_of, width=0.8):
    """Stacked bars of a (period x regime) table of fractions; returns the bar containers."""
    positions = np.arange(len(table))
    bottom = np.zeros(len(table))
    for cluster in table.columns:
        heights = table[cluster].to_numpy(dtype=float)
        ax.bar(positions, heights, width, bottom=bottom, color=colours_of[cluster],
               linewidth=0, label=_regime_name(cluster))
        bottom += np.nan_to_num(heights)
    ax.set_xlim(-0.5, len(table) - 0.5)
    ax.set_ylim(0, 1)
    ax.set_ylabel("fraction of windows")
    return positions


def plot_frequencies(tables, climatology, path, figsize=(12.0, 7.0), dpi=100):
    """Draws how often each regime occurs: per month, per season, per year, and on average.

    Three stacked-bar panels (one bar per calendar month, season and year, split by regime;
    a record of many years gets thin bars and at most about 12 year labels) and a fourth with
    each regime's climatological frequency and, as error bars, its year-to-year standard
    deviation.

    Args:
        tables: dict with the keys `"month"`, `"season"` and `"year"`, each a table of
            fractions as returned by `keras_dsc.regimes.frequencies` (rows periods, columns
            regimes; -1 for no regime).
        climatology: the table of `keras_dsc.regimes.frequency_climatology` (the `all` rows
            are drawn).
        path: where to write the PNG.
        figsize: `(width, height)` in inches. Defaults to `(12, 7)`.
        dpi: int, pixels per inch. Defaults to 100.

    Returns:
        The `pathlib.Path` of the PNG.

    Example:

    >>> table = pd.DataFrame({0: [0.25, 0.5], 1: [0.75, 0.5]}, index=[1, 2])
    >>> climatology = pd.DataFrame({"period": ["all", "all"], "cluster": [0, 1],
    ...                             "frequency": [0.4, 0.6], "year_std": [np.nan, np.nan]})
    >>> plot_frequencies({"month": table, "season": table, "year": table}, climatology,
    ...                  "frequencies.png", dpi=40)
    PosixPath('frequencies.png')
    """
    path = _png_path(path)
    missing = [k for k in ("month", "season", "year") if k not in tables]
    if missing:
        raise DataError(f"tables: no {missing[0]!r} table of frequencies")
    clusters = list(tables["month"].columns)
    colours_of = dict(zip(clusters, regime_colours(clusters)))
    figure = _figure(figsize, dpi)
    axes = figure.subplots(2, 2)
    month_names = {m: pd.Timestamp(2000, m, 1).strftime("%b") for m in range(1, 13)}
    for ax, key, title in ((axes[0, 0], "month", "per calendar month"),
                           (axes[0, 1], "season", "per season"),
                           (axes[1, 0], "year", "per year")):
        table = tables[key].reindex(columns=clusters, fill_value=0.0)
        positions = _stacked_bars(ax, table, colours_of, width=0.8 if len(table) < 60 else 1.0)
        names = [month_names.get(i, str(i)) if key == "month" else str(i) for i in table.index]
        every = max(1, -(-len(names) // 12))
        ax.set_xticks(positions[::every], names[::every])
        ax.set_title(f"regime frequency {title}")
    axes[0, 1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
                      frameon=False)
    ax = axes[1, 1]
    rows = climatology[climatology["period"] == "all"].set_index("cluster").reindex(clusters)
    positions = np.arange(len(clusters))
    errors = rows["year_std"].to_numpy(dtype=float)
    spread = np.isfinite(errors).any()  # one year: no year-to-year spread to draw
    ax.bar(positions, rows["frequency"].to_numpy(dtype=float),
           yerr=np.where(np.isfinite(errors), errors, 0.0) if spread else None,
           capsize=3 if spread else 0, color=[colours_of[c] for c in clusters], linewidth=0)
    ax.set_xticks(positions, [_regime_name(c).replace("cluster ", "") for c in clusters])
    ax.set_xlabel("regime")
    ax.set_ylabel("fraction of windows")
    ax.set_title("climatological frequency" + (" (bars: year-to-year std)" if spread
                                                else " (one year: no spread)"))
    return _save(figure, path)


def plot_persistence(histogram, persistence, path, figsize=(12.0, 4.0), dpi=100):
    """Draws how long regimes last: the episode duration histogram and mean/median durations.

    Args:
        histogram: the table of `keras_dsc.regimes.duration_histogram` (rows durations in
            days, columns regimes, values episode counts).
        persistence: the table of `keras_dsc.regimes.persistence` (indexed by regime).
        path: where to write the PNG.
        figsize: `(width, height)` in inches. Defaults to `(12, 4)`.
        dpi: int, pixels per inch. Defaults to 100.

    Returns:
        The `pathlib.Path` of the PNG.

    Example:

    >>> histogram = pd.DataFrame({0: [2, 1], 1: [0, 3]}, index=[1.0, 2.0])
    >>> persistence = pd.DataFrame({"mean_duration_days": [1.3, 2.0],
    ...                             "median_duration_days": [1.0, 2.0]}, index=[0, 1])
    >>> plot_persistence(histogram, persistence, "persistence.png", dpi=40)
    PosixPath('persistence.png')
    """
    path = _png_path(path)
    clusters = list(persistence.index)
    colours_of = dict(zip(clusters, regime_colours(clusters)))
    figure = _figure(figsize, dpi)
    left, right = figure.subplots(1, 2, width_ratios=(2, 1))
    durations = histogram.index.to_numpy(dtype=float)
    for cluster in clusters:
        if cluster in histogram.columns:
            left.plot(durations, histogram[cluster].to_numpy(), marker="o", markersize=3,
                      color=colours_of[cluster], label=_regime_name(cluster))
    left.set_xlabel("episode duration (days)")
    left.set_ylabel("number of episodes")
    left.set_title("episode durations")
    left.grid(alpha=0.3)
    left.legend(fontsize="small", frameon=False)
    positions = np.arange(len(clusters))
    right.bar(positions, persistence["mean_duration_days"].to_numpy(dtype=float),
              color=[colours_of[c] for c in clusters], linewidth=0, label="mean")
    right.scatter(positions, persistence["median_duration_days"].to_numpy(dtype=float),
                  color="black", marker="_", s=200, label="median", zorder=3)
    right.set_xticks(positions, [_regime_name(c).replace("cluster ", "") for c in clusters])
    right.set_xlabel("regime")
    right.set_ylabel("days")
    right.set_title("mean (bars) and median duration")
    right.legend(fontsize="small", frameon=False)
    return _save(figure, path)


def plot_transitions(probabilities, counts, path, figsize=None, dpi=100):
    """Draws the regime transition matrix as a heatmap, each cell its probability and count.

    Args:
        probabilities: the row-normalised matrix of `keras_dsc.regimes.transitions`
            (`normalize=True`); the diagonal is each regime's persistence.
        counts: the matrix of counts (`normalize=False`), same shape.
        path: where to write the PNG.
        figsize: `(width, height)` in inches. Defaults to `(2 + 0.8 k, 1.2 + 0.8 k)`, at least
            `(5, 4)`, for `k` rows.
        dpi: int, pixels per inch. Defaults to 100.

    Returns:
        The `pathlib.Path` of the PNG.

    Example:

    >>> counts = pd.DataFrame([[3, 1], [1, 2]], index=[0, 1], columns=[0, 1])
    >>> plot_transitions(counts.div(counts.sum(axis=1), axis=0), counts, "transitions.png")
    PosixPath('transitions.png')
    """
    path = _png_path(path)
    values = probabilities.to_numpy(dtype=float)
    if values.ndim != 2 or values.shape[0] != values.shape[1] or counts.shape != values.shape:
        raise DataError(f"transitions: expected square matrices of the same shape, got "
                        f"{values.shape} and {counts.shape}")
    k = values.shape[0]
    figure = _figure(figsize or (max(5.0, 2.0 + 0.8 * k), max(4.0, 1.2 + 0.8 * k)), dpi)
    ax = figure.subplots()
    image = ax.imshow(np.ma.masked_invalid(values), cmap="Blues", vmin=0, vmax=1)
    names = [("none" if int(c) < 0 else str(c)) for c in probabilities.index]
    ax.set_xticks(np.arange(k), names)
    ax.set_yticks(np.arange(k), names)
    ax.set_xlabel("to regime")
    ax.set_ylabel("from regime")
    size = "small" if k <= 8 else "xx-small"
    for i in range(k):
        for j in range(k):
            if np.isfinite(values[i, j]):
                ax.text(j, i, f"{values[i, j]:.2f}\n({int(counts.iat[i, j])})", ha="center",
                        va="center", fontsize=size,
                        color="white" if values[i, j] > 0.6 else "black")
    figure.colorbar(image, ax=ax, label="probability of the next window's regime")
    ax.set_title("transitions (diagonal: persistence)")
    return _save(figure, path)
