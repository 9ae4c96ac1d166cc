"""The classical regime recipes (eof-kmeans, kmeans, som) as methods of fit, and area weights."""

import json

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score

from keras_dsc.data import DataOptions
from keras_dsc.models.centroids import CentroidModel
from keras_dsc.runs.fit import fit_run
from keras_dsc.runs.options import FitOptions, build_dsc
from keras_dsc.runs.predict import predict
from keras_dsc.training.classical import area_weights, feature_weights, fit_centroid_model
from tests.helpers.keras_checks import run_model_test


class Windows(np.ndarray):
    """NumPy windows with the latitudes a `WindowedCube` has (for the area weights)."""


def regime_windows(n=60, seed=0):
    """Windows (1, 6, 5, 2) on latitudes 30..80N with three planted patterns."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    x = rng.normal(scale=0.5, size=(n, 1, 6, 5, 2)).astype("float32")
    for k, (row, variable) in enumerate([(0, 0), (3, 1), (5, 0)]):
        x[labels == k, 0, row, :, variable] += 2.0
    windows = x.view(Windows)
    windows.latitudes = np.linspace(80.0, 30.0, 6)
    return windows, labels


def test_eof_kmeans_is_pca_and_kmeans_on_area_weighted_windows():
    windows, truth = regime_windows()
    model, info = fit_centroid_model(windows, 3, "eof-kmeans", explained_variance=0.8, seed=1)
    weights = np.sqrt(np.cos(np.deg2rad(windows.latitudes)))[None, None, :, None, None]
    flat = (np.asarray(windows) * weights).reshape(len(windows), -1)
    pca = PCA(0.8, svd_solver="full").fit(flat)
    assert info["n_components"] == pca.n_components_ and info["explained_variance"] >= 0.8
    expected = KMeans(3, n_init=50, random_state=1).fit_predict(pca.transform(flat))
    outputs = model.assignment_model.predict(np.asarray(windows), verbose=0)
    np.testing.assert_allclose(np.abs(outputs["embedding"]), np.abs(pca.transform(flat)),
                               atol=1e-4)  # the principal components (up to sign)
    assert adjusted_rand_score(expected, outputs["probabilities"].argmax(axis=1)) == 1.0
    assert adjusted_rand_score(truth, outputs["probabilities"].argmax(axis=1)) == 1.0


def test_the_assigned_cluster_is_the_nearest_centroid():
    windows, _ = regime_windows(seed=2)
    model, _ = fit_centroid_model(windows, 3, "kmeans", seed=0)
    outputs = model.assignment_model.predict(np.asarray(windows), verbose=0)
    centres = keras.ops.convert_to_numpy(model.clustering.centres)
    distances = ((outputs["embedding"][:, None, :] - centres[None]) ** 2).sum(axis=-1)
    np.testing.assert_array_equal(outputs["probabilities"].argmax(axis=1),
                                  distances.argmin(axis=1))


def test_som_has_rows_times_columns_nodes_and_repeats_with_the_seed():
    windows, truth = regime_windows(n=90)
    labels = []
    for _ in range(2):
        model, _ = fit_centroid_model(windows, 6, "som", n_eofs=4, seed=3)
        labels.append(model.assignment_model.predict(np.asarray(windows), verbose=0)[
            "probabilities"].argmax(axis=1))
    assert tuple(model.clustering.centres.shape) == (6, 4)
    np.testing.assert_array_equal(labels[0], labels[1])
    assert labels[0].max() < 6 and adjusted_rand_score(truth, labels[0]) > 0.3


def test_centroid_model_round_trips(tmp_path):
    windows, _ = regime_windows()
    model, _ = fit_centroid_model(windows, 3, "eof-kmeans", n_eofs=3)
    reloaded = run_model_test(lambda: model, np.asarray(windows), tmp_path, train=False)
    assert type(reloaded) is CentroidModel and reloaded.n_components == 3


def test_feature_weights_and_dsc_latitude_weights_follow_the_area():
    windows, _ = regime_windows()
    weights = feature_weights(windows).reshape(windows.shape[1:])
    np.testing.assert_allclose(weights[0, :, 0, 0], area_weights(windows.latitudes), rtol=1e-6)
    assert np.all(feature_weights(windows, area_weighting=False) == 1)
    model = build_dsc(windows.shape[1:], 3, FitOptions(filters=(2,)), latitudes=windows.latitudes)
    expected = np.cos(np.deg2rad(windows.latitudes))
    np.testing.assert_allclose(model.latitude_weights, expected / expected.mean(), rtol=1e-6)
    unweighted = build_dsc(windows.shape[1:], 3, FitOptions(filters=(2,), area_weighting=False),
                           latitudes=windows.latitudes)
    assert unweighted.latitude_weights is None


def test_the_weighted_reconstruction_loss_weighs_grid_rows_by_area():
    windows, _ = regime_windows(n=4)
    x = np.asarray(windows)
    model = build_dsc(x.shape[1:], 3, FitOptions(filters=(2,)), latitudes=windows.latitudes)
    y_pred = model(x)
    squared = (x - keras.ops.convert_to_numpy(y_pred["reconstruction"])) ** 2
    rows = np.asarray(model.latitude_weights)[None, None, :, None, None]
    expected = (squared * rows).sum() / np.broadcast_to(rows, squared.shape).sum()
    assert float(model.compute_loss(x, None, y_pred)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("method", ["eof-kmeans", "kmeans", "som"])
def test_fit_writes_the_same_run_folder_for_every_method(tmp_path, method):
    options = FitOptions(method=method, n_clusters=3, out=str(tmp_path), run_name=method,
                         plots=False, n_init=2)
    run_dir = fit_run(DataOptions(days=12), options, echo=lambda line: None, verbose=0)
    for name in ("model.keras", "preprocessing.json", "config.json", "assignments.csv",
                 "metrics.json"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["method"] == method and metrics["stability"]["kind"] == "seeds"
    assert 0.0 <= metrics["stability"]["mean"] <= 1.0 and metrics["stability"]["n"] == 2
    assert "area-weighted" in metrics["features"]
    table = predict(run_dir, _builtin_file(12))
    assignments = pd.read_csv(run_dir / "assignments.csv")
    assert table["cluster"].tolist() == assignments["cluster"].tolist()


def _builtin_file(days):
    from keras_dsc.data import builtin_cube_path

    return str(builtin_cube_path(days))
