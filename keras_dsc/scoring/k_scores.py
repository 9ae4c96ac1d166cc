"""Help choosing the number of clusters k: k-means scores over a range of k, and a rule to pick one.

Run `score_k` on the features the clustering will work in (for example the latent vectors of a
pre-trained autoencoder), look at the curves (`keras_dsc.plots.plot_k_selection`), and read the
suggestion of `recommend_k`.
"""

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

from keras_dsc.errors import DataError, OptionError

#: The scores `recommend_k` ranks, with True where higher is better.
RANKED_SCORES = {"silhouette": True, "davies_bouldin": False, "calinski_harabasz": True}

_NAMES = {
    "silhouette": "silhouette",
    "davies_bouldin": "Davies-Bouldin",
    "calinski_harabasz": "Calinski-Harabasz",
}


def score_k(features, k_values, seed=0, n_init=10):
    """Scores k-means partitions of `features` for every k in `k_values`.

    Args:
        features: array of shape `(n_samples, n_features)`, for example latent vectors.
        k_values: iterable of ints, the numbers of clusters to try; each must be at least 2 and
            less than `n_samples`. Duplicates are dropped and the table is sorted by k.
        seed: int, `random_state` of `sklearn.cluster.KMeans`. Defaults to 0.
        n_init: int, k-means restarts per k. Defaults to 10.

    Returns:
        A `pandas.DataFrame` with one row per k and the columns `k`, `silhouette` (euclidean,
        higher is better), `davies_bouldin` (lower is better), `calinski_harabasz` (higher is
        better) and `inertia` (the k-means objective, for an elbow plot).

    Example:

    >>> from sklearn.datasets import make_blobs
    >>> X, _ = make_blobs(60, centers=3, random_state=0)
    >>> score_k(X, range(2, 5))["k"].tolist()
    [2, 3, 4]
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] == 0:
        raise DataError(
            f"features: expected a non-empty 2-D array (samples, features), got shape "
            f"{features.shape}"
        )
    if not np.all(np.isfinite(features)):
        raise DataError("features: contains NaN or infinite values")
    n = features.shape[0]
    ks = sorted({int(k) for k in k_values})
    if not ks:
        raise OptionError("{k_values}: no value of k to try", "k_values")
    if ks[0] < 2:
        raise OptionError(f"{{k_values}}: k must be at least 2, got {ks[0]}", "k_values")
    if ks[-1] >= n:
        raise OptionError(f"{{k_values}}: k must be less than the number of samples ({n}), got "
                          f"{ks[-1]}", "k_values")

    rows = []
    for k in ks:
        kmeans = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(features)
        labels = kmeans.labels_
        if np.unique(labels).size < 2:  # identical samples: k-means found one cluster
            silhouette = davies_bouldin = calinski_harabasz = np.nan
        else:
            silhouette = silhouette_score(features, labels)
            davies_bouldin = davies_bouldin_score(features, labels)
            calinski_harabasz = calinski_harabasz_score(features, labels)
        rows.append(
            {
                "k": k,
                "silhouette": float(silhouette),
                "davies_bouldin": float(davies_bouldin),
                "calinski_harabasz": float(calinski_harabasz),
                "inertia": float(kmeans.inertia_),
            }
        )
    return pd.DataFrame(rows, columns=["k", *RANKED_SCORES, "inertia"])


def recommend_k(table):
    """Picks k from a `score_k` table: the best mean rank over three scores.

    Each k is ranked separately by silhouette (higher is better), Davies-Bouldin (lower is better)
    and Calinski-Harabasz (higher is better); rank 1 is the best, tied values share the best
    rank, a missing score ranks last. The recommended k has the smallest mean of its three ranks;
    ties go to the smaller k. Inertia is not ranked (it always falls as k grows).

    Args:
        table: a `pandas.DataFrame` as returned by `score_k`.

    Returns:
        A tuple `(k, reason)`: the recommended int k and a one-sentence reason naming the scores.

    Example:

    >>> from sklearn.datasets import make_blobs
    >>> X, _ = make_blobs(80, centers=4, cluster_std=0.5, random_state=0)
    >>> recommend_k(score_k(X, range(2, 7)))[0]
    4
    """
    missing = [c for c in ("k", *RANKED_SCORES) if c not in table.columns]
    if missing:
        raise DataError(f"k-selection table: missing column(s) {', '.join(missing)}")
    if len(table) == 0:
        raise DataError("k-selection table: no rows")
    table = table.sort_values("k").reset_index(drop=True)
    ranks = pd.DataFrame(
        {
            name: table[name].rank(ascending=not higher, method="min", na_option="bottom")
            for name, higher in RANKED_SCORES.items()
        }
    )
    mean_rank = ranks.mean(axis=1)
    best = int(np.argmin(mean_rank.to_numpy()))  # first minimum = smallest k
    row = table.iloc[best]
    k = int(row["k"])
    parts = [
        f"{_NAMES[name]} {row[name]:.3g} ({'higher' if higher else 'lower'} is better, "
        f"rank {int(ranks[name].iloc[best])})"
        for name, higher in RANKED_SCORES.items()
    ]
    reason = (
        f"k={k} has the best mean rank ({mean_rank.iloc[best]:.2f}) among k="
        f"{int(table['k'].min())}..{int(table['k'].max())} over {parts[0]}, {parts[1]} "
        f"and {parts[2]}."
    )
    return k, reason
