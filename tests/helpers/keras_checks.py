"""Round-trip checks that every Keras class of keras_dsc passes (after keras-hub's TestCase).

`run_layer_test` and `run_model_test` build the object, call it eagerly and symbolically,
round-trip its config (`get_config`/`from_config` and the JSON serialisation Keras saves), check
its weight counts, take one training step and save/reload it as a `.keras` file, comparing the
outputs of the reloaded object with the original's.
"""

import json

import keras
import numpy as np


def _numpy(tree):
    return [keras.ops.convert_to_numpy(t) for t in keras.tree.flatten(tree)]


def _assert_close(expected, actual, atol):
    expected, actual = _numpy(expected), _numpy(actual)
    assert len(expected) == len(actual)
    for a, b in zip(expected, actual):
        np.testing.assert_allclose(b, a, atol=atol, rtol=0)


def _assert_config_round_trip(obj):
    config = obj.get_config()
    assert obj.__class__.from_config(config).get_config() == config
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(obj)))
    assert serialized["registered_name"] == keras.saving.get_registered_name(obj.__class__)
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is type(obj) and revived.get_config() == config
    return revived


def run_layer_test(make, inputs, expected_output_shape=None, trainable_weights=None,
                   non_trainable_weights=0, atol=1e-6, tmp_path=None):
    """Checks a layer made by `make()` on `inputs` (a NumPy array or a tuple of them).

    Args:
        make: callable returning a new layer.
        inputs: the call's input (an array, or a tuple of arrays passed positionally).
        expected_output_shape: the output shape(s) (a tuple, or a tuple of tuples); checked
            against the eager call, the symbolic call and `compute_output_shape`.
        trainable_weights, non_trainable_weights: expected weight counts (None: not checked).
        atol: tolerance of the output comparisons.
        tmp_path: folder for the `.keras` round trip; `None` skips it.

    Returns:
        The layer built by the eager call.
    """
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    layer = make()
    outputs = layer(*inputs)
    if expected_output_shape is not None:
        shapes = [tuple(t.shape) for t in keras.tree.flatten(outputs)]
        expected = (list(expected_output_shape) if isinstance(expected_output_shape[0], tuple)
                    else [tuple(expected_output_shape)])
        assert shapes == expected, (shapes, expected)
        computed = layer.compute_output_shape(*[x.shape for x in inputs])
        computed = computed if isinstance(computed[0], tuple) else (computed,)
        assert [tuple(s) for s in computed] == expected
    if trainable_weights is not None:
        assert len(layer.trainable_weights) == trainable_weights
    assert len(layer.non_trainable_weights) == non_trainable_weights

    # The config (and what Keras saves of it) makes the same layer; with the same weights it
    # computes the same outputs.
    revived = _assert_config_round_trip(layer)
    revived(*inputs)
    revived.set_weights(layer.get_weights())
    _assert_close(outputs, revived(*inputs), atol)

    # Symbolically, inside a functional model: the model trains and saves.
    symbolic = [keras.Input(shape=x.shape[1:], batch_size=x.shape[0]) for x in inputs]
    model_outputs = make()(*symbolic)
    model = keras.Model(symbolic, keras.tree.flatten(model_outputs)[0])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = [w.copy() for w in model.get_weights()]
    target = np.zeros(tuple(model.output.shape), "float32")
    loss = model.train_on_batch(list(inputs), target)
    assert np.isfinite(loss)
    if model.trainable_weights:
        assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    if tmp_path is not None:
        path = tmp_path / f"{type(layer).__name__}.keras"
        model.save(path)
        reloaded = keras.saving.load_model(path)
        _assert_close(model.predict(list(inputs), verbose=0),
                      reloaded.predict(list(inputs), verbose=0), atol)
    return layer


def run_model_test(make, inputs, tmp_path, atol=1e-6, train=True):
    """Checks a keras_dsc model (a `DeepClusteringModel`) made by `make()` on `inputs`.

    Config and JSON round trips; one training step of its own `train_step` changes the weights
    and logs finite losses; `.keras` save and reload (no custom objects) gives the same config
    and the same outputs; the assignment model gives the full model's embedding and
    probabilities.

    Returns:
        The trained model.
    """
    model = make()
    outputs = model(inputs)
    assert {"embedding", "probabilities"} <= set(outputs)
    _assert_config_round_trip(model)
    fast = model.assignment_model.predict(inputs, verbose=0)
    for key in ("embedding", "probabilities"):
        np.testing.assert_allclose(fast[key], keras.ops.convert_to_numpy(outputs[key]),
                                   atol=max(atol, 1e-5))
    if train:
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        before = [w.copy() for w in model.get_weights()]
        logs = model.train_on_batch(inputs, return_dict=True)
        assert all(np.isfinite(v) for v in logs.values()), logs
        assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    path = tmp_path / f"{type(model).__name__}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)  # no custom_objects: the classes are registered
    assert type(reloaded) is type(model) and reloaded.get_config() == model.get_config()
    _assert_close(model.predict(inputs, verbose=0), reloaded.predict(inputs, verbose=0), atol)
    return model
