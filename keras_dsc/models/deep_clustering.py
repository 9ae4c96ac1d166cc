"""The base of every deep clustering model: the joint reconstruction + KL training step."""

import keras
from keras import ops

from keras_dsc.layers.clustering import ClusteringLayer
from keras_dsc.losses import clustering_kl_divergence, masked_mean_squared_error


class DeepClusteringModel(keras.Model):
    """An encoder, a `ClusteringLayer` on its latent vectors, and an optional decoder.

    Subclasses create their layers, implement `encode` (and `decode` when they reconstruct),
    then call `self.build_assignment_model()` at the end of `__init__`. This class owns what
    is common: the loss (masked reconstruction MSE + `gamma` * KL(P || Q), the target P given
    as `y`; without `y` only the reconstruction counts), the `reconstruction_loss` and
    `clustering_loss` metrics, the TensorFlow `train_step`/`test_step` under one
    `tf.GradientTape`, and `assignment_model`, the encoder and clustering head alone for fast
    prediction. The loss maths is in `keras.ops` in `compute_loss`/`compute_metrics`, so other
    backends (JAX) train the same model with Keras' own steps.

    Args:
        input_shape: tuple `(time, lat, lon, variables)`, the shape of one window.
        n_clusters: int, the number of clusters.
        alpha: float, degrees of freedom of the Student's t kernel. Defaults to `1.0`.
        gamma: float, weight of the clustering loss. Defaults to `0.1`.
        latitude_weights: optional sequence of one weight per latitude of the window (for
            example cos(latitude), the area of a grid row on a regular grid): the
            reconstruction error is then a weighted mean. Defaults to `None` (unweighted).
        **kwargs: other keyword arguments of `keras.Model`.

    Call arguments:
        inputs: a 5-D tensor `(batch, time, lat, lon, variables)`, NaN where missing.
        training: Python boolean, whether the call is in training mode.

    Output shape:
        A dict: `"embedding"` `(batch, latent_dim)`, `"probabilities"` `(batch, n_clusters)`
        and, for models with a decoder, `"reconstruction"` (the input's shape).
    """

    def __init__(self, input_shape, n_clusters, alpha=1.0, gamma=0.1, latitude_weights=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.window_shape = tuple(int(n) for n in input_shape)
        if len(self.window_shape) != 4:
            raise ValueError(
                f"input_shape must be (time, lat, lon, variables), got {tuple(input_shape)}"
            )
        self.n_clusters = int(n_clusters)
        self.alpha = float(alpha)
        self.gamma = float(gamma)
        self.latitude_weights = (None if latitude_weights is None
                                 else tuple(float(w) for w in latitude_weights))
        if self.latitude_weights is not None and len(self.latitude_weights) != \
                self.window_shape[1]:
            raise ValueError(f"latitude_weights: {len(self.latitude_weights)} weights for "
                             f"{self.window_shape[1]} latitudes")
        # The soft assignments and the losses stay float32 under a mixed precision policy.
        self.clustering = ClusteringLayer(self.n_clusters, alpha=self.alpha, name="clustering",
                                          dtype="float32")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.clustering_tracker = keras.metrics.Mean(name="clustering_loss")

    @staticmethod
    def fill_missing(inputs):
        """NaN -> 0: what the network sees at missing points (they never count in the loss)."""
        return ops.where(ops.isnan(inputs), ops.zeros_like(inputs), inputs)

    def encode(self, inputs, training=None):
        """Returns `(embedding, state)`; `state` is passed on to `decode` (skips, say)."""
        raise NotImplementedError

    def decode(self, embedding, state, training=None):
        """Returns the reconstruction, or `None` for an encoder-only model."""
        return None

    def build_assignment_model(self):
        """Builds `assignment_model`: window -> {"embedding", "probabilities"}, no decoder."""
        inputs = keras.Input(shape=self.window_shape)
        embedding, _ = self.encode(inputs)
        self.assignment_model = keras.Model(
            inputs,
            {"embedding": embedding, "probabilities": self.clustering(embedding)},
            name="assignment",
        )

    def call(self, inputs, training=None):
        embedding, state = self.encode(inputs, training=training)
        outputs = {"embedding": embedding, "probabilities": self.clustering(embedding)}
        reconstruction = self.decode(embedding, state, training=training)
        if reconstruction is not None:
            outputs["reconstruction"] = reconstruction
        return outputs

    def _loss_terms(self, x, y, y_pred):
        if "reconstruction" in y_pred:
            weights = None
            if self.latitude_weights is not None:  # the area of each grid row
                weights = ops.reshape(ops.convert_to_tensor(self.latitude_weights, "float32"),
                                      (1, 1, -1, 1, 1))
            reconstruction = masked_mean_squared_error(
                x, ops.cast(y_pred["reconstruction"], "float32"), weights)
        else:
            reconstruction = ops.zeros((), dtype=y_pred["probabilities"].dtype)
        if y is None:
            clustering = ops.zeros_like(reconstruction)
        else:
            clustering = clustering_kl_divergence(y, y_pred["probabilities"])
        return reconstruction, clustering

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Masked reconstruction MSE plus `gamma` times KL(P || Q), with `P` given as `y`."""
        reconstruction, clustering = self._loss_terms(x, y, y_pred)
        return reconstruction + self.gamma * clustering

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        reconstruction, clustering = self._loss_terms(x, y, y_pred)
        self.reconstruction_tracker.update_state(reconstruction)
        self.clustering_tracker.update_state(clustering)
        return self.get_metrics_result()

    def _tensorflow_step(self, data, training):
        import tensorflow as tf

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=training)
            loss = self.compute_loss(x, y, y_pred, sample_weight, training=training)
            # A hand-written loss is a per-replica mean: scale it like keras.losses do.
            replica_loss = loss / tf.distribute.get_strategy().num_replicas_in_sync
        if training:
            # A variable the loss does not reach gets a zero gradient, not None: a window of
            # one time step never uses the ConvLSTM's recurrent kernels (h_0 = 0), whose
            # gradient is zero there with the stock layer and under JAX; None made Keras warn
            # "Gradients do not exist ... did you forget to provide a `loss`" on every run.
            gradients = tape.gradient(
                self.optimizer.scale_loss(replica_loss), self.trainable_variables
            )
            gradients = [
                tf.zeros(variable.shape, variable.dtype) if gradient is None else gradient
                for variable, gradient in zip(self.trainable_variables, gradients)
            ]
            self.optimizer.apply(gradients, self.trainable_variables)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
        logs = self.compute_metrics(x, y, y_pred, sample_weight)
        if across_workers():
            # Keras 3 reduces the replicas' logs of a multi-worker strategy with
            # `strategy.reduce("MEAN", value, axis=0)`, which fails on a scalar (its
            # "Invalid reduction dimension 0 for input with 0 dimensions"): give it shape (1,).
            logs = {name: tf.reshape(value, (1,)) for name, value in logs.items()}
        return logs

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3's TensorFlow trainer builds from the first batch, averaged across the
        # replicas in ONE `strategy.reduce`, which a multi-worker strategy refuses for a tuple
        # `(x, P)` (and, when the replicas' parts of a last batch differ in size, for any
        # batch); only the shapes matter, so each worker builds from its own part.
        if iterator is not None and across_workers():
            import tensorflow as tf

            strategy = tf.distribute.get_strategy()
            for _, _, batches in iterator:
                data_batch = keras.tree.map_structure(
                    lambda value: strategy.experimental_local_results(value)[0], next(batches))
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def train_step(self, *args):
        if keras.backend.backend() != "tensorflow":
            return super().train_step(*args)
        return self._tensorflow_step(args[0], training=True)

    def test_step(self, *args):
        if keras.backend.backend() != "tensorflow":
            return super().test_step(*args)
        return self._tensorflow_step(args[0], training=False)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "input_shape": self.window_shape,
                "n_clusters": self.n_clusters,
                "alpha": self.alpha,
                "gamma": self.gamma,
                "latitude_weights": self.latitude_weights,
            }
        )
        return config


def across_workers():
    """Whether code runs under a TensorFlow strategy that spans several workers (what the
    train step's multi-worker workarounds, and `keras_dsc.training.workers`, depend on)."""
    import sys

    if "tensorflow" not in sys.modules:
        return False
    import tensorflow as tf

    extended = tf.distribute.get_strategy().extended
    return bool(getattr(extended, "_in_multi_worker_mode", lambda: False)())
