"""Tests of keras_dsc.scoring.metrics.score_run: the scores of a run, bounded in memory."""

import numpy as np
import pandas as pd
import xarray as xr
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from keras_dsc.scoring.metrics import cluster_scores
from keras_dsc.scoring.metrics import score_run
from keras_dsc.data.windows import WindowedCube


def labelled_windows(n_windows=150, window=2, nlat=3, nlon=4, nvar=2, seed=0):
    """Random windows of three planted groups (shifted means), labelled at every time step."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n_windows)
    values = rng.normal(size=(n_windows, window, nlat, nlon, nvar)) + truth[:, None, None, None,
                                                                            None]
    values = values.reshape(n_windows * window, nlat, nlon, nvar)
    array = xr.DataArray(values.astype("float32"),
                         dims=("time", "latitude", "longitude", "variable"), coords={
                             "time": pd.date_range("2021-01-01", periods=len(values), freq="3h"),
                             "latitude": np.linspace(43, 42, nlat),
                             "longitude": np.linspace(-33, -32, nlon),
                             "variable": [f"v{i}" for i in range(nvar)]})
    array = array.assign_coords(regime=("time", np.repeat(truth, window)))
    windows = WindowedCube(array, window, labels=np.repeat(truth, window))
    return windows, truth


def test_small_records_are_scored_whole():
    windows, truth = labelled_windows()
    labels = np.where(np.arange(len(truth)) % 10 == 0, (truth + 1) % 3, truth)  # 10% wrong
    scores = score_run(windows, labels)
    expected = cluster_scores(windows.flatten_features(), labels, truth)
    assert scores["scored_windows"] == 150
    for name in ("silhouette_euclidean", "davies_bouldin", "calinski_harabasz", "ari", "nmi"):
        assert scores[name] == expected[name], name


def test_long_records_are_scored_on_a_seeded_subset_but_counted_whole():
    windows, truth = labelled_windows(n_windows=300)
    labels = np.where(np.arange(len(truth)) % 10 == 0, (truth + 1) % 3, truth)
    per_window = 4 * int(np.prod(windows.sample_shape))  # 192 bytes
    scores = score_run(windows, labels, max_bytes=120 * per_window)
    assert scores["scored_windows"] == 120
    assert "a random 120 of 300 windows" in scores["features"]
    assert sum(scores["cluster_sizes"].values()) == 300
    assert scores["cluster_sizes"] == {k: int((labels == k).sum()) for k in range(3)}
    assert scores["ari"] == adjusted_rand_score(truth, labels)
    assert scores["nmi"] == normalized_mutual_info_score(truth, labels)
    subset = np.sort(np.random.default_rng(0).choice(300, 120, replace=False))
    on_subset = cluster_scores(windows.flatten_features(indices=subset), labels[subset])
    assert scores["silhouette_euclidean"] == on_subset["silhouette_euclidean"]
    whole = cluster_scores(windows.flatten_features(), labels)
    assert scores["silhouette_euclidean"] != whole["silhouette_euclidean"]
    assert abs(scores["silhouette_euclidean"] - whole["silhouette_euclidean"]) < 0.05
    again = score_run(windows, labels, max_bytes=120 * per_window)
    assert again == scores  # the same seed, the same subset
    # Never fewer than 100 windows, however small the budget.
    assert score_run(windows, labels, max_bytes=1)["scored_windows"] == 100


def test_an_explicit_reference_replaces_the_data_labels():
    windows, truth = labelled_windows(n_windows=300)
    other = (truth + np.arange(300) % 2) % 3
    per_window = 4 * int(np.prod(windows.sample_shape))
    for max_bytes in (per_window * 300, per_window * 120):  # whole, then a subset
        scores = score_run(windows, truth, reference=other, max_bytes=max_bytes)
        assert scores["ari"] == adjusted_rand_score(other, truth) < 0.9
