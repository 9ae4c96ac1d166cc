"""`ConvLSTM2D`: the maths, weights and files of `keras.layers.ConvLSTM2D`, with fused gates."""

import keras
from keras import ops


class _ConvLSTM2DWeights(keras.layers.Layer):
    """Holds `kernel`, `recurrent_kernel` and `bias` where `keras.layers.ConvLSTM2D` keeps them.

    The stock layer stores its weights in a sublayer at the attribute `cell`; keeping ours at
    the same place, with the same names, shapes and order, is what lets `.keras` files and
    `get_weights()` lists of either layer load into the other.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        use_bias,
        unit_forget_bias,
        initializers,
        regularizers,
        constraints,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.use_bias = use_bias
        self.unit_forget_bias = unit_forget_bias
        self.initializers = initializers
        self.regularizers = regularizers
        self.constraints = constraints

    def build(self, input_shape):
        input_dim, gates = input_shape[-1], 4 * self.filters
        self.kernel = self.add_weight(
            name="kernel",
            shape=(*self.kernel_size, input_dim, gates),
            initializer=self.initializers[0],
            regularizer=self.regularizers[0],
            constraint=self.constraints[0],
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel",
            shape=(*self.kernel_size, self.filters, gates),
            initializer=self.initializers[1],
            regularizer=self.regularizers[1],
            constraint=self.constraints[1],
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(gates,),
                initializer=self._bias_initializer,
                regularizer=self.regularizers[2],
                constraint=self.constraints[2],
            )

    def _bias_initializer(self, shape, dtype=None):
        initializer = self.initializers[2]
        if not self.unit_forget_bias:
            return initializer(shape, dtype=dtype)
        # Gate order i, f, c, o; the forget gate starts at 1 (Jozefowicz et al., 2015).
        n = self.filters
        return ops.concatenate(
            [
                initializer((n,), dtype=dtype),
                ops.ones((n,), dtype=dtype),
                initializer((2 * n,), dtype=dtype),
            ]
        )


@keras.saving.register_keras_serializable(package="keras_dsc")
class ConvLSTM2D(keras.layers.Layer):
    """2-D convolutional LSTM: `keras.layers.ConvLSTM2D` computed with fused gates, faster.

    The maths, the defaults and the weights are those of `keras.layers.ConvLSTM2D` (Shi et
    al., 2015, without peephole connections): with `*` a 2-D convolution and gates in the
    order input, forget, cell, output,

    `z_t = W * x_t + U * h_{t-1} + b`, split into `z_i, z_f, z_c, z_o`,
    `c_t = sigmoid(z_f) c_{t-1} + sigmoid(z_i) tanh(z_c)`, `h_t = sigmoid(z_o) tanh(c_t)`

    (`sigmoid` is `recurrent_activation`, `tanh` is `activation`). The computation is
    arranged differently: the input convolution `W * x_t` of every time step is one
    convolution over `batch * time` images, and the recurrent convolution `U * h_{t-1}` is
    one convolution with `4 * filters` outputs per step instead of four, skipped at the first
    step where `h_0 = 0`. The time loop is unrolled, so the number of time steps must be
    known when the layer is built. (With a single time step `recurrent_kernel` is not used, so
    TensorFlow gives it no gradient, where the stock layer's is zero.)

    The weights are `kernel` `(k, k, channels, 4 * filters)`, `recurrent_kernel`
    `(k, k, filters, 4 * filters)` and `bias` `(4 * filters,)`, held by a sublayer at the
    attribute `cell` as in the stock layer: `set_weights(stock.get_weights())` works both
    ways, and a model that swaps one layer for the other loads the other's `.keras` and
    `.weights.h5` files. The class has the stock class's name on purpose: Keras files address a
    layer that sits in a list or a functional model by its class name in snake case
    (`conv_lstm2d`), so a differently named class would not find the weights there.

    Only what the stock layer does by default is supported besides `padding`: strides and
    dilation 1, channels last, no dropout, no state returned, no `go_backwards`, not
    stateful, no masking. Other values raise a `ValueError` naming the argument.

    Args:
        filters: int, the number of output channels (the size of the hidden state).
        kernel_size: int or tuple of 2 ints, the size of both convolution windows.
        strides: must be `1` (or `(1, 1)`). Defaults to `1`.
        padding: `"valid"` or `"same"` (case-insensitive), the padding of the input
            convolution; the recurrent convolution always pads `"same"`. Defaults to
            `"valid"`, as in `keras.layers.ConvLSTM2D`.
        data_format: must be `"channels_last"`, or `None` where that is
            `keras.config.image_data_format()`. Defaults to `None`.
        dilation_rate: must be `1` (or `(1, 1)`). Defaults to `1`.
        activation: activation of the cell candidate and of the cell output.
            Defaults to `"tanh"`.
        recurrent_activation: activation of the input, forget and output gates.
            Defaults to `"sigmoid"`.
        use_bias: bool, whether the gates have a bias. Defaults to `True`.
        kernel_initializer: initializer of `kernel`. Defaults to `"glorot_uniform"`.
        recurrent_initializer: initializer of `recurrent_kernel`. Defaults to
            `"orthogonal"`.
        bias_initializer: initializer of `bias`. Defaults to `"zeros"`.
        unit_forget_bias: bool, if `True` the forget-gate part of `bias` starts at 1 and the
            rest from `bias_initializer`. Defaults to `True`.
        kernel_regularizer: regularizer of `kernel`. Defaults to `None`.
        recurrent_regularizer: regularizer of `recurrent_kernel`. Defaults to `None`.
        bias_regularizer: regularizer of `bias`. Defaults to `None`.
        kernel_constraint: constraint of `kernel`. Defaults to `None`.
        recurrent_constraint: constraint of `recurrent_kernel`. Defaults to `None`.
        bias_constraint: constraint of `bias`. Defaults to `None`.
        dropout: must be `0`. Defaults to `0.0`.
        recurrent_dropout: must be `0`. Defaults to `0.0`.
        return_sequences: bool, return the hidden state of every time step (`True`) or of
            the last one only. Defaults to `False`.
        return_state: must be `False`. Defaults to `False`.
        go_backwards: must be `False`. Defaults to `False`.
        stateful: must be `False`. Defaults to `False`.
        **kwargs: other keyword arguments of `keras.layers.Layer` (`name`, `dtype`,
            `activity_regularizer`, ...).

    Call arguments:
        inputs: a 5-D tensor `(batch, time, rows, cols, channels)`.
        training: Python boolean, accepted for symmetry with `keras.layers.ConvLSTM2D`;
            the layer behaves the same in training and inference.

    Input shape:
        5-D tensor `(batch, time, rows, cols, channels)`, `time` and `channels` known.

    Output shape:
        `(batch, time, new_rows, new_cols, filters)` if `return_sequences`, else
        `(batch, new_rows, new_cols, filters)`; `new_rows, new_cols` are `rows, cols` with
        `padding="same"` and `rows - k + 1, cols - k + 1` with `padding="valid"`.

    Example:

    >>> import numpy as np
    >>> from keras_dsc.layers import ConvLSTM2D
    >>> x = np.zeros((2, 5, 9, 11, 3), "float32")
    >>> y = ConvLSTM2D(4, 3, padding="same", return_sequences=True)(x)
    >>> tuple(y.shape)
    (2, 5, 9, 11, 4)
    >>> tuple(ConvLSTM2D(4, 3)(x).shape)
    (2, 7, 9, 4)

    References:
        - [Shi et al., 2015. Convolutional LSTM Network: A Machine Learning Approach for
          Precipitation Nowcasting](https://arxiv.org/abs/1506.04214)
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        supported = {
            "strides": (strides, _pair(strides, "strides") == (1, 1)),
            "dilation_rate": (dilation_rate, _pair(dilation_rate, "dilation_rate") == (1, 1)),
            "data_format": (
                data_format,
                (data_format or keras.config.image_data_format()) == "channels_last",
            ),
            "dropout": (dropout, dropout == 0),
            "recurrent_dropout": (recurrent_dropout, recurrent_dropout == 0),
            "return_state": (return_state, not return_state),
            "go_backwards": (go_backwards, not go_backwards),
            "stateful": (stateful, not stateful),
        }
        for name, (value, ok) in supported.items():
            if not ok:
                raise ValueError(
                    f"keras_dsc.layers.ConvLSTM2D does not support {name}={value!r}; "
                    "keras.layers.ConvLSTM2D does"
                )
        if str(padding).lower() not in ("same", "valid"):
            raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.padding = str(padding).lower()
        self.activation = keras.activations.get(activation)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.return_sequences = bool(return_sequences)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.recurrent_constraint = keras.constraints.get(recurrent_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.cell = _ConvLSTM2DWeights(
            self.filters,
            self.kernel_size,
            self.use_bias,
            self.unit_forget_bias,
            (self.kernel_initializer, self.recurrent_initializer, self.bias_initializer),
            (self.kernel_regularizer, self.recurrent_regularizer, self.bias_regularizer),
            (self.kernel_constraint, self.recurrent_constraint, self.bias_constraint),
            name="conv_lstm_cell",
            dtype=self.dtype_policy,
        )
        self.input_spec = keras.layers.InputSpec(ndim=5)

    def build(self, input_shape):
        if input_shape[1] is None or input_shape[-1] is None:
            raise ValueError(
                "keras_dsc.layers.ConvLSTM2D needs the number of time steps and of channels "
                f"when it is built; got input shape {tuple(input_shape)}"
            )
        self.cell.build(input_shape)
        self.input_spec = keras.layers.InputSpec(ndim=5, axes={1: input_shape[1]})

    @property
    def kernel(self):
        return self.cell.kernel

    @property
    def recurrent_kernel(self):
        return self.cell.recurrent_kernel

    @property
    def bias(self):
        return self.cell.bias

    def call(self, inputs, training=None):
        steps = inputs.shape[1]
        shape = ops.shape(inputs)
        # The input-to-gates convolution of every time step at once, bias included.
        gates = ops.conv(
            ops.reshape(inputs, (-1, *shape[2:])), self.cell.kernel, padding=self.padding
        )
        if self.use_bias:
            # ops.add (not +) lets TensorFlow use BiasAdd, whose gradient is much cheaper.
            gates = ops.add(gates, self.cell.bias)
        gates = ops.reshape(gates, (-1, steps, *ops.shape(gates)[1:]))

        hidden = cell_state = None
        outputs = []
        for step_gates in ops.unstack(gates, steps, axis=1):
            if hidden is not None:
                # h_0 = 0: the first step has no recurrent term (adding it would add zeros).
                step_gates = step_gates + ops.conv(
                    hidden, self.cell.recurrent_kernel, padding="same"
                )
            i, f, c, o = ops.split(step_gates, 4, axis=-1)
            candidate = self.recurrent_activation(i) * self.activation(c)
            if cell_state is None:
                cell_state = candidate  # c_0 = 0
            else:
                cell_state = self.recurrent_activation(f) * cell_state + candidate
            hidden = self.recurrent_activation(o) * self.activation(cell_state)
            outputs.append(hidden)
        return ops.stack(outputs, axis=1) if self.return_sequences else hidden

    def compute_output_shape(self, input_shape):
        batch, steps, rows, cols, _ = input_shape
        if self.padding == "valid":
            rows, cols = (
                None if n is None else n - k + 1 for n, k in zip((rows, cols), self.kernel_size)
            )
        if self.return_sequences:
            return (batch, steps, rows, cols, self.filters)
        return (batch, rows, cols, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": (1, 1),
                "padding": self.padding,
                "data_format": "channels_last",
                "dilation_rate": (1, 1),
                "activation": keras.activations.serialize(self.activation),
                "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": keras.initializers.serialize(
                    self.recurrent_initializer
                ),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "unit_forget_bias": self.unit_forget_bias,
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "recurrent_regularizer": keras.regularizers.serialize(
                    self.recurrent_regularizer
                ),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "recurrent_constraint": keras.constraints.serialize(self.recurrent_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
                "dropout": 0.0,
                "recurrent_dropout": 0.0,
                "return_sequences": self.return_sequences,
                "return_state": False,
                "go_backwards": False,
                "stateful": False,
            }
        )
        return config


def _pair(value, name):
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(n, int) and n > 0 for n in pair):
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}")
    return pair


def convlstm_class(convlstm):
    """The ConvLSTM2D layer class named by `convlstm`: `"fused"` for this module's
    `ConvLSTM2D`, `"keras"` for `keras.layers.ConvLSTM2D` (same maths and weights, slower)."""
    classes = {"fused": ConvLSTM2D, "keras": keras.layers.ConvLSTM2D}
    if convlstm not in classes:
        raise ValueError(f"convlstm must be 'fused' or 'keras', got {convlstm!r}")
    return classes[convlstm]
