"""DSC with the defaults against k-means, on the built-in cube: ARI against the planted regimes.

Runs `python cli.py fit` (any extra arguments are passed on, e.g. `--days 120`) in a separate
process, then k-means on the same data (the flattened normalised windows that `fit` scores on),
and prints ARI and wall time for both.

    python -m benchmarks.dsc_vs_kmeans [fit options...]
"""

import json
import pathlib
import subprocess
import sys
import tempfile
import time

from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from keras_dsc.data import DataOptions, prepare_data

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main(extra):
    if "--help" in extra or "-h" in extra:
        print(__doc__)
        return
    out = tempfile.mkdtemp(prefix="dsc_vs_kmeans_")
    command = [sys.executable, str(ROOT / "cli.py"), "fit", "--out", out, "--run-name", "run",
               "--no-plots", *extra]
    print("$", " ".join(command), flush=True)
    started = time.time()
    subprocess.run(command, check=True, cwd=ROOT)
    dsc_seconds = time.time() - started
    run = pathlib.Path(out) / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    config = json.loads((run / "config.json").read_text())

    options = DataOptions(**config["data"]["options"])
    started = time.time()
    data = prepare_data(options)
    features = data.windows.flatten_features()
    labels = data.windows.labels
    n_clusters = config["fit"]["n_clusters"]
    kmeans = KMeans(n_clusters, n_init=10, random_state=config["fit"]["seed"])
    kmeans_ari = adjusted_rand_score(labels, kmeans.fit_predict(features))
    kmeans_seconds = time.time() - started

    print(f"\nsamples: {len(labels)}  features per sample: {features.shape[1]}  k: {n_clusters}")
    print(f"{'method':<32}{'ARI':>8}{'NMI':>8}{'wall s':>10}")
    print(f"{'keras_dsc DSC (defaults)':<32}{metrics['ari']:>8.3f}{metrics['nmi']:>8.3f}"
          f"{dsc_seconds:>10.1f}")
    print(f"{'k-means (flattened windows)':<32}{kmeans_ari:>8.3f}{'':>8}{kmeans_seconds:>10.1f}")
    print(f"DSC epochs run: {metrics['epochs_run']}, converged: {metrics['converged']}")


if __name__ == "__main__":
    main(sys.argv[1:])
