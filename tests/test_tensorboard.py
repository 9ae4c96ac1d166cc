"""`fit --tensorboard`: Keras TensorBoard logs of both phases, label change and cluster sizes."""

import importlib.util

import numpy as np
import pytest

from keras_dsc.errors import OptionError
from keras_dsc.runs.options import FitOptions, train_with_options

pytest.importorskip("tensorboard")


def scalars(folder):
    """`{tag: {step: value}}` of every scalar in the event files under `folder`."""
    import tensorflow as tf

    found = {}
    for path in sorted(folder.rglob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                number = (float(tf.make_ndarray(value.tensor)) if value.HasField("tensor")
                          else value.simple_value)
                found.setdefault(value.tag, {})[event.step] = number
    return found


def test_tensorboard_logs_both_phases_label_change_and_cluster_sizes(tmp_path):
    from keras_dsc import DSC

    windows = np.random.default_rng(0).normal(size=(8, 2, 6, 6, 1)).astype("float32")
    model = DSC(input_shape=windows.shape[1:], n_clusters=2, filters=(2,), latent_dim=2)
    options = FitOptions(n_clusters=2, filters=(2,), latent_dim=2, pretrain_steps=4, steps=4,
                         batch_size=4, tol=0.0, tensorboard=True)
    result = train_with_options(model, windows, options, log_dir=tmp_path, verbose=0)
    logs = tmp_path / "logs"
    train = scalars(logs / "train")
    # Epochs number on across the phases: 0-1 pre-training, 2-3 joint training.
    assert sorted(train["epoch_loss"]) == [0, 1, 2, 3]
    np.testing.assert_allclose([train["epoch_loss"][e] for e in range(4)],
                               result.history["loss"], rtol=1e-5)
    change = train["epoch_label_change"]
    assert np.isnan(change[0]) and np.isnan(change[1])  # pre-training: no labels yet
    assert 0.0 <= change[3] <= 1.0
    clusters = scalars(logs / "clusters")
    assert sorted(clusters["cluster_size/0"]) == [2, 3]  # the joint epochs only
    assert clusters["cluster_size/0"][3] + clusters["cluster_size/1"][3] == 8
    assert clusters["cluster_size/1"][3] == int(np.sum(result.labels == 1))
    assert 0.0 <= clusters["cluster_size/smallest_fraction"][3] <= 0.5


def test_no_logs_without_the_option(tmp_path):
    from keras_dsc import DSC

    windows = np.random.default_rng(0).normal(size=(4, 2, 6, 6, 1)).astype("float32")
    model = DSC(input_shape=windows.shape[1:], n_clusters=2, filters=(2,), latent_dim=2)
    options = FitOptions(n_clusters=2, pretrain_steps=1, steps=1, batch_size=4)
    train_with_options(model, windows, options, log_dir=tmp_path, verbose=0)
    assert not (tmp_path / "logs").exists()


def test_tensorboard_without_the_package_is_a_one_line_option_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(OptionError, match="tensorboard needs the tensorboard package") as error:
        FitOptions(tensorboard=True)
    assert error.value.option == "tensorboard"
