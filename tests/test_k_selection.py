import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from matplotlib.image import imread

from keras_dsc.cli import cli
from keras_dsc.data import DataOptions
from keras_dsc.errors import DataError
from keras_dsc.runs.select_k import k_values, pretrain_autoencoder, select_k
from keras_dsc.runs.options import FitOptions

TINY = dict(filters=(2,), latent_dim=4, steps=2, pretrain_steps=2, batch_size=4)


def test_k_values_checks_the_range():
    assert k_values(2, 5, 10) == [2, 3, 4, 5]
    with pytest.raises(DataError, match="k_min must be at least 2, got 1"):
        k_values(1, 5, 10)
    with pytest.raises(DataError, match="k_max 3 is less than k_min 4"):
        k_values(4, 3, 10)
    with pytest.raises(DataError, match=r"k_max 6 must be less than the number of samples "
                       r"\(6 windows\)"):
        k_values(2, 6, 6)


def test_a_wrong_k_range_is_refused_before_the_data_is_read(tmp_path):
    unreadable = tmp_path / "not_netcdf.nc"
    unreadable.write_text("not a NetCDF file")
    options = DataOptions(data=[str(unreadable)])
    with pytest.raises(DataError, match="not_netcdf.nc"):  # the data is bad too
        select_k(options, FitOptions(out=str(tmp_path)), 2, 4, echo=lambda line: None)
    with pytest.raises(DataError, match="k_max 3 is less than k_min 4"):
        select_k(options, FitOptions(out=str(tmp_path)), 4, 3, echo=lambda line: None)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["not_netcdf.nc"]


def test_pretrain_autoencoder_trains_the_reconstruction_only():
    windows = np.random.default_rng(0).normal(size=(6, 2, 4, 4, 2)).astype("float32")
    windows[:, :, 0, 0, 1] = np.nan  # missing values are masked, not NaN losses
    options = FitOptions(filters=(2,), latent_dim=3, pretrain_steps=6, batch_size=3)
    model, history = pretrain_autoencoder(windows, options)
    assert len(history["loss"]) == 3 and np.all(np.isfinite(history["loss"]))
    assert history["clustering_loss"] == [0.0, 0.0, 0.0]
    assert not model.clustering.trainable
    assert model.window_shape == (2, 4, 4, 2)
    assert model.assignment_model.predict(windows, verbose=0)["embedding"].shape == (6, 3)


def test_select_k_command_on_the_latent_space_writes_table_plot_and_summary(tmp_path):
    args = ["select-k", "--days", "6", "--k-min", "2", "--k-max", "4", "--pretrain-steps", "2",
            "--filters", "2", "--latent-dim", "4", "--batch-size", "4", "--out", str(tmp_path),
            "--run-name", "k"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    out = tmp_path / "k"
    table = pd.read_csv(out / "k_selection.csv")
    assert table["k"].tolist() == [2, 3, 4]
    assert list(table.columns) == ["k", "silhouette", "davies_bouldin", "calinski_harabasz",
                                   "inertia"]
    assert table["inertia"].is_monotonic_decreasing
    image = imread(out / "k_selection.png")
    assert image.shape[:2] == (650, 900)  # plot_k_selection's default 9 x 6.5 in at 100 dpi
    summary = json.loads((out / "k_selection.json").read_text())
    k, reason = summary["recommended_k"], summary["reason"]
    assert k in (2, 3, 4) and reason.startswith(f"k={k} has the best mean rank")
    assert summary["features"].startswith("latent vectors of the pre-trained autoencoder (6 x 4)")
    assert f"recommended k: {k}. {reason}" in result.output
    assert "scores on latent vectors" in result.output
    again = CliRunner().invoke(cli, args)  # an existing folder is never overwritten
    assert again.exit_code == 2
    assert again.stderr.strip().splitlines() == [
        f"Error: --run-name: {out} already exists; choose another name"]


def test_select_k_refuses_bad_options(tmp_path):
    options = FitOptions(**TINY, out=str(tmp_path))
    with pytest.raises(DataError, match="k_max 6 must be less than the number of samples"):
        select_k(DataOptions(days=6), options, 2, 6, echo=lambda line: None)
    with pytest.raises(DataError, match="pretrain_steps must be at least 1"):
        select_k(DataOptions(days=6), FitOptions(**{**TINY, "pretrain_steps": 0},
                                                 out=str(tmp_path)), 2, 3)
    with pytest.raises(DataError, match="latent_dim must be positive"):
        select_k(DataOptions(days=6), FitOptions(**{**TINY, "latent_dim": 0},
                                                 out=str(tmp_path)), 2, 3)
    assert not any(tmp_path.iterdir())  # nothing written for refused options


@pytest.mark.slow
def test_select_k_full_runs_scores_every_clustering_on_the_input(tmp_path):
    result = select_k(DataOptions(days=6), FitOptions(**TINY, out=str(tmp_path), run_name="f"),
                      k_min=2, k_max=3, full_runs=True, echo=lambda line: None)
    table = pd.read_csv(tmp_path / "f" / "k_selection.csv")
    assert table["k"].tolist() == [2, 3]
    assert {"silhouette", "davies_bouldin", "calinski_harabasz", "inertia", "clusters_found",
            "converged", "ari", "nmi", "wall_time_s"} <= set(table.columns)
    assert result["features"].startswith("normalised input windows, flattened")
    assert (tmp_path / "f" / "k_selection.png").is_file()
