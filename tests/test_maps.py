"""keras_dsc.maps: panels that keep the grid's aspect, tick labels that never overlap, a land
outline with or without cartopy, and never a download."""

import importlib.util
import itertools
import sys

import numpy as np
import pytest
import xarray as xr
from matplotlib.image import imread

from keras_dsc import maps


def composites_of(latitude, longitude, variables, scales, k=2, seed=0, land=None):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(k, latitude.size, longitude.size, len(variables)))
    values *= np.asarray(scales, float)
    if land is not None:
        values[:, land, 0] = np.nan
    return xr.DataArray(values, dims=("cluster", "latitude", "longitude", "variable"),
                        coords={"cluster": np.arange(k), "latitude": latitude,
                                "longitude": longitude, "variable": variables})


def boxes(labels, renderer):
    return [t.get_window_extent(renderer) for t in labels if t.get_visible() and t.get_text()]


def assert_no_overlap(extents, what):
    for a, b in itertools.combinations(extents, 2):
        assert not a.overlaps(b), what


ERA5_GRID = (np.linspace(43, 33, 41), np.linspace(-33, -23, 41))
ERA5_VARIABLES = ["u10", "v10", "t2m", "sst", "sp", "slhf", "sshf"]
ERA5_SCALES = [3.0, 3.0, 2.0, 1.0, 800.0, 4e5, 6e4]


def test_tick_labels_never_overlap_with_heat_fluxes_in_joules():
    land = np.zeros((41, 41), bool)
    land[18:22, 18:22] = True
    composites = composites_of(*ERA5_GRID, ERA5_VARIABLES, ERA5_SCALES, k=6, land=land)
    figure = maps.composite_figure(composites, projection="none", dpi=60)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    bars = [ax for ax in figure.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 7  # one colour bar per variable
    for bar in bars:
        labels = boxes(bar.get_xticklabels(), renderer)
        assert 2 <= len(labels) <= 5
        offset = bar.xaxis.get_offset_text()
        assert_no_overlap(labels + boxes([offset], renderer), bar.get_xlabel())
    slhf = next(bar for bar in bars if bar.get_xlabel().startswith("slhf"))
    assert slhf.get_xlabel() == "slhf anomaly"  # no units given: plain name
    assert "10^{5}" in slhf.xaxis.get_offset_text().get_text()  # values in units of 1e5
    panels = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 42
    for ax in panels:
        assert_no_overlap(boxes(ax.get_xticklabels(), renderer), ax.get_title())
    # Tick labels of neighbouring panels do not run into each other either.
    bottom = [t for ax in panels for t in ax.get_xticklabels()]
    assert_no_overlap(boxes(bottom, renderer), "bottom row")


@pytest.mark.parametrize("latitude, longitude, orientation", [
    (np.linspace(5, -5, 18), np.arange(432) * 360 / 432 - 180, "strips"),  # a tropical band
    (np.linspace(70, 10, 61), np.linspace(-20, -10, 11), "columns"),      # a tall strip
    (np.linspace(43, 33, 41), np.linspace(-33, -23, 41), "columns"),      # a square box
])
def test_panels_keep_the_grids_aspect_for_wide_and_tall_domains(latitude, longitude,
                                                                orientation, tmp_path):
    composites = composites_of(latitude, longitude, ["u10", "t2m"], [1.0, 1.0], k=3)
    layout = maps.map_layout(3, 2, maps.grid_aspect(latitude, longitude))
    assert layout["orientation"] == orientation
    width, height = layout["figsize"]
    assert width <= 14 and height <= 30
    path = maps.plot_composite_maps(composites, tmp_path / "maps.png", dpi=40,
                                    projection="none")
    image = imread(path)
    assert image.shape[:2] == (round(height * 40), round(width * 40))
    figure = maps.composite_figure(composites, projection="none", dpi=40)
    figure.canvas.draw()
    expected = maps.grid_aspect(latitude, longitude)
    for ax in figure.axes:
        if ax.get_label() == "<colorbar>":
            continue
        box = ax.get_window_extent()
        drawn = (box.height / box.width) * (np.ptp(longitude) / np.ptp(latitude))
        assert drawn == pytest.approx(1.0, rel=0.08)  # equal degrees on both axes
        assert box.width > 20 and box.height > 8  # neither squashed nor a sliver
    assert expected > 0


def test_without_cartopy_the_outline_comes_from_the_data(monkeypatch, tmp_path):
    for name in [m for m in sys.modules if m == "cartopy" or m.startswith("cartopy.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "cartopy", None)  # `import cartopy` raises ImportError
    monkeypatch.setitem(sys.modules, "cartopy.crs", None)
    assert maps.natural_earth_coastlines() is None
    land = np.zeros((41, 41), bool)
    land[10:16, 20:30] = True
    composites = composites_of(*ERA5_GRID, ["sst", "t2m"], [1.0, 2.0], land=land)
    figure = maps.composite_figure(composites, dpi=40)  # "auto": plain axes
    assert figure.outline == "data"
    panels = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    assert all(type(ax).__name__ == "Axes" for ax in panels)
    # Every panel, t2m's included, has the outline (a contour line) drawn from sst's NaN.
    assert all(any("Contour" in type(c).__name__ or "Line" in type(c).__name__
                   for c in ax.collections) for ax in panels)
    path = maps.plot_composite_maps(composites, tmp_path / "maps.png", dpi=40)
    image = imread(path)[..., :3]
    grey = np.all(np.abs(image - 0.6) < 0.01, axis=-1)
    assert grey.sum() > 20  # land without data is grey, not a colour of the scale
    with pytest.raises(Exception, match="needs cartopy"):
        maps.composite_figure(composites, projection="cartopy")


@pytest.mark.parametrize("latitude, longitude", [
    (np.array([45.0]), np.arange(24) * 15.0),  # a zonal strip of one row
    (np.linspace(60.0, 30.0, 12), np.array([-20.0]))])  # one column
def test_a_grid_of_one_row_or_column_is_drawn(latitude, longitude):
    """With one latitude, the cells had no height: every panel was a grey strip."""
    figure = maps.composite_figure(composites_of(latitude, longitude, ["t2m"], [2.0]),
                                   projection="none", dpi=40)
    panels = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    for ax in panels:
        (mesh,) = [c for c in ax.collections if type(c).__name__ == "QuadMesh"]
        cells = mesh.get_coordinates()  # (rows + 1, columns + 1, 2) corners
        height = np.ptp(cells[..., 1])
        width = np.ptp(cells[..., 0])
        assert height > 0.9 and width > 0.9
        bottom, top = sorted(ax.get_ylim())
        left, right = sorted(ax.get_xlim())
        assert top - bottom > 0.9 and right - left > 0.9  # the axes show the cells


def test_land_mask_from_a_land_sea_mask_variable_or_missing_values():
    latitude, longitude = np.array([1.0, 0.0]), np.array([0.0, 1.0, 2.0])
    lsm = xr.DataArray([[[0.0, 0.9, 0.2], [1.0, 0.0, 0.0]]],
                       dims=("time", "latitude", "longitude"))
    ds = xr.Dataset({"tp": (("time", "latitude", "longitude"), np.ones((1, 2, 3))),
                     "lsm": lsm}, coords={"latitude": latitude, "longitude": longitude})
    assert maps.land_mask(ds).values.tolist() == [[False, True, False], [True, False, False]]
    sftlf = ds.drop_vars("lsm").assign(sftlf=lsm * 100)
    assert maps.land_mask(sftlf).values.tolist() == [[False, True, False], [True, False, False]]
    assert maps.land_mask(ds.drop_vars("lsm")) is None  # no mask, no NaN: no outline
    sst = ds["tp"].where(lsm < 0.5).rename("sst").to_dataset()
    assert maps.land_mask(sst).values.tolist() == [[False, True, False], [True, False, False]]


def test_significant_points_are_hatched():
    composites = composites_of(*ERA5_GRID, ["t2m"], [1.0])
    significant = np.zeros((2, 41, 41), bool)
    significant[1, 5:10, 5:10] = True
    figure = maps.composite_figure(composites, significant=significant, projection="none",
                                   dpi=40)
    panels = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    hatched = [any(any(getattr(c, "hatches", None) or [None]) for c in ax.collections)
               for ax in panels]
    assert hatched == [False, True]


def test_pretty_units():
    assert maps.pretty_units("J m**-2") == "J m⁻²"
    assert maps.pretty_units("kg m**-2 s**-1") == "kg m⁻² s⁻¹"


needs_cartopy = pytest.mark.skipif(importlib.util.find_spec("cartopy") is None,
                                   reason="cartopy (the maps extra) is not installed")


@pytest.fixture
def no_download(monkeypatch):
    """Any attempt of cartopy to fetch a file fails the test."""
    from cartopy.io import Downloader

    def refuse(*args, **kwargs):
        raise AssertionError("cartopy tried to download a file")

    monkeypatch.setattr(Downloader, "acquire_resource", refuse)
    monkeypatch.setattr("urllib.request.urlopen", refuse)


def write_coastline(folder):
    """A Natural Earth-style 110 m coastline shapefile with one line, where cartopy looks."""
    import shapefile

    target = folder / "shapefiles" / "natural_earth" / "physical"
    target.mkdir(parents=True)
    with shapefile.Writer(str(target / "ne_110m_coastline"), shapeType=shapefile.POLYLINE) as w:
        w.field("featurecla", "C")
        w.line([[[-32.0, 34.0], [-27.0, 38.0], [-24.0, 42.0]]])
        w.record("Coastline")
    return target / "ne_110m_coastline.shp"


@needs_cartopy
def test_cartopy_axes_with_local_natural_earth_coastlines(monkeypatch, tmp_path, no_download):
    import cartopy

    path = write_coastline(tmp_path)
    monkeypatch.setitem(cartopy.config, "pre_existing_data_dir", str(tmp_path))
    monkeypatch.setitem(cartopy.config, "data_dir", str(tmp_path / "empty"))
    assert maps.natural_earth_coastlines((-33, -23, 33, 43)) == path
    composites = composites_of(*ERA5_GRID, ["t2m"], [1.0])
    figure = maps.composite_figure(composites, projection="cartopy", dpi=40)
    assert figure.outline == "coastlines"
    panels = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    assert all(type(ax).__name__ == "GeoAxes" for ax in panels)
    written = maps.plot_composite_maps(composites, tmp_path / "maps.png", dpi=40,
                                       projection="cartopy")
    assert imread(written).shape[:2] == tuple(
        round(v * 40) for v in maps.map_layout(2, 1, 1.0)["figsize"][::-1])


@needs_cartopy
def test_cartopy_without_natural_earth_files_draws_the_data_outline(monkeypatch, tmp_path,
                                                                   no_download):
    import cartopy

    monkeypatch.setitem(cartopy.config, "pre_existing_data_dir", str(tmp_path / "none"))
    monkeypatch.setitem(cartopy.config, "data_dir", str(tmp_path / "none"))
    assert maps.natural_earth_coastlines() is None
    land = np.zeros((41, 41), bool)
    land[10:16, 20:30] = True
    composites = composites_of(*ERA5_GRID, ["sst"], [1.0], land=land)
    figure = maps.composite_figure(composites, dpi=40)
    assert figure.outline == "data"
    figure.savefig(tmp_path / "maps.png")  # drawing fetches nothing either


@needs_cartopy
def test_a_box_across_the_date_line_is_drawn_centred_on_180_with_true_longitudes(no_download):
    import matplotlib.pyplot

    composites = composites_of(np.linspace(20, -20, 9), np.arange(150.0, 250.0, 5.0), ["tas"],
                               [1.0])
    figure = maps.composite_figure(composites, projection="cartopy", dpi=40)
    figure.canvas.draw()
    panel = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"][-1]
    assert panel.projection.proj4_params["pm"] == 180.0  # PlateCarree(central_longitude=180)
    west, east = panel.get_xlim()
    assert east - west == pytest.approx(95.0 + 5.0, abs=6.0)  # the box, not the whole globe
    labels = [t.get_text() for t in panel.get_xticklabels() if t.get_text()]
    assert labels and all(label.endswith(("E", "W")) or label == "180°" for label in labels)
    assert "160°E" in labels or "160°W" in labels, labels
    matplotlib.pyplot.close(figure)
