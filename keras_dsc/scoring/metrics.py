"""Cluster quality scores: scikit-learn's, the DSC paper's own, and agreement with a reference.

Every function takes a feature matrix `X` of shape `(n_samples, n_features)` and integer cluster
labels of shape `(n_samples,)`. The paper (Faruque et al. 2023, arXiv 2304.14541) computes its
scores on the MinMax-scaled flattened input, not on the latent space; `paper_total_rmse`,
`paper_variance` and `paper_inter_cluster_distance` follow its definitions exactly, so that our
figures can be put beside its table.

The pairwise distance matrices are computed once, in float64, and shared by the silhouettes and
the inter-cluster matrix: `cluster_scores` on the paper's 365 x 16128 matrix takes about a second.
Their memory is `O(n_samples ** 2)`.
"""

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    normalized_mutual_info_score,
    silhouette_samples,
)
from sklearn.metrics.cluster import contingency_matrix
from sklearn.metrics.pairwise import cosine_distances, euclidean_distances

from keras_dsc.errors import DataError

SCORE_BYTES = 256 * 1024**2
"""The flattened windows (float32) `score_run` holds at most; longer records are scored on a
subset. The scores work on a float64 copy: about three times this at the peak."""


def _check(X, labels, name="labels"):
    """Returns `X` as a finite float64 matrix and `labels` as an integer vector of equal length."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise DataError(f"features: expected a 2-D array (samples, features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise DataError("features: no samples")
    X = X.astype(np.float64, copy=False)
    if not np.all(np.isfinite(X)):
        raise DataError("features: contains NaN or infinite values; fill or mask them first")
    labels = _check_labels(labels, X.shape[0], name)
    return X, labels


def _check_labels(labels, n, name="labels"):
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise DataError(f"{name}: expected shape ({n},), got {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.mod(labels, 1) == 0):
            raise DataError(f"{name}: cluster labels must be integers")
        labels = labels.astype(np.int64)
    return labels


def _groups(labels):
    """Returns (cluster ids, list of row indices per cluster), in ascending id order."""
    ids, inverse = np.unique(labels, return_inverse=True)
    return ids, [np.flatnonzero(inverse == i) for i in range(ids.size)]


def paper_total_rmse(X, labels):
    """Total RMSE of the samples around their cluster means, as defined in the DSC paper.

    `sqrt(sum_i ||x_i - c_label(i)||^2 / n)`, where `c` is the mean of the cluster's rows of `X`.

    Args:
        X: array of shape `(n_samples, n_features)`.
        labels: integer array of shape `(n_samples,)`.

    Returns:
        A float (lower is better).

    Example:

    >>> paper_total_rmse([[0.0, 0.0], [2.0, 0.0]], [0, 0])
    1.0
    """
    X, labels = _check(X, labels)
    total = 0.0
    for rows in _groups(labels)[1]:
        members = X[rows]
        total += float(np.sum((members - members.mean(axis=0)) ** 2))
    return float(np.sqrt(total / X.shape[0]))


def paper_variance(X, labels):
    """Size-weighted mean of the within-cluster variance, as defined in the DSC paper.

    The sum over clusters of `np.var` of all elements of the cluster's rows (one variance over
    every feature of every member), times the cluster size, divided by `n_samples`.

    Args:
        X: array of shape `(n_samples, n_features)`.
        labels: integer array of shape `(n_samples,)`.

    Returns:
        A float (lower is better).

    Example:

    >>> paper_variance([[0.0, 2.0], [4.0, 6.0]], [0, 1])
    1.0
    """
    X, labels = _check(X, labels)
    total = 0.0
    for rows in _groups(labels)[1]:
        total += float(np.var(X[rows])) * rows.size
    return total / X.shape[0]


def _inter_cluster_matrix(distances, groups):
    """k x k matrix: the diameter of each cluster on the diagonal, the closest pair elsewhere."""
    k = len(groups)
    matrix = np.zeros((k, k))
    for i, rows_i in enumerate(groups):
        for j, rows_j in enumerate(groups):
            block = distances[np.ix_(rows_i, rows_j)]
            matrix[i, j] = block.max() if i == j else block.min()
    return matrix


def _paper_inter_cluster_distance(distances, groups):
    matrix = _inter_cluster_matrix(distances, groups)
    return float(matrix.mean(axis=0).mean())


def _euclidean(X):
    distances = euclidean_distances(X)
    np.fill_diagonal(distances, 0.0)
    return distances


def paper_inter_cluster_distance(X, labels):
    """Average inter-cluster distance, as defined in the DSC paper.

    Builds a `k x k` matrix `D`: `D[i][i]` is the largest euclidean distance between two members
    of cluster `i` (0 for a cluster of one), `D[i][j]` the smallest euclidean distance between a
    member of `i` and a member of `j`. The figure is the mean over columns of the column means of
    `D`. Clusters are ordered by ascending label.

    Args:
        X: array of shape `(n_samples, n_features)`.
        labels: integer array of shape `(n_samples,)`.

    Returns:
        A float.

    Example:

    >>> paper_inter_cluster_distance([[0.0], [1.0], [5.0]], [0, 0, 1])
    2.25
    """
    X, labels = _check(X, labels)
    return _paper_inter_cluster_distance(_euclidean(X), _groups(labels)[1])


def cluster_scores(X, labels, reference_labels=None, features="normalised input windows"):
    """All cluster quality scores of one partition, as a JSON-ready dict.

    Keys: `silhouette_euclidean`, `silhouette_cosine` (the mean of scikit-learn's
    `silhouette_samples(X, labels, metric="cosine")`, the paper's silhouette), `davies_bouldin`
    (lower is better), `calinski_harabasz`, `total_rmse`, `variance`, `inter_cluster_distance`
    (the paper's three), `n_clusters`, `cluster_sizes` (`{label: size}`), `features` (what `X`
    is), and, when `reference_labels` is given, `ari` and `nmi`. Scores that are undefined for the
    partition (silhouettes, Davies-Bouldin and Calinski-Harabasz need between 2 and
    `n_samples - 1` clusters) are `None`.

    Args:
        X: array of shape `(n_samples, n_features)`, the space the scores are computed in.
        labels: integer array of shape `(n_samples,)`.
        reference_labels: optional integer array of shape `(n_samples,)`, another partition
            (for example k-means on the input) to compare with. Defaults to `None`.
        features: a short description of `X`, stored under `"features"`. Defaults to
            `"normalised input windows"`.

    Returns:
        A dict of Python floats, ints, a dict and a string.

    Example:

    >>> X = np.random.default_rng(0).random((20, 5))
    >>> scores = cluster_scores(X, np.arange(20) % 3)
    >>> sorted(scores)[:3]
    ['calinski_harabasz', 'cluster_sizes', 'davies_bouldin']
    """
    X, labels = _check(X, labels)
    n = X.shape[0]
    ids, groups = _groups(labels)
    k = ids.size
    defined = 2 <= k <= n - 1

    euclidean = _euclidean(X)
    scores = {
        "silhouette_euclidean": None,
        "silhouette_cosine": None,
        "davies_bouldin": None,
        "calinski_harabasz": None,
    }
    if defined:
        scores["silhouette_euclidean"] = float(
            np.mean(silhouette_samples(euclidean, labels, metric="precomputed"))
        )
        cosine = cosine_distances(X)
        np.fill_diagonal(cosine, 0.0)
        scores["silhouette_cosine"] = float(
            np.mean(silhouette_samples(cosine, labels, metric="precomputed"))
        )
        scores["davies_bouldin"] = float(davies_bouldin_score(X, labels))
        scores["calinski_harabasz"] = float(calinski_harabasz_score(X, labels))
    scores["total_rmse"] = paper_total_rmse(X, labels)
    scores["variance"] = paper_variance(X, labels)
    scores["inter_cluster_distance"] = _paper_inter_cluster_distance(euclidean, groups)
    scores["n_clusters"] = int(k)
    scores["cluster_sizes"] = {int(i): int(rows.size) for i, rows in zip(ids, groups)}
    if reference_labels is not None:
        reference = _check_labels(reference_labels, n, "reference_labels")
        scores["ari"] = float(adjusted_rand_score(reference, labels))
        scores["nmi"] = float(normalized_mutual_info_score(reference, labels))
    scores["features"] = str(features)
    return scores


def match_labels(labels, reference):
    """Renames cluster ids so that they agree as much as possible with a reference partition.

    Solves the assignment problem on the contingency table with
    `scipy.optimize.linear_sum_assignment`, maximising the number of samples whose new id equals
    their reference id. Clusters left without a partner (more clusters than reference ids) take
    the smallest ids not used by the matched ones. The partition itself is unchanged.

    Args:
        labels: integer array of shape `(n_samples,)`.
        reference: integer array of shape `(n_samples,)`.

    Returns:
        An integer array of shape `(n_samples,)`: `labels` with permuted ids.

    Example:

    >>> match_labels([1, 1, 0, 0, 2], [0, 0, 1, 1, 2]).tolist()
    [0, 0, 1, 1, 2]
    """
    labels = _check_labels(labels, np.asarray(labels).shape[0])
    reference = _check_labels(reference, labels.shape[0], "reference")
    ids = np.unique(labels)
    reference_ids = np.unique(reference)
    table = contingency_matrix(labels, reference)  # rows: ids, columns: reference_ids
    rows, columns = linear_sum_assignment(table, maximize=True)
    mapping = {int(ids[r]): int(reference_ids[c]) for r, c in zip(rows, columns)}
    used = set(mapping.values())
    spare = (i for i in range(labels.size + reference_ids.size + 1) if i not in used)
    for i in ids:
        if int(i) not in mapping:
            mapping[int(i)] = next(spare)
    return np.array([mapping[int(i)] for i in labels], dtype=np.int64)


def score_run(windows, labels, features="normalised input windows", reference=None,
              max_bytes=SCORE_BYTES, seed=0, weights=None):
    """Clustering scores of `labels` on the flattened normalised windows (NaN as 0).

    The scores in feature space (silhouettes, Davies-Bouldin, Calinski-Harabasz, the paper's
    three) need the windows flattened in memory, so a record whose flattened windows would
    exceed `max_bytes` (float32) is scored on a seeded random subset of windows of that size
    (at least 100 windows); `n_clusters`, `cluster_sizes` and ARI/NMI against the data's labels
    always count every window. `scored_windows` says how many windows the feature-space scores
    saw.

    Args:
        windows: a `WindowedCube`.
        labels: int array `(len(windows),)`, the clusters to score.
        features: the description stored under `"features"`.
        reference: int array `(len(windows),)`, the partition ARI and NMI compare with;
            `None` for the windows' own `labels` (none when the data has none).
        max_bytes: int, the memory the flattened windows may take. Defaults to 256 MiB.
        seed: int, seed of the subset. Defaults to `0`.
        weights: optional float array of one weight per flattened feature, multiplying the
            windows before scoring (sqrt(cos(latitude)) makes every squared distance an
            area-weighted sum, as in an EOF analysis). Defaults to `None` (unweighted).

    Returns:
        The dict of `keras_dsc.scoring.metrics.cluster_scores`, plus `scored_windows`.
    """
    labels = np.asarray(labels)
    n = len(windows)
    per_window = 4 * int(np.prod(windows.sample_shape))
    size = min(n, max(int(max_bytes) // per_window, 100))
    subset = None
    if size < n:
        subset = np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
        features = f"{features} (a random {size} of {n} windows)"
    reference = windows.labels if reference is None else np.asarray(reference)
    flat = windows.flatten_features(indices=subset)
    if weights is not None:
        flat *= np.asarray(weights, dtype=flat.dtype)
        features = f"{features}, area-weighted"
    scores = cluster_scores(
        flat,
        labels if subset is None else labels[subset],
        None if reference is None else (reference if subset is None else reference[subset]),
        features=features)
    if subset is not None:  # the counts and the label agreement over every window
        ids, counts = np.unique(labels, return_counts=True)
        scores["n_clusters"] = int(ids.size)
        scores["cluster_sizes"] = {int(i): int(c) for i, c in zip(ids, counts)}
        if reference is not None:
            scores["ari"] = float(adjusted_rand_score(reference, labels))
            scores["nmi"] = float(normalized_mutual_info_score(reference, labels))
    scores["scored_windows"] = int(size)
    return scores
