"""How well can the planted regimes of a built-in cube be found at all? Bounds from the labels.

The windows are those `fit` clusters (`prepare_data`: anomalies, z-scores, 3-hourly windows of
a day), flattened and area-weighted as the classical methods see them. Beside what k-means and
EOF + k-means find (unsupervised, as `fit --method kmeans / eof-kmeans` do), the script prints
two bounds that use the planted labels:

- the **centroid ceiling**: every window assigned to the nearest of the TRUE regime means (the
  partition a centroid method would reach if it found the true centres exactly), in-sample and
  leave-one-out (each window's own regime mean computed without it);
- the **supervised bound**: 5-fold cross-validated predictions of a linear classifier
  (logistic regression on the leading EOFs), i.e. how separable the regimes are with labels;
- the **supervised bound with more data** (`--train-cubes N`, default 4): the same classifiers
  trained on N independent cubes of the same kind (seeds 1..N, each prepared on its own as
  `fit` prepares it; the regimes are the same, the weather and the episodes differ), then
  scored on this cube (seed 0), which none of them saw; and, for comparison, cross-validated
  across the training cubes (one fold per cube).

An unsupervised method that scores near the supervised bound has little left to gain; a goal
above it is beyond what the samples hold.

Usage (from the repository root; the defaults are the harder built-in case of the README):

    python -m benchmarks.clustering_ceiling
    python -m benchmarks.clustering_ceiling --days 365 --n-regimes 6 --regime-strength 1 \\
        --episode-days 1,8
"""

import argparse
import pathlib
import tempfile

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import GroupKFold, cross_val_predict

from keras_dsc.data import DataOptions, prepare_data, synthetic
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


def weighted_features(options):
    """The windows `fit` clusters for `options`, flattened and area-weighted, and their labels."""
    windows = prepare_data(options).windows
    features = windows.flatten_features() * feature_weights(windows)
    return features.astype("float32"), np.asarray(windows.labels)


def independent_cubes(n_cubes, folder, **cube):
    """`(features, labels, cube_of_window)` of `n_cubes` built-in cubes of the same kind as
    `cube` (`make_cube`'s arguments) with seeds 1..n_cubes, each written into `folder` and
    prepared on its own."""
    parts = []
    for seed in range(1, n_cubes + 1):
        path = pathlib.Path(folder) / f"cube_seed{seed}.nc"
        synthetic.write_cube(path, seed=seed, **cube)
        parts.append(weighted_features(DataOptions(data=[str(path)])))
    cube_of_window = np.concatenate([np.full(len(y), i) for i, (_, y) in enumerate(parts)])
    return (np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts]),
            cube_of_window)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=240)
    parser.add_argument("--n-regimes", type=int, default=5)
    parser.add_argument("--regime-strength", type=float, default=0.45)
    parser.add_argument("--episode-days", default="2,5")
    parser.add_argument("--explained-variance", type=float, default=0.9,
                        help="Variance the EOFs keep (as fit's eof-kmeans).")
    parser.add_argument("--train-cubes", type=int, default=4,
                        help="Independent cubes (seeds 1..N) the supervised bound with more "
                             "data is trained on; 0 leaves it out.")
    args = parser.parse_args()
    cube = dict(days=args.days, n_regimes=args.n_regimes, regime_strength=args.regime_strength,
                episode_days=tuple(int(d) for d in args.episode_days.split(",")))
    features, labels = weighted_features(DataOptions(**cube))
    k = args.n_regimes
    print(f"{len(labels)} windows, {k} regimes "
          f"(sizes {np.bincount(labels, minlength=k).tolist()}), regime strength "
          f"{args.regime_strength:g}, episodes {args.episode_days} days")

    def show(name, predicted):
        print(f"{name:<72} ARI {adjusted_rand_score(labels, predicted):.3f}")

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
    if args.train_cubes > 0:
        with tempfile.TemporaryDirectory() as folder:
            train, train_labels, cube_of_window = independent_cubes(args.train_cubes, folder,
                                                                    **cube)
        n = f"{args.train_cubes} other cubes ({len(train_labels)} windows)"
        train_pca = PCA(args.explained_variance, svd_solver="full", random_state=0).fit(train)
        on_eofs = LogisticRegression(C=0.01, max_iter=5000)
        across = cross_val_predict(on_eofs, train_pca.transform(train), train_labels,
                                   groups=cube_of_window, cv=GroupKFold(args.train_cubes))
        print(f"{'  the same, cross-validated across those cubes (a fold per cube)':<72} "
              f"ARI {adjusted_rand_score(train_labels, across):.3f}")
        on_eofs.fit(train_pca.transform(train), train_labels)
        show(f"trained on {n}: logistic regression, their {train_pca.n_components_} EOFs",
             on_eofs.predict(train_pca.transform(features)))
        on_windows = LogisticRegression(C=0.01, max_iter=5000).fit(train, train_labels)
        show(f"trained on {n}: logistic regression on the windows", on_windows.predict(features))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
