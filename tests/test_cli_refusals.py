"""One-line refusals of `python cli.py`, each in a subprocess (issue 12, parts 1, 4 and 5).

Every refusal: exit status 2, one line on stderr, no traceback, no file written or changed.
The files are written by the tests themselves.
"""

import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from keras_dsc.data import DataOptions, prepare_data
from tests.helpers.cli_run import ROOT, refused, run_cli, snapshot
from tests.helpers.era5_files import write_at, write_era5

TINY = ["--filters", "2", "--latent-dim", "4", "--steps", "2", "--pretrain-steps", "2",
        "--n-clusters", "2", "--batch-size", "2", "--no-plots"]


def refuses_fit(tmp_path, *args, words=()):
    """`cli.py fit ARGS --out <tmp>/runs` is refused in one line and writes nothing."""
    before = snapshot(tmp_path)
    line = refused(run_cli("fit", *args, "--out", tmp_path / "runs"), *words)
    assert snapshot(tmp_path) == before
    return line


@pytest.mark.parametrize("name", ["../x", "/tmp/elsewhere"])
def test_a_run_name_is_one_folder_name(tmp_path, name):
    line = refuses_fit(tmp_path, "--days", "4", "--run-name", name,
                       words=("--run-name", repr(name), "must be one folder name"))
    assert not (tmp_path / "x").exists()
    assert line.startswith("Error: --run-name: ")


def test_tol_above_one_is_refused(tmp_path):
    refuses_fit(tmp_path, "--tol", "2", words=("--tol must be a fraction in 0..1, got 2.0",))


@pytest.mark.parametrize("value, words", [
    ("", ("--variables: no variable named in ''",)),
    (",", ("--variables: no variable named in ','", "leave the option out")),
    ("u10,,t2m", ("--variables: an empty name in 'u10,,t2m'",)),
])
def test_empty_variable_lists_are_refused(tmp_path, value, words):
    refuses_fit(tmp_path, "--days", "4", "--variables", value, words=words)


def write_levels(path):
    times = pd.date_range("2021-01-01", periods=8, freq="3h")
    values = np.random.default_rng(0).normal(size=(8, 3, 2, 2)).astype("float32") + 280
    ds = xr.Dataset({"t": (("valid_time", "pressure_level", "latitude", "longitude"), values,
                           {"units": "K"})},
                    coords={"valid_time": times, "pressure_level": [500, 700, 850],
                            "latitude": [43.0, 42.75], "longitude": [-33.0, -32.75]})
    ds.to_netcdf(path)
    return path


def test_an_extra_dimension_names_the_select_option(tmp_path):
    path = write_levels(tmp_path / "levels.nc")
    refuses_fit(tmp_path, "--data", path, words=(
        f"{path}: variable 't' has an extra dimension 'pressure_level' of size 3 (values 500, "
        f"700, 850); choose one value with --select pressure_level=VALUE",))
    refuses_fit(tmp_path, "--data", path, "--select", "pressure_level=600",
                words=("--select pressure_level=600 not found; available: values 500, 700",))
    data = prepare_data(DataOptions(data=str(path), select=("pressure_level=700",),
                                    anomalies=False))
    with xr.open_dataset(path) as raw:
        expected = raw["t"].sel(pressure_level=700).values
    np.testing.assert_allclose(data.cube["t"].values, expected)


@pytest.mark.parametrize("content, words", [
    (b"", ("not a readable NetCDF file: it is empty (0 bytes)",)),
    (b"GRIB" + bytes(200), ("not a readable NetCDF file: it is a GRIB file; download it as "
                            "NetCDF (cli.py download does) or convert it, e.g. with "
                            "'cdo -f nc copy'",)),
    (None, ("it is a zip archive", "unzip it and give the .nc files")),
])
def test_files_that_are_not_netcdf_say_what_they_are(tmp_path, content, words):
    path = tmp_path / "era5.nc"
    if content is None:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("data_stream-oper.nc", b"CDF\x01")
    else:
        path.write_bytes(content)
    line = refuses_fit(tmp_path, "--data", path, words=(str(path), *words))
    assert "engine" not in line and "Consider" not in line  # no cut-off xarray advice


def test_region_and_time_range_errors_name_the_file_and_the_option(tmp_path):
    path = write_era5(tmp_path / "era5.nc", n_times=24, variables=("u10", "t2m"))
    refuses_fit(tmp_path, "--data", path, "--region", "50,-33,45,-23", words=(
        f"{path}: --region north 50, west -33, south 45, east -23 is outside the grid",))
    refuses_fit(tmp_path, "--data", path, "--time-range", "2030-01-01,2030-02-01", words=(
        f"{path}: --time-range 2030-01-01..2030-02-01 holds no time step; the files cover "
        f"2021-01-01T00:00:00..2021-01-01T23:00:00",))
    refuses_fit(tmp_path, "--data", path, "--time-range", "2021-02-30,",
                words=("--time-range: '2021-02-30' is not a date",))


def test_an_irregular_time_axis_is_refused_naming_the_file_and_time(tmp_path):
    times = pd.date_range("2021-01-01", "2021-01-04 21:00", freq="3h").append(
        pd.date_range("2021-01-05", periods=12, freq="1h"))
    path = write_at(tmp_path / "mixed.nc", times)
    refuses_fit(tmp_path, "--data", path, "--resample", "none", words=(
        f"{path}: irregular time axis: a step of 1h at 2021-01-05T01:00:00 where the "
        f"record's step is 3h; pass --resample 3h",))


def test_evaluate_on_another_grid_names_the_file_and_data(tiny_run, tmp_path):
    other = write_era5(tmp_path / "other.nc", n_times=48, nlat=5, nlon=6)
    before = snapshot(tiny_run)
    line = refused(run_cli("evaluate", tiny_run, "--data", other))
    assert line == (f"Error: --data {other} is on another grid than the model's: latitudes 5 "
                    f"points from 43 to 42, the model has 41 points from 43 to 33")
    assert snapshot(tiny_run) == before


def test_evaluate_on_a_larger_grid_cuts_it_to_the_models_and_says_so(tiny_run, tmp_path):
    larger = write_era5(tmp_path / "larger.nc", n_times=48, nlat=43, nlon=42, north=43.25,
                        west=-33.0)
    done = run_cli("evaluate", tiny_run, "--data", larger, "--out", tmp_path / "e.json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (f"note: {larger}: the latitudes given (43 points from 43.25 to 32.75) hold the "
            f"model's (41 points from 43 to 33): cut to them") in done.stdout.splitlines()
    assert "the longitudes given" in done.stdout


@pytest.mark.parametrize("damage", ["garbage", "truncated", "not_keras"])
def test_a_corrupt_model_file_is_reported_as_such(tiny_run, tmp_path, damage):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    model = run / "model.keras"
    expected = (f"Error: {model}: not a .keras file (the zip archive is damaged or truncated)")
    if damage == "garbage":
        model.write_bytes(b"not a zip archive")
    elif damage == "truncated":
        model.write_bytes(model.read_bytes()[:1000])
    else:  # a whole zip archive, but not one Keras wrote
        with zipfile.ZipFile(model, "w") as archive:
            archive.writestr("notes.txt", "hello")
        expected = (f"Error: {model}: not a .keras file (the zip archive has no config.json "
                    f"or model.weights.h5)")
    data = write_era5(tmp_path / "new.nc", n_times=48, nlat=41, nlon=41)
    before = snapshot(tmp_path)
    for command in (["evaluate", run], ["predict", "--model", run, "--data", data, "--out",
                                        tmp_path / "out.csv"]):
        line = refused(run_cli(*command))
        assert line == expected
        assert "File not found" not in line
    assert snapshot(tmp_path) == before


@pytest.mark.slow
def test_two_fits_into_one_run_name_at_once(tmp_path):
    """The loser refuses cleanly; the winner's run folder is whole (issue 12, part 4)."""
    command = [sys.executable, "cli.py", "fit", "--days", "4", *TINY, "--out",
               str(tmp_path / "runs"), "--run-name", "same"]
    env = {"TF_CPP_MIN_LOG_LEVEL": "2"}
    processes = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, **env}) for _ in range(2)]
    results = [(p.wait(timeout=900), *p.communicate()) for p in processes]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], [err[-2000:] for _, _, err in results]
    (_, out, loser), = [r for r in results if r[0] == 2]
    # The run name is claimed (its hidden partial folder created, locked) once the data is
    # read, before TensorFlow starts: the loser refuses then (after the short-record warning).
    lines = loser.strip().splitlines()
    assert out == "" and lines[-1] == (
        f"Error: --run-name: {tmp_path / 'runs' / 'same'} is being written by another fit "
        f"({tmp_path / 'runs' / '.same.partial'}); choose another name"), loser[-2000:]
    assert "Traceback" not in loser
    assert (tmp_path / "runs" / "same" / "model.keras").is_file()
    assert len(pd.read_csv(tmp_path / "runs" / "same" / "assignments.csv")) == 4
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["same"]


def test_an_out_that_is_a_file_is_refused(tmp_path):
    """`--out` naming a file, or a run's partial folder name taken by a file (found by a probe:
    a NotADirectoryError traceback and exit status 1)."""
    (tmp_path / "results").write_text("notes\n")
    before = snapshot(tmp_path)
    line = refused(run_cli("fit", "--days", "4", *TINY, "--out", tmp_path / "results",
                           "--run-name", "r"), "--out", str(tmp_path / "results"))
    assert line == f"Error: --out: {tmp_path / 'results'} is a file, not a folder"
    assert snapshot(tmp_path) == before
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / ".r.partial").write_text("")
    before = snapshot(tmp_path)
    refused(run_cli("fit", "--days", "4", *TINY, "--out", tmp_path / "runs", "--run-name", "r"),
            "--run-name", str(tmp_path / "runs" / ".r.partial"), "taken by a file")
    assert snapshot(tmp_path) == before
    # evaluate's and predict's --out below a file (evaluate: a NotADirectoryError traceback).
    done = run_cli("fit", "--days", "4", "--method", "eof-kmeans", "--n-clusters", "2",
                   "--no-plots", "--out", tmp_path / "runs", "--run-name", "k")
    assert done.returncode == 0, done.stderr[-2000:]
    data = write_era5(tmp_path / "new.nc", n_times=48, nlat=41, nlon=41)
    before = snapshot(tmp_path)
    for command in (["evaluate", tmp_path / "runs" / "k"],
                    ["predict", "--model", tmp_path / "runs" / "k", "--data", data]):
        for out in (tmp_path / "results" / "x", tmp_path / "results" / "sub" / "x"):
            line = refused(run_cli(*command, "--out", out))
            assert line == f"Error: --out: {tmp_path / 'results'} is a file, not a folder"
    assert snapshot(tmp_path) == before
