"""The partition DSC's joint training starts from (`fit --init`).

The clustering head starts from the latent means of a partition of the input windows (see
`keras_dsc.training.initialise_centres`). EOF + k-means, the classical start, clusters the
leading EOFs by their variance, so the modes that explain the most variance decide the
partition. That is right where those modes are the regimes (an index like the NAO is the
first EOF), and wrong where they are not: slow variability (a domain-wide warm spell, a trend,
a slow dipole) can hold more variance than the regimes and then splits and merges them.

`init="auto"` tells the two apart from the data alone. It standardises the `2k` leading
principal components, so that each weighs alike, and asks whether k-means finds clusters
there: the gap statistic (Tibshirani, Walther and Hastie, 2001) of that partition against
Gaussian points of the same size and covariance (in standardised components: independent
standard normals). Where the gap is both significant (at least `STRUCTURE_Z` standard
deviations of the null) and large (at least `STRUCTURE_GAP`: a mean squared distance to the
centres 10 % below the Gaussian one; on long records a tiny departure from a Gaussian is
significant), the standardised components hold distinct groups and that partition is the
start; otherwise (a continuum, or groups only along the leading modes) the start is EOF + k-means.
"""

import numpy as np

STRUCTURE_Z = 4.0
"""The gap, in null standard deviations, from which standardised EOFs can be clustered."""

STRUCTURE_GAP = 0.1
"""The gap (a difference of log mean squared distances) from which they can be clustered."""

NULL_SAMPLES = 2000
"""Gaussian points of the null drawn at most (the mean inertia per point varies little
beyond that)."""


def gap_z(n_points, n_components, inertia, n_clusters, seed=0, n_null=40, n_init=10):
    """How far below Gaussian points k-means' inertia on standardised components lies.

    Args:
        n_points: int, how many points were clustered.
        n_components: int, their dimension (standardised components, each of variance 1).
        inertia: float, the mean squared distance of the points to their k-means centre.
        n_clusters: int, k.
        seed: int, seed of the null's points and k-means.
        n_null: int, null data sets drawn. Defaults to `40`.
        n_init: int, k-means restarts on each. Defaults to `10`.

    Returns:
        `(z, gap)`: `gap` is the mean log inertia of the null less the log of `inertia`,
        `z` that gap in standard deviations of the null's log inertia; `(0.0, 0.0)`, no
        evidence, where there are no more points than clusters (every partition is exact).

    Example:

    >>> rng = np.random.default_rng(0)
    >>> centres = 4 * np.eye(4)[:3]
    >>> groups = np.repeat(centres, 40, axis=0) + rng.normal(size=(120, 4))
    >>> groups = (groups - groups.mean(0)) / groups.std(0)
    >>> from sklearn.cluster import KMeans
    >>> inertia = KMeans(3, n_init=10, random_state=0).fit(groups).inertia_ / 120
    >>> z, gap = gap_z(120, 4, inertia, 3)
    >>> bool(z > STRUCTURE_Z and gap > STRUCTURE_GAP)
    True
    >>> noise = rng.normal(size=(120, 4))
    >>> noise = (noise - noise.mean(0)) / noise.std(0)
    >>> inertia = KMeans(3, n_init=10, random_state=0).fit(noise).inertia_ / 120
    >>> z, gap = gap_z(120, 4, inertia, 3)
    >>> bool(z < STRUCTURE_Z and gap < STRUCTURE_GAP)
    True
    """
    from sklearn.cluster import KMeans

    if int(n_points) <= int(n_clusters) or not inertia > 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    size = min(int(n_points), NULL_SAMPLES)
    null = []
    for i in range(n_null):
        points = rng.standard_normal((size, int(n_components)))
        points = (points - points.mean(axis=0)) / points.std(axis=0)  # as the components are
        inertia_i = KMeans(n_clusters, n_init=n_init, random_state=seed + i).fit(points).inertia_
        null.append(np.log(inertia_i / size))
    gap = float(np.mean(null) - np.log(inertia))
    return gap / max(float(np.std(null)), 1e-12), gap


def start_partition(windows, n_clusters, init="auto", n_eofs=None, explained_variance=0.9,
                    area_weighting=True, seed=0, batch_size=16):
    """The partition of `windows` that DSC's joint training starts from, and what it was.

    Args:
        windows: the window source.
        n_clusters: int, k.
        init: `"auto"` (k-means on the `2k` leading standardised EOFs where they hold clusters,
            see the module's docstring, otherwise EOF + k-means), `"eof"` (EOF + k-means) or
            `"latent"` (no partition: k-means on the latent vectors, as DEC and the paper).
            Defaults to `"auto"`.
        n_eofs, explained_variance: the EOFs of EOF + k-means (`fit_centroid_model`).
        area_weighting: bool, sqrt(cos(latitude)) weights. Defaults to `True`.
        seed: int, seed of k-means and the null. Defaults to `0`.
        batch_size: int, windows per assignment batch. Defaults to `16`.

    Returns:
        `(labels, info)`: int array `(n_windows,)` (`None` for `"latent"`) and a dict saying
        which partition it is (`partition`), and for `"auto"` the test (`standardised_eofs`,
        `structure_z`, `structure_gap`).

    Example:

    >>> rng = np.random.default_rng(0)
    >>> windows = rng.normal(size=(60, 1, 4, 5, 1)).astype("float32")
    >>> labels, info = start_partition(windows, 2)
    >>> labels.shape, info["partition"]
    ((60,), 'eof-kmeans')
    """
    from keras_dsc.training.callbacks import soft_assignments
    from keras_dsc.training.classical import fit_centroid_model

    if init == "latent":
        return None, {"partition": "latent"}
    info = {"partition": "eof-kmeans"}
    model = None
    if init == "auto":
        n_windows = len(windows)
        n_features = int(np.prod(getattr(windows, "sample_shape", None) or
                                 np.shape(windows)[1:]))
        n_components = max(1, min(2 * int(n_clusters), n_windows - 1, n_features - 1))
        standardised, fitted = fit_centroid_model(
            windows, n_clusters, "eof-kmeans", n_eofs=n_components, area_weighting=area_weighting,
            seed=seed, standardise=True)
        z, gap = gap_z(fitted["fitted_windows"], fitted["n_components"], fitted["inertia"],
                       n_clusters, seed)
        info.update(standardised_eofs=fitted["n_components"], structure_z=round(z, 2),
                    structure_gap=round(gap, 4))
        if z >= STRUCTURE_Z and gap >= STRUCTURE_GAP:
            model = standardised
            info["partition"] = "standardised-eofs"
    if model is None:
        model, _ = fit_centroid_model(windows, n_clusters, "eof-kmeans", n_eofs,
                                      explained_variance, area_weighting, seed)
    labels = soft_assignments(model, windows, batch_size).argmax(axis=1)
    return labels, info
