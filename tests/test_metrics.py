import math

import numpy as np
import pytest
from sklearn.metrics import (
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_samples,
    silhouette_score,
)

from keras_dsc.errors import DataError
from keras_dsc.scoring.metrics import (
    cluster_scores,
    match_labels,
    paper_inter_cluster_distance,
    paper_total_rmse,
    paper_variance,
)

# Five points in 2-D: cluster 0 = (0,0), (2,0), (0,2); cluster 1 = (5,5), (7,5).
POINTS = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [5.0, 5.0], [7.0, 5.0]])
LABELS = np.array([0, 0, 0, 1, 1])


def test_paper_total_rmse_by_hand():
    # Cluster 0 mean (2/3, 2/3): squared deviations 8/9 + 20/9 + 20/9 = 48/9 = 16/3.
    # Cluster 1 mean (6, 5): squared deviations 1 + 1 = 2. Sum 22/3 over n = 5 samples.
    expected = math.sqrt((16 / 3 + 2) / 5)
    assert paper_total_rmse(POINTS, LABELS) == pytest.approx(expected, rel=1e-12)


def test_paper_variance_by_hand():
    # Cluster 0 elements 0,0,2,0,0,2: mean 2/3, variance (4 * 4/9 + 2 * 16/9) / 6 = 8/9, size 3.
    # Cluster 1 elements 5,5,7,5: mean 5.5, variance (3 * 0.25 + 2.25) / 4 = 0.75, size 2.
    expected = (8 / 9 * 3 + 0.75 * 2) / 5  # = 5/6
    assert paper_variance(POINTS, LABELS) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(5 / 6)


def test_paper_inter_cluster_distance_by_hand():
    # D[0][0] = diameter of cluster 0 = |(2,0)-(0,2)| = sqrt(8); D[1][1] = |(5,5)-(7,5)| = 2.
    # D[0][1] = D[1][0] = closest pair = |(2,0)-(5,5)| = |(0,2)-(5,5)| = sqrt(34).
    # Column means (sqrt8 + sqrt34)/2 and (sqrt34 + 2)/2; their mean:
    expected = ((math.sqrt(8) + math.sqrt(34)) / 2 + (math.sqrt(34) + 2) / 2) / 2
    assert paper_inter_cluster_distance(POINTS, LABELS) == pytest.approx(expected, rel=1e-12)


def test_paper_inter_cluster_distance_singleton_and_label_order():
    # Points on a line: cluster 7 = {0, 1}, cluster 3 = {10}, cluster 5 = {4, 6}.
    X = np.array([[0.0], [1.0], [10.0], [4.0], [6.0]])
    labels = np.array([7, 7, 3, 5, 5])
    # Ordered ids 3, 5, 7: D = [[0, 4, 9], [4, 2, 3], [9, 3, 1]], mean of all nine entries.
    expected = (0 + 4 + 9 + 4 + 2 + 3 + 9 + 3 + 1) / 9
    assert paper_inter_cluster_distance(X, labels) == pytest.approx(expected, rel=1e-12)


def test_cluster_scores_agree_with_the_functions_and_sklearn():
    rng = np.random.default_rng(0)
    X = rng.random((30, 6))
    labels = np.arange(30) % 3
    scores = cluster_scores(X, labels, features="latent vectors")
    assert scores["features"] == "latent vectors"
    assert scores["n_clusters"] == 3
    assert scores["cluster_sizes"] == {0: 10, 1: 10, 2: 10}
    assert "ari" not in scores and "nmi" not in scores
    assert scores["total_rmse"] == pytest.approx(paper_total_rmse(X, labels))
    assert scores["variance"] == pytest.approx(paper_variance(X, labels))
    assert scores["inter_cluster_distance"] == pytest.approx(
        paper_inter_cluster_distance(X, labels)
    )
    assert scores["silhouette_euclidean"] == pytest.approx(silhouette_score(X, labels), abs=1e-12)
    assert scores["davies_bouldin"] == pytest.approx(davies_bouldin_score(X, labels))
    assert scores["calinski_harabasz"] == pytest.approx(calinski_harabasz_score(X, labels))


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_silhouette_cosine_equals_sklearn(dtype, tolerance):
    rng = np.random.default_rng(1)
    X = (rng.random((40, 50)) + np.repeat(np.eye(4, 50) * 3, 10, axis=0)).astype(dtype)
    labels = np.repeat(np.arange(4), 10)
    rng.shuffle(labels[:5])
    expected = float(np.mean(silhouette_samples(X, labels, metric="cosine")))
    assert cluster_scores(X, labels)["silhouette_cosine"] == pytest.approx(
        expected, abs=tolerance
    )


def test_ari_nmi_identical_and_permutation_invariant():
    rng = np.random.default_rng(2)
    X = rng.random((24, 3))
    reference = np.arange(24) % 4
    same = cluster_scores(X, reference, reference_labels=reference)
    assert same["ari"] == pytest.approx(1.0)
    assert same["nmi"] == pytest.approx(1.0)
    renamed = np.array([2, 0, 3, 1])[reference]  # same partition, other ids
    assert cluster_scores(X, renamed, reference_labels=reference)["ari"] == pytest.approx(1.0)

    other = rng.integers(0, 3, 24)
    permuted = np.array([1, 2, 0])[other]
    a = cluster_scores(X, other, reference_labels=reference)
    b = cluster_scores(X, permuted, reference_labels=reference)
    assert a["ari"] < 0.9
    assert b["ari"] == pytest.approx(a["ari"])
    assert b["nmi"] == pytest.approx(a["nmi"])


def test_single_cluster_gives_none_without_crash():
    X = np.random.default_rng(3).random((6, 4))
    scores = cluster_scores(X, np.zeros(6, dtype=int), reference_labels=np.arange(6) % 2)
    for key in ("silhouette_euclidean", "silhouette_cosine", "davies_bouldin", "calinski_harabasz"):
        assert scores[key] is None
    assert scores["n_clusters"] == 1
    assert scores["cluster_sizes"] == {0: 6}
    assert scores["total_rmse"] > 0
    assert scores["ari"] == pytest.approx(0.0)


def test_one_sample_per_cluster_gives_none():
    X = np.random.default_rng(4).random((4, 3))
    scores = cluster_scores(X, np.arange(4))
    assert scores["silhouette_cosine"] is None
    assert scores["davies_bouldin"] is None
    assert scores["total_rmse"] == 0.0
    # The paper's variance pools all elements of a cluster's rows, so a lone row still counts.
    assert scores["variance"] == pytest.approx(np.mean(np.var(X, axis=1)))


def test_bad_input_raises_data_error():
    with pytest.raises(DataError, match="NaN"):
        cluster_scores(np.array([[0.0, np.nan], [1.0, 2.0]]), [0, 1])
    with pytest.raises(DataError, match="labels"):
        cluster_scores(np.zeros((3, 2)), [0, 1])
    with pytest.raises(DataError, match="reference_labels"):
        cluster_scores(np.zeros((3, 2)), [0, 1, 1], reference_labels=[0, 1])
    with pytest.raises(DataError, match="2-D"):
        paper_total_rmse(np.zeros(3), [0, 1, 1])


def test_match_labels_recovers_permutation():
    reference = np.array([0, 0, 1, 1, 2, 2, 2])
    labels = np.array([2, 2, 0, 0, 1, 1, 0])  # one sample in the wrong cluster
    matched = match_labels(labels, reference)
    assert matched.tolist() == [0, 0, 1, 1, 2, 2, 1]


def test_match_labels_more_clusters_than_reference():
    reference = np.array([0, 0, 0, 1, 1, 1])
    labels = np.array([5, 5, 9, 7, 7, 7])
    matched = match_labels(labels, reference)
    assert matched.tolist() == [0, 0, 2, 1, 1, 1]
