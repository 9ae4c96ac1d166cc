import os
import subprocess
import sys
import textwrap

import keras
import numpy as np

from keras_dsc import DSC, target_distribution, train_dsc
from keras_dsc.training import initialise_centres
from tests.helpers.keras_checks import run_model_test

SHAPE = (3, 9, 11, 2)


def moving_blobs(n=32, seed=0):
    """Windows with a blob moving east (label 0) or west (label 1), NaN on one grid point."""
    rng = np.random.default_rng(seed)
    time, lat, lon, _ = SHAPE
    x = rng.normal(scale=0.3, size=(n, *SHAPE)).astype("float32")
    labels = np.arange(n) % 2
    for i in range(n):
        for t in range(time):
            column = 2 + 3 * t if labels[i] == 0 else lon - 4 - 3 * t
            x[i, t, 3:6, column : column + 2, 0] += 2.0
    x[:, :, 0, 0, 1] = np.nan
    return x, labels


def small_model(**kwargs):
    return DSC(input_shape=SHAPE, n_clusters=2, filters=(4,), latent_dim=4, **kwargs)


def test_train_step_lowers_both_losses():
    keras.utils.set_random_seed(0)
    x, _ = moving_blobs()
    model = small_model(gamma=1.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(x, epochs=10, batch_size=8, verbose=0)  # pre-training spreads the embedding
    initialise_centres(model, x, batch_size=16)
    q = model.assignment_model.predict(x, verbose=0)["probabilities"]
    p = target_distribution(q)
    history = model.fit(x, p, epochs=6, batch_size=8, shuffle=False, verbose=0).history
    assert set(history) >= {"loss", "reconstruction_loss", "clustering_loss"}
    assert history["reconstruction_loss"][-1] < history["reconstruction_loss"][0]
    assert history["clustering_loss"][-1] < history["clustering_loss"][0]
    assert history["clustering_loss"][0] > 1e-3  # after pre-training the KL term bites


def test_whitening_the_latent_space_keeps_the_reconstruction():
    from keras_dsc.training import embed

    keras.utils.set_random_seed(0)
    x, labels = moving_blobs()
    model = small_model(gamma=1.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(x, epochs=4, batch_size=8, verbose=0)
    before = model.predict(x, verbose=0)["reconstruction"]
    initialise_centres(model, x, batch_size=16, labels=labels, whiten=True)
    after = model.predict(x, verbose=0)["reconstruction"]
    np.testing.assert_allclose(after, before, atol=2e-4 * np.abs(before).max())
    z = embed(model, x, 16).astype("float64")
    scatter = z - np.stack([z[labels == k].mean(axis=0) for k in (0, 1)])[labels]
    within = scatter.T @ scatter / len(z)  # the same spread in every latent direction
    np.testing.assert_allclose(within, within[0, 0] * np.eye(4), atol=1e-3 * within[0, 0])
    centres = keras.ops.convert_to_numpy(model.clustering.centres)
    np.testing.assert_allclose(centres, [z[labels == k].mean(axis=0) for k in (0, 1)],
                               atol=1e-4 * np.abs(z).max())


def test_one_step_windows_train_without_a_missing_gradient_warning():
    # A window of one time step (seasonal means, `--window 1`) never uses the ConvLSTM's
    # recurrent kernels: they get a zero gradient and stay as they were, silently.
    import warnings

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(16, 1, 9, 11, 2)).astype("float32")
    model = DSC(input_shape=x.shape[1:], n_clusters=2, filters=(4,), latent_dim=4)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model(x[:1])
    recurrent = [v for v in model.trainable_variables if "recurrent_kernel" in v.path]
    before = [v.numpy().copy() for v in recurrent]
    kernels = [v for v in model.trainable_variables if v.path.endswith("cell/kernel")]
    first = [v.numpy().copy() for v in kernels]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, epochs=2, batch_size=8, verbose=0).history
    assert not [w for w in caught if "Gradients do not exist" in str(w.message)]
    assert recurrent and kernels and np.isfinite(history["loss"]).all()
    for variable, value in zip(recurrent, before):
        np.testing.assert_array_equal(variable.numpy(), value)
    assert all(np.abs(v.numpy() - w).max() > 0 for v, w in zip(kernels, first))


def test_loss_ignores_values_at_masked_points():
    x, _ = moving_blobs(n=4)
    model = small_model()
    y_pred = model(x)
    loss = float(model.compute_loss(x, None, y_pred))
    changed = x.copy()
    changed[:, :, 0, 0, 1] = 1e6  # the NaN points get huge values...
    # ...but they are still masked out when the mask says so: the model fills NaN, the loss
    # skips them. Reinsert NaN where the mask was, as a data pipeline would.
    changed[np.isnan(x)] = np.nan
    assert float(model.compute_loss(changed, None, model(changed))) == loss
    # Changing the network's output at masked points does not change the loss either.
    reconstruction = keras.ops.convert_to_numpy(y_pred["reconstruction"]).copy()
    reconstruction[np.isnan(x)] = 123.0
    altered = dict(y_pred, reconstruction=reconstruction)
    np.testing.assert_allclose(float(model.compute_loss(x, None, altered)), loss, rtol=1e-6)
    # An unmasked change does change it.
    reconstruction[0, 0, 5, 5, 0] += 10.0
    assert float(model.compute_loss(x, None, dict(y_pred, reconstruction=reconstruction))) > loss


def test_nan_input_gives_finite_outputs():
    x, _ = moving_blobs(n=4)
    out = model_out = small_model()(x)
    for value in model_out.values():
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(value)))
    assert out["reconstruction"].shape == x.shape


def test_model_round_trips_give_identical_outputs(tmp_path):
    x, _ = moving_blobs(n=6)
    model = run_model_test(
        lambda: DSC(input_shape=SHAPE, n_clusters=3, filters=(2, 3), latent_dim=5, skip=True,
                    alpha=2.0, gamma=0.3, recurrent_decoder=False), x, tmp_path, atol=0)
    restored = DSC.from_config(model.get_config())
    assert (restored.alpha, restored.gamma, restored.skip) == (2.0, 0.3, True)


def test_same_seed_gives_same_labels():
    x, _ = moving_blobs()
    runs = []
    for _ in range(2):
        keras.utils.set_random_seed(7)
        model = small_model()
        result = train_dsc(model, x, batch_size=8, pretrain_steps=8, steps=8,
                           update_interval=2, seed=7, kmeans_n_init=3, verbose=0)
        runs.append((result.labels, result.probabilities))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_allclose(runs[0][1], runs[1][1], atol=1e-6)


def test_budgets_are_steps_and_the_reasons_are_reported():
    x, _ = moving_blobs(n=12)  # 3 steps an epoch at batch 4
    result = train_dsc(small_model(), x, batch_size=4, pretrain_steps=7, steps=5, tol=0.0,
                       plateau_delta=0.0, kmeans_n_init=2, verbose=0)
    assert result.stopping["pretraining"] == {"steps": 7, "budget": 7, "reason": "budget"}
    joint = dict(result.stopping["joint"])
    assert 0.0 <= joint.pop("last_label_change") <= 1.0  # updated every epoch of 3 steps
    assert joint == {"steps": 5, "budget": 5, "reason": "budget"}
    assert len(result.history["loss"]) == 3 + 2  # the last epoch of each phase is cut short
    # A reconstruction that must improve by 10 an epoch "plateaus" patience + 1 epochs after
    # the check starts, at half the budget: epoch 5 (15 steps), so it stops after 8 epochs.
    plateau = train_dsc(small_model(), x, batch_size=4, pretrain_steps=30, steps=3,
                        plateau_delta=10.0, plateau_patience=2, kmeans_n_init=2, verbose=0)
    assert plateau.stopping["pretraining"] == {"steps": 24, "budget": 30, "reason": "plateau"}


def test_a_joint_phase_ended_by_its_budget_says_how_much_still_moved():
    from keras_dsc.runs.fit import stopping_text

    x, _ = moving_blobs(n=12)
    result = train_dsc(small_model(), x, batch_size=4, pretrain_steps=3, steps=6,
                       update_interval=2, tol=0.0, kmeans_n_init=2, verbose=0)
    joint = result.stopping["joint"]
    assert joint["reason"] == "budget" and 0.0 <= joint["last_label_change"] <= 1.0
    # The last of the label changes the history logs at each epoch end.
    assert joint["last_label_change"] == round(result.history["label_change"][-1], 4)
    assert (f"joint training 6 of 6 steps (its step budget was used up, while "
            f"{100 * joint['last_label_change']:.1f} % of the windows still changed cluster at "
            f"its last update: a larger --steps lets it converge)") in stopping_text(
                result.stopping)


def test_train_dsc_writes_history_and_checkpoint(tmp_path):
    x, labels = moving_blobs()
    result = train_dsc(small_model(), x, batch_size=8, pretrain_steps=8, steps=8,
                       update_interval=2, kmeans_n_init=3, log_dir=tmp_path, verbose=0)
    assert result.labels.shape == labels.shape and result.probabilities.shape == (32, 2)
    lines = (tmp_path / "history.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert {"epoch", "loss", "reconstruction_loss", "clustering_loss", "label_change"} <= set(header)
    assert len(lines) >= 4  # 2 pre-training epochs + at least 1 joint epoch (it may converge)
    assert keras.saving.load_model(tmp_path / "checkpoint.keras").n_clusters == 2


def test_trains_and_runs_the_examples_under_jax_backend(tmp_path):
    script = textwrap.dedent(
        """
        import numpy as np, keras
        assert keras.backend.backend() == "jax"
        from keras_dsc import DSC, train_dsc
        rng = np.random.default_rng(0)
        x = rng.normal(size=(16, 3, 9, 11, 2)).astype("float32")
        x[:, :, 0, 0, 1] = np.nan
        model = DSC(input_shape=x.shape[1:], n_clusters=2, filters=(4,), latent_dim=4)
        result = train_dsc(model, x, batch_size=8, pretrain_steps=4, steps=4,
                           update_interval=1, tol=0.0, kmeans_n_init=2, verbose=0)
        h = result.history
        assert h["reconstruction_loss"][-1] < h["reconstruction_loss"][0], h
        assert h["clustering_loss"][-1] > 0, h
        print("JAX-OK", len(h["loss"]))

        # The docstring example of every public Keras class and training function, as written.
        import doctest, os, tempfile
        import keras_dsc
        os.chdir(tempfile.mkdtemp())
        for name in ["ClusteringLayer", "ConvLSTMEncoderBlock", "ConvLSTMDecoderBlock", "DSC",
                     "WindowBatches", "TargetDistributionUpdate", "target_distribution",
                     "train_dsc"]:
            runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
            for test in doctest.DocTestFinder(recurse=False).find(getattr(keras_dsc, name), name):
                runner.run(test)
            assert runner.tries > 0 and runner.failures == 0, name
        print("JAX-EXAMPLES-OK")
        """
    )
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "JAX-OK 4" in proc.stdout and "JAX-EXAMPLES-OK" in proc.stdout, proc.stdout[-3000:]


def test_mixed_bfloat16_computes_in_bfloat16_but_keeps_float32_outputs_and_losses(tmp_path):
    x, _ = moving_blobs(n=8)
    model = run_model_test(lambda: small_model(dtype="mixed_bfloat16"), x, tmp_path, atol=1e-2)
    outputs = model(x)
    assert {key: keras.backend.standardize_dtype(value.dtype) for key, value in outputs.items()} == {
        "embedding": "float32", "probabilities": "float32", "reconstruction": "float32"}
    assert model.encoder_blocks[0].compute_dtype == "bfloat16"
    logs = model.train_on_batch(x, target_distribution(
        keras.ops.convert_to_numpy(outputs["probabilities"])), return_dict=True)
    assert all(np.isfinite(value) for value in logs.values())


def test_hardware_settings_follow_the_device_and_the_options():
    from keras_dsc.training.hardware import hardware_settings

    auto = hardware_settings()
    assert auto["backend"] == "tensorflow" and auto["device"] == "cpu"
    assert auto["jit_compile"] is False and auto["dtype_policy"] == "float32"  # measured: slower
    forced = hardware_settings(jit_compile="on", mixed_precision="on")
    assert forced["jit_compile"] is True and forced["dtype_policy"] == "mixed_bfloat16"
