"""The partition DSC's joint training starts from (`fit --init`).

The clustering head starts from the latent means of a partition of the input windows (see
`keras_dsc.training.initialise_centres`). EOF + k-means, the classical start, clusters the
leading EOFs by their variance, so the modes that explain the most variance decide the
partition. That is right where those modes are the regimes (an index like the NAO is the
first EOF), and wrong where they are not: slow variability (a domain-wide warm spell, a trend,
a slow dipole) can hold more variance than the regimes and then splits and merges them.

`init="auto"` tells the two apart from the data alone. It standardises the `2k` leading
principal components, so that each weighs alike, and asks whether k-means finds clusters
there: the gap statistic (Tibshirani, Walther and Hastie, 2001) of that partition against a
null made of the same components, each shuffled in time on its own. Every component keeps its
distribution (skewed, heavy-tailed, bimodal alike); only the grouping of the components
together, which is what regimes are, is gone. Where the gap is both significant (at least
`STRUCTURE_Z` standard deviations of the null) and large enough (at least `STRUCTURE_GAP`: a
mean squared distance to the centres 3 % below the null's; on long records a tiny departure
is significant), the standardised components hold distinct groups and that partition is the
start, refined by a Gaussian mixture with one covariance shared by the clusters
(`refine_by_mixture`: regimes differ along directions that hold less variance than the
synoptic noise, which distances alone cannot weigh); otherwise (a continuum, or groups only
along the leading modes) the start is EOF + k-means.

The null keeps the marginals because climate fields are not Gaussian: against Gaussian points,
components that are merely skewed (independent exponential or log-normal ones) show a gap of
0.03-0.06 at 2000 points, as large as weak regimes, while shuffled they show none. Heavy
tails common to all components (a multivariate t: some windows wilder in every mode) make
the components dependent without groups; standardised as drawn, both nulls take those for
groups, but the EOFs of such fields, whose axes the wildest windows set, show none. What does
fool the test: independent skewed modes of equal variance (PCA cannot tell them apart, so the
EOFs mix them) on long records (six of ten draws of 10 exponential modes at 730 windows).
"""

import warnings

import numpy as np

STRUCTURE_Z = 4.0
"""The gap, in null standard deviations, from which standardised EOFs can be clustered."""

STRUCTURE_GAP = 0.03
"""The gap (a difference of log mean squared distances) from which they can be clustered."""

NULL_SAMPLES = 2000
"""Points of each null data set at most (the mean inertia per point varies little beyond
that)."""


def gap_z(points, inertia, n_clusters, seed=0, n_null=40, n_init=10):
    """How far below the same components shuffled k-means' inertia on `points` lies.

    Args:
        points: float array `(n, d)`, the clustered points (standardised components).
        inertia: float, the mean squared distance of the points to their k-means centre.
        n_clusters: int, k.
        seed: int, seed of the shuffling and k-means.
        n_null: int, null data sets drawn. Defaults to `40`.
        n_init: int, k-means restarts on each. Defaults to `10`.

    Returns:
        `(z, gap)`: `gap` is the mean log inertia of the null (every column of `points`
        shuffled on its own, at most `NULL_SAMPLES` rows) less the log of `inertia`, `z` that
        gap in standard deviations of the null's log inertia; `(0.0, 0.0)`, no evidence, where
        there are no more points than clusters (every partition is exact).

    Example:

    >>> from sklearn.cluster import KMeans
    >>> rng = np.random.default_rng(0)
    >>> def gap_of(x):
    ...     x = (x - x.mean(0)) / x.std(0)
    ...     inertia = KMeans(3, n_init=10, random_state=0).fit(x).inertia_ / len(x)
    ...     z, gap = gap_z(x, inertia, 3)
    ...     return bool(z > STRUCTURE_Z and gap > STRUCTURE_GAP)
    >>> gap_of(np.repeat(4 * np.eye(4)[:3], 40, axis=0) + rng.normal(size=(120, 4)))
    True
    >>> gap_of(rng.exponential(size=(120, 4)))  # skewed, but no groups
    False
    """
    from sklearn.cluster import KMeans

    points = np.asarray(points, dtype="float64")
    if len(points) <= int(n_clusters) or not inertia > 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    if len(points) > NULL_SAMPLES:
        points = points[rng.choice(len(points), NULL_SAMPLES, replace=False)]
    null = []
    for i in range(n_null):
        shuffled = np.column_stack([rng.permutation(column) for column in points.T])
        inertia_i = KMeans(n_clusters, n_init=n_init, random_state=seed + i).fit(shuffled)
        null.append(np.log(inertia_i.inertia_ / len(shuffled)))
    gap = float(np.mean(null) - np.log(inertia))
    return gap / max(float(np.std(null)), 1e-12), gap


def start_partition(windows, n_clusters, init="auto", n_eofs=None, explained_variance=0.9,
                    area_weighting=True, seed=0, batch_size=16):
    """The partition of `windows` that DSC's joint training starts from, and what it was.

    Args:
        windows: the window source.
        n_clusters: int, k.
        init: `"auto"` (k-means on the `2k` leading standardised EOFs where they hold clusters,
            refined by `refine_by_mixture`, see the module's docstring, otherwise EOF +
            k-means), `"eof"` (EOF + k-means) or
            `"latent"` (no partition: k-means on the latent vectors, as DEC and the paper).
            Defaults to `"auto"`.
        n_eofs, explained_variance: the EOFs of EOF + k-means (`fit_centroid_model`).
        area_weighting: bool, sqrt(cos(latitude)) weights. Defaults to `True`.
        seed: int, seed of k-means and the null. Defaults to `0`.
        batch_size: int, windows per assignment batch. Defaults to `16`.

    Returns:
        `(labels, info)`: int array `(n_windows,)` (`None` for `"latent"`) and a dict saying
        which partition it is (`partition`), and for `"auto"` the test (`standardised_eofs`,
        `structure_z`, `structure_gap`) and, for the standardised start, its refinement
        (`mixture`, see `refine_by_mixture`).

    Example:

    >>> rng = np.random.default_rng(0)
    >>> windows = rng.normal(size=(60, 1, 4, 5, 1)).astype("float32")
    >>> labels, info = start_partition(windows, 2)
    >>> labels.shape, info["partition"]
    ((60,), 'eof-kmeans')
    """
    from keras_dsc.data.batches import window_batches
    from keras_dsc.training.callbacks import soft_assignments
    from keras_dsc.training.classical import fit_centroid_model

    if init == "latent":
        return None, {"partition": "latent"}
    info = {"partition": "eof-kmeans"}
    if init == "auto":
        n_windows = len(windows)
        n_features = int(np.prod(getattr(windows, "sample_shape", None) or
                                 np.shape(windows)[1:]))
        n_components = max(1, min(2 * int(n_clusters), n_windows - 1, n_features - 1))
        standardised, fitted = fit_centroid_model(
            windows, n_clusters, "eof-kmeans", n_eofs=n_components, area_weighting=area_weighting,
            seed=seed, standardise=True)
        # The standardised components of every window (the model's embedding), and their cluster.
        out = standardised.assignment_model.predict(window_batches(windows, batch_size),
                                                    verbose=0)
        z, gap = gap_z(out["embedding"], fitted["inertia"], n_clusters, seed)
        info.update(standardised_eofs=fitted["n_components"], structure_z=round(z, 2),
                    structure_gap=round(gap, 4))
        if z >= STRUCTURE_Z and gap >= STRUCTURE_GAP:
            info["partition"] = "standardised-eofs"
            labels = out["probabilities"].argmax(axis=1)
            refined, info["mixture"] = refine_by_mixture(windows, labels, n_clusters,
                                                         area_weighting, seed, batch_size)
            return refined, info
    model, _ = fit_centroid_model(windows, n_clusters, "eof-kmeans", n_eofs,
                                  explained_variance, area_weighting, seed)
    return soft_assignments(model, windows, batch_size).argmax(axis=1), info


def refine_by_mixture(windows, labels, n_clusters, area_weighting=True, seed=0, batch_size=16):
    """A partition refined by a Gaussian mixture with one covariance shared by every cluster.

    k-means separates clusters by distance alone, as if the windows of a regime scattered alike
    in every direction. Weather does not: synoptic noise moves the fields along a few large
    patterns, and a regime differs from another along directions that hold less variance than
    that noise. A mixture of Gaussians with a shared (tied) covariance, fitted by EM from the
    given partition, weighs every direction by how much the windows of one regime scatter
    along it, as linear discriminant analysis does with labels (the mixture-model clustering
    of weather regimes of Smyth, Ide and Ghil, 1999). It is fitted on the `6k` leading EOFs (at
    most a quarter of the number of windows, so that the covariance is well estimated); where
    EM leaves a cluster with fewer than two windows the partition is kept as it was.

    Args:
        windows: the window source.
        labels: int array `(n_windows,)`, the partition to refine.
        n_clusters: int, k.
        area_weighting: bool, sqrt(cos(latitude)) weights. Defaults to `True`.
        seed: int, seed of the EOFs' subset and EM. Defaults to `0`.
        batch_size: int, windows per projection batch. Defaults to `16`.

    Returns:
        `(labels, info)`: the refined partition and a dict (`n_eofs`, `changed`: the fraction
        of windows that moved, `kept`: whether the partition was kept as it was, and for a
        refined one `converged`: whether EM converged within 500 iterations).

    Example:

    Two regimes that differ by a pattern weaker than the noise along another one, and a start
    with 30 % of the windows in the wrong cluster:

    >>> from sklearn.metrics import adjusted_rand_score
    >>> rng = np.random.default_rng(0)
    >>> noise = rng.normal(size=(200, 1))
    >>> pattern = np.linspace(-1.0, 1.0, 12)
    >>> regime = np.repeat([0, 1], 100)
    >>> fields = 3.0 * noise * pattern + 0.6 * (regime[:, None] - 0.5) * pattern[::-1] ** 2
    >>> fields += 0.1 * rng.normal(size=(200, 12))
    >>> windows = fields.reshape(200, 1, 3, 4, 1).astype("float32")
    >>> start = np.where(rng.random(200) < 0.3, 1 - regime, regime)
    >>> refined, info = refine_by_mixture(windows, start, 2)
    >>> round(adjusted_rand_score(regime, start), 2), adjusted_rand_score(regime, refined)
    (0.17, 1.0)
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    from keras_dsc.data.batches import window_batches
    from keras_dsc.training.classical import fit_centroid_model

    labels = np.asarray(labels)
    n_windows = len(labels)
    n_features = int(np.prod(getattr(windows, "sample_shape", None) or np.shape(windows)[1:]))
    n_eofs = min(6 * int(n_clusters), n_windows // 4, n_features - 1)
    if n_eofs < 1 or np.bincount(labels, minlength=n_clusters).min() < 2:
        return labels, {"n_eofs": max(n_eofs, 0), "changed": 0.0, "kept": True}
    # The EOFs of the windows (the centroid model's k-means is not used: one restart).
    projection, _ = fit_centroid_model(windows, n_clusters, "eof-kmeans", n_eofs=n_eofs,
                                       area_weighting=area_weighting, seed=seed, n_init=1)
    points = projection.assignment_model.predict(window_batches(windows, batch_size),
                                                 verbose=0)["embedding"].astype("float64")
    means, covariance = within_cluster_covariance(points, labels, n_clusters)
    mixture = GaussianMixture(n_clusters, covariance_type="tied", max_iter=500,
                              random_state=seed, means_init=means,
                              weights_init=np.bincount(labels, minlength=n_clusters) / n_windows,
                              precisions_init=np.linalg.inv(covariance))
    with warnings.catch_warnings():  # not converged: said in the returned info instead
        warnings.simplefilter("ignore", ConvergenceWarning)
        refined = mixture.fit(points).predict(points)
    if np.bincount(refined, minlength=n_clusters).min() < 2:
        return labels, {"n_eofs": n_eofs, "changed": 0.0, "kept": True}
    return refined, {"n_eofs": n_eofs, "changed": round(float(np.mean(refined != labels)), 4),
                     "kept": False, "converged": bool(mixture.converged_)}


def within_cluster_covariance(points, labels, n_clusters):
    """The clusters' means and their pooled (shared) covariance, slightly regularised.

    Args:
        points: float array `(n, d)`.
        labels: int array `(n,)` of clusters in `0..n_clusters - 1`.
        n_clusters: int, k (an empty cluster's mean is the mean of all points).

    Returns:
        `(means, covariance)`: float arrays `(n_clusters, d)` and `(d, d)`: the mean outer
        product of every point's offset from its cluster's mean, plus 1e-6 of the points'
        variance on the diagonal.

    Example:

    >>> means, covariance = within_cluster_covariance(
    ...     np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 1.0], [12.0, 1.0]]), np.array([0, 0, 1, 1]), 2)
    >>> means.tolist(), covariance.round(3).tolist()
    ([[1.0, 0.0], [11.0, 1.0]], [[1.0, 0.0], [0.0, 0.0]])
    """
    points = np.asarray(points, "float64")
    overall = points.mean(axis=0)
    means = np.stack([points[labels == k].mean(axis=0) if np.any(labels == k) else overall
                      for k in range(int(n_clusters))])
    scatter = points - means[labels]
    covariance = scatter.T @ scatter / len(points)
    covariance += 1e-6 * max(float(points.var()), 1e-12) * np.eye(points.shape[1])
    return means, covariance
