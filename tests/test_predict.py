"""Tests for keras_dsc.runs.predict and `cli.py predict`: run folders and exports, checks of the data."""

import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from keras_dsc.cli import cli
from keras_dsc.errors import DataError
from keras_dsc.runs.export import export_run
from keras_dsc.runs.predict import predict
from tests.helpers.serving_run import VARIABLES, make_run, write_data

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """One tiny run and its export: {"run": run_dir, "export": version_dir, "data": path}."""
    folder = tmp_path_factory.mktemp("predict")
    data_path = write_data(folder / "era5.nc")
    run_dir, _, _ = make_run(folder / "run", data_path)
    version_dir = export_run(run_dir, out=folder / "saved_models")
    return {"run": run_dir, "export": version_dir, "data": data_path}


def test_same_clusters_through_both_model_kinds(models, tmp_path):
    # New data on the same grid: other days, another seed.
    new = write_data(tmp_path / "new.nc", n_times=24 * 9, seed=3)
    by_run = predict(models["run"], new, out=tmp_path / "run.csv")
    by_export = predict(models["export"], new, out=tmp_path / "export.csv", batch_size=4)
    assert list(by_run.columns) == ["time", "cluster", "probability"]
    assert len(by_run) == 9 and by_run["time"].iloc[1] == "2021-01-02T00:00:00"
    np.testing.assert_array_equal(by_run["cluster"], by_export["cluster"])
    assert by_run["time"].tolist() == by_export["time"].tolist()
    np.testing.assert_allclose(by_run["probability"], by_export["probability"], atol=1e-5)
    assert ((by_run["probability"] >= 0.5) & (by_run["probability"] <= 1)).all()  # k = 2
    written = pd.read_csv(tmp_path / "export.csv")
    assert written["cluster"].tolist() == by_export["cluster"].tolist()
    assert set(written["cluster"]) <= {0, 1}


def test_cli_predict(models, tmp_path):
    out = tmp_path / "out" / "clusters.csv"
    result = CliRunner().invoke(cli, ["predict", "--model", str(models["export"]),
                                      "--data", str(models["data"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("6 windows; clusters: ")
    assert f"wrote {out}" in result.output
    table = pd.read_csv(out)
    assert len(table) == 6 and list(table.columns) == ["time", "cluster", "probability"]


def test_cli_predict_mismatch_is_one_line(models, tmp_path):
    other = write_data(tmp_path / "other.nc", nlat=4)
    result = CliRunner().invoke(cli, ["predict", "--model", str(models["run"]),
                                      "--data", str(other), "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ")
    assert "latitudes differ from the model's" in result.output
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("kind", ["run", "export"])
@pytest.mark.parametrize("file_kwargs, message", [
    ({"variables": ("u10", "v10", "t2m", "sst")},
     r"variable 'sp' not found; available: u10, v10, t2m, sst \(the model needs "
     + ", ".join(VARIABLES) + r"\)"),
    ({"nlon": 5}, r"the longitudes differ from the model's: given 5 points from -33 to -32, "
                  r"the model has 6 points from -33 to -31\.75"),
    ({"west": -33.1}, r"the longitudes differ from the model's: given 6 points from -33\.1 "),
    ({"nlat": 9, "nlon": 11, "resolution": 0.125},  # holds the model's points, finer
     r"the latitudes differ from the model's: given 9 points from 43 to 42, the model has 5 "),
    ({"north": 44.0}, r"the latitudes differ from the model's: given 5 points from 44 to 43"),
    ({"n_times": 12}, r"4 time steps of 3h, fewer than the model's window of 8 steps"),
    ({"n_times": 10, "freq": "1D"}, r"the data's time step 1D is coarser than the model's 3h"),
])
def test_mismatched_data_is_refused(models, tmp_path, kind, file_kwargs, message):
    from tests.helpers.era5_files import write_era5

    kwargs = {"n_times": 24 * 2, "nlat": 5, "nlon": 6, "variables": VARIABLES, **file_kwargs}
    path = write_era5(tmp_path / "bad.nc", **kwargs)
    with pytest.raises(DataError, match=message) as error:
        predict(models[kind], path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_data_on_a_larger_grid_is_cut_to_the_models_and_said_so(models, tmp_path):
    """A file holding the model's grid and more around it is assigned as the model's points."""
    import xarray as xr

    larger = write_data(tmp_path / "larger.nc", n_times=24 * 3, seed=4, nlat=9, nlon=10,
                        north=43.5, west=-33.5)
    with xr.open_dataset(larger) as ds:
        cut = ds.sel(latitude=slice(43.0, 42.0), longitude=slice(-33.0, -31.75)).load()
    assert (cut.sizes["latitude"], cut.sizes["longitude"]) == (5, 6)
    cut.to_netcdf(tmp_path / "cut.nc")
    for kind in ("run", "export"):
        given = predict(models[kind], larger)
        expected = predict(models[kind], tmp_path / "cut.nc")
        assert given["cluster"].tolist() == expected["cluster"].tolist()
        np.testing.assert_allclose(given["probability"], expected["probability"], atol=1e-6)
    out = tmp_path / "clusters.csv"
    result = CliRunner().invoke(cli, ["predict", "--model", str(models["run"]),
                                      "--data", str(larger), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (f"note: {larger}: the latitudes given (9 points from 43.5 to 41.5) hold the "
            f"model's (5 points from 43 to 42): cut to them") in result.output.splitlines()
    assert any("the longitudes given (10 points from -33.5 to -31.25)" in line
               for line in result.output.splitlines())


def test_finer_data_is_averaged_to_the_model_step_and_extra_variables_ignored(models, tmp_path):
    from tests.helpers.era5_files import ERA5_VARIABLES, write_era5

    # 30-minute data holding every ERA5 variable, in another order of files: still the model's
    # five variables in 3-hourly means.
    path = write_era5(tmp_path / "fine.nc", n_times=48 * 2, nlat=5, nlon=6, freq="30min",
                      variables=ERA5_VARIABLES)
    table = predict(models["export"], path)
    assert table["time"].tolist() == ["2021-01-01T00:00:00", "2021-01-02T00:00:00"]


def test_periods_left_out_of_the_means_and_the_averaging_are_said(models, tmp_path):
    from tests.helpers.era5_files import write_era5

    # Hourly data from 01:00: the first 3-hour period lacks its first hour, so it is left out
    # of the means; both that and the averaging are in the notes (fit says the same).
    path = write_era5(tmp_path / "late.nc", n_times=47, nlat=5, nlon=6,
                      start="2021-01-01T01:00", variables=VARIABLES)
    table = predict(models["export"], path)
    assert f"{path}: steps of 1h averaged to the model's 3h" in table.attrs["notes"]
    assert (f"{path}: 1 period of 3h lacking some of its steps left out of the means (the "
            f"first 2021-01-01T00:00:00)") in table.attrs["notes"]


def test_bad_model_paths(models, tmp_path):
    with pytest.raises(DataError, match=r"model: .* is neither a run folder"):
        predict(tmp_path, models["data"])
    with pytest.raises(DataError, match=r"holds exported versions; name one, e\.g\. .*dsc/1"):
        predict(models["export"].parent, models["data"])
    with pytest.raises(DataError, match=r"batch_size must be a positive integer"):
        predict(models["export"], models["data"], batch_size=0)


def test_a_level_of_a_multi_level_file_is_chosen_with_select(models, tmp_path):
    import xarray as xr

    from keras_dsc.runs.predict import _levels

    with xr.open_dataset(models["data"]) as ds:
        levels = xr.concat([ds, ds.roll(valid_time=5, roll_coords=False)],
                           dim=pd.Index([500.0, 850.0], name="pressure_level"))
        levels.to_netcdf(tmp_path / "levels.nc")
    path = str(tmp_path / "levels.nc")
    with pytest.raises(DataError, match=r"extra dimension 'pressure_level' of size 2 .*choose "
                                        r"one value with select pressure_level=VALUE"):
        predict(models["run"], path)
    chosen = predict(models["run"], path, select=("pressure_level=500",))
    same = predict(models["run"], models["data"])
    assert chosen["cluster"].tolist() == same["cluster"].tolist()
    np.testing.assert_allclose(chosen["probability"], same["probability"], atol=1e-6)
    result = CliRunner().invoke(cli, ["predict", "--model", str(models["export"]), "--data", path,
                                      "--select", "pressure_level=500",
                                      "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(tmp_path / "x.csv")["cluster"].tolist() == same["cluster"].tolist()
    # A level other than the one the model was trained on is refused, the same one kept.
    assert _levels(["pressure_level=500"], ("pressure_level=500.0", "number=0")) == {
        "pressure_level": "500", "number": "0"}
    with pytest.raises(DataError, match=r"select: the model was trained on pressure_level=500, "
                                        r"not pressure_level=850"):
        _levels(["pressure_level=500"], ("pressure_level=850",))
    with pytest.raises(DataError, match=r"is not NAME=VALUE"):
        predict(models["run"], path, select=("pressure_level",))


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["data"]["options"].update(stride="abc"),
     r"the data option 'stride' is not valid \(stride must be a positive integer, got 'abc'\)"),
    (lambda c: c["data"]["options"].update(stride=-8), r"'stride' is not valid"),
    (lambda c: c["data"]["options"].update(region="north,west"), r"'region' is not valid"),
    (lambda c: c["data"]["options"].update(select=["pressure_level"]),
     r"'select' is not valid \(select: 'pressure_level' is not NAME=VALUE"),
    (lambda c: c.update(data=[1, 2]), r"not a run's config"),
])
def test_an_edited_config_json_is_refused_naming_it(models, tmp_path, edit, message):
    import json

    run = tmp_path / "run"
    shutil.copytree(models["run"], run)
    config = json.loads((run / "config.json").read_text())
    edit(config)
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(DataError, match=message) as error:
        predict(run, models["data"], out=tmp_path / "clusters.csv")
    assert str(error.value).startswith(f"{run / 'config.json'}: ") and "\n" not in str(error.value)
    assert not (tmp_path / "clusters.csv").exists()


@pytest.mark.parametrize("select", ["pressure_level=500", {"pressure_level": 500}])
def test_a_level_in_config_json_written_as_text_or_mapping_is_read_as_checked(models, tmp_path,
                                                                               select):
    """It passed the check of config.json, then a traceback split it into characters."""
    import json

    run = tmp_path / "run"
    shutil.copytree(models["run"], run)
    config = json.loads((run / "config.json").read_text())
    config["data"]["options"]["select"] = select
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(DataError, match=r"dimension 'pressure_level' is in none of the files"):
        predict(run, models["data"])


@pytest.mark.slow
def test_end_to_end_fit_export_predict_cli(tmp_path):
    """A run trained by `cli.py fit`, exported, then predicted through both kinds."""
    data = write_data(tmp_path / "era5.nc")

    def run(*arguments):
        done = subprocess.run([sys.executable, "cli.py", *arguments], cwd=REPO,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    run("fit", "--data", str(data), "--steps", "2", "--pretrain-steps", "2",
        "--no-plots",
        "--n-clusters", "2", "--filters", "2", "--latent-dim", "4", "--batch-size", "4",
        "--out", str(tmp_path), "--run-name", "r")
    assert "wrote" in run("export", str(tmp_path / "r"), "--out", str(tmp_path / "models"))
    run("predict", "--model", str(tmp_path / "r"), "--data", str(data),
        "--out", str(tmp_path / "run.csv"))
    run("predict", "--model", str(tmp_path / "models" / "dsc" / "1"), "--data", str(data),
        "--out", str(tmp_path / "export.csv"))
    by_run = pd.read_csv(tmp_path / "run.csv")
    by_export = pd.read_csv(tmp_path / "export.csv")
    training = pd.read_csv(tmp_path / "r" / "assignments.csv")
    assert by_run["cluster"].tolist() == by_export["cluster"].tolist()
    assert by_export["cluster"].tolist() == training["cluster"].tolist()
    np.testing.assert_allclose(by_export["probability"], training["probability"], atol=2e-5)


def test_an_existing_out_file_is_refused_unless_overwrite(models, tmp_path):
    """`predict --out existing.csv` changes nothing without --overwrite (issue 12, part 4)."""
    from tests.helpers.cli_run import refused, run_cli, snapshot

    out = tmp_path / "existing.csv"
    out.write_text("time,cluster,probability\nkeep me\n")
    before = snapshot(tmp_path)
    done = run_cli("predict", "--model", models["run"], "--data", models["data"], "--out", out)
    refused(done, f"--out: {out} already exists; pass --overwrite to replace it")
    assert snapshot(tmp_path) == before and "keep me" in out.read_text()
    with pytest.raises(DataError, match="already exists"):
        predict(models["export"], models["data"], out=out)
    # A copy of the data: re-opening models["data"] itself at this point of the module has
    # crashed the netCDF4/HDF5 library in-process (already before issue 12's changes).
    (tmp_path / "data").mkdir()
    data = shutil.copy(models["data"], tmp_path / "data" / "era5.nc")
    result = CliRunner().invoke(cli, ["predict", "--model", str(models["run"]), "--data",
                                      str(data), "--out", str(out), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "existing.csv"]  # no partial


@pytest.mark.parametrize("kind", ["run", "export"])
def test_windows_across_a_gap_of_the_data_are_left_out(models, tmp_path, kind):
    """Hourly data lacking 3 January 10:00 .. 4 January 02:00: neither 3 nor 4 January is a
    window (the model's windows are whole days of 3-hourly means)."""
    from tests.helpers.era5_files import write_at

    hours = pd.date_range("2021-01-01", periods=24 * 6, freq="1h")
    times = hours[(hours < "2021-01-03 10:00") | (hours >= "2021-01-04 03:00")]
    path = write_at(tmp_path / "gap.nc", times, nlat=5, nlon=6, variables=VARIABLES)
    table = predict(models[kind], path)
    assert [t[:10] for t in table["time"]] == ["2021-01-01", "2021-01-02", "2021-01-05",
                                             "2021-01-06"]
    assert table.attrs["dropped"].startswith("dropped 2 of 6 windows: 1 gap in the time axis")


def test_an_undeclared_fill_value_in_new_data_is_refused_unless_treated_as_missing(models,
                                                                                  tmp_path):
    from tests.helpers.era5_files import write_at

    def fill(name, values):
        if name == "u10":
            values[30, 1, 1] = 1e30
        return values

    times = pd.date_range("2021-01-01", periods=48, freq="1h")
    path = write_at(tmp_path / "fill.nc", times, nlat=5, nlon=6, variables=VARIABLES, nan=fill)
    with pytest.raises(DataError, match=r"variable 'u10' has 1 value beyond any physical range "
                                        r"\(-200\.\.200 m s\*\*-1\), the first at "
                                        r"2021-01-02T06:00:00 \(1e\+30\)"):
        predict(models["run"], path)
    result = CliRunner().invoke(cli, ["predict", "--model", str(models["run"]), "--data",
                                      str(path), "--out", str(tmp_path / "c.csv"),
                                      "--treat-as-missing", "1e30"])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(tmp_path / "c.csv")) == 2


def test_data_in_other_units_than_the_models_is_refused(models, tmp_path):
    """t2m in degC, or sp in hPa, given to a model trained on K and Pa would be normalised
    with the model's offsets and scales and assigned without an error: refused, naming the
    file, the variable and both units, by predict (run and export) and evaluate."""
    import xarray as xr

    from keras_dsc.data import DataOptions
    from keras_dsc.runs.evaluate import evaluate_run

    with xr.open_dataset(write_data(tmp_path / "kelvin.nc")) as ds:
        ds = ds.load()
    assert ds["t2m"].attrs["units"] == "K" and ds["sp"].attrs["units"] == "Pa"
    celsius = ds.copy()
    celsius["t2m"] = (ds["t2m"] - 273.15).assign_attrs(ds["t2m"].attrs, units="degC")
    hectopascal = ds.copy()
    hectopascal["sp"] = (ds["sp"] / 100).assign_attrs(ds["sp"].attrs, units="hPa")
    for name, changed, variable, units, trained in (("celsius", celsius, "t2m", "degC", "K"),
                                                    ("hpa", hectopascal, "sp", "hPa", "Pa")):
        path = tmp_path / f"{name}.nc"
        for key in changed.data_vars:
            changed[key].encoding = {}  # written as plain floats, not repacked
        changed.to_netcdf(path)
        expected = (f"{path}: variable '{variable}' is in {units}, the model was trained on "
                    f"{trained}; convert it to {trained}")
        for kind in ("run", "export"):
            with pytest.raises(DataError) as error:
                predict(models[kind], path)
            assert str(error.value) == expected
        with pytest.raises(DataError, match=f"variable '{variable}' is in {units}"):
            evaluate_run(models["run"], DataOptions(data=str(path), window=8, anomalies=False))
    # The same units under another spelling are the same units.
    spelled = ds.copy()
    spelled["u10"] = ds["u10"].assign_attrs(ds["u10"].attrs, units="m s-1")
    spelled["t2m"] = ds["t2m"].assign_attrs(ds["t2m"].attrs, units="kelvin")
    for key in spelled.data_vars:
        spelled[key].encoding = {}
    spelled.to_netcdf(tmp_path / "spelled.nc")
    assert len(predict(models["run"], tmp_path / "spelled.nc")) == 6


def test_anomalies_given_to_a_model_trained_on_absolute_values_are_refused(models, tmp_path):
    """t2m anomalies in K pass every units and range check (they are read as anomalies): given
    to a model trained on absolute t2m they were assigned, every window to one cluster.
    Refused by predict (run and export) and evaluate, naming the file, variable and range
    (predict in `python cli.py` processes of their own: opened again in this one, after the
    other tests of the module, the netCDF library has crashed)."""
    import xarray as xr

    from tests.helpers.cli_run import run_cli

    def refusal(done):  # TensorFlow's own log lines come before it once the model is loaded
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-3000:]
        return done.stderr.strip().splitlines()[-1]

    with xr.open_dataset(write_data(tmp_path / "kelvin.nc")) as ds:
        ds = ds.load()
    anomalies = ds.copy()
    anomalies["t2m"] = (ds["t2m"] - ds["t2m"].mean()).assign_attrs(ds["t2m"].attrs)
    for key in anomalies.data_vars:
        anomalies[key].encoding = {}
    path = tmp_path / "anomalies.nc"
    anomalies.to_netcdf(path)
    for kind in ("run", "export"):
        done = run_cli("predict", "--model", str(models[kind]), "--data", str(path), "--out",
                       str(tmp_path / f"{kind}.csv"))
        line = refusal(done)
        assert line.startswith(f"Error: {path}: variable 't2m' lies around -"), line
        assert " K, far from the model's training data (" in line
        assert "anomalies given to a model trained on absolute values" in line
        assert not (tmp_path / f"{kind}.csv").exists()
    from keras_dsc.data import DataOptions
    from keras_dsc.runs.evaluate import evaluate_run

    with pytest.raises(DataError, match=f"{path}: variable 't2m' lies around"):
        evaluate_run(models["run"], DataOptions(data=str(path), window=8, anomalies=False))


def test_a_field_constant_in_time_is_refused(models, tmp_path):
    """A variable constant in time at every grid point (a fill, a broken file) changed the
    clusters of a third to a half of the windows without a word; fit refuses it, and so do
    predict (run and export, in processes of their own as above) and evaluate."""
    import xarray as xr

    from keras_dsc.data import DataOptions
    from keras_dsc.runs.evaluate import evaluate_run
    from tests.helpers.cli_run import run_cli

    with xr.open_dataset(write_data(tmp_path / "varying.nc")) as ds:
        ds = ds.load()
    ds["t2m"] = xr.full_like(ds["t2m"], 280.0).assign_attrs(ds["t2m"].attrs)
    for key in ds.data_vars:
        ds[key].encoding = {}
    path = tmp_path / "constant.nc"
    ds.to_netcdf(path)
    message = (f"{path}: variable 't2m' is constant in time at every grid point, unlike the "
               f"model's training data (a fill or a fixed field, not data to assign)")
    for kind in ("run", "export"):
        done = run_cli("predict", "--model", str(models[kind]), "--data", str(path), "--out",
                       str(tmp_path / f"{kind}.csv"))
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-3000:]
        assert done.stderr.strip().splitlines()[-1] == f"Error: {message}"
        assert not (tmp_path / f"{kind}.csv").exists()
    with pytest.raises(DataError, match="constant in time at every grid point, unlike"):
        evaluate_run(models["run"], DataOptions(data=str(path), window=8, anomalies=False))
