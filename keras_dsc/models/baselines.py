"""The baselines of the DSC paper's comparison, as `DeepClusteringModel`s.

Every model here trains with `keras_dsc.train_dsc` and the same loss as `keras_dsc.DSC` (masked
reconstruction MSE + `gamma` * KL(P || Q)); the encoder-only models (`CNNEncoder`,
`CNNLSTMEncoder`) have no reconstruction, so only the clustering loss trains them and
`train_dsc` skips their pre-training. All take windows `(batch, time, lat, lon, variables)`
with NaN where missing, any grid size and any window length (1 included), and save and reload
as `.keras` files without `custom_objects`.

- `DEC`: a dense autoencoder on the flattened window (Xie et al. 2016).
- `TemporalAutoencoder`: DTC-style (Madiraju et al. 2018), per-step spatial features, a
  Conv1D and a bidirectional LSTM over time.
- `CNNEncoder`, `CNNAutoencoder`, `CNNLSTMEncoder`: the DSC paper's ablation variants.
- `PublishedDSC`: the DSC paper's own network (CNN-LSTM autoencoder), as its notebooks built it.
"""

import keras
from keras import ops

from keras_dsc.models.deep_clustering import DeepClusteringModel


def _padding(size, factor):
    return -size % factor


class _SpatialModel(DeepClusteringModel):
    """Pads the grid to a multiple of `2 ** depth`; decoders crop back (an internal helper)."""

    def _setup_grid(self, depth):
        _, lat, lon, _ = self.window_shape
        factor = 2**depth
        self._pad = (_padding(lat, factor), _padding(lon, factor))
        self._code_grid = ((lat + self._pad[0]) // factor, (lon + self._pad[1]) // factor)

    def _padded(self, inputs):
        x = self.fill_missing(inputs)
        return ops.pad(x, [(0, 0), (0, 0), (0, self._pad[0]), (0, self._pad[1]), (0, 0)])

    def _cropped(self, x):
        return x[:, :, : self.window_shape[1], : self.window_shape[2], :]


def _conv_stack(filters, activation, prefix, kernel_size=3):
    """Per-time-step Conv2D + 2x2 max pooling per entry of `filters` (TimeDistributed)."""
    layers = []
    for i, f in enumerate(filters):
        layers.append(keras.layers.TimeDistributed(
            keras.layers.Conv2D(f, kernel_size, padding="same", activation=activation),
            name=f"{prefix}_conv_{i}"))
        layers.append(keras.layers.TimeDistributed(
            keras.layers.MaxPooling2D(2), name=f"{prefix}_pool_{i}"))
    return layers


def _upconv_stack(filters, activation, prefix, kernel_size=3):
    """Per-time-step 2x upsampling + Conv2D per entry of `filters` (TimeDistributed)."""
    layers = []
    for i, f in enumerate(filters):
        layers.append(keras.layers.TimeDistributed(
            keras.layers.UpSampling2D(2), name=f"{prefix}_upsample_{i}"))
        layers.append(keras.layers.TimeDistributed(
            keras.layers.Conv2D(f, kernel_size, padding="same", activation=activation),
            name=f"{prefix}_conv_{i}"))
    return layers


def _apply(layers, x, training=None):
    for layer in layers:
        x = layer(x, training=training)
    return x


@keras.saving.register_keras_serializable(package="keras_dsc")
class DEC(DeepClusteringModel):
    """Deep Embedded Clustering: a dense autoencoder on the flattened window + clustering head.

    The window is flattened to one vector (time order and grid ignored), encoded by dense ReLU
    layers `hidden` to a linear latent vector, and decoded by the mirror image. Xie et al.'s
    sizes are `hidden=(500, 500, 2000)`, `latent_dim=10`.

    Args:
        input_shape: tuple `(time, lat, lon, variables)`.
        n_clusters: int, the number of clusters.
        hidden: tuple of ints, the encoder's dense layer sizes. Defaults to `(500, 500, 2000)`.
        latent_dim: int, the size of the latent vector. Defaults to `10`.
        alpha: float, Student's t degrees of freedom. Defaults to `1.0`.
        gamma: float, weight of the clustering loss. Defaults to `0.1`.
        **kwargs: other keyword arguments of `keras.Model`.

    Call arguments:
        inputs: `(batch, time, lat, lon, variables)`, NaN where missing.
        training: Python boolean.

    Output shape:
        A dict: `"embedding"` `(batch, latent_dim)`, `"probabilities"` `(batch, n_clusters)`,
        `"reconstruction"` (the input's shape).

    Example:

    >>> import numpy as np
    >>> model = DEC(input_shape=(2, 9, 11, 3), n_clusters=3, hidden=(16, 8), latent_dim=4)
    >>> tuple(model(np.zeros((5, 2, 9, 11, 3), "float32"))["probabilities"].shape)
    (5, 3)
    """

    def __init__(self, input_shape, n_clusters, hidden=(500, 500, 2000), latent_dim=10,
                 alpha=1.0, gamma=0.1, **kwargs):
        super().__init__(input_shape, n_clusters, alpha=alpha, gamma=gamma, **kwargs)
        self.hidden = tuple(int(h) for h in hidden)
        self.latent_dim = int(latent_dim)
        size = 1
        for n in self.window_shape:
            size *= n
        self.flatten = keras.layers.Flatten(name="flatten")
        self.encoder_layers = [keras.layers.Dense(h, activation="relu", name=f"encoder_{i}")
                               for i, h in enumerate(self.hidden)]
        self.to_latent = keras.layers.Dense(self.latent_dim, name="embedding")
        self.decoder_layers = [keras.layers.Dense(h, activation="relu", name=f"decoder_{i}")
                               for i, h in reversed(list(enumerate(self.hidden)))]
        self.to_window = keras.layers.Dense(size, name="to_window")
        self.reshape = keras.layers.Reshape(self.window_shape, name="to_window_shape")
        self.build_assignment_model()

    def encode(self, inputs, training=None):
        x = self.flatten(self.fill_missing(inputs))
        return self.to_latent(_apply(self.encoder_layers, x, training)), None

    def decode(self, embedding, state, training=None):
        x = _apply(self.decoder_layers, embedding, training)
        return self.reshape(self.to_window(x))

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden, "latent_dim": self.latent_dim}


@keras.saving.register_keras_serializable(package="keras_dsc")
class TemporalAutoencoder(DeepClusteringModel):
    """A DTC-style temporal autoencoder: per-step features, Conv1D and BiLSTM over time.

    Each time step's grid goes through a small Conv2D (stride 2) and a dense layer to
    `step_features` values; a Conv1D (`same` padding, so a window of 1 works) and a
    bidirectional LSTM read the resulting sequence and a dense layer gives the latent vector.
    The decoder repeats the latent vector over time, runs an LSTM and maps every step back to
    the grid with a dense layer. Madiraju et al. (2018) cluster with a temporal similarity on a
    latent sequence; here the latent is one vector and the head is the shared Student's t one.

    Args:
        input_shape: tuple `(time, lat, lon, variables)`.
        n_clusters: int, the number of clusters.
        conv_filters: int, filters of the per-step Conv2D and of the Conv1D. Defaults to `16`.
        step_features: int, features per time step. Defaults to `64`.
        lstm_units: int, units of each LSTM direction and of the decoder LSTM. Defaults to `32`.
        kernel_size: int, the Conv1D's kernel length in time steps. Defaults to `3`.
        latent_dim: int, the size of the latent vector. Defaults to `16`.
        alpha: float, Student's t degrees of freedom. Defaults to `1.0`.
        gamma: float, weight of the clustering loss. Defaults to `0.1`.
        **kwargs: other keyword arguments of `keras.Model`.

    Call arguments:
        inputs: `(batch, time, lat, lon, variables)`, NaN where missing.
        training: Python boolean.

    Output shape:
        A dict: `"embedding"` `(batch, latent_dim)`, `"probabilities"` `(batch, n_clusters)`,
        `"reconstruction"` (the input's shape).

    Example:

    >>> import numpy as np
    >>> model = TemporalAutoencoder(input_shape=(4, 9, 11, 3), n_clusters=3, latent_dim=4)
    >>> tuple(model(np.zeros((5, 4, 9, 11, 3), "float32"))["reconstruction"].shape)
    (5, 4, 9, 11, 3)
    """

    def __init__(self, input_shape, n_clusters, conv_filters=16, step_features=64, lstm_units=32,
                 kernel_size=3, latent_dim=16, alpha=1.0, gamma=0.1, **kwargs):
        super().__init__(input_shape, n_clusters, alpha=alpha, gamma=gamma, **kwargs)
        self.conv_filters = int(conv_filters)
        self.step_features = int(step_features)
        self.lstm_units = int(lstm_units)
        self.kernel_size = int(kernel_size)
        self.latent_dim = int(latent_dim)
        time, lat, lon, variables = self.window_shape
        self.spatial = [
            keras.layers.TimeDistributed(keras.layers.Conv2D(
                self.conv_filters, 3, strides=2, padding="same", activation="relu"),
                name="step_conv"),
            keras.layers.TimeDistributed(keras.layers.Flatten(), name="step_flatten"),
            keras.layers.Dense(self.step_features, activation="relu", name="step_features"),
        ]
        self.temporal_conv = keras.layers.Conv1D(
            self.conv_filters, self.kernel_size, padding="same", name="temporal_conv")
        self.activation = keras.layers.LeakyReLU(name="temporal_activation")
        self.bilstm = keras.layers.Bidirectional(keras.layers.LSTM(self.lstm_units), name="bilstm")
        self.to_latent = keras.layers.Dense(self.latent_dim, name="embedding")
        self.from_latent = keras.layers.Dense(self.lstm_units, activation="tanh",
                                              name="from_embedding")
        self.repeat = keras.layers.RepeatVector(time, name="repeat_in_time")
        self.decoder_lstm = keras.layers.LSTM(self.lstm_units, return_sequences=True,
                                              name="decoder_lstm")
        self.to_grid = keras.layers.Dense(lat * lon * variables, name="to_grid")
        self.reshape = keras.layers.Reshape(self.window_shape, name="to_window_shape")
        self.build_assignment_model()

    def encode(self, inputs, training=None):
        x = _apply(self.spatial, self.fill_missing(inputs), training)
        x = self.activation(self.temporal_conv(x))
        return self.to_latent(self.bilstm(x, training=training)), None

    def decode(self, embedding, state, training=None):
        x = self.repeat(self.from_latent(embedding))
        return self.reshape(self.to_grid(self.decoder_lstm(x, training=training)))

    def get_config(self):
        return {**super().get_config(), "conv_filters": self.conv_filters,
                "step_features": self.step_features, "lstm_units": self.lstm_units,
                "kernel_size": self.kernel_size, "latent_dim": self.latent_dim}


@keras.saving.register_keras_serializable(package="keras_dsc")
class CNNEncoder(_SpatialModel):
    """The paper's "CNN encoder + clustering": per-step Conv2D encoder, no decoder.

    Each time step goes through Conv2D + 2x2 max pooling per entry of `filters`
    (TimeDistributed); all steps' feature maps are flattened together into a dense latent
    vector. There is no reconstruction: only the clustering loss trains the encoder (from the
    k-means centres of its untrained embedding). The grid is zero-padded to a multiple of
    `2 ** len(filters)`.

    Args:
        input_shape: tuple `(time, lat, lon, variables)`.
        n_clusters: int, the number of clusters.
        filters: tuple of ints, Conv2D filters per level. Defaults to `(16, 32)`.
        latent_dim: int, the size of the latent vector. Defaults to `16`.
        alpha: float, Student's t degrees of freedom. Defaults to `1.0`.
        gamma: float, weight of the clustering loss. Defaults to `0.1`.
        **kwargs: other keyword arguments of `keras.Model`.

    Call arguments:
        inputs: `(batch, time, lat, lon, variables)`, NaN where missing.
        training: Python boolean.

    Output shape:
        A dict: `"embedding"` `(batch, latent_dim)` and `"probabilities"` `(batch, n_clusters)`.

    Example:

    >>> import numpy as np
    >>> model = CNNEncoder(input_shape=(2, 9, 11, 3), n_clusters=3, filters=(4,), latent_dim=4)
    >>> sorted(model(np.zeros((5, 2, 9, 11, 3), "float32")))
    ['embedding', 'probabilities']
    """

    def __init__(self, input_shape, n_clusters, filters=(16, 32), latent_dim=16, alpha=1.0,
                 gamma=0.1, **kwargs):
        super().__init__(input_shape, n_clusters, alpha=alpha, gamma=gamma, **kwargs)
        self.filters = tuple(int(f) for f in filters)
        self.latent_dim = int(latent_dim)
        self._setup_grid(len(self.filters))
        self.encoder_layers = _conv_stack(self.filters, "relu", "encoder")
        self.flatten = keras.layers.Flatten(name="flatten")
        self.to_latent = keras.layers.Dense(self.latent_dim, name="embedding")
        self._build_decoder()
        self.build_assignment_model()

    def _build_decoder(self):
        """No decoder: `CNNAutoencoder` overrides this."""

    def encode(self, inputs, training=None):
        x = _apply(self.encoder_layers, self._padded(inputs), training)
        return self.to_latent(self.flatten(x)), None

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "latent_dim": self.latent_dim}


@keras.saving.register_keras_serializable(package="keras_dsc")
class CNNAutoencoder(CNNEncoder):
    """The paper's "CNN autoencoder + clustering": `CNNEncoder` plus a mirrored Conv decoder.

    The decoder maps the latent vector to the coarsest feature maps of every time step, then
    2x upsampling + Conv2D per level (TimeDistributed) and a 1x1 Conv2D to the variables; the
    reconstruction is cropped back to the grid.

    Args:
        input_shape: tuple `(time, lat, lon, variables)`.
        n_clusters: int, the number of clusters.
        filters: tuple of ints, Conv2D filters per level. Defaults to `(16, 32)`.
        latent_dim: int, the size of the latent vector. Defaults to `16`.
        alpha: float, Student's t degrees of freedom. Defaults to `1.0`.
        gamma: float, weight of the clustering loss. Defaults to `0.1`.
        **kwargs: other keyword arguments of `keras.Model`.

    Call arguments:
        inputs: `(batch, time, lat, lon, variables)`, NaN where missing.
        training: Python boolean.

    Output shape:
        A dict: `"embedding"`, `"probabilities"` and `"reconstruction"` (the input's shape).

    Example:

    >>> import numpy as np
    >>> model = CNNAutoencoder(input_shape=(2, 9, 11, 3), n_clusters=3, filters=(4,))
    >>> tuple(model(np.zeros((5, 2, 9, 11, 3), "float32"))["reconstruction"].shape)
    (5, 2, 9, 11, 3)
    """

    def _build_decoder(self):
        time, _, _, variables = self.window_shape
        code_shape = (time, *self._code_grid, self.filters[-1])
        self.from_latent = keras.layers.Dense(
            time * self._code_grid[0] * self._code_grid[1] * self.filters[-1],
            activation="relu", name="from_embedding")
        self.to_code_map = keras.layers.Reshape(code_shape, name="to_code_map")
        self.decoder_layers = _upconv_stack(tuple(reversed(self.filters)), "relu", "decoder")
        self.to_variables = keras.layers.TimeDistributed(
            keras.layers.Conv2D(variables, 1), name="to_variables")

    def decode(self, embedding, state, training=None):
        x = self.to_code_map(self.from_latent(embedding))
        return self._cropped(self.to_variables(_apply(self.decoder_layers, x, training)))


@keras.saving.register_keras_serializable(package="keras_dsc")
class CNNLSTMEncoder(_SpatialModel):
    """The paper's "CNN-LSTM encoder + clustering": per-step Conv2D, an LSTM over time.

    Like `CNNEncoder`, but each step's feature maps are flattened separately and an LSTM reads
    them in time order; its final state goes through a dense layer to the latent vector. No
    decoder: only the clustering loss trains it.

    Args:
        input_shape: tuple `(time, lat, lon, variables)`.
        n_clusters: int, the number of clusters.
        filters: tuple of ints, Conv2D filters per level. Defaults to `(16, 32)`.
        lstm_units: int, the LSTM's units. Defaults to `64`.
        latent_dim: int, the size of the latent vector. Defaults to `16`.
        alpha: float, Student's t degrees of freedom. Defaults to `1.0`.
        gamma: float, weight of the clustering loss. Defaults to `0.1`.
        **kwargs: other keyword arguments of `keras.Model`.

    Call arguments:
        inputs: `(batch, time, lat, lon, variables)`, NaN where missing.
        training: Python boolean.

    Output shape:
        A dict: `"embedding"` `(batch, latent_dim)` and `"probabilities"` `(batch, n_clusters)`.

    Example:

    >>> import numpy as np
    >>> model = CNNLSTMEncoder(input_shape=(3, 9, 11, 2), n_clusters=3, filters=(4,))
    >>> tuple(model(np.zeros((5, 3, 9, 11, 2), "float32"))["embedding"].shape)
    (5, 16)
    """

    def __init__(self, input_shape, n_clusters, filters=(16, 32), lstm_units=64, latent_dim=16,
                 alpha=1.0, gamma=0.1, **kwargs):
        super().__init__(input_shape, n_clusters, alpha=alpha, gamma=gamma, **kwargs)
        self.filters = tuple(int(f) for f in filters)
        self.lstm_units = int(lstm_units)
        self.latent_dim = int(latent_dim)
        self._setup_grid(len(self.filters))
        self.encoder_layers = _conv_stack(self.filters, "relu", "encoder")
        self.step_flatten = keras.layers.TimeDistributed(keras.layers.Flatten(), name="flatten")
        self.lstm = keras.layers.LSTM(self.lstm_units, name="lstm")
        self.to_latent = keras.layers.Dense(self.latent_dim, name="embedding")
        self.build_assignment_model()

    def encode(self, inputs, training=None):
        x = _apply(self.encoder_layers, self._padded(inputs), training)
        x = self.lstm(self.step_flatten(x), training=training)
        return self.to_latent(x), None

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "lstm_units": self.lstm_units,
                "latent_dim": self.latent_dim}


@keras.saving.register_keras_serializable(package="keras_dsc")
class PublishedDSC(_SpatialModel):
    """DSC as its authors published it: a CNN-LSTM autoencoder with a clustering head.

    The network of Faruque et al. (2023) as their notebooks build it (see PAPER.md), with our
    layers: per-step Conv2D 64, 64, pool, 128, pool, 256, pool, 512, pool (3x3, tanh), flatten;
    LSTM 512 (sequences) -> LSTM 512, both with input dropout 0.1; Dense(256, sigmoid) as the
    latent vector. Decoder: Dense to the coarsest grid x 512 (tanh; the paper does not state this
    activation) -> reshape -> 4 x (2x upsampling + Conv2D 512/256/128/64, tanh) -> Conv2D to the
    variables (3x3, tanh). `width` scales every filter, unit and the latent size (`1.0`: the
    paper's). The grid is zero-padded to a multiple of 16 (41 -> 48, as the paper padded), and
    the reconstruction is cropped back; missing points never count in the loss (the paper filled
    them with the array's mean). The paper used sequence length 1; a longer window is
    reconstructed step by step.

    Args:
        input_shape: tuple `(time, lat, lon, variables)`; `(1, 41, 41, 7)` in the paper.
        n_clusters: int, the number of clusters (7 in the paper).
        width: float, scale of all filters, units and the latent size. Defaults to `1.0`.
        alpha: float, Student's t degrees of freedom. Defaults to `1.0`.
        gamma: float, weight of the clustering loss (the paper's weights are 1:1). Defaults
            to `1.0`.
        **kwargs: other keyword arguments of `keras.Model`.

    Call arguments:
        inputs: `(batch, time, lat, lon, variables)`, NaN where missing.
        training: Python boolean (LSTM dropout).

    Output shape:
        A dict: `"embedding"` `(batch, 256 * width)`, `"probabilities"` `(batch, n_clusters)`,
        `"reconstruction"` (the input's shape).

    Example:

    >>> import numpy as np
    >>> model = PublishedDSC(input_shape=(1, 41, 41, 7), n_clusters=7, width=0.125)
    >>> tuple(model(np.zeros((2, 1, 41, 41, 7), "float32"))["embedding"].shape)
    (2, 32)
    """

    ENCODER_FILTERS = (64, 64, 128, 256, 512)  # the first two share the first pooling level
    DECODER_FILTERS = (512, 256, 128, 64)
    LSTM_UNITS = 512
    LATENT_DIM = 256

    def __init__(self, input_shape, n_clusters, width=1.0, alpha=1.0, gamma=1.0, **kwargs):
        super().__init__(input_shape, n_clusters, alpha=alpha, gamma=gamma, **kwargs)
        self.width = float(width)
        if self.width <= 0:
            raise ValueError(f"width must be positive, got {width}")

        def scaled(n):
            return max(1, round(n * self.width))

        time, _, _, variables = self.window_shape
        self._setup_grid(4)
        encoder = [scaled(f) for f in self.ENCODER_FILTERS]
        conv = dict(kernel_size=3, padding="same", activation="tanh")
        self.encoder_layers = [keras.layers.TimeDistributed(
            keras.layers.Conv2D(encoder[0], **conv), name="encoder_conv_0")]
        for i, f in enumerate(encoder[1:]):
            self.encoder_layers += [
                keras.layers.TimeDistributed(keras.layers.Conv2D(f, **conv),
                                             name=f"encoder_conv_{i + 1}"),
                keras.layers.TimeDistributed(keras.layers.MaxPooling2D(2),
                                             name=f"encoder_pool_{i}"),
            ]
        self.step_flatten = keras.layers.TimeDistributed(keras.layers.Flatten(), name="flatten")
        units = scaled(self.LSTM_UNITS)
        self.lstm_1 = keras.layers.LSTM(units, return_sequences=True, dropout=0.1, name="lstm_1")
        self.lstm_2 = keras.layers.LSTM(units, dropout=0.1, name="lstm_2")
        self.to_latent = keras.layers.Dense(scaled(self.LATENT_DIM), activation="sigmoid",
                                            name="embedding")
        code_channels = encoder[-1]
        code_lat, code_lon = self._code_grid
        self.from_latent = keras.layers.Dense(time * code_lat * code_lon * code_channels,
                                              activation="tanh", name="from_embedding")
        self.to_code_map = keras.layers.Reshape((time, code_lat, code_lon, code_channels),
                                                name="to_code_map")
        self.decoder_layers = _upconv_stack([scaled(f) for f in self.DECODER_FILTERS], "tanh",
                                            "decoder")
        self.to_variables = keras.layers.TimeDistributed(
            keras.layers.Conv2D(variables, **conv), name="to_variables")
        self.build_assignment_model()

    def encode(self, inputs, training=None):
        x = _apply(self.encoder_layers, self._padded(inputs), training)
        x = self.lstm_2(self.lstm_1(self.step_flatten(x), training=training), training=training)
        return self.to_latent(x), None

    def decode(self, embedding, state, training=None):
        x = self.to_code_map(self.from_latent(embedding))
        return self._cropped(self.to_variables(_apply(self.decoder_layers, x, training)))

    def get_config(self):
        return {**super().get_config(), "width": self.width}
