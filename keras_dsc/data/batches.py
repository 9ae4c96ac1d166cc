"""Batches of windows for `model.fit` and `predict`, read on demand from any window source."""

import math

import keras
import numpy as np


class WindowBatches(keras.utils.PyDataset):
    """Serves batches of windows, optionally with their rows of the target distribution P.

    The window source is anything with `len()` and NumPy-style integer-array indexing that
    returns `(n, time, lat, lon, variables)` float32: a NumPy array, or a
    `keras_dsc.data.windows.WindowedCube` that reads only the requested windows from (lazy) NetCDF.
    So training streams, and memory does not grow with the length of the record.

    Args:
        windows: the window source.
        batch_size: int, samples per batch.
        shuffle: bool, reshuffle the samples every epoch (seeded). Defaults to `False`.
        seed: int, seed of the shuffling. Defaults to `0`.
        targets: optional float32 array `(n_samples, n_clusters)`, the target distribution P.
            It is read at every batch, so updating it in place (as
            `keras_dsc.TargetDistributionUpdate` does) changes what later batches carry.
        **kwargs: `keras.utils.PyDataset` arguments (`workers`, ...).

    Example:

    >>> import numpy as np
    >>> from keras_dsc import WindowBatches
    >>> batches = WindowBatches(np.zeros((10, 2, 4, 4, 1), "float32"), batch_size=4)
    >>> len(batches), batches[2].shape
    (3, (2, 2, 4, 4, 1))
    """

    def __init__(self, windows, batch_size, shuffle=False, seed=0, targets=None, **kwargs):
        super().__init__(**kwargs)
        self.windows = windows
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.targets = targets
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(len(windows))
        if self.shuffle:
            self._rng.shuffle(self._order)

    def __len__(self):
        return math.ceil(len(self.windows) / self.batch_size)

    def __getitem__(self, index):
        # Sorted indices read contiguous windows from disk; the batch's members stay random.
        rows = np.sort(self._order[index * self.batch_size : (index + 1) * self.batch_size])
        x = np.asarray(self.windows[rows], dtype="float32")
        if self.targets is None:
            return x
        return x, self.targets[rows]

    def on_epoch_end(self):
        if self.shuffle:
            self._rng.shuffle(self._order)


def window_batches(windows, batch_size, shuffle=False, seed=0, targets=None):
    """Batches of any window source for `fit` and `predict`.

    A source with its own `batches(batch_size, shuffle, seed, targets)` method (such as
    `keras_dsc.data.tfds.TfdsWindows`, which streams a TFDS dataset through `tf.data`) makes
    them itself; any other (a NumPy array, a `WindowedCube`) gets a `WindowBatches`. Either way,
    without shuffling the batches follow the window order.

    Args:
        windows: the window source.
        batch_size: int, samples per batch.
        shuffle: bool, reshuffle every epoch (seeded). Defaults to `False`.
        seed: int, seed of the shuffling. Defaults to `0`.
        targets: optional float32 array `(n_samples, n_clusters)`, the target distribution P,
            read at every batch.

    Returns:
        A `WindowBatches` or what the source's `batches` returns (a `tf.data.Dataset`).
    """
    if hasattr(windows, "batches"):
        return windows.batches(batch_size, shuffle=shuffle, seed=seed, targets=targets)
    return WindowBatches(windows, batch_size, shuffle=shuffle, seed=seed, targets=targets)
