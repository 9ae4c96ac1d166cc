import keras
import numpy as np
import pytest

from keras_dsc import ConvLSTMDecoderBlock, ConvLSTMEncoderBlock, DSC
from tests.helpers.keras_checks import run_layer_test


def test_encoder_block_shapes():
    x = np.zeros((2, 3, 10, 12, 4), "float32")
    down, features = ConvLSTMEncoderBlock(5)(x)
    assert tuple(down.shape) == (2, 3, 5, 6, 5)
    assert tuple(features.shape) == (2, 3, 10, 12, 5)


@pytest.mark.parametrize("recurrent", [True, False])
def test_decoder_block_with_and_without_skip(recurrent):
    x = np.zeros((2, 3, 5, 6, 4), "float32")
    skip = np.zeros((2, 3, 10, 12, 7), "float32")
    assert tuple(ConvLSTMDecoderBlock(3, recurrent=recurrent)(x).shape) == (2, 3, 10, 12, 3)
    block = ConvLSTMDecoderBlock(3, recurrent=recurrent)
    assert tuple(block(x, skip=skip).shape) == (2, 3, 10, 12, 3)


def test_encoder_block_sees_time_order():
    """A ConvLSTM's output depends on the order of the time steps, not only on their set."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 4, 6, 6, 2)).astype("float32")
    block = ConvLSTMEncoderBlock(3)
    forward = keras.ops.convert_to_numpy(block(x)[1])[:, -1]
    backward = keras.ops.convert_to_numpy(block(x[:, ::-1])[1])[:, -1]
    assert np.abs(forward - backward).max() > 1e-4


@pytest.mark.parametrize("grid", [(41, 41), (37, 49)])
@pytest.mark.parametrize("skip", [False, True])
def test_dsc_reconstructs_odd_grids(grid, skip):
    shape = (3, *grid, 2)
    model = DSC(input_shape=shape, n_clusters=3, filters=(2, 3), latent_dim=4, skip=skip)
    out = model(np.zeros((2, *shape), "float32"))
    assert tuple(out["reconstruction"].shape) == (2, *shape)
    assert tuple(out["embedding"].shape) == (2, 4)
    assert tuple(out["probabilities"].shape) == (2, 3)


def test_encoder_block_round_trips(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 3, 6, 9, 2)).astype("float32")
    run_layer_test(lambda: ConvLSTMEncoderBlock(4, 5, 3), x,
                   expected_output_shape=((2, 3, 2, 3, 4), (2, 3, 6, 9, 4)),
                   trainable_weights=3, tmp_path=tmp_path)


@pytest.mark.parametrize("recurrent", [True, False])
def test_decoder_block_round_trips(tmp_path, recurrent):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 2, 3, 4)).astype("float32")
    skip = rng.normal(size=(2, 3, 6, 9, 5)).astype("float32")
    run_layer_test(lambda: ConvLSTMDecoderBlock(4, 5, 3, recurrent=recurrent), (x, skip),
                   expected_output_shape=(2, 3, 6, 9, 4),
                   trainable_weights=3 if recurrent else 2, tmp_path=tmp_path)
