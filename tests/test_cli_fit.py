import json
import os
import re
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from keras_dsc.cli import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--days", "4", "--filters", "2", "--latent-dim", "4", "--steps", "2",
        "--pretrain-steps", "2", "--n-clusters", "2", "--batch-size", "2", "--no-plots"]
RUN_FILES = ["model.keras", "config.json", "assignments.csv", "assignments.nc", "metrics.json",
             "history.csv", "preprocessing.json"]


def check_run_folder(run):
    for name in RUN_FILES:
        assert (run / name).is_file(), name
    assignments = pd.read_csv(run / "assignments.csv")
    assert list(assignments.columns) == ["time", "cluster", "probability"]
    assert len(assignments) == 4  # 4 days of 3-hourly steps, windows of 8 steps
    assert assignments["time"].iloc[0] == "2021-01-01T00:00:00"
    assert assignments["cluster"].between(0, 1).all()
    assert assignments["probability"].between(0.5, 1.0).all()  # the argmax of 2 clusters
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"silhouette_euclidean", "davies_bouldin", "calinski_harabasz", "ari", "nmi"} <= set(
        metrics)
    config = json.loads((run / "config.json").read_text())
    assert config["fit"]["n_clusters"] == 2 and config["fit"]["seed"] == 0
    assert config["data"]["variables"] == ["u10", "v10", "t2m", "sst", "sp", "slhf", "sshf"]
    # The defaults on the built-in hourly cube: 3-hourly windows of 8 steps, and why.
    assert config["data"]["time"]["data_step"] == "1h" and config["data"]["time"]["step"] == "3h"
    assert config["data"]["time"]["resample"] == ("auto: the data's step 1h is finer than 3h, "
                                                 "averaged to 3h")
    assert config["data"]["time"]["window"] == "auto: one day of 3h steps"
    assert config["data"]["options"]["resample"] == "3h"
    assert config["data"]["options"]["window"] == 8
    assert config["data"]["windowing"]["dropped_windows"] == 0
    assert config["versions"]["keras"]
    history = pd.read_csv(run / "history.csv")
    assert {"loss", "reconstruction_loss", "clustering_loss", "label_change"} <= set(history)


def test_fit_end_to_end_in_process(tmp_path):
    result = CliRunner().invoke(cli, ["fit", *TINY, "--out", str(tmp_path), "--run-name", "r"])
    assert result.exit_code == 0, result.output
    check_run_folder(tmp_path / "r")
    assert "clusters found" in result.output and "ari=" in result.output
    # Where joint training started, and why, in the summary and metrics.json.
    start = json.loads((tmp_path / "r" / "metrics.json").read_text())["fitted"]["start"]
    assert start["partition"] in ("eof-kmeans", "standardised-eofs")
    assert {"standardised_eofs", "structure_z", "structure_gap"} <= set(start)
    assert "\nstart: " in result.output


def test_the_summary_names_the_clusters_that_got_no_window():
    # A model that put every window in one of the two clusters asked for: before, the summary
    # said "clusters found: 1; sizes: 0:120" and "scores: " with nothing after it.
    import numpy as np

    from keras_dsc.runs.fit import summarise

    lines = []
    summarise(lines.append, "run", np.zeros(120, int), {"cluster_sizes": {0: 120}}, 2)
    assert lines == ["clusters found: 1 of the 2 asked for (no window in cluster 1); sizes: "
                     "0:120, 1:0", "scores: none (they need windows in at least 2 clusters)",
                     "wrote run"]
    lines.clear()
    summarise(lines.append, "run", np.array([0, 2, 2, 0]), {"ari": 0.5}, 3)
    assert lines[0] == "clusters found: 2 of the 3 asked for (no window in cluster 1); sizes: " \
                       "0:2, 1:0, 2:2"
    lines.clear()
    summarise(lines.append, "run", np.array([0, 1, 1]), {"ari": 0.5}, 2)
    assert lines[:2] == ["clusters found: 2; sizes: 0:1, 1:2", "scores: ari=0.500"]


@pytest.mark.slow
def test_fit_with_figures_writes_the_regime_statistics_and_tensorboard_logs(tmp_path):
    pytest.importorskip("tensorboard")
    tiny = [a for a in TINY if a != "--no-plots"]
    result = CliRunner().invoke(cli, ["fit", *tiny, "--tensorboard", "--out", str(tmp_path),
                                      "--run-name", "r"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "r"
    check_run_folder(run)
    assert f"regimes: frequencies, persistence, transitions in {run / 'regimes'}" in \
        result.output
    for name in ("frequency_month.csv", "transition_probabilities.csv", "episodes.csv",
                 "frequencies.png", "persistence.png", "transitions.png", "calendar.png"):
        assert (run / "regimes" / name).is_file(), name
    assert list((run / "logs" / "train").glob("events.out.tfevents.*"))
    assert list((run / "logs" / "clusters").glob("events.out.tfevents.*"))


def test_fit_end_to_end_as_subprocess(tmp_path):
    proc = subprocess.run(
        [sys.executable, "cli.py", "fit", *TINY, "--out", str(tmp_path), "--run-name", "r"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    check_run_folder(tmp_path / "r")
    # Not a terminal: one line per epoch, no progress bar's escape codes in the log.
    assert "\x1b[" not in proc.stdout
    assert re.search(r"^2/2 - .* - loss: [0-9.]+ - reconstruction_loss", proc.stdout, re.M)
    # An existing run is never overwritten.
    again = subprocess.run(
        [sys.executable, "cli.py", "fit", *TINY, "--out", str(tmp_path), "--run-name", "r"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [
        f"Error: --run-name: {tmp_path / 'r'} already exists; choose another name"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--n-clusters", "1"], "--n-clusters must be at least 2"),
        (["--n-clusters", "9"], "--n-clusters 9 is more than the 4 samples"),
        (["--window", "40"], "--window 40 is longer than the series (32 time steps)"),
        (["--steps", "0"], "--steps must be positive"),
        (["--batch-size", "0"], "--batch-size must be positive"),
        (["--gamma", "-1"], "--gamma must not be negative"),
        (["--filters", "8,x"], "--filters: '8,x' is not a comma-separated list"),
        (["--region", "43,-33,33"], "--region: expected N,W,S,E"),
        (["--resample", "30min"], "--resample 30min is finer than the data's time step"),
        (["--resample", "90min"], "--resample 90min is not a whole number of the data's 1h "
                                  "steps (its means would hold unequal numbers of them); pass "
                                  "--resample 3h or another multiple of 1h"),
        (["--data", "/nonexistent/era5.nc"], "/nonexistent/era5.nc"),
        (["--bogus"], "No such option"),
    ],
)
def test_invalid_options_give_one_line_error_and_status_2(tmp_path, arguments, message):
    base = [a for a in TINY if a not in ()]
    result = CliRunner().invoke(cli, ["fit", *base, "--out", str(tmp_path), *arguments])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], lines
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_help_shows_every_default():
    result = CliRunner().invoke(cli, ["fit", "--help"])
    assert result.exit_code == 0
    for option in ["--n-clusters", "--window", "--stride", "--steps", "--pretrain-steps",
                   "--batch-size", "--gamma", "--update-interval", "--tol", "--latent-dim",
                   "--filters", "--skip / --no-skip", "--seed", "--out", "--run-name", "--days"]:
        assert option in result.output, option
    assert result.output.count("[default:") >= 14


def test_fit_defaults_are_the_library_defaults(monkeypatch):
    """`cli.py fit` with no option trains exactly what `FitOptions()` and `DataOptions()` say,
    and every command-line field of both reaches the library."""
    import dataclasses

    import keras_dsc.runs.fit
    from keras_dsc.data import DataOptions
    from keras_dsc.runs.options import FitOptions

    received = []
    monkeypatch.setattr(keras_dsc.runs.fit, "fit_run",
                        lambda data, options, echo, given: received.append((data, options)))
    assert CliRunner().invoke(cli, ["fit"]).exit_code == 0
    assert received == [(DataOptions(), FitOptions())]
    flags = {opt for param in cli.commands["fit"].params for opt in param.opts}
    for options in (DataOptions(), FitOptions()):
        for field in dataclasses.fields(options):
            assert (f"--{field.name.replace('_', '-')}" in flags) == field.metadata["cli"]
    given = CliRunner().invoke(cli, ["fit", "--filters", "4,8,12", "--no-anomalies",
                                     "--resample", "none", "--region", "43,-33,33,-23"])
    assert given.exit_code == 0, given.output
    data, options = received[-1]
    assert options.filters == (4, 8, 12) and data.anomalies is False
    assert data.resample is None and data.region == (43.0, -33.0, 33.0, -23.0)


def test_library_defaults_are_the_fit_defaults():
    """`DSC(...)` and `train_dsc(...)` called bare train what `cli.py fit` trains."""
    import inspect

    from keras_dsc.models.dsc import DSC
    from keras_dsc.runs.options import FitOptions
    from keras_dsc.training import train_dsc

    options = FitOptions()
    for function in (DSC.__init__, train_dsc):
        parameters = inspect.signature(function).parameters
        shared = [name for name, parameter in parameters.items()
                  if hasattr(options, name) and parameter.default is not parameter.empty]
        assert len(shared) >= 3, function
        for name in shared:
            assert parameters[name].default == getattr(options, name), (function, name)


def test_data_given_twice_reads_both_files_in_fit_predict_and_composites(tmp_path):
    """`--data a.nc --data b.nc` is the two files (was: only the last one, silently)."""
    from tests.helpers.era5_files import write_at

    days = pd.date_range("2021-01-01", periods=40)
    first = write_at(tmp_path / "era5_a.nc", days[:20])
    second = write_at(tmp_path / "era5_b.nc", days[20:], seed=1)
    both = ["--data", str(first), "--data", str(second)]
    runner = CliRunner()
    result = runner.invoke(cli, ["fit", *both, "--method", "kmeans", "--n-clusters", "2",
                                 "--window", "1", "--resample", "none", "--no-plots",
                                 "--out", str(tmp_path), "--run-name", "two"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "two"
    assert len(pd.read_csv(run / "assignments.csv")) == 40
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["files"] == [str(first), str(second)]
    result = runner.invoke(cli, ["predict", "--model", str(run), *both,
                                 "--out", str(tmp_path / "two.csv")])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(tmp_path / "two.csv")) == 40
    result = runner.invoke(cli, ["composites", str(run), *both, "--variables", "t2m",
                                 "--no-plots"])
    assert result.exit_code == 0, result.output
    assert "windows per regime: 0:" in result.output


def test_a_region_of_the_pole_row_only_is_refused_under_area_weighting(tmp_path):
    # Every area weight was 0 there: one cluster, ARI 0, exit 0 (found by a probe).
    import numpy as np
    import xarray as xr

    rng = np.random.default_rng(0)
    latitudes, longitudes = np.arange(-90.0, 90.1, 30.0), np.arange(0.0, 360.0, 60.0)
    xr.Dataset({"t2m": (("time", "lat", "lon"),
                        rng.normal(280.0, 5.0, (40, 7, 6)).astype("float32"), {"units": "K"})},
               coords={"time": pd.date_range("2000-01-01", periods=40, freq="D"),
                       "lat": ("lat", latitudes, {"units": "degrees_north"}),
                       "lon": ("lon", longitudes, {"units": "degrees_east"})}
               ).to_netcdf(tmp_path / "global.nc")
    arguments = ["fit", "--data", str(tmp_path / "global.nc"), "--region", "90,-180,90,180",
                 "--method", "kmeans", "--n-clusters", "2", "--window", "1", "--no-plots",
                 "--out", str(tmp_path / "runs")]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "Error: --area-weighting: every latitude of the data lies at a pole (90), where a grid "
        "cell's area, cos(latitude), is 0; choose a --region with other latitudes or pass "
        "--no-area-weighting"]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    result = CliRunner().invoke(cli, arguments + ["--no-area-weighting"])
    assert result.exit_code == 0, result.output
