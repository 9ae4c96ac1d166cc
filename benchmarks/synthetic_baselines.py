"""How hard is keras_dsc's synthetic cube for clustering methods that ignore its structure?

Builds daily windows (24 hourly steps from 00:00) from `keras_dsc.data.synthetic.make_cube`, z-scores
each variable (NaN -> 0 after scaling), flattens each window and prints the adjusted Rand index
(ARI) against the planted `regime` of:

  (a) k-means on the flattened windows;
  (b) k-means on the daily means (time order ignored), with the contingency rows of the two
      motion regimes, which only the time order separates;
  (c) PCA(20) + k-means on the flattened windows;
  (d) k-means after removing the seasonal cycle (31-day running mean per grid point, hour and
      variable);
  (e) PCA(20) + k-means after removing the seasonal cycle;
  (f) k-means on the daily means after removing the seasonal cycle (the motion regimes merge);
  (g) supervised upper bound: 5-fold accuracy of a linear classifier (logistic regression on
      PCA(50) of the deseasonalised windows), i.e. how separable the regimes are at all.

Usage:

    python -m benchmarks.synthetic_baselines --seed 0 --seed 1
"""

import argparse
import time

import numpy as np
from scipy import ndimage
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score
from sklearn.metrics.cluster import contingency_matrix
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

from keras_dsc.data.synthetic import MOTION_REGIMES, VARIABLES, make_cube


def daily_windows(cube):
    """Windows (days, 24, latitude, longitude, variables), z-scored per variable, NaN -> 0."""
    days = cube.sizes["valid_time"] // 24
    stack = []
    for name in VARIABLES:
        values = cube[name].values[: days * 24]
        scaled = (values - np.nanmean(values)) / np.nanstd(values)
        stack.append(np.nan_to_num(scaled, nan=0.0))
    windows = np.stack(stack, axis=-1).reshape(days, 24, 41, 41, len(VARIABLES))
    labels = cube["regime"].values[: days * 24 : 24]
    return windows.astype(np.float32), labels


def kmeans_ari(features, labels, k, seed):
    predicted = KMeans(k, n_init=10, random_state=seed).fit_predict(features)
    return adjusted_rand_score(labels, predicted), predicted


def report(days, n_regimes, seed, variability):
    started = time.perf_counter()
    cube = make_cube(days=days, n_regimes=n_regimes, seed=seed, variability=variability)
    made = time.perf_counter() - started
    names = cube["regime"].attrs["flag_meanings"].split()
    windows, labels = daily_windows(cube)
    del cube
    flat = windows.reshape(len(windows), -1)
    deseasoned = flat - ndimage.uniform_filter1d(flat, 31, axis=0, mode="nearest")
    k = n_regimes
    print(f"\n== days={days} n_regimes={k} seed={seed} variability={variability:g} "
          f"(cube made in {made:.1f} s); regime days: "
          + ", ".join(f"{n}={c}" for n, c in zip(names, np.bincount(labels, minlength=k))))

    ari, _ = kmeans_ari(flat, labels, k, seed)
    print(f"(a) k-means on flattened windows           ARI = {ari:.3f}")
    ari, predicted = kmeans_ari(windows.mean(axis=1).reshape(len(windows), -1), labels, k, seed)
    print(f"(b) k-means on daily means                 ARI = {ari:.3f}")
    table = contingency_matrix(labels, predicted)
    for name in MOTION_REGIMES:
        print(f"      {name:<14} -> clusters {table[names.index(name)].tolist()}")
    reduced = PCA(20, random_state=seed).fit_transform(flat)
    ari, _ = kmeans_ari(reduced, labels, k, seed)
    print(f"(c) PCA(20) + k-means                      ARI = {ari:.3f}")
    ari, predicted = kmeans_ari(deseasoned, labels, k, seed)
    print(f"(d) k-means, seasonal cycle removed        ARI = {ari:.3f}")
    reduced = PCA(20, random_state=seed).fit_transform(deseasoned)
    ari, predicted = kmeans_ari(reduced, labels, k, seed)
    print(f"(e) PCA(20) + k-means, seasonal removed    ARI = {ari:.3f}")
    table = contingency_matrix(labels, predicted)
    for name in MOTION_REGIMES:
        print(f"      {name:<14} -> clusters {table[names.index(name)].tolist()}")
    means = windows.mean(axis=1).reshape(len(windows), -1)
    means -= ndimage.uniform_filter1d(means, 31, axis=0, mode="nearest")
    ari, predicted = kmeans_ari(means, labels, k, seed)
    print(f"(f) k-means on daily means, seasonal removed ARI = {ari:.3f}")
    table = contingency_matrix(labels, predicted)
    for name in MOTION_REGIMES:
        print(f"      {name:<14} -> clusters {table[names.index(name)].tolist()}")
    classifier = make_pipeline(PCA(50, random_state=seed), LogisticRegression(max_iter=2000))
    accuracy = cross_val_score(classifier, deseasoned, labels, cv=5).mean()
    print(f"(g) supervised bound: PCA(50) + logistic regression, 5-fold accuracy = {accuracy:.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--n-regimes", type=int, default=6)
    parser.add_argument("--seed", type=int, action="append", help="repeatable; default 0")
    parser.add_argument("--variability", type=float, default=1.0)
    args = parser.parse_args()
    for seed in args.seed or [0]:
        report(args.days, args.n_regimes, seed, args.variability)


if __name__ == "__main__":
    main()
