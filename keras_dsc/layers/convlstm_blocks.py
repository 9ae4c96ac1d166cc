"""ConvLSTM2D U-net blocks for 5-D climate windows `(batch, time, lat, lon, channels)`."""

import keras
from keras import ops

from keras_dsc.layers.conv_lstm import convlstm_class


@keras.saving.register_keras_serializable(package="keras_dsc")
class ConvLSTMEncoderBlock(keras.layers.Layer):
    """A ConvLSTM2D over the time axis followed by spatial downsampling.

    The recurrent convolution sees the whole window in time order, so the block learns how the
    fields evolve; max pooling of size `(1, pool_size, pool_size)` then halves latitude and
    longitude and keeps every time step. The block also returns its full-resolution features,
    which a `ConvLSTMDecoderBlock` can use as a U-net skip connection.

    Args:
        filters: int, the number of ConvLSTM2D filters.
        kernel_size: int, the spatial kernel size. Defaults to `3`.
        pool_size: int, the spatial downsampling factor. Defaults to `2`.
        convlstm: `"fused"` (`keras_dsc.layers.ConvLSTM2D`) or `"keras"`
            (`keras.layers.ConvLSTM2D`): the same maths and weights, so a model saved with
            one loads with the other; the fused one trains faster. Defaults to `"fused"`.
        **kwargs: other keyword arguments of `keras.layers.Layer`.

    Call arguments:
        inputs: a 5-D tensor `(batch, time, lat, lon, channels)`; `lat` and `lon` must be
            divisible by `pool_size` (the DSC model pads its input to make them so).
        training: Python boolean, whether the call is in training mode.

    Input shape:
        `(batch, time, lat, lon, channels)`.

    Output shape:
        A tuple `(downsampled, features)`: `downsampled` of shape
        `(batch, time, lat // pool_size, lon // pool_size, filters)` and `features` of shape
        `(batch, time, lat, lon, filters)`.

    Example:

    >>> import numpy as np
    >>> from keras_dsc import ConvLSTMEncoderBlock
    >>> down, features = ConvLSTMEncoderBlock(8)(np.zeros((2, 4, 16, 16, 3), "float32"))
    >>> tuple(down.shape), tuple(features.shape)
    ((2, 4, 8, 8, 8), (2, 4, 16, 16, 8))
    """

    def __init__(self, filters, kernel_size=3, pool_size=2, convlstm="fused", **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.pool_size = int(pool_size)
        self.convlstm_implementation = convlstm
        self.convlstm = convlstm_class(convlstm)(
            self.filters,
            self.kernel_size,
            padding="same",
            return_sequences=True,
            name="convlstm",
            dtype=self.dtype_policy,
        )
        self.pool = keras.layers.MaxPooling3D(
            pool_size=(1, self.pool_size, self.pool_size), name="pool", dtype=self.dtype_policy
        )

    def build(self, input_shape):
        self.convlstm.build(input_shape)

    def call(self, inputs, training=None):
        features = self.convlstm(inputs, training=training)
        return self.pool(features), features

    def compute_output_shape(self, input_shape):
        batch, time, lat, lon, _ = input_shape
        down = lambda n: None if n is None else n // self.pool_size  # noqa: E731
        return (
            (batch, time, down(lat), down(lon), self.filters),
            (batch, time, lat, lon, self.filters),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "pool_size": self.pool_size,
                "convlstm": self.convlstm_implementation,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_dsc")
class ConvLSTMDecoderBlock(keras.layers.Layer):
    """Spatial upsampling followed by a ConvLSTM2D (or a per-step Conv2D), with an optional skip.

    The mirror of `ConvLSTMEncoderBlock`: latitude and longitude are multiplied by `up_size`,
    the matching encoder features are concatenated when a `skip` tensor is passed, and a
    ConvLSTM2D (`recurrent=True`) or a convolution applied to each time step on its own
    (`recurrent=False`, cheaper) produces `filters` channels for every time step.

    Args:
        filters: int, the number of output channels.
        kernel_size: int, the spatial kernel size. Defaults to `3`.
        up_size: int, the spatial upsampling factor. Defaults to `2`.
        recurrent: bool, ConvLSTM2D if `True`, per-time-step Conv2D if `False`.
            Defaults to `True`.
        convlstm: `"fused"` (`keras_dsc.layers.ConvLSTM2D`) or `"keras"`
            (`keras.layers.ConvLSTM2D`), the ConvLSTM2D used when `recurrent`. Defaults to
            `"fused"`.
        **kwargs: other keyword arguments of `keras.layers.Layer`.

    Call arguments:
        inputs: a 5-D tensor `(batch, time, lat, lon, channels)`.
        skip: optional 5-D tensor `(batch, time, lat * up_size, lon * up_size, skip_channels)`,
            the features of the matching encoder block.
        training: Python boolean, whether the call is in training mode.

    Input shape:
        `(batch, time, lat, lon, channels)`.

    Output shape:
        `(batch, time, lat * up_size, lon * up_size, filters)`.

    Example:

    >>> import numpy as np
    >>> from keras_dsc import ConvLSTMDecoderBlock
    >>> y = ConvLSTMDecoderBlock(4)(np.zeros((2, 3, 8, 8, 6), "float32"))
    >>> tuple(y.shape)
    (2, 3, 16, 16, 4)
    """

    def __init__(
        self, filters, kernel_size=3, up_size=2, recurrent=True, convlstm="fused", **kwargs
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.up_size = int(up_size)
        self.recurrent = bool(recurrent)
        self.convlstm_implementation = convlstm
        layer_class = convlstm_class(convlstm)
        self.upsample = keras.layers.UpSampling3D(
            size=(1, self.up_size, self.up_size), name="upsample", dtype=self.dtype_policy
        )
        if self.recurrent:
            self.conv = layer_class(
                self.filters,
                self.kernel_size,
                padding="same",
                return_sequences=True,
                name="convlstm",
                dtype=self.dtype_policy,
            )
        else:
            self.conv = keras.layers.Conv3D(
                self.filters,
                (1, self.kernel_size, self.kernel_size),
                padding="same",
                activation="tanh",
                name="conv",
                dtype=self.dtype_policy,
            )

    def build(self, inputs_shape, skip_shape=None):
        batch, time, lat, lon, channels = inputs_shape
        up = lambda n: None if n is None else n * self.up_size  # noqa: E731
        if skip_shape is not None:
            channels += skip_shape[-1]
        self.conv.build((batch, time, up(lat), up(lon), channels))

    def call(self, inputs, skip=None, training=None):
        x = self.upsample(inputs)
        if skip is not None:
            x = ops.concatenate([x, skip], axis=-1)
        if self.recurrent:
            return self.conv(x, training=training)
        return self.conv(x)

    def compute_output_shape(self, inputs_shape, skip_shape=None):
        batch, time, lat, lon, _ = inputs_shape
        up = lambda n: None if n is None else n * self.up_size  # noqa: E731
        return (batch, time, up(lat), up(lon), self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "up_size": self.up_size,
                "recurrent": self.recurrent,
                "convlstm": self.convlstm_implementation,
            }
        )
        return config
