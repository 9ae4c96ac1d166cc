import json
import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner
from matplotlib.image import imread

from keras_dsc.cli import cli
from keras_dsc.data import prepare_data
from keras_dsc.errors import DataError
from keras_dsc.maps import map_layout
from keras_dsc.data.preprocessing import CubePreprocessor
from keras_dsc.runs.figures import cluster_composites, plot_run, step_labels
from keras_dsc.runs.run_folder import read_assignments, run_data_options

DPI = 40


def assert_png(path, width_in, height_in, dpi=DPI):
    image = imread(path)
    assert image.shape[:2] == (round(height_in * dpi), round(width_in * dpi))
    assert image[..., :3].std() > 0  # something was drawn
    return image


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    return shutil.copytree(tiny_run, tmp_path / "run")


def test_step_labels_tiling_overlap_and_gaps():
    assert step_labels(7, np.array([3, 5]), window=3, stride=3).tolist() == [3, 3, 3, 5, 5, 5, -1]
    # Overlapping windows: the later window wins.
    assert step_labels(4, np.array([1, 2]), window=3, stride=1).tolist() == [1, 2, 2, 2]
    # Gaps between windows stay unlabelled.
    assert step_labels(5, np.array([0, 1]), window=1, stride=3).tolist() == [0, -1, -1, 1, -1]


def test_cluster_composites_are_cluster_means_minus_the_time_mean():
    times = pd.date_range("2021-01-01", periods=6, freq="3h")
    t2m = np.arange(6 * 2 * 3, dtype="float64").reshape(6, 2, 3)
    sst = np.ones((6, 2, 3)) * np.arange(6)[:, None, None]
    sst[:, 0, 0] = np.nan  # land
    cube = xr.Dataset(
        {"t2m": (("time", "latitude", "longitude"), t2m, {"units": "K"}),
         "sst": (("time", "latitude", "longitude"), sst, {"units": "K"})},
        coords={"time": times, "latitude": [40.0, 39.0], "longitude": [-30.0, -29.0, -28.0]},
    ).chunk({"time": 2})
    # Windows of 2 steps: steps 0-1 -> cluster 1, 2-3 -> cluster 0, 4-5 -> cluster 1.
    composites = cluster_composites(cube, ["t2m", "sst"], np.array([1, 0, 1]), 2, 2)
    assert composites.dims == ("cluster", "latitude", "longitude", "variable")
    assert composites["cluster"].values.tolist() == [0, 1]
    assert composites["units"].values.tolist() == ["K", "K"]
    expected_t2m_0 = t2m[2:4].mean(0) - t2m.mean(0)
    expected_t2m_1 = t2m[[0, 1, 4, 5]].mean(0) - t2m.mean(0)
    np.testing.assert_allclose(composites.sel(variable="t2m", cluster=0), expected_t2m_0)
    np.testing.assert_allclose(composites.sel(variable="t2m", cluster=1), expected_t2m_1)
    # sst: steps 2,3 have values 2,3 (mean 2.5) against an all-time mean of 2.5.
    np.testing.assert_allclose(composites.sel(variable="sst", cluster=0).values[1], 0.0)
    assert np.isnan(composites.sel(variable="sst", cluster=0).values[0, 0])


def test_run_data_options_builtin_and_files():
    config = {"data": {"source": "built-in synthetic ERA5-form cube", "files": ["/x.nc"],
                       "options": {"days": 6, "variables": ["t2m", "sst"], "window": 4}}}
    options = run_data_options(config)
    assert options.builtin and options.days == 6 and options.window == 4
    assert options.variables == ("t2m", "sst")
    config["data"]["source"] = "NetCDF files"
    assert run_data_options(config).data == ["/x.nc"]
    config["data"]["options"]["bogus"] = 1
    with pytest.raises(DataError, match="bogus"):
        run_data_options(config)


def test_plot_command_reopens_the_data_and_draws_four_figures(run_copy):
    result = CliRunner().invoke(cli, ["plot", str(run_copy), "--dpi", str(DPI)])
    assert result.exit_code == 0, result.output
    names = ["composites.png", "calendar.png", "latent.png", "training_curves.png"]
    assert result.output.splitlines() == [f"wrote {run_copy / name}" for name in names]
    k = len(np.unique(read_assignments(run_copy)))
    grid = json.loads((run_copy / "config.json").read_text())["data"]["grid"]
    aspect = (grid["north"] - grid["south"]) / (grid["east"] - grid["west"])
    composites = assert_png(run_copy / "composites.png", *map_layout(k, 7, aspect)["figsize"])
    # Land (NaN in sst) is drawn grey in the composite maps.
    grey = np.all(np.abs(composites[..., :3] - 0.6) < 0.01, axis=-1)
    assert grey.sum() > 5
    assert_png(run_copy / "calendar.png", 11.0, 0.3 * 1 + 1.4)  # one month: one row
    assert_png(run_copy / "latent.png", 7.0, 6.0)
    assert_png(run_copy / "training_curves.png", 4.0 * 3, 3.2)
    # Drawn figures are not redrawn over unless asked (they were, silently: a probe).
    before = {p.name: p.stat().st_mtime_ns for p in run_copy.iterdir()}
    again = CliRunner().invoke(cli, ["plot", str(run_copy), "--dpi", str(2 * DPI)])
    assert again.exit_code == 2, again.output
    assert again.stderr.strip().splitlines() == [
        f"Error: {run_copy / 'composites.png'} already exists; pass --overwrite to redraw the "
        f"run's figures"]
    assert {p.name: p.stat().st_mtime_ns for p in run_copy.iterdir()} == before
    again = CliRunner().invoke(cli, ["plot", str(run_copy), "--dpi", str(2 * DPI),
                                     "--overwrite"])
    assert again.exit_code == 0, again.output
    assert_png(run_copy / "latent.png", 7.0, 6.0, dpi=2 * DPI)


def test_plot_run_with_prepared_data_and_labels_as_fit_calls_it(run_copy):
    config = json.loads((run_copy / "config.json").read_text())
    data = prepare_data(run_data_options(config), CubePreprocessor.load(run_copy))
    labels = np.array([0, 0, 0, 1, 1, 1])
    (run_copy / "history.csv").unlink()  # no log: no training curves
    paths = plot_run(run_copy, data=data, labels=labels, dpi=DPI)
    assert [p.name for p in paths] == ["composites.png", "calendar.png", "latent.png"]
    assert_png(run_copy / "composites.png", *map_layout(2, 7, 1.0)["figsize"])
    with pytest.raises(DataError, match="3 cluster labels for 6 windows"):
        plot_run(run_copy, data=data, labels=labels[:3], overwrite=True)


def test_plot_run_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(DataError, match="run folder not found"):
        plot_run(tmp_path / "missing")
    with pytest.raises(DataError, match="config.json is missing"):
        plot_run(tmp_path)


def test_plot_command_refuses_a_missing_run_folder(tmp_path):
    missing = CliRunner().invoke(cli, ["plot", str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert missing.stderr.strip().splitlines() == [
        f"Error: {tmp_path / 'nope'}: run folder not found"]
    bad_dpi = CliRunner().invoke(cli, ["plot", str(tmp_path), "--dpi", "0"])
    assert bad_dpi.exit_code == 2 and len(bad_dpi.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("edit", ["cluster 9", "two windows swapped"])
def test_plot_refuses_an_edited_assignments_csv(run_copy, edit):
    """Found by a probe: `plot` checked only the row count and drew figures of a cluster the
    run does not have, of windows moved a year, or ended in a traceback on a text cluster."""
    path = run_copy / "assignments.csv"
    table = pd.read_csv(path)
    if edit == "cluster 9":
        table.loc[2, "cluster"] = 9
        expected = "row 4 has cluster 9, not one of the run's clusters (0.."
    else:
        table.loc[[1, 2], "time"] = table.loc[[2, 1], "time"].to_numpy()
        expected = (f"row 3 starts at {pd.Timestamp(table.loc[1, 'time']).isoformat()}, where "
                    f"the run's window 2 starts at "
                    f"{pd.Timestamp(table.loc[2, 'time']).isoformat()}")
    table.to_csv(path, index=False)
    before = {p.name: p.stat().st_mtime_ns for p in run_copy.iterdir()}
    result = CliRunner().invoke(cli, ["plot", str(run_copy), "--dpi", str(DPI)])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: {path}: {expected}"), line
    assert line.endswith("the file was edited or replaced")
    assert {p.name: p.stat().st_mtime_ns for p in run_copy.iterdir()} == before
