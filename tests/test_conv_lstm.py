import doctest
import inspect
import json
import os
import subprocess
import sys
import textwrap
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_dsc import DSC, ConvLSTMDecoderBlock, ConvLSTMEncoderBlock
from keras_dsc.layers import conv_lstm

# keras_dsc's ConvLSTM2D, as opposed to the stock keras.layers.ConvLSTM2D.
FusedConvLSTM2D = conv_lstm.ConvLSTM2D


def assert_close(actual, expected, tol=1e-5):
    """Max abs difference <= tol, in units of the largest entry of `expected` when it is > 1:
    float32 sums of thousands of terms round differently in a different order."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    scale = max(1.0, float(np.abs(expected).max()))
    error = float(np.abs(actual - expected).max())
    assert error <= tol * scale, f"max abs difference {error:.3g} (scale {scale:.3g})"


def pair_of_layers(shape, filters, **kwargs):
    """A stock ConvLSTM2D and a FusedConvLSTM2D with the same, non-trivial weights."""
    stock = keras.layers.ConvLSTM2D(filters, **kwargs)
    fused = FusedConvLSTM2D(filters, **kwargs)
    stock.build(shape)
    fused.build(shape)
    rng = np.random.default_rng(1)
    weights = [w + 0.1 * rng.normal(size=w.shape).astype("float32") for w in stock.get_weights()]
    stock.set_weights(weights)
    fused.set_weights(weights)
    return stock, fused


def output_and_gradients(layer, x, cotangent):
    """The output and the gradients of sum(output * cotangent) w.r.t. the inputs and every
    weight."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(y * cotangent)
    variables = [x, *layer.trainable_weights]
    gradients = tape.gradient(loss, variables)
    # With one time step the fused layer never uses recurrent_kernel (h_0 = 0): no gradient,
    # where the stock layer's convolution of zeros gives a zero one.
    return [y.numpy()] + [
        np.zeros(v.shape, "float32") if g is None and x.shape[1] == 1 else g.numpy()
        for v, g in zip(variables, gradients)
    ]


CASES = [
    # input shape, filters, layer arguments
    ((2, 4, 9, 11, 3), 5, dict(kernel_size=3, padding="same", return_sequences=True)),
    ((2, 4, 9, 11, 3), 5, dict(kernel_size=3, padding="same", return_sequences=False)),
    ((3, 5, 7, 13, 2), 4, dict(kernel_size=5, padding="same", return_sequences=True)),
    ((3, 5, 7, 13, 2), 4, dict(kernel_size=5, padding="same", return_sequences=False)),
    ((2, 3, 11, 11, 7), 8, dict(kernel_size=(3, 3), padding="same", return_sequences=True)),
    ((2, 3, 8, 9, 2), 3, dict(kernel_size=3, padding="valid", return_sequences=True)),
    ((2, 1, 6, 5, 2), 3, dict(kernel_size=3, padding="same", return_sequences=True)),
    (
        (2, 4, 6, 7, 3),
        3,
        dict(
            kernel_size=3,
            padding="same",
            return_sequences=True,
            use_bias=False,
            activation="relu",
            recurrent_activation="hard_sigmoid",
        ),
    ),
]


@pytest.mark.parametrize("shape, filters, kwargs", CASES)
def test_matches_keras_convlstm2d_forward_and_gradients(shape, filters, kwargs):
    stock, fused = pair_of_layers(shape, filters, **kwargs)
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype("float32")
    cotangent = rng.normal(size=stock.compute_output_shape(shape)).astype("float32")
    expected = output_and_gradients(stock, x, cotangent)
    actual = output_and_gradients(fused, x, cotangent)
    assert len(actual) == len(expected) == 2 + len(stock.trainable_weights)
    for a, e in zip(actual, expected):
        assert_close(a, e)
    assert fused.compute_output_shape(shape) == expected[0].shape


def test_has_the_stock_defaults_weights_and_initial_values():
    shape = (2, 3, 6, 7, 4)
    stock, fused = keras.layers.ConvLSTM2D(5, 3), FusedConvLSTM2D(5, 3)
    stock.build(shape)
    fused.build(shape)
    assert [(w.name, tuple(w.shape)) for w in fused.weights] == [
        ("kernel", (3, 3, 4, 20)),
        ("recurrent_kernel", (3, 3, 5, 20)),
        ("bias", (20,)),
    ]
    assert [w.path for w in fused.weights] == [
        w.path.replace(stock.name, fused.name) for w in stock.weights
    ]
    np.testing.assert_array_equal(fused.get_weights()[2], np.repeat([0, 1, 0, 0], 5))
    # The initializers get the same shapes (so the same fans) as in the stock layer.
    seeded = dict(
        kernel_initializer=keras.initializers.GlorotUniform(seed=1),
        recurrent_initializer=keras.initializers.Orthogonal(seed=2),
        bias_initializer=keras.initializers.RandomNormal(seed=3),
    )
    stock, fused = keras.layers.ConvLSTM2D(5, 3, **seeded), FusedConvLSTM2D(5, 3, **seeded)
    stock.build(shape)
    fused.build(shape)
    for a, e in zip(fused.get_weights(), stock.get_weights()):
        np.testing.assert_array_equal(a, e)
    no_forget_bias = FusedConvLSTM2D(5, 3, unit_forget_bias=False)
    no_forget_bias.build(shape)
    np.testing.assert_array_equal(no_forget_bias.get_weights()[2], np.zeros(20))
    config, stock_config = fused.get_config(), stock.get_config()
    for key in ["padding", "activation", "recurrent_activation", "use_bias", "unit_forget_bias",
                "kernel_initializer", "recurrent_initializer", "bias_initializer",
                "return_sequences"]:
        assert config[key] == stock_config[key], key


def test_weights_load_both_ways():
    shape = (2, 3, 9, 7, 3)
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    stock = keras.layers.ConvLSTM2D(4, 3, padding="same", return_sequences=True)
    fused = FusedConvLSTM2D(4, 3, padding="same", return_sequences=True)
    stock.build(shape)
    fused.build(shape)
    fused.set_weights(stock.get_weights())
    assert_close(fused(x), stock(x))

    other_fused = FusedConvLSTM2D(4, 3, padding="same", return_sequences=True)
    other_stock = keras.layers.ConvLSTM2D(4, 3, padding="same", return_sequences=True)
    other_fused.build(shape)
    other_stock.build(shape)
    other_stock.set_weights(other_fused.get_weights())
    assert_close(other_stock(x), other_fused(x))


def test_weight_files_load_both_ways(tmp_path):
    """The same class name (the path of a layer in a functional model), attribute (`cell`) and
    variable order: a weights file written with one layer loads into the other."""
    x = np.random.default_rng(0).normal(size=(2, 3, 9, 7, 3)).astype("float32")

    def model(layer_class):
        inputs = keras.Input(x.shape[1:])
        outputs = layer_class(4, 3, padding="same", return_sequences=True)(inputs)
        return keras.Model(inputs, keras.layers.Dense(2)(outputs))

    stock_model, fused_model = model(keras.layers.ConvLSTM2D), model(FusedConvLSTM2D)
    stock_model.save_weights(tmp_path / "stock.weights.h5")
    fused_model.load_weights(tmp_path / "stock.weights.h5")
    assert_close(fused_model(x), stock_model(x))

    fused_model.set_weights([2 * w for w in fused_model.get_weights()])
    fused_model.save_weights(tmp_path / "fused.weights.h5")
    stock_model.load_weights(tmp_path / "fused.weights.h5")
    assert_close(stock_model(x), fused_model(x))


def test_config_round_trip():
    layer = FusedConvLSTM2D(
        6,
        (3, 5),
        padding="same",
        activation="relu",
        recurrent_activation="hard_sigmoid",
        use_bias=False,
        kernel_initializer="he_normal",
        recurrent_initializer="glorot_normal",
        bias_initializer="ones",
        unit_forget_bias=False,
        kernel_regularizer="l2",
        recurrent_regularizer=keras.regularizers.L1(0.1),
        bias_regularizer="l1",
        activity_regularizer="l2",
        kernel_constraint="non_neg",
        recurrent_constraint=keras.constraints.MaxNorm(2.0),
        bias_constraint="unit_norm",
        return_sequences=True,
        name="fused",
    )
    config = layer.get_config()
    restored = FusedConvLSTM2D.from_config(config)
    assert restored.get_config() == config
    assert config["kernel_size"] == (3, 5) and config["unit_forget_bias"] is False
    assert config["activity_regularizer"] is not None
    # Every constructor argument is in the config.
    arguments = set(inspect.signature(FusedConvLSTM2D.__init__).parameters) - {"self", "kwargs"}
    assert arguments <= set(config)


def test_config_builds_an_equal_stock_layer():
    """The config only holds arguments that keras.layers.ConvLSTM2D takes too."""
    shape = (2, 3, 7, 9, 2)
    fused = FusedConvLSTM2D(3, 3, padding="same", return_sequences=True)
    fused.build(shape)
    stock = keras.layers.ConvLSTM2D.from_config(fused.get_config())
    stock.build(shape)
    stock.set_weights(fused.get_weights())
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    assert_close(stock(x), fused(x))


def test_regularizers_add_the_same_losses_as_the_stock_layer():
    shape = (2, 3, 6, 6, 2)
    kwargs = dict(kernel_regularizer="l2", recurrent_regularizer="l1", bias_regularizer="l2")
    stock, fused = pair_of_layers(shape, 3, kernel_size=3, padding="same", **kwargs)
    x = np.zeros(shape, "float32")
    stock(x)
    fused(x)
    assert len(fused.losses) == 3
    assert_close(sum(float(v) for v in fused.losses), sum(float(v) for v in stock.losses))


def test_keras_file_round_trip(tmp_path):
    inputs = keras.Input((4, 9, 11, 3))
    x = FusedConvLSTM2D(5, 3, padding="same", return_sequences=True, name="first")(inputs)
    x = FusedConvLSTM2D(2, 3, padding="same", name="last")(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    data = np.random.default_rng(0).normal(size=(3, 4, 9, 11, 3)).astype("float32")
    expected = model.predict(data, verbose=0)
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(restored.get_layer("first"), FusedConvLSTM2D)
    np.testing.assert_array_equal(restored.predict(data, verbose=0), expected)


@pytest.mark.parametrize(
    "name, value",
    [
        ("strides", 2),
        ("dilation_rate", (1, 2)),
        ("data_format", "channels_first"),
        ("dropout", 0.1),
        ("recurrent_dropout", 0.2),
        ("return_state", True),
        ("go_backwards", True),
        ("stateful", True),
        ("padding", "causal"),
    ],
)
def test_refuses_unsupported_arguments(name, value):
    with pytest.raises(ValueError, match=name):
        FusedConvLSTM2D(4, 3, **{name: value})


def test_refuses_an_unknown_number_of_time_steps():
    with pytest.raises(ValueError, match="time steps"):
        FusedConvLSTM2D(4, 3)(keras.Input((None, 8, 8, 2)))


def test_docstring_example_runs():
    result = doctest.testmod(conv_lstm, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def copy_weights(source, target):
    target.set_weights(source.get_weights())
    return target


def test_blocks_give_the_same_outputs_with_either_convlstm():
    x = np.random.default_rng(0).normal(size=(2, 3, 10, 12, 4)).astype("float32")
    stock, fused = ConvLSTMEncoderBlock(5, convlstm="keras"), ConvLSTMEncoderBlock(5)
    assert isinstance(fused.convlstm, FusedConvLSTM2D)
    assert isinstance(stock.convlstm, keras.layers.ConvLSTM2D)
    stock(x)
    fused(x)
    copy_weights(stock, fused)
    for a, e in zip(fused(x), stock(x)):
        assert_close(a, e)

    skip = np.random.default_rng(1).normal(size=(2, 3, 10, 12, 5)).astype("float32")
    low = x[:, :, ::2, ::2]
    stock, fused = ConvLSTMDecoderBlock(3, convlstm="keras"), ConvLSTMDecoderBlock(3)
    stock(low, skip=skip)
    fused(low, skip=skip)
    copy_weights(stock, fused)
    assert_close(fused(low, skip=skip), stock(low, skip=skip))
    assert ConvLSTMDecoderBlock(3, convlstm="keras").get_config()["convlstm"] == "keras"


def test_blocks_refuse_an_unknown_convlstm():
    with pytest.raises(ValueError, match="convlstm"):
        ConvLSTMEncoderBlock(4, convlstm="fast")


def dsc_pair(shape):
    kwargs = dict(input_shape=shape, n_clusters=3, filters=(3, 4), latent_dim=4)
    return DSC(convlstm="keras", **kwargs), DSC(**kwargs)


def test_dsc_gives_the_same_outputs_with_either_convlstm():
    shape = (3, 9, 11, 2)
    stock, fused = dsc_pair(shape)
    assert isinstance(fused.bottleneck, FusedConvLSTM2D)
    assert isinstance(stock.bottleneck, keras.layers.ConvLSTM2D)
    assert stock.get_config()["convlstm"] == "keras" and fused.get_config()["convlstm"] == "fused"
    x = np.random.default_rng(0).normal(size=(4, *shape)).astype("float32")
    stock(x)
    fused(x)  # builds the decoder too
    copy_weights(stock, fused)
    expected, actual = stock(x), fused(x)
    for key in ["reconstruction", "embedding", "probabilities"]:
        assert_close(actual[key], expected[key])


def test_a_dsc_file_written_with_the_stock_layer_loads_with_the_fused_default(tmp_path):
    """Files written before the `convlstm` argument existed have no such key in their config;
    they load with the default (fused) layer and give the same outputs."""
    shape = (3, 9, 11, 2)
    stock, _ = dsc_pair(shape)
    x = np.random.default_rng(0).normal(size=(4, *shape)).astype("float32")
    expected = stock(x)
    stock.save(tmp_path / "stock.keras")

    old = tmp_path / "old.keras"
    with zipfile.ZipFile(tmp_path / "stock.keras") as source, zipfile.ZipFile(old, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                del config["config"]["convlstm"]
                data = json.dumps(config).encode()
            target.writestr(item, data)

    restored = keras.saving.load_model(old)
    assert isinstance(restored.bottleneck, FusedConvLSTM2D)
    actual = restored(x)
    for key in ["reconstruction", "embedding", "probabilities"]:
        assert_close(actual[key], expected[key])


JAX_SCRIPT = """
import doctest
import numpy as np, jax, jax.numpy as jnp, keras
assert keras.backend.backend() == "jax"
from keras_dsc.layers import conv_lstm
FusedConvLSTM2D = conv_lstm.ConvLSTM2D

result = doctest.testmod(conv_lstm)
assert result.attempted > 0 and result.failed == 0, result

rng = np.random.default_rng(0)
for shape, kwargs in [((2, 4, 9, 11, 3), dict(return_sequences=True)),
                      ((2, 3, 7, 6, 2), dict(return_sequences=False, kernel_size=5))]:
    kwargs = dict(dict(kernel_size=3, padding="same"), **kwargs)
    stock, fused = keras.layers.ConvLSTM2D(4, **kwargs), FusedConvLSTM2D(4, **kwargs)
    stock.build(shape); fused.build(shape)
    weights = [w + 0.1 * rng.normal(size=w.shape).astype("float32") for w in stock.get_weights()]
    stock.set_weights(weights); fused.set_weights(weights)
    x = jnp.asarray(rng.normal(size=shape).astype("float32"))
    cotangent = jnp.asarray(rng.normal(size=stock.compute_output_shape(shape)), "float32")

    def loss(variables, x, layer):
        fixed = [v.value for v in layer.non_trainable_variables]  # the stock dropout seed
        y, _ = layer.stateless_call(variables, fixed, x)
        return jnp.sum(y * cotangent), y

    results = []
    for layer in (stock, fused):
        variables = [v.value for v in layer.trainable_variables]
        (_, y), grads = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(variables, x, layer)
        results.append([y, grads[1], *grads[0]])
    for a, e in zip(results[1], results[0]):
        a, e = np.asarray(a), np.asarray(e)
        error = np.abs(a - e).max()
        assert error <= 1e-5 * max(1.0, np.abs(e).max()), (shape, error)

# One training step (tests/test_dsc.py trains a whole DSC, fused by default, under JAX too).
inputs = keras.Input((3, 9, 11, 2))
features = FusedConvLSTM2D(3, 3, padding="same")(inputs)
model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(features)))
model.compile(optimizer="adam", loss="mse")
x, y = rng.normal(size=(8, 3, 9, 11, 2)).astype("float32"), np.ones((8, 1), "float32")
before = [w.copy() for w in model.get_weights()]
loss = model.train_on_batch(x, y)
assert np.isfinite(loss), loss
assert all(np.abs(a - b).max() > 0 for a, b in zip(model.get_weights(), before))
print("JAX-OK")
"""


def test_matches_and_trains_under_jax_backend():
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(JAX_SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "JAX-OK" in proc.stdout
