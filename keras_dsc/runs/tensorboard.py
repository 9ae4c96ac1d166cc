"""TensorBoard logs of a training run: `fit --tensorboard` writes them into `RUN_DIR/logs/`.

Keras' `TensorBoard` callback logs every epoch of both phases (autoencoder pre-training, then
joint training; the epochs number on across the two) to `logs/train/`: the losses and
`label_change`, the fraction of windows that changed cluster (NaN while pre-training).
`ClusterSizes` adds, for every joint-training epoch, the number of windows in each cluster
(`cluster_size/<k>`) and the smallest cluster's share (`cluster_size/smallest_fraction`) to
`logs/clusters/`. Open them with `tensorboard --logdir RUN_DIR/logs` (`pip install
tensorboard`, or the `tensorboard` extra).
"""

import pathlib

import keras
import numpy as np

from keras_dsc.runs import run_folder
from keras_dsc.training.callbacks import soft_assignments


class ClusterSizes(keras.callbacks.Callback):
    """Logs the size of every cluster at the end of each joint-training epoch.

    The sizes are the argmax of the soft assignments of all windows (one prediction pass
    per epoch); pre-training epochs, whose centres are not yet set, are skipped.

    Args:
        windows: the window source.
        batch_size: int, windows per prediction batch.
        log_dir: the folder of the summaries.

    Example:

    >>> import numpy as np
    >>> from keras_dsc import DSC
    >>> windows = np.random.default_rng(0).normal(size=(6, 2, 6, 6, 1)).astype("float32")
    >>> model = DSC(input_shape=(2, 6, 6, 1), n_clusters=2, filters=(2,), latent_dim=2)
    >>> callback = ClusterSizes(windows, batch_size=3, log_dir="logs/clusters")
    >>> callback.set_model(model)
    >>> model.clustering.trainable = True
    >>> callback.on_epoch_end(0)
    >>> int(sum(callback.sizes))
    6
    """

    def __init__(self, windows, batch_size, log_dir):
        super().__init__()
        self.windows = windows
        self.batch_size = int(batch_size)
        self.log_dir = str(log_dir)
        self.sizes = None
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        if not self.model.clustering.trainable:  # pre-training: no centres yet
            return
        import tensorflow as tf

        probabilities = soft_assignments(self.model, self.windows, self.batch_size)
        self.sizes = np.bincount(probabilities.argmax(axis=1), minlength=probabilities.shape[1])
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            for k, size in enumerate(self.sizes):
                tf.summary.scalar(f"cluster_size/{k}", int(size), step=epoch)
            tf.summary.scalar("cluster_size/smallest_fraction",
                              float(self.sizes.min() / max(self.sizes.sum(), 1)), step=epoch)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()


def tensorboard_callbacks(run_dir, windows, batch_size):
    """The callbacks of `fit --tensorboard`: Keras' `TensorBoard` and `ClusterSizes`.

    Args:
        run_dir: the run folder; logs go to `run_dir/logs/`.
        windows: the window source (for the cluster sizes).
        batch_size: int, windows per prediction batch.

    Returns:
        A list of two Keras callbacks, for both training phases.
    """
    logs = pathlib.Path(run_dir) / run_folder.TENSORBOARD_FOLDER
    return [
        keras.callbacks.TensorBoard(log_dir=str(logs), write_graph=False),
        ClusterSizes(windows, batch_size, logs / "clusters"),
    ]
