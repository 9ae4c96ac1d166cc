"""The Deep Spatiotemporal Clustering (DSC) model."""

import keras
from keras import ops

from keras_dsc.layers.clustering import ClusteringLayer
from keras_dsc.layers.convlstm_blocks import ConvLSTMDecoderBlock, ConvLSTMEncoderBlock
from keras_dsc.losses import clustering_kl_divergence, masked_mean_squared_error


@keras.saving.register_keras_serializable(package="keras_dsc")
class DSC(keras.Model):
    """Deep Spatiotemporal Clustering: a ConvLSTM2D U-net autoencoder with a clustering head.

    A sample is a window of consecutive time steps of a gridded multivariate field. The encoder
    (`ConvLSTMEncoderBlock`s, then a ConvLSTM2D that reads the whole window and keeps its final
    state, then a dense layer) maps each window to a latent vector; a `ClusteringLayer` turns the
    latent vector into soft cluster assignments `q`; the decoder (`ConvLSTMDecoderBlock`s)
    reconstructs the whole window from the latent vector.

    Training minimises, under one gradient tape, the masked reconstruction error plus
    `gamma * KL(P || Q)`, where the target distribution `P` is passed as `y` (computed over the
    whole data set by `keras_dsc.callbacks.TargetDistributionUpdate`). Without `y` (autoencoder
    pre-training) only the reconstruction error is minimised. Points that are NaN in the input
    (for example sea surface temperature over land) are filled with 0 before the network sees
    them and never count in the reconstruction error. The grid is zero-padded inside the model
    to a multiple of `2 ** len(filters)` and the reconstruction is cropped back, so any grid
    size and any number of variables work.

    The loss maths lives in `compute_loss` and `compute_metrics` (all `keras.ops`), so the model
    also trains under the JAX backend; on TensorFlow a custom `train_step` runs it under one
    `tf.GradientTape`. `fit` reports `loss`, `reconstruction_loss` and `clustering_loss`.

    Args:
        input_shape: tuple `(time, lat, lon, variables)`, the shape of one window.
        n_clusters: int, the number of clusters.
        filters: tuple of ints, ConvLSTM2D filters per depth level. Defaults to `(16, 32)`.
        latent_dim: int, the size of the latent vector. Defaults to `32`.
        kernel_size: int, spatial kernel size of every ConvLSTM2D. Defaults to `3`.
        skip: bool, U-net skip connections from the encoder to the decoder. Defaults to `False`:
            skips let the decoder bypass the bottleneck, so the latent vector, which is what gets
            clustered, would no longer have to carry the information.
        recurrent_decoder: bool, ConvLSTM2D (`True`) or per-step Conv2D (`False`) decoder
            blocks. Defaults to `True`.
        alpha: float, degrees of freedom of the Student's t kernel. Defaults to `1.0`.
        gamma: float, weight of the clustering loss. Defaults to `0.1`.
        **kwargs: other keyword arguments of `keras.Model` (`name`, ...).

    Call arguments:
        inputs: a 5-D tensor `(batch, time, lat, lon, variables)`, normalised, NaN where missing.
        training: Python boolean, whether the call is in training mode.

    Input shape:
        `(batch, time, lat, lon, variables)`.

    Output shape:
        A dict: `"reconstruction"` `(batch, time, lat, lon, variables)`, `"embedding"`
        `(batch, latent_dim)` and `"probabilities"` `(batch, n_clusters)`.

    Example:

    >>> import numpy as np
    >>> from keras_dsc import DSC
    >>> model = DSC(input_shape=(4, 9, 11, 2), n_clusters=3, filters=(4,), latent_dim=8)
    >>> model.compile(optimizer="adam")
    >>> x = np.random.default_rng(0).normal(size=(6, 4, 9, 11, 2)).astype("float32")
    >>> model.fit(x, epochs=1, verbose=0).history["reconstruction_loss"][0] > 0
    True
    """

    def __init__(
        self,
        input_shape,
        n_clusters,
        filters=(16, 32),
        latent_dim=32,
        kernel_size=3,
        skip=False,
        recurrent_decoder=True,
        alpha=1.0,
        gamma=0.1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.window_shape = tuple(int(n) for n in input_shape)
        if len(self.window_shape) != 4:
            raise ValueError(
                f"input_shape must be (time, lat, lon, variables), got {tuple(input_shape)}"
            )
        self.n_clusters = int(n_clusters)
        self.filters = tuple(int(f) for f in filters)
        self.latent_dim = int(latent_dim)
        self.kernel_size = int(kernel_size)
        self.skip = bool(skip)
        self.recurrent_decoder = bool(recurrent_decoder)
        self.alpha = float(alpha)
        self.gamma = float(gamma)
        if not self.filters:
            raise ValueError("filters must name at least one depth level")

        time, lat, lon, variables = self.window_shape
        factor = 2 ** len(self.filters)
        self._padding = (-lat % factor, -lon % factor)
        code_lat, code_lon = (lat + self._padding[0]) // factor, (lon + self._padding[1]) // factor
        code_channels = self.filters[-1]
        self._code_size = code_lat * code_lon * code_channels

        self.encoder_blocks = [
            ConvLSTMEncoderBlock(f, kernel_size, name=f"encoder_block_{i}")
            for i, f in enumerate(self.filters)
        ]
        self.bottleneck = keras.layers.ConvLSTM2D(
            code_channels, kernel_size, padding="same", name="bottleneck"
        )
        self.to_latent = keras.layers.Dense(self.latent_dim, name="embedding")
        self.clustering = ClusteringLayer(self.n_clusters, alpha=self.alpha, name="clustering")
        self.from_latent = keras.layers.Dense(
            self._code_size, activation="tanh", name="from_embedding"
        )
        self.to_code_map = keras.layers.Reshape((1, code_lat, code_lon, code_channels))
        self.repeat_in_time = keras.layers.UpSampling3D(size=(time, 1, 1), name="repeat_in_time")
        self.decoder_blocks = [
            ConvLSTMDecoderBlock(
                f, kernel_size, recurrent=self.recurrent_decoder, name=f"decoder_block_{i}"
            )
            for i, f in reversed(list(enumerate(self.filters)))
        ]
        self.to_variables = keras.layers.Conv3D(variables, 1, name="to_variables")

        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.clustering_tracker = keras.metrics.Mean(name="clustering_loss")

        inputs = keras.Input(shape=self.window_shape)
        embedding, _ = self._encode(inputs)
        probabilities = self.clustering(embedding)
        self.assignment_model = keras.Model(
            inputs, {"embedding": embedding, "probabilities": probabilities}, name="assignment"
        )
        """Encoder and clustering head only: `assignment_model.predict(x)` gives `embedding`
        and `probabilities` without running the decoder."""

    def _encode(self, inputs, training=None):
        x = ops.where(ops.isnan(inputs), ops.zeros_like(inputs), inputs)
        x = ops.pad(x, [(0, 0), (0, 0), (0, self._padding[0]), (0, self._padding[1]), (0, 0)])
        skips = []
        for block in self.encoder_blocks:
            x, features = block(x, training=training)
            skips.append(features)
        code = self.bottleneck(x, training=training)
        return self.to_latent(ops.reshape(code, (-1, self._code_size))), skips

    def _decode(self, embedding, skips, training=None):
        x = self.repeat_in_time(self.to_code_map(self.from_latent(embedding)))
        for block, features in zip(self.decoder_blocks, reversed(skips)):
            x = block(x, skip=features if self.skip else None, training=training)
        return self.to_variables(x)[:, :, : self.window_shape[1], : self.window_shape[2], :]

    def call(self, inputs, training=None):
        embedding, skips = self._encode(inputs, training=training)
        return {
            "reconstruction": self._decode(embedding, skips, training=training),
            "embedding": embedding,
            "probabilities": self.clustering(embedding),
        }

    def _loss_terms(self, x, y, y_pred):
        reconstruction = masked_mean_squared_error(x, y_pred["reconstruction"])
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
            gradients = tape.gradient(
                self.optimizer.scale_loss(replica_loss), self.trainable_variables
            )
            self.optimizer.apply(gradients, self.trainable_variables)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
        return self.compute_metrics(x, y, y_pred, sample_weight)

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
                "filters": self.filters,
                "latent_dim": self.latent_dim,
                "kernel_size": self.kernel_size,
                "skip": self.skip,
                "recurrent_decoder": self.recurrent_decoder,
                "alpha": self.alpha,
                "gamma": self.gamma,
            }
        )
        return config
