"""Composite maps people recognise: equal-degree panels, a land outline, one colour bar a variable.

`composite_figure` draws an `(cluster, latitude, longitude)` map per regime and variable:

* **Projection.** With cartopy installed (the optional `maps` extra), panels are cartopy
  `PlateCarree` axes; without it, plain matplotlib axes with equal degrees on both axes. Either
  way a panel keeps the grid's shape, and `map_layout` arranges them for wide and tall domains
  alike (a band around the globe gets full-width strips, one block of regimes per variable).
* **Land.** Coastlines come from cartopy's Natural Earth shapefiles when they are already on
  disk (`natural_earth_coastlines`); nothing is ever downloaded. Otherwise the outline is drawn
  from the data itself (`land_mask`: a land-sea mask variable when the file has one, else the
  NaN mask of a variable such as `sst`). Points without data are grey, never a colour of the
  scale.
* **Scale.** Diverging `RdBu_r` centred on zero, symmetric limits per variable, one colour bar
  per variable with at most five ticks and a power-of-ten offset for large values (latent and
  sensible heat fluxes in J m**-2), so tick labels never overlap.
* **Significance.** Where a boolean mask is given, the significant points are hatched.

Everything is drawn on matplotlib's Agg canvas (no pyplot, no display); an image is `figsize *
dpi` pixels.
"""

import pathlib

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, ScalarFormatter

from keras_dsc.errors import DataError

LAND_SEA_MASKS = ("lsm", "land_sea_mask", "sftlf", "landmask", "LANDMASK")
"""Variable names read as a land-sea mask (a fraction; `sftlf` in percent)."""

NO_DATA_GREY = "0.6"
WIDE = 0.25
"""Domains whose height/width (in degrees) is below this are drawn as full-width strips."""


_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def pretty_units(units):
    """Units as a label shows them: ERA5's `J m**-2` becomes `J m⁻²`.

    Example:

    >>> pretty_units("m s**-1"), pretty_units("K")
    ('m s⁻¹', 'K')
    """
    import re

    return re.sub(r"\*\*(-?\d+)", lambda m: m.group(1).translate(_SUPERSCRIPTS), str(units))


def _figure(figsize, dpi):
    figure = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def grid_aspect(latitudes, longitudes):
    """The height/width of a grid's box in degrees (one cell added on each axis).

    Example:

    >>> round(grid_aspect(np.linspace(5, -5, 18), np.arange(432) * 360 / 432 - 180), 4)
    0.0294
    """
    latitudes = np.asarray(latitudes, np.float64)
    longitudes = np.asarray(longitudes, np.float64)

    def span(values):
        if values.size < 2:
            return 1.0
        return float(np.ptp(values) * values.size / (values.size - 1))

    return span(latitudes) / span(longitudes)


def map_layout(n_clusters, n_variables, aspect):
    """Where the panels of a composite figure go, and the figure's size in inches.

    Domains at least `WIDE` as tall as wide get one column per variable and one row per
    regime, a horizontal colour bar under each column. Wider ones (a tropical band, a zonal
    strip) get full-width panels: one block of regime rows per variable, its colour bar on the
    right. Panels keep the grid's aspect; their size is bounded so that the figure stays
    readable.

    Args:
        n_clusters: int, the regimes (rows of panels).
        n_variables: int, the variables.
        aspect: float, the grid's height/width in degrees (`grid_aspect`).

    Returns:
        A dict: `orientation` (`"columns"` or `"strips"`), `rows`, `cols` (of panels),
        `panel` (width, height in inches) and `figsize`.

    Example:

    >>> map_layout(6, 7, 1.0)["figsize"]
    (22.25, 18.5)
    >>> layout = map_layout(2, 1, 18 / 432)
    >>> layout["orientation"], layout["rows"], layout["cols"]
    ('strips', 2, 1)
    """
    aspect = float(aspect)
    if aspect >= WIDE:
        height = min(2.4 * aspect, 3.6)
        width = height / aspect
        if width > 3.0:
            width, height = 3.0, 3.0 * aspect
        figsize = (n_variables * (width + 0.75), n_clusters * (height + 0.5) + 1.0)
        return {"orientation": "columns", "rows": n_clusters, "cols": n_variables,
                "panel": (width, height), "figsize": _round(figsize)}
    width = 10.0
    height = max(width * aspect, 0.3)
    rows = n_clusters * n_variables
    figsize = (width + 2.2, rows * (height + 0.55) + 0.5)
    return {"orientation": "strips", "rows": rows, "cols": 1, "panel": (width, height),
            "figsize": _round(figsize)}


def _round(size):
    """Up to a quarter inch: a whole number of pixels at any dpi that is a multiple of 4."""
    return tuple(float(np.ceil(v * 4.0) / 4.0) for v in size)


def land_mask(dataset, variables=None):
    """Land points of a grid, from the data itself: `True` on land, or `None` if unknown.

    A land-sea mask variable (`LAND_SEA_MASKS`: land where the fraction exceeds one half) wins;
    otherwise the first variable that is missing (NaN) at some points of every time step but
    not everywhere, such as `sst` over land.

    Args:
        dataset: an `xarray.Dataset` or `DataArray` on `latitude`, `longitude` (and possibly
            `time` or other dimensions, reduced over).
        variables: the variables to look at for a NaN mask; `None`: all.

    Returns:
        A boolean `xarray.DataArray` (latitude, longitude), or `None`.

    Example:

    >>> import xarray as xr
    >>> sst = xr.DataArray([[280.0, np.nan], [281.0, 282.0]], dims=("latitude", "longitude"),
    ...                    name="sst")
    >>> land_mask(sst.to_dataset()).values.tolist()
    [[False, True], [False, False]]
    """
    import xarray as xr

    if isinstance(dataset, xr.DataArray):
        dataset = dataset.to_dataset(name=dataset.name or "field")
    for name in LAND_SEA_MASKS:
        if name in dataset.variables and {"latitude", "longitude"} <= set(dataset[name].dims):
            mask = dataset[name]
            mask = mask.isel({d: 0 for d in mask.dims if d not in ("latitude", "longitude")})
            threshold = 50.0 if name == "sftlf" else 0.5
            return (mask > threshold).transpose("latitude", "longitude").load()
    names = variables if variables is not None else list(dataset.data_vars)
    for name in names:
        var = dataset[name]
        if not {"latitude", "longitude"} <= set(var.dims) or name in LAND_SEA_MASKS:
            continue
        other = [d for d in var.dims if d not in ("latitude", "longitude")]
        missing = var.isnull().all(other) if other else var.isnull()
        missing = missing.transpose("latitude", "longitude").load()
        if 0 < int(missing.sum()) < missing.size:
            return missing
    return None


def natural_earth_coastlines(extent=None):
    """The Natural Earth coastline shapefile that cartopy already has on disk, or `None`.

    Looks in cartopy's `pre_existing_data_dir` and `data_dir` for the 10 m, 50 m and 110 m
    coastlines (the finer first for domains under 30 degrees). Never downloads: cartopy's own
    `coastlines()` would fetch the files from the internet when they are missing.

    Args:
        extent: `(west, east, south, north)` of the domain, or `None`.

    Returns:
        A `pathlib.Path`, or `None` (no cartopy, or no file).
    """
    try:
        import cartopy
        from cartopy.io import Downloader
    except ImportError:
        return None
    small = extent is not None and max(extent[1] - extent[0], extent[3] - extent[2]) < 30
    resolutions = ("10m", "50m", "110m") if small else ("110m", "50m", "10m")
    for resolution in resolutions:
        fields = {"config": cartopy.config, "category": "physical", "name": "coastline",
                  "resolution": resolution}
        try:
            downloader = Downloader.from_config(
                ("shapefiles", "natural_earth", "physical", f"{resolution}_coastline"))
            candidates = [downloader.pre_downloaded_path(fields), downloader.target_path(fields)]
        except (KeyError, ValueError, TypeError):
            continue
        for path in candidates:
            if path is not None and pathlib.Path(path).is_file():
                return pathlib.Path(path)
    return None


def _cartopy_crs():
    try:
        import cartopy.crs as ccrs
    except ImportError:
        return None
    return ccrs


def _degrees(axis, offset=0.0):
    def text(value, _):
        if axis == "longitude":
            value = (value + offset + 180.0) % 360.0 - 180.0
            hemisphere = "E" if value > 0 else "W" if value < 0 else ""
        else:
            hemisphere = "N" if value > 0 else "S" if value < 0 else ""
        return f"{abs(value):g}°{hemisphere}"

    return FuncFormatter(text)


def _colour_bar(figure, mesh, cax, orientation, label):
    horizontal = orientation == "columns"
    bar = figure.colorbar(mesh, cax=cax, orientation="horizontal" if horizontal else "vertical",
                          label=label)
    formatter = ScalarFormatter(useMathText=True)
    formatter.set_powerlimits((-2, 3))
    bar.locator = MaxNLocator(nbins=4, symmetric=True)
    bar.formatter = formatter
    bar.update_ticks()
    bar.ax.tick_params(labelsize="small")
    return bar


def _panel_axes(figure, layout, projection, n_clusters, n_variables):
    """The panels and one colour-bar axes per variable, on one grid: a thin row under the
    panels (columns) or a thin column beside each block of regimes (strips)."""
    kwargs = {"projection": projection} if projection is not None else {}
    width, height = layout["panel"]
    if layout["orientation"] == "columns":
        grid = figure.add_gridspec(n_clusters + 1, n_variables,
                                   height_ratios=[height] * n_clusters + [0.12])
        panels = np.empty((n_clusters, n_variables), object)
        for r in range(n_clusters):
            for v in range(n_variables):
                panels[r, v] = figure.add_subplot(grid[r, v], **kwargs)
        bars = [figure.add_subplot(grid[n_clusters, v]) for v in range(n_variables)]
    else:
        grid = figure.add_gridspec(n_clusters * n_variables, 2, width_ratios=[width, 0.15])
        panels = np.empty((n_clusters * n_variables, 1), object)
        for i in range(n_clusters * n_variables):
            panels[i, 0] = figure.add_subplot(grid[i, 0], **kwargs)
        bars = [figure.add_subplot(grid[v * n_clusters:(v + 1) * n_clusters, 1])
                for v in range(n_variables)]
    for bar in bars:
        bar.set_label("<colorbar>")  # matplotlib's own label for colour-bar axes
    return panels, bars


def composite_figure(composites, significant=None, counts=None, land=None, units=None,
                     projection="auto", figsize=None, dpi=100, title=None):
    """Draws composite maps: one panel per regime and variable, in physical anomaly units.

    Args:
        composites: an `xarray.DataArray` (cluster, latitude, longitude, variable) or an
            `xarray.Dataset` of (cluster, latitude, longitude) variables (as returned by
            `keras_dsc.regimes.composites`; its `*_p_value` / `*_significant` variables are
            not drawn as maps, `*_significant` is hatched, `count` titles the panels).
        significant: boolean array or DataArray like one variable of `composites` (or a dict
            `{variable: mask}`), hatched where true; `None`: the Dataset's `*_significant`.
        counts: `{cluster: windows}` for the titles; `None`: the Dataset's `count`.
        land: boolean (latitude, longitude) mask for the outline (`land_mask`); `None`: the
            outline comes from the composites' own NaN points, if any.
        units: `{variable: units}`; `None`: each variable's `units` attribute or the `units`
            coordinate along `variable`.
        projection: `"auto"` (cartopy's PlateCarree when cartopy imports), `"cartopy"`
            (required) or `"none"` (plain axes with equal degrees).
        figsize: `(width, height)` in inches; `None`: `map_layout`'s.
        dpi: int, pixels per inch.
        title: optional title of the whole figure.

    Returns:
        A matplotlib `Figure` (Agg canvas), with `figure.outline` saying which land outline was
        drawn: `"coastlines"`, `"data"` or `None`.

    Example:

    >>> import xarray as xr
    >>> maps = xr.DataArray(np.random.default_rng(0).normal(size=(2, 4, 5, 1)),
    ...                     dims=("cluster", "latitude", "longitude", "variable"),
    ...                     coords={"cluster": [0, 1], "latitude": [43.0, 42.0, 41.0, 40.0],
    ...                             "longitude": [-33.0, -32.0, -31.0, -30.0, -29.0],
    ...                             "variable": ["t2m"]})
    >>> figure = composite_figure(maps, projection="none", units={"t2m": "K"}, dpi=40)
    >>> len(figure.axes)  # two panels and a colour bar
    3
    """
    import xarray as xr

    names, fields, masks, found_units, found_counts = _unpack(composites)
    if significant is not None:
        if isinstance(significant, dict):
            masks = {name: np.asarray(significant[name], bool) for name in significant}
        else:
            masks = {names[0]: np.asarray(significant, bool)}
    found_units.update(units or {})
    counts = found_counts if counts is None else {int(k): int(v) for k, v in counts.items()}
    first = fields[names[0]]
    clusters = [int(c) for c in first["cluster"].values]
    latitude = np.asarray(first["latitude"].values, np.float64)
    longitude = np.asarray(first["longitude"].values, np.float64)
    if land is None:
        land = land_mask(xr.Dataset({n: fields[n] for n in names}))
    land = None if land is None else np.asarray(land, bool)

    if projection not in ("auto", "cartopy", "none"):
        raise DataError(f"projection: expected 'auto', 'cartopy' or 'none', got {projection!r}")
    ccrs = _cartopy_crs() if projection != "none" else None
    if projection == "cartopy" and ccrs is None:
        raise DataError("projection: 'cartopy' needs cartopy (pip install -e \".[maps]\")")
    crs = ccrs.PlateCarree() if ccrs is not None else None
    # Cells drawn around their centres; the map spans the centres, or the one-degree cell
    # of a single row or column.
    lon_edges, lat_edges = _cell_edges(longitude), _cell_edges(latitude)
    spans = [edges if centres.size == 1 else centres
             for centres, edges in ((longitude, lon_edges), (latitude, lat_edges))]
    extent = tuple(float(f(span)) for span in spans for f in (np.min, np.max))
    # A box across the date line keeps its 0..360 longitudes: centre the map on 180.
    across = crs is not None and extent[1] > 180.0
    map_crs = ccrs.PlateCarree(central_longitude=180.0) if across else crs
    coastline = natural_earth_coastlines(extent) if crs is not None else None

    layout = map_layout(len(clusters), len(names), grid_aspect(latitude, longitude))
    figure = _figure(figsize or layout["figsize"], dpi)
    axes, bars = _panel_axes(figure, layout, map_crs, len(clusters), len(names))
    colormap = matplotlib.colormaps["RdBu_r"].with_extremes(bad=NO_DATA_GREY)
    figure.outline = "coastlines" if coastline is not None else (
        "data" if land is not None else None)
    geometries = _coastline_geometries(coastline) if coastline is not None else None

    for v, name in enumerate(names):
        values = np.asarray(fields[name].transpose("cluster", "latitude", "longitude").values,
                            np.float64)
        finite = np.isfinite(values)
        limit = float(np.max(np.abs(values[finite]))) if finite.any() else 0.0
        limit = limit if limit > 0 else 1.0
        for r, cluster in enumerate(clusters):
            ax = _axis_of(axes, layout, r, v, len(clusters))
            extra = {"transform": crs} if crs is not None else {}
            mesh = ax.pcolormesh(lon_edges, lat_edges, np.ma.masked_invalid(values[r]),
                                 cmap=colormap, vmin=-limit, vmax=limit, shading="flat",
                                 **extra)
            ax.set_facecolor(NO_DATA_GREY)
            if name in masks and masks[name][r].any():
                ax.contourf(longitude, latitude, masks[name][r].astype(float), levels=[0.5, 1.5],
                            colors="none", hatches=["..."], **extra)
            if geometries is not None:
                ax.add_geometries(geometries, crs, facecolor="none", edgecolor="black",
                                  linewidth=0.7)
            elif land is not None and land.any() and not land.all():
                ax.contour(longitude, latitude, land.astype(float), levels=[0.5],
                           colors="black", linewidths=0.7, **extra)
            n = counts.get(cluster)
            ax.set_title(f"{name}, regime {cluster}" + (f" (n={n})" if n is not None else ""),
                         fontsize="small")
            _geographic_axes(ax, crs, extent, layout, r, v, len(clusters), len(names))
        unit = pretty_units(found_units.get(name, ""))
        _colour_bar(figure, mesh, bars[v], layout["orientation"],
                    f"{name} anomaly ({unit})" if unit else f"{name} anomaly")
    if title:
        figure.suptitle(title)
    return figure


def _cell_edges(centres):
    """The edges of cells around `centres` (halfway between them, half a step beyond the
    ends; one degree wide around a single centre), in the centres' order.

    >>> _cell_edges(np.array([10.0, 11.0, 13.0])).tolist(), _cell_edges(np.array([45.0])).tolist()
    ([9.5, 10.5, 12.0, 14.0], [44.5, 45.5])
    """
    if centres.size < 2:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    middle = (centres[1:] + centres[:-1]) / 2.0
    return np.concatenate([[2 * centres[0] - middle[0]], middle, [2 * centres[-1] - middle[-1]]])


def _axis_of(axes, layout, r, v, n_clusters):
    if layout["orientation"] == "columns":
        return axes[r, v]
    return axes[v * n_clusters + r, 0]


def _geographic_axes(ax, crs, extent, layout, r, v, n_clusters, n_variables):
    west, east, south, north = extent
    bottom = (r == n_clusters - 1) if layout["orientation"] == "columns" else (
        v == n_variables - 1 and r == n_clusters - 1)
    left = v == 0 or layout["orientation"] == "strips"
    x_ticks = MaxNLocator(nbins=3 if layout["orientation"] == "columns" else 8).tick_values(
        west, east)
    y_ticks = MaxNLocator(nbins=3).tick_values(south, north)
    x_ticks = [t for t in x_ticks if west - 1e-9 <= t <= east + 1e-9]
    y_ticks = [t for t in y_ticks if south - 1e-9 <= t <= north + 1e-9]
    # A box across the date line (kept in 0..360) is drawn centred on 180: its extent and
    # tick labels are in the map's own coordinates, 180 degrees off.
    across = crs is not None and east > 180.0
    if crs is not None:
        if across:
            ax.set_extent((west - 180.0, east - 180.0, south, north), crs=ax.projection)
        else:
            ax.set_extent(extent, crs=crs)
        ax.set_xticks(x_ticks, crs=crs)
        ax.set_yticks(y_ticks, crs=crs)
    else:
        ax.set_xticks(x_ticks)
        ax.set_yticks(y_ticks)
        ax.set_xlim(west, east)
        ax.set_ylim(south, north)
        ax.set_aspect("equal")
    ax.xaxis.set_major_formatter(_degrees("longitude", 180.0 if across else 0.0))
    ax.yaxis.set_major_formatter(_degrees("latitude"))
    ax.tick_params(labelsize="x-small", labelbottom=bottom, labelleft=left)


def _coastline_geometries(path):
    from cartopy.io.shapereader import Reader

    return list(Reader(str(path)).geometries())


def _unpack(composites):
    """(names, {name: DataArray (cluster, lat, lon)}, {name: mask}, units, counts)."""
    import xarray as xr

    if isinstance(composites, xr.DataArray):
        if "variable" not in composites.dims:
            composites = composites.expand_dims(variable=[composites.name or "field"])
        for dim in ("cluster", "latitude", "longitude"):
            if dim not in composites.dims:
                raise DataError(f"composites: dimension {dim!r} not found; dimensions are "
                                f"{', '.join(map(str, composites.dims))}")
        names = [str(v) for v in composites["variable"].values]
        units = {}
        if "units" in composites.coords and composites.coords["units"].dims == ("variable",):
            units = dict(zip(names, (str(u) for u in composites.coords["units"].values)))
        fields = {n: composites.sel(variable=n).drop_vars(
            [c for c in ("variable", "units") if c in composites.coords]) for n in names}
        return names, fields, {}, units, {}
    if not isinstance(composites, xr.Dataset):
        raise DataError("composites: expected an xarray DataArray or Dataset")
    names = [str(n) for n, var in composites.data_vars.items()
             if {"cluster", "latitude", "longitude"} <= set(var.dims)
             and not str(n).endswith(("_p_value", "_significant"))]
    if not names:
        raise DataError("composites: no variable on (cluster, latitude, longitude)")
    fields = {n: composites[n] for n in names}
    masks = {n: np.asarray(composites[f"{n}_significant"].transpose(
        "cluster", "latitude", "longitude").values, bool)
        for n in names if f"{n}_significant" in composites}
    units = {n: str(composites[n].attrs.get("units", "")) for n in names}
    counts = {}
    if "count" in composites and composites["count"].dims == ("cluster",):
        counts = {int(c): int(n) for c, n in zip(composites["cluster"].values,
                                                 composites["count"].values)}
    return names, fields, masks, units, counts


def plot_composite_maps(composites, path, dpi=100, **kwargs):
    """Writes `composite_figure(composites, **kwargs)` to a PNG file.

    Args:
        composites: see `composite_figure`.
        path: where to write the PNG.
        dpi: int, pixels per inch.
        **kwargs: the other arguments of `composite_figure`.

    Returns:
        The `pathlib.Path` of the PNG.
    """
    path = pathlib.Path(path)
    if path.suffix.lower() != ".png":
        raise DataError(f"{path}: the figure is written as PNG; give a path ending in .png")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure = composite_figure(composites, dpi=dpi, **kwargs)
    figure.savefig(path, format="png", dpi=figure.dpi)
    return path
