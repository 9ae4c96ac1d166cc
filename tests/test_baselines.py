import keras
import numpy as np
import pytest

from keras_dsc.models.baselines import (
    DEC,
    CNNAutoencoder,
    CNNEncoder,
    CNNLSTMEncoder,
    PublishedDSC,
    TemporalAutoencoder,
)
from keras_dsc.training import has_decoder, train_dsc
from tests.helpers.keras_checks import run_model_test

SHAPE = (3, 9, 11, 2)  # an odd grid: nothing divides by the poolings without padding

MODELS = {
    "dec": (DEC, dict(hidden=(16, 8), latent_dim=4), True),
    "dtc": (TemporalAutoencoder, dict(conv_filters=4, step_features=8, lstm_units=4,
                                      latent_dim=4), True),
    "cnn_encoder": (CNNEncoder, dict(filters=(4, 4), latent_dim=4), False),
    "cnn_autoencoder": (CNNAutoencoder, dict(filters=(4, 4), latent_dim=4), True),
    "cnn_lstm_encoder": (CNNLSTMEncoder, dict(filters=(4,), lstm_units=4, latent_dim=4), False),
    "published": (PublishedDSC, dict(width=1 / 32), True),
}


def windows(shape=SHAPE, n=8):
    x = np.random.default_rng(0).normal(size=(n, *shape)).astype("float32")
    x[:, :, 4, 5, 1] = np.nan  # a "land" point of the second variable
    return x


# The paper's full-size network (43 s here) round-trips under the slow marker.
@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow)
                                  if name == "published" else name for name in sorted(MODELS)])
def test_trains_and_reloads_with_identical_predictions(name, tmp_path):
    cls, kwargs, decoder = MODELS[name]
    x = windows()
    model = cls(input_shape=SHAPE, n_clusters=3, **kwargs)
    outputs = model(x)
    assert tuple(outputs["probabilities"].shape) == (8, 3)
    assert ("reconstruction" in outputs) == decoder == has_decoder(model)
    if decoder:
        assert tuple(outputs["reconstruction"].shape) == (8, *SHAPE)

    before = [w.copy() for w in model.get_weights()]
    result = train_dsc(model, x, batch_size=4, pretrain_steps=2, steps=2, verbose=0)
    assert result.labels.shape == (8,)
    assert np.all(np.isfinite(result.history["loss"]))
    # Encoder-only models skip pre-training: only the joint epoch is logged.
    assert len(result.history["loss"]) == (2 if decoder else 1)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))

    run_model_test(lambda: model, x, tmp_path, train=False)


@pytest.mark.parametrize("cls", [TemporalAutoencoder, CNNLSTMEncoder])
def test_window_of_one_step(cls):
    model = cls(input_shape=(1, 9, 11, 2), n_clusters=2, latent_dim=4)
    out = model(windows((1, 9, 11, 2), n=3))
    assert tuple(out["embedding"].shape) == (3, 4)
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(out["probabilities"])))


def test_published_dsc_is_the_papers_network():
    model = PublishedDSC(input_shape=(1, 41, 41, 7), n_clusters=7)
    convs = [layer.layer for layer in model.encoder_layers
             if isinstance(layer.layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [64, 64, 128, 256, 512]
    assert all(c.activation.__name__ == "tanh" for c in convs)
    assert sum(isinstance(layer.layer, keras.layers.MaxPooling2D)
               for layer in model.encoder_layers) == 4
    assert (model.lstm_1.units, model.lstm_2.units) == (512, 512)
    assert (model.lstm_1.dropout, model.lstm_2.dropout) == (0.1, 0.1)
    assert model.to_latent.units == 256 and model.to_latent.activation.__name__ == "sigmoid"
    assert model._code_grid == (3, 3)  # 41 padded to 48, four 2x2 poolings
    assert model.from_latent.units == 3 * 3 * 512
    decoder = [layer.layer.filters for layer in model.decoder_layers
               if isinstance(layer.layer, keras.layers.Conv2D)]
    assert decoder == [512, 256, 128, 64]
    assert model.to_variables.layer.filters == 7
    assert model.gamma == 1.0  # reconstruction and KL weighted 1:1


def test_width_scales_the_published_network():
    model = PublishedDSC(input_shape=(1, 9, 11, 2), n_clusters=2, width=0.25)
    assert model.lstm_1.units == 128 and model.to_latent.units == 64
    with pytest.raises(ValueError, match="width"):
        PublishedDSC(input_shape=(1, 9, 11, 2), n_clusters=2, width=0)


def test_train_dsc_with_another_optimizer():
    x = windows()
    model = CNNAutoencoder(input_shape=SHAPE, n_clusters=2, filters=(2,), latent_dim=2)
    sgd = {"class_name": "SGD", "config": {"learning_rate": 0.5, "momentum": 0.9}}
    train_dsc(model, x, batch_size=4, pretrain_steps=2, steps=2, optimizer=sgd, verbose=0)
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert model.optimizer.momentum == pytest.approx(0.9)
