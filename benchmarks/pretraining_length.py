"""How long must the autoencoder pre-train before its latent space separates the regimes?

Pre-trains keras_dsc's DSC (the `fit` defaults, reconstruction only) on the built-in cube and,
after every epoch, runs k-means (10 seeded restarts) on the latent vectors of all windows and
prints their ARI against the planted regimes, with the reconstruction loss and the epoch's wall
time. The joint phase starts from exactly such a k-means, so this is the clustering that the KL
phase has to refine.

    python -m benchmarks.pretraining_length [--epochs 24] [--learning-rate 2e-3] [--seed 0]
"""

import argparse
import time

from keras_dsc.data import DataOptions, prepare_data
from keras_dsc.runs.options import FitOptions


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--learning-rate", type=float, default=FitOptions.learning_rate)
    parser.add_argument("--batch-size", type=int, default=FitOptions.batch_size)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--days", type=int, default=DataOptions.days)
    args = parser.parse_args()

    data = prepare_data(DataOptions(days=args.days))
    windows = data.windows

    import keras
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    from keras_dsc.runs.options import build_dsc
    from keras_dsc.training import embed, pretrain

    fit_options = FitOptions(seed=args.seed)
    n_clusters = fit_options.n_clusters

    class LatentARI(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.time()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.time() - self.started
            latent = embed(self.model, windows, args.batch_size).astype("float64")
            kmeans = KMeans(n_clusters, n_init=10, random_state=args.seed)
            ari = adjusted_rand_score(windows.labels, kmeans.fit_predict(latent))
            print(f"{epoch + 1:>5}{(epoch + 1) * steps:>7}{logs['reconstruction_loss']:>16.4f}"
                  f"{ari:>12.3f}{seconds:>10.1f}", flush=True)

    keras.utils.set_random_seed(args.seed)
    model = build_dsc(windows.sample_shape, n_clusters, fit_options)
    steps = -(-len(windows) // args.batch_size)
    print(f"{len(windows)} windows of {windows.sample_shape}, {steps} steps per epoch, "
          f"learning rate {args.learning_rate}, seed {args.seed}")
    print(f"{'epoch':>5}{'steps':>7}{'reconstruction':>16}{'latent ARI':>12}{'wall s':>10}")
    # Every epoch of the budget, the plateau rule switched off: this measures, it does not stop.
    pretrain(model, windows, args.batch_size, args.epochs * steps, args.learning_rate, args.seed,
             plateau_patience=args.epochs + 1, callbacks=[LatentARI()], verbose=0)


if __name__ == "__main__":
    main()
