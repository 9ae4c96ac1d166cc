"""Batches of windows for `model.fit` and `predict`, read on demand from any window source."""

import math
import random

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

    Attributes:
        epochs_started: int, the epochs `synchronous_batches` has begun serving (with the
            shuffling generator's state, what a resumed training restores).

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
        self.epochs_started = 0  # counted by `synchronous_batches`
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


def synchronous_batches(batches):
    """A `tf.data.Dataset` serving a `WindowBatches` to `fit` exactly as `fit(shuffle=True)`
    would, except that a batch is read only when the training step takes it.

    Every epoch the order of the batches is shuffled with Python's `random` (as Keras does) and,
    from the second epoch on, the samples are reshuffled (`on_epoch_end`), so the batches are the
    same. But Keras reads a `PyDataset` ahead in a background thread (`prefetch`), so an
    in-place update of the target distribution P reached the next batches or not depending on
    timing; here nothing is read ahead, so an update always reaches the next batch, and where
    an epoch stands is all in `epochs_started`, the generators' states and `random`'s (what
    `keras_dsc.training.resume` saves to resume a killed training).

    Args:
        batches: a `WindowBatches`.

    Returns:
        A `tf.data.Dataset` of `len(batches)` batches per iteration.

    Example:

    >>> import numpy as np
    >>> batches = WindowBatches(np.zeros((10, 2, 4, 4, 1), "float32"), 4, shuffle=True)
    >>> sorted(int(b.shape[0]) for b in synchronous_batches(batches)), batches.epochs_started
    ([2, 4, 4], 1)
    """
    import tensorflow as tf

    first = batches[0]
    pair = isinstance(first, tuple)
    shapes = [(None, *np.shape(a)[1:]) for a in (first if pair else (first,))]
    order = []

    def read(index):
        if index == 0:  # an epoch begins
            if batches.epochs_started > 0:
                batches.on_epoch_end()
            batches.epochs_started += 1
            order[:] = range(len(batches))
            if batches.shuffle:
                random.shuffle(order)
        batch = batches[order[int(index)]]
        return tuple(np.asarray(a, "float32") for a in (batch if pair else (batch,)))

    def fetch(index):
        arrays = tf.numpy_function(read, [index], [tf.float32] * len(shapes), stateful=True)
        for array, shape in zip(arrays, shapes):
            array.set_shape(shape)
        return tuple(arrays) if pair else arrays[0]

    ds = tf.data.Dataset.range(len(batches)).map(fetch)  # one at a time, in order
    options = tf.data.Options()
    options.experimental_optimization.inject_prefetch = False  # read when taken
    options.experimental_optimization.map_parallelization = False
    # Several workers (`MultiWorkerMirroredStrategy`) each read every batch and keep their part.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.deterministic = True
    return ds.with_options(options)


def streamed_batches(windows, batch_size, shuffle=False, seed=0, targets=None, parallel=2):
    """Batches of a window source read on demand, fetched ahead in parallel by `tf.data`.

    For sources whose windows are computed when read (a lazy, dask-backed `WindowedCube` over
    files too large for memory): `parallel` batches are read at once in background threads
    while the model trains on the previous ones, so reading overlaps the step. The target
    distribution P is attached when a batch is taken, not when it is read ahead, so that an
    in-place update of `targets` reaches the very next batch, exactly as with
    `WindowBatches`; the batches are the same, in the same order, for the same seed.

    Args:
        windows: the window source (`len()` and integer-array indexing).
        batch_size: int, samples per batch.
        shuffle: bool, reshuffle every epoch (seeded). Defaults to `False`.
        seed: int, seed of the shuffling. Defaults to `0`.
        targets: optional float32 array `(n_samples, n_clusters)`, read at every batch.
        parallel: int, batches read at once. Defaults to `2`.

    Returns:
        A `tf.data.Dataset` of `x` (float32 `(batch,) + sample_shape`) or `(x, y)`.

    Example:

    >>> import numpy as np
    >>> batches = streamed_batches(np.arange(10, dtype="float32").reshape(10, 1, 1, 1, 1), 4)
    >>> [b.shape[0] for b in batches.as_numpy_iterator()]
    [4, 4, 2]
    """
    import tensorflow as tf

    n = len(windows)
    shape = tuple(getattr(windows, "sample_shape", None) or np.shape(windows)[1:])

    def read(index):
        rows = np.sort(index)  # contiguous reads; the batch's members stay random
        return np.asarray(windows[rows], dtype="float32"), rows

    def fetch(index):
        x, rows = tf.numpy_function(read, [index], (tf.float32, tf.int64), stateful=False)
        x.set_shape((None, *shape))
        rows.set_shape((None,))
        return x, rows

    order = tf.data.Dataset.range(n)
    if shuffle:
        order = order.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = order.batch(int(batch_size)).map(fetch, num_parallel_calls=int(parallel),
                                         deterministic=True).prefetch(int(parallel))
    if targets is None:
        ds = ds.map(lambda x, rows: x)
    else:
        n_clusters = targets.shape[1]

        def rows_of_p(rows):  # the live array: an update reaches the next batch taken
            return np.asarray(targets[rows], dtype="float32")

        def with_targets(x, rows):
            y = tf.numpy_function(rows_of_p, [rows], tf.float32, stateful=True)
            y.set_shape((None, n_clusters))
            return x, y

        ds = ds.map(with_targets)
    options = tf.data.Options()
    options.experimental_optimization.inject_prefetch = False  # targets read on demand
    options.deterministic = True
    return ds.with_options(options)


def window_batches(windows, batch_size, shuffle=False, seed=0, targets=None):
    """Batches of any window source for `fit` and `predict`.

    A source with its own `batches(batch_size, shuffle, seed, targets)` method (such as
    `keras_dsc.data.tfds.TfdsWindows`, which streams a TFDS dataset through `tf.data`) makes
    them itself; a `WindowedCube` over a lazy (dask) cube is read ahead in parallel
    (`streamed_batches`), so that reading overlaps training; any other source (a NumPy array,
    a `WindowedCube` in memory) gets a `WindowBatches`. Either way, without shuffling the
    batches follow the window order.

    Args:
        windows: the window source.
        batch_size: int, samples per batch.
        shuffle: bool, reshuffle every epoch (seeded). Defaults to `False`.
        seed: int, seed of the shuffling. Defaults to `0`.
        targets: optional float32 array `(n_samples, n_clusters)`, the target distribution P,
            read at every batch.

    Returns:
        A `WindowBatches`, or a `tf.data.Dataset`.
    """
    if hasattr(windows, "batches"):
        return windows.batches(batch_size, shuffle=shuffle, seed=seed, targets=targets)
    if getattr(getattr(windows, "array", None), "chunks", None):
        return streamed_batches(windows, batch_size, shuffle=shuffle, seed=seed, targets=targets)
    return WindowBatches(windows, batch_size, shuffle=shuffle, seed=seed, targets=targets)
