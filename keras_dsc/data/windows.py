"""Windows of consecutive time steps over a normalised cube, computed on demand.

A sample of the DSC model is a window of `window` consecutive time steps of the whole grid:
an array of shape (window, latitude, longitude, variable). `WindowedCube` indexes those windows
over a (time, latitude, longitude, variable) DataArray without materialising them: indexing
computes only the time steps the requested windows cover, so that multi-year lazy (dask) cubes
stream through training in constant memory.
"""

import numpy as np
import xarray as xr

from keras_dsc.errors import DataError, OptionError

DIMS = ("time", "latitude", "longitude", "variable")


class WindowedCube:
    """Windows of consecutive time steps of a (time, latitude, longitude, variable) array.

    Window `i` covers the time steps `i * stride ... i * stride + window - 1`. With the default
    `stride = window` the windows tile the series without overlap; a trailing remainder shorter
    than `window` is left out.

    Args:
        array: an `xarray.DataArray` with dims (time, latitude, longitude, variable), numpy-
            backed or lazy (dask), such as the output of `CubePreprocessor.transform`.
        window: number of time steps per window (e.g. 24 for the hours of a day; 1 for the
            paper's one-step samples).
        stride: steps between the starts of consecutive windows. Defaults to `window`.
        labels: ground-truth labels: None to use the `regime` coordinate when the array has
            one, the name of another coordinate on time, or an integer array with one label per
            time step. A window's label is that of its first time step.

    Example:

    >>> from keras_dsc.data.era5 import open_cube
    >>> from keras_dsc.data.preprocessing import CubePreprocessor
    >>> from keras_dsc.data.synthetic import write_cube
    >>> ds = open_cube(write_cube("era5.nc", days=10))
    >>> x = CubePreprocessor().fit(ds).transform(ds)
    >>> cube = WindowedCube(x, window=24)
    >>> len(cube), cube.sample_shape
    (10, (24, 41, 41, 7))
    >>> cube[np.arange(2, 5)].shape       # float32; only these 3 days are computed
    (3, 24, 41, 41, 7)
    """

    def __init__(self, array, window, stride=None, labels=None):
        if not isinstance(array, xr.DataArray):
            raise DataError(f"WindowedCube: expected an xarray.DataArray with dims {DIMS}, "
                            f"got {type(array).__name__}")
        if set(array.dims) != set(DIMS):
            raise DataError(f"WindowedCube: the array's dims {array.dims} are not {DIMS}")
        self.array = array.transpose(*DIMS)
        n_times = self.array.sizes["time"]
        self.window = _positive_int(window, "window")
        self.stride = self.window if stride is None else _positive_int(stride, "stride")
        if self.window > n_times:
            raise OptionError(f"{{window}} {self.window} is longer than the series "
                              f"({n_times} time steps)", "window")
        self._length = (n_times - self.window) // self.stride + 1
        self._starts = np.arange(self._length) * self.stride
        self._labels = self._window_labels(labels, n_times)

    def __len__(self):
        return self._length

    def __repr__(self):
        return (f"WindowedCube({len(self)} windows of shape {self.sample_shape}, "
                f"stride {self.stride})")

    def __getitem__(self, index):
        """Windows as float32 numpy arrays, computing only the time steps they cover.

        Args:
            index: an int (returns one window, shape `sample_shape`), a slice, a boolean mask
                or an integer array/list (returns shape `(n,) + sample_shape`).
        """
        single = isinstance(index, (int, np.integer))
        positions = window_positions(index, len(self))
        steps = self._starts[positions][:, None] + np.arange(self.window)
        needed, inverse = np.unique(steps, return_inverse=True)
        if needed.size and needed[-1] - needed[0] + 1 == needed.size:
            chosen = self.array.isel(time=slice(int(needed[0]), int(needed[-1]) + 1))
            values = np.asarray(chosen.values, dtype="float32")
        elif needed.size:
            values = np.asarray(self.array.isel(time=needed).values, dtype="float32")
        else:
            values = np.zeros((0,) + self.sample_shape[1:], dtype="float32")
        out = values[inverse.reshape(steps.shape)]
        return out[0] if single else out

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    @property
    def sample_shape(self):
        """(window, latitude, longitude, variable)."""
        sizes = self.array.sizes
        return (self.window, sizes["latitude"], sizes["longitude"], sizes["variable"])

    @property
    def start_times(self):
        """numpy datetime64 array: the first time step of every window."""
        return self.array["time"].values[self._starts]

    @property
    def labels(self):
        """int array: the label at every window's first time step, or None without labels."""
        return self._labels

    @property
    def variables(self):
        """The variable names, in array order."""
        return [str(v) for v in self.array["variable"].values]

    @property
    def latitudes(self):
        return self.array["latitude"].values

    @property
    def longitudes(self):
        return self.array["longitude"].values

    def flatten_features(self, batch=64, indices=None):
        """Windows flattened to (n, window*lat*lon*variable) float32, NaN replaced by 0.

        The input of k-means baselines and of the clustering scores. Computed `batch` windows at
        a time; the result itself is held in memory.

        Args:
            batch: int, windows read at a time. Defaults to `64`.
            indices: optional 1-D integer array, the windows to flatten, in that order.
                Defaults to `None` (every window).
        """
        batch = _positive_int(batch, "batch")
        positions = np.arange(len(self)) if indices is None else window_positions(indices, len(self))
        out = np.empty((len(positions), int(np.prod(self.sample_shape))), dtype="float32")
        for start in range(0, len(positions), batch):
            stop = min(start + batch, len(positions))
            block = self[positions[start:stop]]
            out[start:stop] = np.nan_to_num(block.reshape(stop - start, -1), nan=0.0)
        return out

    def _window_labels(self, labels, n_times):
        if labels is None:
            if "regime" not in self.array.coords:
                return None
            labels = "regime"
        if isinstance(labels, str):
            if labels not in self.array.coords or self.array[labels].dims != ("time",):
                raise DataError(f"labels: {labels!r} is not a coordinate on time")
            per_step = np.asarray(self.array[labels].values)
        else:
            per_step = np.asarray(labels)
            if per_step.shape != (n_times,):
                raise DataError(f"labels: expected one label per time step ({n_times}), "
                                f"got shape {per_step.shape}")
        return per_step[self._starts].astype("int64")


def window_positions(index, n):
    """The window numbers (int64, in [0, n)) an index of `n` windows selects.

    Args:
        index: an int, a slice, a boolean mask of shape `(n,)` or a 1-D integer array
            (negative numbers count from the end).
        n: int, the number of windows.

    Returns:
        A 1-D int64 array; `IndexError` for an index out of range or of another kind.
    """
    if isinstance(index, (int, np.integer)):
        i = int(index)
        if not -n <= i < n:
            raise IndexError(f"window {i} out of range for {n} windows")
        return np.array([i % n])
    if isinstance(index, slice):
        return np.arange(n)[index]
    positions = np.asarray(index)
    if positions.dtype == bool:
        if positions.shape != (n,):
            raise IndexError(f"boolean mask of shape {positions.shape} for {n} windows")
        return np.flatnonzero(positions)
    if positions.ndim != 1 or not (positions.size == 0
                                   or np.issubdtype(positions.dtype, np.integer)):
        raise IndexError(f"windows are indexed by an int, a slice or a 1-D integer array, "
                         f"got {index!r}")
    positions = positions.astype("int64")
    if positions.size and (positions.max() >= n or positions.min() < -n):
        raise IndexError(f"window index out of range for {n} windows")
    return positions % n if positions.size else positions


def flatten_features(cube, batch=64):
    """`cube.flatten_features(batch)`: windows as (n, features) float32 with NaN -> 0."""
    return cube.flatten_features(batch=batch)


def _positive_int(value, option):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise OptionError(f"{{{option}}} must be a positive integer, got {value!r}", option)
    if value <= 0:
        raise OptionError(f"{{{option}}} must be a positive integer, got {value}", option)
    return int(value)
