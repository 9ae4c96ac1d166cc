import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import xarray as xr
from click.testing import CliRunner

from keras_dsc.cli import cli
from keras_dsc.data import builtin_cube_path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_cli_evaluate_writes_the_metrics_json_into_the_run(tiny_run, tmp_path):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    result = CliRunner().invoke(cli, ["evaluate", str(run)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("scores on normalised input windows, flattened (6 x 94136)")
    assert f"wrote {run / 'evaluation.json'}" in result.output
    metrics = json.loads((run / "evaluation.json").read_text())
    assert {"silhouette_cosine", "davies_bouldin", "calinski_harabasz", "total_rmse", "variance",
            "inter_cluster_distance", "ari", "nmi", "features", "reference"} <= set(metrics)
    assert metrics["features"] == "normalised input windows, flattened (6 x 94136), area-weighted"


def test_cli_evaluate_never_replaces_an_existing_out_unless_overwrite(tiny_run, tmp_path):
    """A second evaluate (say on other data) would silently replace the first scores."""
    run = shutil.copytree(tiny_run, tmp_path / "run")
    first = run / "evaluation.json"
    first.write_text('{"kept": true}')
    result = CliRunner().invoke(cli, ["evaluate", str(run)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: --out: {first} already exists; pass --overwrite to replace it"]
    assert result.stdout == "" and first.read_text() == '{"kept": true}'
    result = CliRunner().invoke(cli, ["evaluate", str(run), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"Error: --out: {tmp_path} is a folder; give the JSON file "
                                     f"to write")
    result = CliRunner().invoke(cli, ["evaluate", str(run), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert "silhouette_cosine" in json.loads(first.read_text())
    assert sorted(p.name for p in run.glob(".evaluation.json*")) == []


def test_cli_evaluate_latent_with_labels_and_out(tiny_run, tmp_path):
    labels = pd.read_csv(tiny_run / "assignments.csv")[["time", "cluster"]]
    labels.to_csv(tmp_path / "labels.csv", index=False)
    out = tmp_path / "scores" / "latent.json"
    result = CliRunner().invoke(cli, ["evaluate", str(tiny_run), "--features", "latent",
                                      "--labels", str(tmp_path / "labels.csv"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["features"] == "latent vectors of the model's encoder (6 x 4)"
    assert metrics["ari"] == 1.0
    assert not (tiny_run / "evaluation.json").exists()


def test_cli_evaluate_refuses_data_with_other_variables(tiny_run, tmp_path):
    path = tmp_path / "two.nc"
    with xr.open_dataset(builtin_cube_path(6)) as ds:
        ds[["t2m", "sst"]].load().to_netcdf(path)
    result = CliRunner().invoke(cli, ["evaluate", str(tiny_run), "--data", str(path)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: {path}: variable 'u10' not found; available: t2m, sst"]


def test_cli_evaluate_refuses_a_missing_run_folder_as_subprocess(tmp_path):
    proc = subprocess.run([sys.executable, "cli.py", "evaluate", str(tmp_path / "nope")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"Error: {tmp_path / 'nope'}: run folder not found"]
    assert proc.stdout == ""


def test_cli_select_k_refuses_k_beyond_the_samples(tmp_path):
    result = CliRunner().invoke(cli, ["select-k", "--days", "6", "--k-max", "6", "--out",
                                      str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "Error: --k-max 6 must be less than the number of samples (6 windows); lower it or use "
        "more data"]
