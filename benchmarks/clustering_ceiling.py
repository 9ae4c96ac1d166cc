"""How well can the planted regimes of a built-in cube be found at all? Bounds from the labels.

The windows are those `fit` clusters (`prepare_data`: anomalies, z-scores, 3-hourly windows of
a day), flattened and area-weighted as the classical methods see them. Beside what k-means and
EOF + k-means find (unsupervised, as `fit --method kmeans / eof-kmeans` do), the script prints
bounds that use the planted labels:

- the **centroid ceiling**: every window assigned to the nearest of the TRUE regime means (the
  partition a centroid method would reach if it found the true centres exactly), in-sample and
  leave-one-out (each window's own regime mean computed without it);
- the **supervised bound**: 5-fold cross-validated predictions of a linear classifier
  (logistic regression on the leading EOFs), i.e. how separable the regimes are with labels;
- the **supervised bound with more data** (`--train-cubes N`, default 4): the same classifiers
  trained on N independent cubes of the same kind (seeds 1..N, each prepared on its own as
  `fit` prepares it; the regimes are the same, the weather and the episodes differ), then
  scored on this cube (seed 0), which none of them saw; and, for comparison, cross-validated
  across the training cubes (one fold per cube, from two cubes on); with `--encoder-epochs
  E`, also DSC's own encoder (the default architecture, a softmax on its latent vector)
  trained on their labels.

These are bounds of what a classifier learns from that many labels, not of what the windows
hold: on the harder case the logistic regression on the windows rises from 0.870 (4 training
cubes) to 0.928 (16).

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


def weighted_features(windows):
    """`windows` (a `WindowedCube` that `prepare_data` made) flattened and area-weighted as the
    classical methods see them, and their labels."""
    features = windows.flatten_features() * feature_weights(windows)
    return features.astype("float32"), np.asarray(windows.labels)


def independent_cubes(n_cubes, folder, **cube):
    """The prepared windows (`WindowedCube`s) of `n_cubes` built-in cubes of the same kind as
    `cube` (`make_cube`'s arguments) with seeds 1..n_cubes, each written into `folder` and
    prepared on its own as `fit` prepares it."""
    cubes = []
    for seed in range(1, n_cubes + 1):
        path = pathlib.Path(folder) / f"cube_seed{seed}.nc"
        synthetic.write_cube(path, seed=seed, **cube)
        cubes.append(prepare_data(DataOptions(data=[str(path)])).windows)
    return cubes


def encoder_classifier(windows, n_regimes, seed=0):
    """DSC's default encoder (as `fit` builds it for `windows`) with a softmax on its latent
    vector: a classifier of the windows into `n_regimes`, every weight trainable."""
    import keras

    from keras_dsc.runs.options import FitOptions, build_dsc

    class EncoderClassifier(keras.Model):
        def __init__(self):
            super().__init__()
            keras.utils.set_random_seed(seed)
            self.dsc = build_dsc(windows.sample_shape, n_regimes,
                                 FitOptions(n_clusters=n_regimes), latitudes=windows.latitudes)
            self.head = keras.layers.Dense(n_regimes, activation="softmax")

        def call(self, x, training=None):
            return self.head(self.dsc.encode(x, training=training)[0])

    model = EncoderClassifier()
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    return model


def supervised_encoder(train_windows, train_labels, windows, n_regimes, epochs, seed=0):
    """Trains `encoder_classifier` WITH the labels.

    Args:
        train_windows: float32 array `(n,) + windows.sample_shape`; `train_labels` theirs.
        windows: the `WindowedCube` to score (never trained on).
        n_regimes: classes; epochs: epochs of Adam (learning rate 1e-3, batch 16).

    Yields:
        After each epoch, the predicted regime of every window of `windows`.
    """
    model = encoder_classifier(windows, n_regimes, seed)
    scored = windows[np.arange(len(windows))]
    for _ in range(epochs):
        model.fit(train_windows, train_labels, batch_size=16, epochs=1, verbose=0)
        yield model.predict(scored, batch_size=16, verbose=0).argmax(axis=1)


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
    parser.add_argument("--encoder-epochs", type=int, default=0,
                        help="Also train DSC's default encoder with a softmax on the labels of "
                             "those cubes for this many epochs (about 20 s each on 2 cores), "
                             "scoring this cube after each.")
    args = parser.parse_args()
    if args.train_cubes < 0 or args.encoder_epochs < 0:
        parser.error("--train-cubes and --encoder-epochs take a number >= 0")
    cube = dict(days=args.days, n_regimes=args.n_regimes, regime_strength=args.regime_strength,
                episode_days=tuple(int(d) for d in args.episode_days.split(",")))
    windows = prepare_data(DataOptions(**cube)).windows
    features, labels = weighted_features(windows)
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
            cubes = independent_cubes(args.train_cubes, folder, **cube)
            parts = [weighted_features(other) for other in cubes]
            train_windows = (np.concatenate([other[np.arange(len(other))] for other in cubes])
                             if args.encoder_epochs else None)
        train, train_labels = (np.concatenate(part) for part in zip(*parts))
        cube_of_window = np.concatenate([np.full(len(y), i) for i, (_, y) in enumerate(parts)])
        n = f"{args.train_cubes} other cubes ({len(train_labels)} windows)"
        train_pca = PCA(args.explained_variance, svd_solver="full", random_state=0).fit(train)
        on_eofs = LogisticRegression(C=0.01, max_iter=5000)
        on_eofs.fit(train_pca.transform(train), train_labels)
        show(f"trained on {n}: logistic regression, their {train_pca.n_components_} EOFs",
             on_eofs.predict(train_pca.transform(features)))
        if args.train_cubes > 1:
            across = cross_val_predict(on_eofs, train_pca.transform(train), train_labels,
                                       groups=cube_of_window, cv=GroupKFold(args.train_cubes))
            print(f"{'  the same, cross-validated across those cubes (a fold per cube)':<72} "
                  f"ARI {adjusted_rand_score(train_labels, across):.3f}")
        on_windows = LogisticRegression(C=0.01, max_iter=5000).fit(train, train_labels)
        show(f"trained on {n}: logistic regression on the windows", on_windows.predict(features))
        for epoch, predicted in enumerate(supervised_encoder(
                train_windows, train_labels, windows, k, args.encoder_epochs), 1):
            show(f"trained on {n}: DSC's encoder + softmax, epoch {epoch}", predicted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
