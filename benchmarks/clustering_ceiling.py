"""How well can the planted regimes of a built-in cube be found at all? Bounds from the labels.

The windows are those `fit` clusters (`prepare_data`: anomalies, z-scores, 3-hourly windows of
a day), flattened and area-weighted as the classical methods see them. Beside what k-means and
EOF + k-means find (unsupervised, as `fit --method kmeans / eof-kmeans` do), the script prints
two bounds that use the planted labels:

- the **centroid ceiling**: every window assigned to the nearest of the TRUE regime means (the
  partition a centroid method would reach if it found the true centres exactly), in-sample and
  leave-one-out (each window's own regime mean computed without it);
- the **supervised bound**: 5-fold cross-validated predictions of a linear classifier
  (logistic regression on the leading EOFs), i.e. how separable the regimes are with labels.

An unsupervised method that scores near the supervised bound has little left to gain; a goal
above it is beyond what the samples hold.

Usage (from the repository root; the defaults are the harder built-in case of the README):

    python -m benchmarks.clustering_ceiling
    python -m benchmarks.clustering_ceiling --days 365 --n-regimes 6 --regime-strength 1 \\
        --episode-days 1,8
"""

import argparse

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import cross_val_predict

from keras_dsc.data import DataOptions, prepare_data
from keras_dsc.training.classical import feature_weights


def nearest_true_centre(features, labels, leave_one_out=False):
    """Each window's nearest true regime mean (without the window itself, `leave_one_out`)."""
    k = labels.max() + 1
    sums = np.stack([features[labels == j].sum(axis=0) for j in range(k)])
    counts = np.bincount(labels, minlength=k).astype("float64")
    predicted = np.empty(len(features), dtype=int)
    for i, x in enumerate(features):
        own = np.zeros(k)
        if leave_one_out:
            own[labels[i]] = 1.0
        centres = (sums - own[:, None] * x) / np.maximum(counts - own, 1.0)[:, None]
        predicted[i] = int(((centres - x) ** 2).sum(axis=1).argmin())
    return predicted


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=240)
    parser.add_argument("--n-regimes", type=int, default=5)
    parser.add_argument("--regime-strength", type=float, default=0.45)
    parser.add_argument("--episode-days", default="2,5")
    parser.add_argument("--explained-variance", type=float, default=0.9,
                        help="Variance the EOFs keep (as fit's eof-kmeans).")
    args = parser.parse_args()
    options = DataOptions(days=args.days, n_regimes=args.n_regimes,
                          regime_strength=args.regime_strength,
                          episode_days=tuple(int(d) for d in args.episode_days.split(",")))
    windows = prepare_data(options).windows
    labels = np.asarray(windows.labels)
    features = windows.flatten_features() * feature_weights(windows)
    k = args.n_regimes
    print(f"{len(windows)} windows of {windows.sample_shape}, {k} regimes "
          f"(sizes {np.bincount(labels, minlength=k).tolist()}), regime strength "
          f"{args.regime_strength:g}, episodes {args.episode_days} days")

    def show(name, predicted):
        print(f"{name:<58} ARI {adjusted_rand_score(labels, predicted):.3f}")

    show("k-means on the windows (unsupervised)",
         KMeans(k, n_init=20, random_state=0).fit_predict(features))
    pca = PCA(args.explained_variance, svd_solver="full", random_state=0)
    pcs = pca.fit_transform(features)
    show(f"EOF + k-means, {pca.n_components_} EOFs (unsupervised)",
         KMeans(k, n_init=20, random_state=0).fit_predict(pcs))
    show("centroid ceiling: nearest true regime mean, in-sample",
         nearest_true_centre(features, labels))
    show("centroid ceiling: nearest true regime mean, leave-one-out",
         nearest_true_centre(features, labels, leave_one_out=True))
    predicted = cross_val_predict(LogisticRegression(max_iter=3000), pcs, labels, cv=5)
    show(f"supervised bound: logistic regression on the {pca.n_components_} EOFs, 5-fold",
         predicted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
