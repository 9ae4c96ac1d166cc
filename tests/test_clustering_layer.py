
import keras
import numpy as np
import pytest

from keras_dsc import ClusteringLayer
from tests.helpers.keras_checks import run_layer_test


def numpy_soft_assignment(z, centres, alpha):
    distance = ((z[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    kernel = (1.0 + distance / alpha) ** (-(alpha + 1.0) / 2.0)
    return kernel / kernel.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("alpha", [1.0, 0.5, 3.0])
@pytest.mark.parametrize("latent_dim", [1, 7, 64])
def test_matches_float64_numpy_reference(alpha, latent_dim):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(13, latent_dim))
    centres = rng.normal(size=(5, latent_dim))
    layer = ClusteringLayer(5, alpha=alpha, dtype="float64")
    layer.build((None, latent_dim))
    layer.centres.assign(centres)
    q = keras.ops.convert_to_numpy(layer(z))
    np.testing.assert_allclose(q, numpy_soft_assignment(z, centres, alpha), atol=1e-6)
    np.testing.assert_allclose(q.sum(axis=1), 1.0, atol=1e-6)


def test_nearest_centre_gets_highest_probability():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(4, 3)).astype("float32") * 5
    z = centres[[2, 0, 3, 1]] + rng.normal(scale=0.1, size=(4, 3)).astype("float32")
    layer = ClusteringLayer(4)
    layer.build((None, 3))
    layer.centres.assign(centres)
    q = keras.ops.convert_to_numpy(layer(z))
    np.testing.assert_array_equal(q.argmax(axis=1), [2, 0, 3, 1])


def test_far_away_samples_do_not_underflow():
    layer = ClusteringLayer(2)
    layer.build((None, 2))
    layer.centres.assign(np.array([[0.0, 0.0], [1.0, 0.0]], "float32"))
    q = keras.ops.convert_to_numpy(layer(np.array([[1e18, 0.0]], "float32")))
    assert np.all(np.isfinite(q)) and abs(q.sum() - 1) < 1e-6


def test_layer_round_trips_keep_alpha(tmp_path):
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    layer = run_layer_test(lambda: ClusteringLayer(6, alpha=2.5, name="clusters"), x,
                           expected_output_shape=(5, 6), trainable_weights=1, tmp_path=tmp_path)
    restored = ClusteringLayer.from_config(layer.get_config())
    assert (restored.n_clusters, restored.alpha, restored.name) == (6, 2.5, "clusters")


def test_registered_under_keras_dsc_package():
    assert keras.saving.get_registered_name(ClusteringLayer) == "keras_dsc>ClusteringLayer"


@pytest.mark.parametrize("kwargs", [{"n_clusters": 0}, {"n_clusters": 3, "alpha": 0.0}])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        ClusteringLayer(**kwargs)


def test_centres_are_trainable_weights():
    layer = ClusteringLayer(3)
    layer.build((None, 4))
    assert [w.shape for w in layer.trainable_weights] == [(3, 4)]
