"""Fitting the classical weather-regime recipes: k-means on the fields, EOF + k-means, a SOM.

All three work on the normalised anomaly windows, flattened (NaN as 0) and weighted by
sqrt(cos(latitude)) per grid row, as an EOF analysis on a regular latitude-longitude grid is
(the squared distances are then area-weighted sums). The EOFs come from scikit-learn's `PCA`
(an SVD of the weighted windows, every time step of a window included, so that it works for
windows of several steps and variables alike); their number is the smallest that explains
`explained_variance` of the variance unless it is given. The result is a `CentroidModel`, a
Keras model like `DSC`, so the run folder, `predict`, `evaluate` and the TF Serving export work
the same for every method.
"""

import numpy as np

from keras_dsc.errors import OptionError

SCORE_BYTES = 512 * 1024**2
"""The flattened windows (float32) held at most to fit; longer records fit on a seeded subset."""


def area_weights(latitudes):
    """sqrt(cos(latitude)) of every latitude (0 at the poles), the EOF analysis' weights.

    Example:

    >>> area_weights([0.0, 60.0]).round(3).tolist()
    [1.0, 0.707]
    """
    return np.sqrt(np.clip(np.cos(np.deg2rad(np.asarray(latitudes, dtype="float64"))), 0.0,
                           None))


def feature_weights(windows, area_weighting=True):
    """The weight of every flattened feature of a window `(time, lat, lon, variable)`.

    Args:
        windows: the window source (`sample_shape`, and `latitudes` for area weights).
        area_weighting: bool, sqrt(cos(latitude)) weights (a source without latitudes, a
            NumPy array, gets weights of 1). Defaults to `True`.

    Returns:
        float32 array `(window * lat * lon * variables,)`.
    """
    shape = tuple(getattr(windows, "sample_shape", None) or np.shape(windows)[1:])
    latitudes = getattr(windows, "latitudes", None)
    if not area_weighting or latitudes is None:
        return np.ones(int(np.prod(shape)), "float32")
    rows = area_weights(latitudes)[None, :, None, None]
    return np.broadcast_to(rows, shape).reshape(-1).astype("float32")


def som_shape(n_clusters):
    """The most square `(rows, columns)` grid of `n_clusters` SOM nodes.

    Example:

    >>> som_shape(6), som_shape(7)
    ((2, 3), (1, 7))
    """
    rows = max(r for r in range(1, int(np.sqrt(n_clusters)) + 1) if n_clusters % r == 0)
    return rows, n_clusters // rows


def fit_centroid_model(windows, n_clusters, method="eof-kmeans", n_eofs=None,
                       explained_variance=0.9, area_weighting=True, seed=0, n_init=50,
                       max_bytes=SCORE_BYTES, standardise=False):
    """Fits a classical regime recipe and returns it as a `CentroidModel`.

    Args:
        windows: the window source (a `WindowedCube` or a NumPy array of windows).
        n_clusters: int, the number of regimes (SOM nodes for `"som"`).
        method: `"eof-kmeans"` (k-means on the leading principal components), `"kmeans"`
            (k-means on the weighted fields) or `"som"` (a self-organising map, minisom, on
            the leading principal components, `som_shape(n_clusters)` nodes).
            Defaults to `"eof-kmeans"`.
        n_eofs: int, the number of EOFs, or `None` for the fewest that explain
            `explained_variance`. Defaults to `None`.
        explained_variance: float in (0, 1], the variance the EOFs keep. Defaults to `0.9`.
        area_weighting: bool, sqrt(cos(latitude)) weights. Defaults to `True`.
        seed: int, seed of k-means, the SOM and the subset. Defaults to `0`.
        n_init: int, k-means restarts. Defaults to `50`.
        max_bytes: int, the flattened windows fitted on at most; longer records fit on a
            seeded random subset (every window is then assigned by the model).
        standardise: bool, divide every principal component by its standard deviation, so
            that k-means weighs each kept EOF alike, however little variance it explains
            (`"eof-kmeans"` and `"som"`). Defaults to `False`, the classical recipe.

    Returns:
        `(model, info)`: the fitted `CentroidModel` and a dict (`method`, `n_components`,
        `explained_variance`, `standardised`, `fitted_windows`, and for k-means `inertia`,
        the mean squared distance of the fitted points to their centre).

    Example:

    >>> rng = np.random.default_rng(0)
    >>> windows = rng.normal(size=(40, 1, 4, 5, 1)).astype("float32")
    >>> windows[:20, 0, :2] += 3.0
    >>> model, info = fit_centroid_model(windows, 2, n_eofs=3)
    >>> probabilities = model.assignment_model.predict(windows, verbose=0)["probabilities"]
    >>> sorted(np.bincount(probabilities.argmax(axis=1)).tolist()), info["n_components"]
    ([20, 20], 3)
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    from keras_dsc.models.centroids import METHODS, CentroidModel

    if method not in METHODS:
        raise OptionError(f"{{method}} must be one of dsc, {', '.join(METHODS)}, got "
                          f"{method!r}", "method")
    if not 0.0 < float(explained_variance) <= 1.0:
        raise OptionError(f"{{explained_variance}} must be in (0, 1], got "
                          f"{explained_variance}", "explained_variance")
    n = len(windows)
    shape = tuple(getattr(windows, "sample_shape", None) or np.shape(windows)[1:])
    per_window = 4 * int(np.prod(shape))
    size = min(n, max(int(max_bytes) // per_window, 2 * n_clusters))
    subset = None if size >= n else np.sort(
        np.random.default_rng(seed).choice(n, size, replace=False))
    features = _flattened(windows, subset)
    weighted = features * feature_weights(windows, area_weighting)

    n_components = None
    variance = 1.0
    if method == "kmeans":
        offset = weighted.mean(axis=0)
        points = weighted - offset
        components = None
    else:
        most = min(weighted.shape) - 1 if min(weighted.shape) > 1 else 1
        wanted = n_eofs if n_eofs is not None else (
            float(explained_variance) if explained_variance < 1.0 else most)
        if isinstance(wanted, int) and not 1 <= wanted <= most:
            raise OptionError(f"{{n_eofs}} must be in 1..{most} for {len(weighted)} windows, "
                              f"got {wanted}", "n_eofs")
        pca = PCA(n_components=wanted, svd_solver="full", random_state=seed)
        points = pca.fit_transform(weighted)
        offset, components = pca.mean_, pca.components_.T
        if standardise:
            scale = points.std(axis=0)
            scale[scale == 0] = 1.0
            points, components = points / scale, components / scale
        n_components = int(pca.n_components_)
        variance = float(pca.explained_variance_ratio_.sum())

    if method == "som":
        from minisom import MiniSom

        rows, columns = som_shape(n_clusters)
        som = MiniSom(rows, columns, points.shape[1], sigma=max(1.0, max(rows, columns) / 3),
                      learning_rate=0.5, random_seed=seed)
        som.pca_weights_init(points)
        som.train(points, num_iteration=500 * n_clusters, random_order=True)
        centres = som.get_weights().reshape(n_clusters, -1)
    else:
        kmeans = KMeans(n_clusters, n_init=n_init, random_state=seed).fit(points)
        centres = kmeans.cluster_centers_

    model = CentroidModel(shape, n_clusters, n_components=n_components, method=method)
    model(np.zeros((1, *shape), "float32"))  # built, so that it saves every weight
    projection = model.projection
    projection.feature_weights.assign(feature_weights(windows, area_weighting))
    projection.offset.assign(offset.astype("float32"))
    if components is not None:
        projection.components.assign(components.astype("float32"))
    model.clustering.centres.assign(np.asarray(centres, "float32"))
    info = {"method": method, "n_components": n_components,
            "explained_variance": round(variance, 4), "standardised": bool(
                standardise and components is not None), "fitted_windows": int(len(features))}
    if method != "som":
        info["inertia"] = float(kmeans.inertia_ / len(points))
    return model, info


def _flattened(windows, subset):
    if hasattr(windows, "flatten_features"):
        return windows.flatten_features(indices=subset).astype("float64")
    x = np.asarray(windows if subset is None else np.asarray(windows)[subset], "float64")
    return np.nan_to_num(x.reshape(len(x), -1), nan=0.0)
