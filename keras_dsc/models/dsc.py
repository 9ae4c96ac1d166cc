"""The Deep Spatiotemporal Clustering (DSC) model."""

import keras
from keras import ops

from keras_dsc.layers.conv_lstm import convlstm_class
from keras_dsc.layers.convlstm_blocks import ConvLSTMDecoderBlock, ConvLSTMEncoderBlock
from keras_dsc.models.deep_clustering import DeepClusteringModel


@keras.saving.register_keras_serializable(package="keras_dsc")
class DSC(DeepClusteringModel):
    """Deep Spatiotemporal Clustering: a ConvLSTM2D U-net autoencoder with a clustering head.

    A sample is a window of consecutive time steps of a gridded multivariate field. The encoder
    (`ConvLSTMEncoderBlock`s, then a ConvLSTM2D that reads the whole window and keeps its final
    state, then a dense layer) maps each window to a latent vector; a `ClusteringLayer` turns the
    latent vector into soft cluster assignments `q`; the decoder reconstructs the whole window
    from the latent vector: a dense layer makes one coarse code map per time step and
    `ConvLSTMDecoderBlock`s upsample them back to the grid. The recurrence lives in the encoder,
    which must read the window's evolution into the latent vector; the decoder's blocks are
    per-step convolutions by default (`recurrent_decoder=False`), about half the cost of
    ConvLSTM2D ones, since the per-step code maps already carry the time evolution.

    Training minimises, under one gradient tape, the masked reconstruction error plus
    `gamma * KL(P || Q)`, where the target distribution `P` is passed as `y` (computed over the
    whole data set by `keras_dsc.training.callbacks.TargetDistributionUpdate`). Without `y` (autoencoder
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
        filters: tuple of ints, ConvLSTM2D filters per depth level. Defaults to `(8, 16)`.
        latent_dim: int, the size of the latent vector. Defaults to `16`.
        kernel_size: int, spatial kernel size of every ConvLSTM2D. Defaults to `3`.
        skip: bool, U-net skip connections from the encoder to the decoder. Defaults to `False`:
            skips let the decoder bypass the bottleneck, so the latent vector, which is what gets
            clustered, would no longer have to carry the information.
        recurrent_decoder: bool, ConvLSTM2D (`True`) or per-step Conv2D (`False`) decoder
            blocks. Defaults to `False`.
        per_step_code: bool, the decoder's dense layer makes one code map per time step
            (`True`), or one map repeated over the window (`False`, as keras_dsc did before;
            only a recurrent decoder can then reconstruct change in time). Defaults to `True`.
        convlstm: `"fused"` (`keras_dsc.layers.ConvLSTM2D`) or `"keras"`
            (`keras.layers.ConvLSTM2D`) for every ConvLSTM2D of the model: the same maths and
            weights (a model saved with one loads with the other), the fused one trains
            faster. Defaults to `"fused"`.
        alpha: float, degrees of freedom of the Student's t kernel. Defaults to `1.0`.
        gamma: float, weight of the clustering loss (the paper weighs it 1:1 with the
            reconstruction). Defaults to `1.0`.
        **kwargs: other keyword arguments of `DeepClusteringModel` (`latitude_weights`, the
            area weights of the reconstruction error) and of `keras.Model` (`name`, `dtype`).

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
        filters=(8, 16),
        latent_dim=16,
        kernel_size=3,
        skip=False,
        recurrent_decoder=False,
        per_step_code=True,
        convlstm="fused",
        alpha=1.0,
        gamma=1.0,
        **kwargs,
    ):
        super().__init__(input_shape, n_clusters, alpha=alpha, gamma=gamma, **kwargs)
        self.filters = tuple(int(f) for f in filters)
        self.latent_dim = int(latent_dim)
        self.kernel_size = int(kernel_size)
        self.skip = bool(skip)
        self.recurrent_decoder = bool(recurrent_decoder)
        self.per_step_code = bool(per_step_code)
        self.convlstm = convlstm
        layer_class = convlstm_class(convlstm)
        if not self.filters:
            raise ValueError("filters must name at least one depth level")

        time, lat, lon, variables = self.window_shape
        factor = 2 ** len(self.filters)
        self._padding = (-lat % factor, -lon % factor)
        code_lat, code_lon = (lat + self._padding[0]) // factor, (lon + self._padding[1]) // factor
        code_channels = self.filters[-1]
        self._code_size = code_lat * code_lon * code_channels

        # Sublayers compute in the model's dtype policy (mixed_bfloat16 on accelerators); the
        # latent vector (what k-means clusters) and the reconstruction (what the loss sees)
        # stay float32.
        policy = self.dtype_policy
        self.encoder_blocks = [
            ConvLSTMEncoderBlock(f, kernel_size, convlstm=convlstm, name=f"encoder_block_{i}",
                                 dtype=policy)
            for i, f in enumerate(self.filters)
        ]
        self.bottleneck = layer_class(
            code_channels, kernel_size, padding="same", name="bottleneck", dtype=policy
        )
        self.to_latent = keras.layers.Dense(self.latent_dim, name="embedding", dtype="float32")
        code_steps = time if self.per_step_code else 1
        self.from_latent = keras.layers.Dense(
            code_steps * self._code_size, activation="tanh", name="from_embedding", dtype=policy
        )
        self.to_code_map = keras.layers.Reshape((code_steps, code_lat, code_lon, code_channels),
                                                dtype=policy)
        self.repeat_in_time = keras.layers.UpSampling3D(
            size=(time // code_steps, 1, 1), name="repeat_in_time", dtype=policy)
        self.decoder_blocks = [
            ConvLSTMDecoderBlock(
                f,
                kernel_size,
                recurrent=self.recurrent_decoder,
                convlstm=convlstm,
                name=f"decoder_block_{i}",
                dtype=policy,
            )
            for i, f in reversed(list(enumerate(self.filters)))
        ]
        self.to_variables = keras.layers.Conv3D(variables, 1, name="to_variables",
                                                dtype="float32")

        self.build_assignment_model()

    def encode(self, inputs, training=None):
        x = self.fill_missing(inputs)
        x = ops.pad(x, [(0, 0), (0, 0), (0, self._padding[0]), (0, self._padding[1]), (0, 0)])
        skips = []
        for block in self.encoder_blocks:
            x, features = block(x, training=training)
            skips.append(features)
        code = self.bottleneck(x, training=training)
        return self.to_latent(ops.reshape(code, (-1, self._code_size))), skips

    def decode(self, embedding, skips, training=None):
        x = self.repeat_in_time(self.to_code_map(self.from_latent(embedding)))
        for block, features in zip(self.decoder_blocks, reversed(skips)):
            x = block(x, skip=features if self.skip else None, training=training)
        return self.to_variables(x)[:, :, : self.window_shape[1], : self.window_shape[2], :]

    @classmethod
    def from_config(cls, config):
        # Files written before `per_step_code` existed repeated one code map in time.
        return cls(**{"per_step_code": False, **config})

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "latent_dim": self.latent_dim,
                "kernel_size": self.kernel_size,
                "skip": self.skip,
                "recurrent_decoder": self.recurrent_decoder,
                "per_step_code": self.per_step_code,
                "convlstm": self.convlstm,
            }
        )
        return config
