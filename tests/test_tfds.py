"""The era5_cube TFDS builder end to end: NetCDF -> prepared dataset -> tf.data windows -> fit."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from keras_dsc.cli import cli
from keras_dsc.data import DataOptions, prepare_data
from keras_dsc.errors import DataError
from keras_dsc.data.preprocessing import CubePreprocessor
from keras_dsc.data.tfds import dataset_dir, open_tfds, parse_spec, prepare_tfds
from tests.helpers import console_script
from tests.helpers.era5_files import write_era5

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "datasets"))  # the module name `tfds build` also uses
from era5_cube import era5_cube_dataset_builder  # noqa: E402

VARIABLES = ["u10", "v10", "t2m", "sst", "sp", "slhf", "sshf"]
PAPER_REGION = (43.0, -33.0, 33.0, -23.0)
DAYS = 3


def write_manual_dir(folder):
    """Three days of hourly ERA5-form data on a 5 x 6 grid, split like CDS downloads."""
    folder.mkdir(parents=True, exist_ok=True)
    grid = {"n_times": 24 * DAYS, "nlat": 5, "nlon": 6, "seed": 3, "regime": True}
    write_era5(folder / "era5_instant.nc", variables=VARIABLES[:5], **grid)
    write_era5(folder / "era5_accum.nc", variables=VARIABLES[5:], **grid)
    (folder / "notes.txt").write_text("not NetCDF, ignored")
    return folder


def build(config, manual_dir, data_dir):
    import tensorflow_datasets as tfds

    builder = era5_cube_dataset_builder.Builder(config=config, data_dir=str(data_dir))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return builder


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("tfds")
    manual = write_manual_dir(root / "manual")
    for config in ("paper", "hourly24"):
        build(config, manual, root / "data")
    return manual, root / "data"


def netcdf_windows(manual, resample, window, method="zscore"):
    options = DataOptions(data=sorted(str(p) for p in manual.glob("*.nc")), variables=VARIABLES,
                          region=PAPER_REGION, resample=resample, window=window,
                          normalization=method, anomalies=False)  # as the dataset: no climatology
    return prepare_data(options)


def test_parse_spec_and_missing_dataset(tmp_path):
    assert parse_spec("tfds:era5_cube/hourly24") == ("era5_cube", "hourly24", None)
    assert parse_spec("tfds:era5_cube") == ("era5_cube", "paper", None)
    assert parse_spec(["tfds:era5_cube/paper:1.0.0"]) == ("era5_cube", "paper", "1.0.0")
    with pytest.raises(DataError, match="expected tfds:NAME/CONFIG"):
        parse_spec("tfds:/paper")
    with pytest.raises(DataError, match=r"no prepared dataset in .*era5_cube/paper; build it "
                       r"with 'tfds build datasets/era5_cube --config paper"):
        dataset_dir("tfds:era5_cube/paper", tmp_path)


def test_manual_dir_without_netcdf_names_what_it_found(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / "era5_2021.grib").write_text("GRIB")
    (manual / "old.nc").mkdir()  # a folder, not a NetCDF file
    with pytest.raises(DataError, match=r"no NetCDF file \(\*\.nc\) or Zarr store \(\*\.zarr\) "
                       r"found \(found: era5_2021.grib, old.nc\); it needs ERA5 data holding "
                       r"u10, v10"):
        build("paper", manual, tmp_path / "data")


def test_manual_dir_missing_a_variable_lists_the_available_ones(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    write_era5(manual / "era5_instant.nc", n_times=48, variables=VARIABLES[:5])
    with pytest.raises(DataError, match=r"era5_instant.nc: variable 'slhf' not found; "
                       r"available: u10, v10, t2m, sst, sp"):
        build("paper", manual, tmp_path / "data")


def test_metadata_and_examples_in_time_order(prepared):
    manual, data_dir = prepared
    windows = open_tfds("tfds:era5_cube/hourly24", data_dir)
    meta = windows.metadata
    assert meta["variables"] == VARIABLES
    assert meta["units"][2] == "K" and meta["time_step"] == "1h" and meta["window"] == 24
    assert meta["files"] == ["era5_accum.nc", "era5_instant.nc"]
    assert len(windows) == DAYS and windows.sample_shape == (24, 5, 6, 7)
    assert windows.start_times[1] == np.datetime64("2021-01-02T00:00:00")
    reference = netcdf_windows(manual, None, 24)
    np.testing.assert_array_equal(windows.labels, reference.windows.labels)
    assert set(meta["statistics"]) == set(VARIABLES)
    assert meta["statistics"]["sst"]["count"] < meta["statistics"]["t2m"]["count"]  # land NaN


@pytest.mark.parametrize("config,resample,window", [("hourly24", None, 24), ("paper", "1D", 1)])
@pytest.mark.parametrize("method", ["zscore", "minmax"])
def test_windows_equal_those_of_the_netcdf_loader(prepared, config, resample, window, method):
    manual, data_dir = prepared
    windows = open_tfds(f"tfds:era5_cube/{config}", data_dir, method=method)
    reference = netcdf_windows(manual, resample, window, method)
    fitted = reference.preprocessor
    np.testing.assert_allclose(windows.preprocessor.offset, fitted.offset, rtol=1e-6)
    np.testing.assert_allclose(windows.preprocessor.scale, fitted.scale, rtol=1e-5)
    assert windows.preprocessor.time_step == fitted.time_step
    expected = reference.windows[np.arange(len(reference.windows))]
    streamed = np.concatenate(list(windows.batches(2).as_numpy_iterator()))
    np.testing.assert_array_equal(np.isnan(streamed), np.isnan(expected))  # the mask
    assert np.isnan(streamed).any()  # sst over the land patch
    np.testing.assert_allclose(streamed, expected, rtol=1e-4, atol=1e-4, equal_nan=True)
    np.testing.assert_allclose(windows[np.array([2, 0])], expected[[2, 0]], atol=1e-4)
    flat = windows.flatten_features()
    assert flat.shape == (DAYS, int(np.prod(windows.sample_shape))) and np.isfinite(flat).all()
    some = windows.flatten_features(batch=2, indices=[DAYS - 1, 0])  # those, in that order
    np.testing.assert_array_equal(some, flat[[DAYS - 1, 0]])


def test_shuffled_batches_carry_the_live_target_rows(prepared):
    _, data_dir = prepared
    windows = open_tfds("tfds:era5_cube/hourly24", data_dir)
    targets = np.zeros((len(windows), 2), dtype="float32")
    batches = windows.batches(2, shuffle=True, seed=1, targets=targets)
    targets[:, 0] = np.arange(len(windows))  # updated after the pipeline was made
    seen = []
    for x, y in batches.as_numpy_iterator():
        assert x.shape[1:] == windows.sample_shape and y.shape == (len(x), 2)
        seen += list(y[:, 0].astype(int))
    assert sorted(seen) == list(range(len(windows)))
    again = np.concatenate([y[:, 0] for _, y in windows.batches(
        2, shuffle=True, seed=1, targets=targets).as_numpy_iterator()]).astype(int)
    assert list(again) == seen  # the same seed, the same first epoch


def test_a_trained_preprocessor_is_applied_and_checked(prepared):
    manual, data_dir = prepared
    own = netcdf_windows(manual, None, 24).preprocessor
    windows = open_tfds("tfds:era5_cube/hourly24", data_dir, preprocessor=own)
    assert windows.preprocessor is own
    other = CubePreprocessor.from_config({**own.get_config(), "variables": VARIABLES[:6]})
    with pytest.raises(DataError, match="the dataset's variables differ from the preprocessor"):
        open_tfds("tfds:era5_cube/hourly24", data_dir, preprocessor=other)


def test_options_the_dataset_fixes_are_refused(prepared):
    _, data_dir = prepared
    base = {"data": "tfds:era5_cube/hourly24", "tfds_data_dir": str(data_dir)}
    prepared_data = prepare_tfds(DataOptions(**base))
    assert prepared_data.cube is None and prepared_data.description["n_samples"] == DAYS
    assert prepared_data.description["options"]["window"] == 24
    with pytest.raises(DataError, match="window 12: the dataset tfds:era5_cube/hourly24 "
                       "fixes it"):
        prepare_tfds(DataOptions(**base, window=12))
    with pytest.raises(DataError, match="variables"):
        prepare_tfds(DataOptions(**base, variables=("u10",)))
    with pytest.raises(DataError, match="anomalies: not available with a tfds: dataset"):
        prepare_data(DataOptions(**base, anomalies=True))


@pytest.mark.slow  # a whole fit through the CLI (27 s); the tfds: path is tested quick above
def test_cli_fit_from_tfds(prepared, tmp_path):
    _, data_dir = prepared
    args = ["fit", "--data", "tfds:era5_cube/hourly24", "--n-clusters", "2", "--filters", "2",
            "--latent-dim", "3", "--steps", "2", "--pretrain-steps", "2", "--batch-size", "2",
            "--out", str(tmp_path), "--run-name", "r"]
    result = CliRunner().invoke(cli, args, env={"TFDS_DATA_DIR": str(data_dir)})
    assert result.exit_code == 0, result.output
    assert "figures: skipped" in result.output  # no physical-unit cube to draw maps from
    assert f"{DAYS} windows of shape (24, 5, 6, 7)" in result.output
    run = tmp_path / "r"
    assignments = pd.read_csv(run / "assignments.csv")
    assert list(assignments["time"]) == ["2021-01-01T00:00:00", "2021-01-02T00:00:00",
                                         "2021-01-03T00:00:00"]
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["source"] == "TFDS dataset era5_cube/hourly24"
    saved = CubePreprocessor.load(run)
    assert saved.variables == VARIABLES
    assert "ari" in json.loads((run / "metrics.json").read_text())  # from the regime labels


def test_cli_fit_from_a_missing_dataset_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["fit", "--data", "tfds:era5_cube/paper",
                                      "--tfds-data-dir", str(tmp_path), "--no-plots",
                                      "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2
    assert result.output.startswith("Error: --data tfds:era5_cube/paper: no prepared dataset")
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_tfds_build_command_line(tmp_path):
    manual = write_manual_dir(tmp_path / "manual")
    data_dir = tmp_path / "data"
    done = subprocess.run(
        [console_script("tfds"), "build", os.path.join(ROOT, "datasets", "era5_cube"),
         "--config", "hourly24",
         "--manual_dir", str(manual), "--data_dir", str(data_dir)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    folder = data_dir / "era5_cube" / "hourly24" / "1.0.0"
    info = json.loads((folder / "dataset_info.json").read_text())
    assert info["splits"][0]["shardLengths"] == [str(DAYS)]
    assert json.loads((folder / "metadata.json").read_text())["window"] == 24
    assert not (data_dir / "era5_cube" / "paper").exists()
    windows = open_tfds("tfds:era5_cube/hourly24", data_dir)
    assert len(windows) == DAYS and windows.sample_shape == (24, 5, 6, 7)


@pytest.mark.slow  # two builds, 15 s; the quick suite keeps the NetCDF builds
def test_a_zarr_store_in_the_manual_dir_gives_the_netcdf_examples(tmp_path):
    from tests.helpers.era5_files import write_at, write_zarr

    grid = {"nlat": 3, "nlon": 4, "variables": VARIABLES, "resolution": 0.25}
    netcdf, zarr = tmp_path / "netcdf", tmp_path / "zarr"
    netcdf.mkdir()
    write_at(netcdf / "era5.nc", pd.date_range("2021-01-01", periods=48, freq="1h"), **grid)
    write_zarr(zarr / "era5.zarr", n_times=48, level_variables=(), **grid)
    builders = [build("hourly24", folder, tmp_path / f"data_{folder.name}")
                for folder in (netcdf, zarr)]
    assert builders[1].info.metadata["files"] == ["era5.zarr"]
    for name in VARIABLES:
        np.testing.assert_allclose(builders[1].info.metadata["statistics"][name]["mean"],
                                   builders[0].info.metadata["statistics"][name]["mean"],
                                   rtol=1e-6)
    from_netcdf, from_zarr = (
        [e["cube"] for e in b.as_dataset(split="train", shuffle_files=False).as_numpy_iterator()]
        for b in builders)
    assert len(from_zarr) == 2
    np.testing.assert_allclose(from_zarr, from_netcdf, rtol=1e-6)
