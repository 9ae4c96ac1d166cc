"""Times `keras_dsc.scoring.metrics.cluster_scores` on random data the size of the DSC paper's.

The paper scores 365 daily samples of 48 * 48 * 7 = 16128 MinMax-scaled values. This script
prints the seconds taken by `cluster_scores` (all scores, with a reference partition) and, for
comparison, by scikit-learn's own `silhouette_samples(X, labels, metric="cosine")`.

Usage, from the repository root:

    python -m benchmarks.metrics_speed [--samples 365] [--features 16128] [--clusters 7]
"""

import argparse
import time

import numpy as np
from sklearn.metrics import silhouette_samples

from keras_dsc.scoring.metrics import cluster_scores


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=365)
    parser.add_argument("--features", type=int, default=16128)
    parser.add_argument("--clusters", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    X = rng.random((args.samples, args.features), dtype=np.float32)
    labels = rng.integers(0, args.clusters, args.samples)
    reference = rng.integers(0, args.clusters, args.samples)

    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        scores = cluster_scores(X, labels, reference_labels=reference)
        times.append(time.perf_counter() - start)
    print(f"data: {args.samples} x {args.features} float32, {args.clusters} clusters")
    print(f"cluster_scores: best {min(times):.2f} s, mean {np.mean(times):.2f} s "
          f"over {args.repeats} runs")

    start = time.perf_counter()
    direct = float(np.mean(silhouette_samples(X, labels, metric="cosine")))
    print(f"sklearn silhouette_samples(metric='cosine') alone: {time.perf_counter() - start:.2f} s")
    print(f"silhouette_cosine: ours {scores['silhouette_cosine']:.6f}, sklearn {direct:.6f}")


if __name__ == "__main__":
    main()
