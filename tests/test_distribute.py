"""`fit --distribute`: data-parallel training on local devices gives what one device gives.

Two logical CPU devices stand for two accelerators (`tf.config.set_logical_device_configuration`
must run before TensorFlow starts, hence a subprocess). The same global batch on one device
(no strategy) and on two (`MirroredStrategy`, 4 windows per replica): the same loss curve within
a relative 2e-3 (the per-replica sums round differently, and Adam's first steps turn tiny
gradient differences into full-size steps), the same initial (k-means) labels, and the same
final labels but for near-ties.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers.cli_run import ROOT, refused, run_cli

TWO_DEVICES = """
import json, sys, time
import keras
engine = sys.argv[1]
if engine == "mirrored":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from keras_dsc import DSC, train_dsc
from keras_dsc.training.hardware import Distribution

rng = np.random.default_rng(0)
centres = 3.0 * rng.normal(size=(3, 2, 6, 6, 2))
windows = (centres[np.arange(48) % 3] + 0.1 * rng.normal(size=(48, 2, 6, 6, 2))).astype("float32")
out = {}
for engine in ("none", engine):
    keras.utils.set_random_seed(0)
    with Distribution(engine) as distribution:
        model = DSC(input_shape=windows.shape[1:], n_clusters=3, filters=(4,), latent_dim=3)
        started = time.time()
        result = train_dsc(model, windows, batch_size=8, pretrain_steps=12, steps=12,
                           update_interval=3, tol=0.0, verbose=0)
    out["two" if engine != "none" else "one"] = {
                   "replicas": distribution.replicas, "seconds": time.time() - started,
                   "loss": [float(v) for v in result.history["loss"]],
                   "initial": result.initial_labels.tolist(), "labels": result.labels.tolist(),
                   "probabilities": result.probabilities.round(4).tolist()}
print("RESULT " + json.dumps(out))
"""


def train_on_one_and_two_devices(engine, backend, env=None):
    """Runs `TWO_DEVICES` in a fresh process; returns its results on one and two devices."""
    done = subprocess.run([sys.executable, "-c", TWO_DEVICES, engine], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
                               "KERAS_BACKEND": backend, **(env or {})})
    assert done.returncode == 0, done.stderr[-3000:]
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")][-1]
    out = json.loads(line[len("RESULT "):])
    return out["one"], out["two"]


@pytest.mark.slow  # about a minute on 2 busy CPU cores: two trainings and TensorFlow twice
def test_two_devices_train_as_one():
    one, two = train_on_one_and_two_devices("mirrored", "tensorflow")
    assert one["replicas"] == 1 and two["replicas"] == 2
    assert len(one["loss"]) == len(two["loss"]) == 4  # 2 epochs of pre-training, 2 joint
    for a, b in zip(one["loss"], two["loss"]):
        assert abs(a - b) <= 2e-3 * abs(a), (one["loss"], two["loss"])
    assert one["initial"] == two["initial"]  # k-means once, on the same embedding
    # The same final labels, except where one device's assignment is a near-tie (the two
    # largest probabilities within 0.02), which rounding may tip either way; the soft
    # assignments within 0.02. (On the run that set these bounds all 48 labels agreed and the
    # probabilities within 0.005.)
    p1, p2 = np.array(one["probabilities"]), np.array(two["probabilities"])
    top = np.sort(p1, axis=1)
    decisive = top[:, -1] - top[:, -2] >= 0.02
    assert decisive.sum() >= len(decisive) // 2
    labels1, labels2 = np.array(one["labels"]), np.array(two["labels"])
    assert (labels1[decisive] == labels2[decisive]).all(), (one["labels"], two["labels"])
    assert np.abs(p1 - p2).max() <= 0.02


@pytest.mark.slow  # about a minute: JAX compiles every step function twice
def test_two_jax_devices_train_as_one():
    """`keras.distribution.DataParallel` over 2 host devices (XLA's forced device count): one
    SPMD program, the same loss curve within a relative 1e-5 and the same labels."""
    one, two = train_on_one_and_two_devices(
        "data-parallel", "jax", {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert one["replicas"] == 1 and two["replicas"] == 2
    for a, b in zip(one["loss"], two["loss"]):
        assert abs(a - b) <= 1e-5 * abs(a), (one["loss"], two["loss"])
    assert one["initial"] == two["initial"] and one["labels"] == two["labels"]


def test_wrong_engine_for_the_backend_is_refused(tmp_path):
    done = run_cli("fit", "--days", "2", "--distribute", "data-parallel", "--out", tmp_path,
                   env={"KERAS_BACKEND": "tensorflow"})
    refused(done, "--distribute data-parallel", "JAX", "--distribute mirrored")
    done = run_cli("fit", "--days", "2", "--distribute", "mirrored", "--out", tmp_path,
                   env={"KERAS_BACKEND": "jax"})
    refused(done, "--distribute mirrored", "MirroredStrategy", "--distribute data-parallel")
    done = run_cli("fit", "--days", "2", "--distribute", "mirrored", "--method", "kmeans",
                   "--out", tmp_path)
    refused(done, "--distribute mirrored", "--method kmeans")
    done = run_cli("fit", "--days", "2", "--distribute", "ring", "--out", tmp_path)
    refused(done, "--distribute must be one of none, mirrored, data-parallel")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # a tiny run of cli.py fit, about a minute on 2 busy CPU cores
def test_fit_mirrored_writes_a_run(tmp_path):
    done = run_cli("fit", "--days", "4", "--filters", "2", "--latent-dim", "4", "--steps", "2",
                   "--pretrain-steps", "2", "--n-clusters", "2", "--batch-size", "2",
                   "--no-plots", "--distribute", "mirrored", "--out", tmp_path,
                   "--run-name", "r", env={"KERAS_BACKEND": "tensorflow"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "distribute: mirrored over 1 devices" in done.stdout
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["fit"]["distribute"] == "mirrored"
    assert config["hardware"]["replicas"] == 1
    assert (tmp_path / "r" / "model.keras").is_file()
    assert len(open(tmp_path / "r" / "assignments.csv").read().splitlines()) == 5
