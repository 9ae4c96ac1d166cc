import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.image import imread
from sklearn.datasets import make_blobs

from keras_dsc.errors import DataError
from keras_dsc.maps import grid_aspect, map_layout
from keras_dsc.plots import (
    plot_calendar,
    plot_composites,
    plot_k_selection,
    plot_latent,
    plot_training_curves,
)
from keras_dsc.scoring.k_scores import score_k


def assert_png(path, width_in, height_in, dpi):
    image = imread(path)
    assert image.shape[:2] == (round(height_in * dpi), round(width_in * dpi))
    assert image[..., :3].std() > 0  # something was drawn
    return image


@pytest.fixture
def cube():
    rng = np.random.default_rng(0)
    times = pd.date_range("2021-01-01", periods=12)
    labels = np.arange(12) % 3
    values = rng.normal(size=(12, 6, 5, 2)) + labels[:, None, None, None] * np.array([1.0, -200])
    values[:, 2:4, 1:3, 0] = np.nan  # land
    data = xr.DataArray(
        values,
        dims=("time", "latitude", "longitude", "variable"),
        coords={
            "time": times,
            "latitude": np.linspace(43, 33, 6),  # descending, as in ERA5 files
            "longitude": np.linspace(-33, -23, 5),
            "variable": ["sst", "sp"],
            "units": ("variable", ["K", "Pa"]),
        },
    )
    return data, labels


def test_plot_composites_default_size_and_grey_land(cube, tmp_path):
    data, labels = cube
    path = plot_composites(data, labels, tmp_path / "maps" / "composites.png", dpi=40)
    assert path.exists()
    # Default figsize: map_layout's for 3 clusters, 2 variables and the grid's aspect.
    aspect = grid_aspect(data.latitude.values, data.longitude.values)
    image = assert_png(path, *map_layout(3, 2, aspect)["figsize"], 40)
    grey = np.all(np.abs(image[..., :3] - 0.6) < 0.01, axis=-1)
    assert grey.sum() > 20


def test_plot_composites_dataset_any_dim_order_and_units_dict(cube, tmp_path):
    data, labels = cube
    dataset = data.drop_vars("units").transpose("variable", "longitude", "latitude", "time")
    dataset = dataset.to_dataset(dim="variable")
    dataset["sst"].attrs["units"] = "K"
    path = plot_composites(dataset, labels, tmp_path / "c.png", units={"sp": "hPa"},
                           figsize=(5, 7), dpi=30)
    assert_png(path, 5, 7, 30)


def test_plot_composites_bad_input(cube, tmp_path):
    data, labels = cube
    with pytest.raises(DataError, match="labels"):
        plot_composites(data, labels[:-1], tmp_path / "c.png")
    with pytest.raises(DataError, match="latitude"):
        plot_composites(data.rename(latitude="y"), labels, tmp_path / "c.png")
    with pytest.raises(DataError, match=r"\.png"):
        plot_composites(data, labels, tmp_path / "c.pdf")


def test_plot_calendar_one_year(tmp_path):
    times = pd.date_range("2021-01-01", "2021-12-31")
    labels = (times.day_of_year // 30) % 4
    path = plot_calendar(times.to_numpy(), labels, tmp_path / "calendar.png", dpi=50)
    assert_png(path, 11.0, 0.3 * 12 + 1.4, 50)  # 12 month rows


def test_plot_calendar_several_years_and_hourly(tmp_path):
    times = pd.date_range("2018-06-01", "2021-02-01", freq="6h")
    labels = np.arange(times.size) % 5
    path = plot_calendar(times, labels, tmp_path / "calendar.png", figsize=(8, 3), dpi=40)
    assert_png(path, 8, 3, 40)


def test_plot_calendar_bad_input(tmp_path):
    with pytest.raises(DataError, match="times"):
        plot_calendar(["not a date", "neither"], [0, 1], tmp_path / "c.png")
    with pytest.raises(DataError, match="labels"):
        plot_calendar(pd.date_range("2021-01-01", periods=3), [0, 1], tmp_path / "c.png")


@pytest.mark.parametrize("method", ["pca", pytest.param("tsne", marks=pytest.mark.slow)])
def test_plot_latent(method, tmp_path):
    latent, labels = make_blobs(n_samples=40, centers=3, n_features=6, random_state=0)
    centres = np.stack([latent[labels == c].mean(axis=0) for c in range(3)])
    path = plot_latent(latent, labels, centres, tmp_path / f"{method}.png", method=method, dpi=40)
    assert_png(path, 7.0, 6.0, 40)


def test_plot_latent_without_centres_and_bad_input(tmp_path):
    latent = np.random.default_rng(0).normal(size=(10, 1))
    path = plot_latent(latent, np.arange(10) % 2, None, tmp_path / "l.png", figsize=(4, 3),
                       dpi=30)
    assert_png(path, 4, 3, 30)
    with pytest.raises(DataError, match="centres"):
        plot_latent(latent, np.arange(10) % 2, np.zeros((2, 3)), tmp_path / "l.png")
    with pytest.raises(DataError, match="umap"):
        plot_latent(latent, np.arange(10) % 2, None, tmp_path / "l.png", method="umap")


def test_plot_training_curves_from_csv_skips_missing(tmp_path):
    log = tmp_path / "training_log.csv"
    pd.DataFrame({
        "epoch": range(6),
        "reconstruction_loss": np.linspace(1, 0.1, 6),
        "label_change": [0.3, 0.1, 0.05, 0.0, 0.0, 0.0],  # zeros: linear axis
    }).to_csv(log, index=False)
    path = plot_training_curves(log, tmp_path / "training.png", dpi=40)
    assert_png(path, 4.0 * 2, 3.2, 40)  # two panels


def test_plot_training_curves_from_dict(tmp_path):
    history = {
        "reconstruction_loss": [0.5, 0.3, 0.2],
        "val_reconstruction_loss": [0.6, 0.4, 0.3],
        "clustering_loss": [0.02, 0.01, 0.005],
        "label_change": [0.1, 0.01, 0.001],
    }
    path = plot_training_curves(history, tmp_path / "training.png", dpi=40)
    assert_png(path, 12.0, 3.2, 40)


def test_plot_training_curves_bad_input(tmp_path):
    with pytest.raises(DataError, match="missing.csv"):
        plot_training_curves(tmp_path / "missing.csv", tmp_path / "t.png")
    log = tmp_path / "other.csv"
    pd.DataFrame({"epoch": [0, 1], "loss": [1.0, 0.5]}).to_csv(log, index=False)
    with pytest.raises(DataError, match="reconstruction_loss"):
        plot_training_curves(log, tmp_path / "t.png")


def test_plot_k_selection(tmp_path):
    features, _ = make_blobs(n_samples=60, centers=4, random_state=1)
    table = score_k(features, range(2, 7), n_init=2)
    path = plot_k_selection(table, tmp_path / "k.png", recommended=4, dpi=40)
    assert_png(path, 9.0, 6.5, 40)
    partial = table[["k", "inertia"]]
    path = plot_k_selection(partial, tmp_path / "k_elbow.png", figsize=(4, 3), dpi=40)
    assert_png(path, 4, 3, 40)
    with pytest.raises(DataError, match="'k'"):
        plot_k_selection(table.drop(columns="k"), tmp_path / "k.png")


def test_calendar_adapts_to_the_record(tmp_path):
    from keras_dsc.plots import MAX_CALENDAR_HEIGHT, calendar_kind

    # 240 years of annual regimes: a timeline strip, not 240 rows of one cell each.
    annual = pd.date_range("1781-01-01", periods=240, freq="YS")
    assert calendar_kind(annual) == "timeline"
    path = plot_calendar(annual, np.arange(240) % 3, tmp_path / "annual.png", dpi=40)
    assert_png(path, 11.0, 2.4, 40)
    monthly = pd.date_range("1950-01-01", periods=600, freq="MS")
    assert calendar_kind(monthly) == "timeline"
    # 240 years of daily regimes: year rows, but never taller than the bound.
    days = pd.date_range("1781-01-01", "2020-12-31", freq="1D")
    assert calendar_kind(days) == "calendar"
    path = plot_calendar(days, (np.arange(days.size) // 5) % 4, tmp_path / "daily.png", dpi=20)
    assert_png(path, 11.0, MAX_CALENDAR_HEIGHT + 1.4, 20)
    # No regime (-1) is grey and keeps the regimes' colours.
    labels = np.arange(365) % 3
    labels[::7] = -1
    path = plot_calendar(pd.date_range("2021-01-01", periods=365), labels,
                         tmp_path / "no_regime.png", dpi=40)
    image = assert_png(path, 11.0, 0.3 * 12 + 1.4, 40)
    assert np.all(np.abs(image[..., :3] - 0.75) < 0.01, axis=-1).sum() > 100


def test_regime_statistics_figures(tmp_path):
    from keras_dsc.plots import plot_frequencies, plot_persistence, plot_transitions
    from keras_dsc.regimes import (
        duration_histogram,
        frequencies,
        frequency_climatology,
        persistence,
        transitions,
    )

    times = pd.date_range("1990-01-01", "2019-12-31", freq="1D")  # 30 years
    labels = pd.Series((np.arange(times.size) // 4) % 5, index=times)
    labels.iloc[::11] = -1
    tables = {by: frequencies(labels, by=by) for by in ("month", "season", "year")}
    path = plot_frequencies(tables, frequency_climatology(labels), tmp_path / "f.png", dpi=40)
    assert_png(path, 12.0, 7.0, 40)
    path = plot_persistence(duration_histogram(labels), persistence(labels), tmp_path / "p.png",
                            dpi=40)
    assert_png(path, 12.0, 4.0, 40)
    counts = transitions(labels)
    path = plot_transitions(transitions(labels, normalize=True), counts, tmp_path / "t.png",
                            dpi=40)
    assert_png(path, 2.0 + 0.8 * 6, 1.2 + 0.8 * 6, 40)  # 5 regimes and no regime
    with pytest.raises(DataError, match="square matrices"):
        plot_transitions(counts.iloc[:2], counts, tmp_path / "t.png")
