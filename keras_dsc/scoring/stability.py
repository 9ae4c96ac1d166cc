"""How robust a partition is: agreement between seeds, or under bootstrap resampling.

A clustering whose regimes change with the seed, or with which windows happen to be in the
record, should not be read as a discovery. Two label-free measures, both mean adjusted Rand
indices (1: identical partitions, about 0: no more alike than chance):

- `seed_stability`: the mean pairwise ARI between the partitions of independent trainings;
- `bootstrap_stability`: for one trained model, k-means on its embedding refitted on
  bootstrap resamples of the windows, each assigning every window, against the model's labels.
"""

import itertools

import numpy as np
from sklearn.metrics import adjusted_rand_score

from keras_dsc.errors import DataError


def seed_stability(partitions):
    """The mean (and sample sd) of the pairwise ARI between partitions of the same windows.

    Args:
        partitions: a sequence of at least two integer arrays of the same length.

    Returns:
        A dict: `kind` (`"seeds"`), `mean`, `sd`, `n` (the number of partitions).

    Example:

    >>> seed_stability([[0, 0, 1, 1], [1, 1, 0, 0], [0, 1, 0, 1]])["mean"]
    0.0
    """
    partitions = [np.asarray(p) for p in partitions]
    if len(partitions) < 2:
        raise DataError("stability: at least two partitions are needed to compare seeds")
    if len({p.shape for p in partitions}) != 1:
        raise DataError("stability: the partitions do not label the same windows")
    scores = [adjusted_rand_score(a, b) for a, b in itertools.combinations(partitions, 2)]
    return {"kind": "seeds", "mean": round(float(np.mean(scores)), 4),
            "sd": round(float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0, 4),
            "n": len(partitions)}


def bootstrap_stability(embedding, labels, n_clusters, n_boot=10, seed=0):
    """The mean (and sd) ARI between `labels` and k-means refitted on bootstrap resamples.

    Each of `n_boot` resamples (windows drawn with replacement) fits k-means (`n_clusters`,
    10 restarts) on the embedding and assigns every window to its nearest centre.

    Args:
        embedding: array `(n_windows, n_features)`, the space the model clusters in.
        labels: int array `(n_windows,)`, the model's partition.
        n_clusters: int, k.
        n_boot: int, the number of resamples. Defaults to `10`.
        seed: int, seed of the resampling and of k-means. Defaults to `0`.

    Returns:
        A dict: `kind` (`"bootstrap"`), `mean`, `sd`, `n` (the number of resamples).

    Example:

    >>> rng = np.random.default_rng(0)
    >>> points = np.concatenate([rng.normal(0, 0.1, (20, 2)), rng.normal(5, 0.1, (20, 2))])
    >>> bootstrap_stability(points, np.repeat([0, 1], 20), 2)["mean"]
    1.0
    """
    from sklearn.cluster import KMeans

    embedding = np.asarray(embedding, dtype="float64")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    n = len(labels)
    scores = []
    for b in range(int(n_boot)):
        sample = rng.choice(n, n, replace=True)
        k = min(int(n_clusters), len(np.unique(embedding[sample], axis=0)))
        kmeans = KMeans(k, n_init=10, random_state=seed + b).fit(embedding[sample])
        scores.append(adjusted_rand_score(labels, kmeans.predict(embedding)))
    return {"kind": "bootstrap", "mean": round(float(np.mean(scores)), 4),
            "sd": round(float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0, 4),
            "n": int(n_boot)}


def within_cluster_variance(features, labels):
    """The mean squared distance of the windows to their cluster's mean (lower: more compact).

    The label-free criterion by which a run of several seeds keeps one: it is what k-means
    minimises, computed in the (area-weighted) space of the windows for every method alike.

    Example:

    >>> within_cluster_variance(np.array([[0.0], [2.0], [10.0]]), np.array([0, 0, 1]))
    0.6666666666666666
    """
    features = np.asarray(features, dtype="float64")
    labels = np.asarray(labels)
    total = 0.0
    for label in np.unique(labels):
        members = features[labels == label]
        total += float(np.sum((members - members.mean(axis=0)) ** 2))
    return total / len(labels)
