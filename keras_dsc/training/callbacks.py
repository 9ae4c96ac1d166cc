"""Keras callbacks of the DSC training procedure."""

import keras
import numpy as np

from keras_dsc.data.batches import window_batches
from keras_dsc.training.target import target_distribution
from keras_dsc.training.workers import broadcast_from_chief


def soft_assignments(model, windows, batch_size):
    """Soft assignments Q of every window, in order, from the model's encoder and clustering head.

    Args:
        model: a `keras_dsc.DSC` model.
        windows: the window source (see `WindowBatches`).
        batch_size: int, windows per prediction batch.

    Returns:
        float32 array `(n_samples, n_clusters)`.
    """
    batches = window_batches(windows, batch_size)
    return model.assignment_model.predict(batches, verbose=0)["probabilities"]


class TargetDistributionUpdate(keras.callbacks.Callback):
    """Recomputes the target distribution P over the WHOLE data set every `update_interval` steps.

    At the start of training and then every `update_interval` training steps, the soft
    assignments Q of all windows are predicted, P is computed from them with
    `keras_dsc.target_distribution` and written into `targets` in place (the array the
    `WindowBatches` of `fit` reads). The fraction of windows whose cluster changed since the last
    update is logged as `label_change` at every epoch end; training stops once it falls below
    `tol`. P therefore stays global, never a per-batch estimate.

    Args:
        windows: the window source.
        targets: float32 array `(n_samples, n_clusters)` that the training batches read.
        update_interval: int, training steps between updates.
        tol: float, stop when the fraction of changed labels is below this.
        batch_size: int, windows per prediction batch.

    Attributes:
        skip_first_update: bool, whether `on_train_begin` leaves P as it is (set by
            `keras_dsc.training.resume.PhaseBackup` when it restores P, the labels and the
            step count of a killed training). Defaults to `False`.

    Example:

    >>> import numpy as np
    >>> from keras_dsc import DSC, WindowBatches
    >>> windows = np.random.default_rng(0).normal(size=(8, 2, 6, 6, 1)).astype("float32")
    >>> model = DSC(input_shape=(2, 6, 6, 1), n_clusters=2, filters=(2,), latent_dim=2)
    >>> model.compile(optimizer="adam")
    >>> targets = np.zeros((8, 2), "float32")
    >>> update = TargetDistributionUpdate(windows, targets, update_interval=2, tol=0.0,
    ...                                   batch_size=4)
    >>> history = model.fit(WindowBatches(windows, 4, shuffle=True, targets=targets),
    ...                     epochs=2, callbacks=[update], verbose=0)
    >>> bool(np.allclose(targets.sum(axis=1), 1.0)), len(history.history["label_change"])
    (True, 2)
    """

    def __init__(self, windows, targets, update_interval, tol, batch_size):
        super().__init__()
        self.windows = windows
        self.targets = targets
        self.update_interval = int(update_interval)
        self.tol = float(tol)
        self.batch_size = int(batch_size)
        self.labels = None
        self.label_change = float("nan")
        self.converged = False
        self.skip_first_update = False
        self._steps = 0

    def _update(self):
        # Under multi-worker training every worker goes on from the chief's Q (so the same P
        # and the same decision to stop).
        probabilities = broadcast_from_chief(
            soft_assignments(self.model, self.windows, self.batch_size))
        self.targets[...] = target_distribution(probabilities)
        labels = probabilities.argmax(axis=1)
        if self.labels is not None:
            self.label_change = float(np.mean(labels != self.labels))
            if self.label_change < self.tol:
                self.converged = True
                self.model.stop_training = True
        self.labels = labels

    def on_train_begin(self, logs=None):
        if not self.skip_first_update:  # set when P is restored (`keras_dsc.training.resume`)
            self._update()

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        if self._steps % self.update_interval == 0:
            self._update()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["label_change"] = self.label_change


class MissingLabelChange(keras.callbacks.Callback):
    """Logs `label_change` as NaN, so pre-training epochs share the joint phase's CSV columns."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.setdefault("label_change", float("nan"))


class StepBudget(keras.callbacks.Callback):
    """Stops `fit` after `steps` training steps, mid-epoch if need be.

    A training budget in steps does not depend on the number of samples: 300 steps are 300
    steps on a record of 50 windows (many epochs) and on one of 50 000 (part of an epoch).
    `stopped` tells whether the budget ended the training; `steps` counts the steps taken.

    Args:
        steps: int, the most training steps.

    Example:

    >>> import numpy as np, keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> budget = StepBudget(5)
    >>> history = model.fit(np.zeros((8, 3)), np.zeros(8), batch_size=2, epochs=10,
    ...                     callbacks=[budget], verbose=0)
    >>> budget.steps, budget.stopped, len(history.history["loss"])
    (5, True, 2)
    """

    def __init__(self, steps):
        super().__init__()
        self.budget = int(steps)
        self.steps = 0
        self.stopped = False

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps >= self.budget:
            self.stopped = True
            self.model.stop_training = True
