import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from keras_dsc.errors import DataError
from keras_dsc.scoring.k_scores import recommend_k, score_k


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_blobs(n_samples=120, centers=4, n_features=5, cluster_std=0.6, random_state=3)
    return X


def test_score_k_table(blobs):
    table = score_k(blobs, [5, 2, 3, 4, 3], seed=0)
    assert list(table.columns) == ["k", "silhouette", "davies_bouldin", "calinski_harabasz",
                                   "inertia"]
    assert table["k"].tolist() == [2, 3, 4, 5]
    assert table["inertia"].is_monotonic_decreasing
    assert table.loc[table["silhouette"].idxmax(), "k"] == 4
    assert table.loc[table["davies_bouldin"].idxmin(), "k"] == 4


def test_score_k_is_reproducible(blobs):
    pd.testing.assert_frame_equal(score_k(blobs, range(2, 5), seed=7),
                                  score_k(blobs, range(2, 5), seed=7))


def test_recommend_k_finds_four_blobs(blobs):
    k, reason = recommend_k(score_k(blobs, range(2, 9)))
    assert k == 4
    assert reason.startswith("k=4 ")
    for name in ("silhouette", "Davies-Bouldin", "Calinski-Harabasz"):
        assert name in reason
    assert reason.count(".") >= 1 and "\n" not in reason


def test_recommend_k_ties_go_to_smaller_k():
    table = pd.DataFrame({
        "k": [5, 4, 3],
        "silhouette": [0.1, 0.5, 0.6],
        "davies_bouldin": [0.5, 0.8, 0.9],
        "calinski_harabasz": [10.0, 30.0, 20.0],
        "inertia": [1.0, 2.0, 3.0],
    })
    # ranks: k=3 -> (1, 3, 2) = 2.0; k=4 -> (2, 2, 1) = 1.67; k=5 -> (3, 1, 3) = 2.33
    assert recommend_k(table)[0] == 4
    swapped = table.assign(calinski_harabasz=[10.0, 20.0, 30.0])
    # ranks: k=3 -> (1, 3, 1) = 1.67; k=4 -> (2, 2, 2) = 2.0
    assert recommend_k(swapped)[0] == 3
    # k=3 and k=4 score the same: both rank (1, 2, 1), the tie goes to the smaller k.
    even = table.assign(calinski_harabasz=[10.0, 25.0, 25.0], davies_bouldin=[0.5, 0.8, 0.8],
                        silhouette=[0.1, 0.6, 0.6])
    assert recommend_k(even)[0] == 3


@pytest.mark.parametrize("ks, option", [([1, 2, 3], "k_values: k must be at least 2"),
                                        ([2, 120], "k_values: k must be less than"),
                                        ([0], "k_values"), ([], "k_values: no value")])
def test_k_range_enforced(blobs, ks, option):
    with pytest.raises(DataError, match=option):
        score_k(blobs, ks)


def test_bad_features_and_table():
    with pytest.raises(DataError, match="features"):
        score_k(np.zeros(10), [2])
    with pytest.raises(DataError, match="NaN"):
        score_k(np.full((5, 2), np.nan), [2])
    with pytest.raises(DataError, match="davies_bouldin"):
        recommend_k(pd.DataFrame({"k": [2], "silhouette": [0.1], "calinski_harabasz": [1.0]}))
