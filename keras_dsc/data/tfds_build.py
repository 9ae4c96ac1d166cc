"""What the era5_cube TFDS builder computes, in the driver or in Apache Beam workers.

`CubeSource` names what a build reads (the manual dir's NetCDF files or Zarr stores, the
config's variables, region, time means and windows) and opens it where it runs: in the driver
for a plain build, in each worker for a Beam one (`keras_dsc.data.tfds_beam`). Its work comes in
blocks: `examples(block)` yields the examples of a block of windows, `partials(block)` the
per-variable statistics of a block of time steps as `Partials` (count, mean, M2, min, max, NaN
skipped), which `merge_partials` merges with the pairwise update of Chan, Golub and LeVeque
(numerically stable) and `final_statistics` turns into the dataset metadata's `statistics`.

Example:

>>> values = np.array([[1.0, np.nan], [3.0, 4.0], [5.0, 8.0], [7.0, np.nan]])  # (step, variable)
>>> merged = merge_partials([partial_statistics(values[:1]), partial_statistics(values[1:])])
>>> final_statistics(merged, ["a", "b"])["a"]
{'mean': 4.0, 'std': 2.23606797749979, 'min': 1.0, 'max': 7.0, 'count': 4}
"""

import collections
import dataclasses
import math

import numpy as np

BLOCK_BYTES = 64 * 2**20  # float32 bytes read at a time
MIN_BLOCKS = 16  # blocks a build is cut into at least (when there are that many), for workers

Partials = collections.namedtuple("Partials", ["count", "mean", "m2", "low", "high"])
Partials.__doc__ = """Per-variable statistics of a block: float64 arrays `(variable,)`.

`count` of the non-NaN values, their `mean`, `m2` (sum of squared deviations from the mean),
`low` and `high` (min and max; +inf and -inf without a value)."""


def partial_statistics(values):
    """The `Partials` of `values`, an array `(..., variable)`, NaN skipped."""
    x = np.asarray(values, dtype="float64")
    x = x.reshape(-1, x.shape[-1])
    valid = ~np.isnan(x)
    count = valid.sum(axis=0).astype("float64")
    total = np.where(valid, x, 0.0).sum(axis=0)
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    m2 = np.where(valid, (x - mean) ** 2, 0.0).sum(axis=0)
    low = np.where(valid, x, np.inf).min(axis=0)
    high = np.where(valid, x, -np.inf).max(axis=0)
    return Partials(count, mean, m2, low, high)


def merge_partials(partials):
    """Merges `Partials` (None entries skipped) into those of the union; None for none."""
    merged = None
    for p in partials:
        if p is None:
            continue
        if merged is None:
            merged = p
            continue
        count = merged.count + p.count
        share = np.divide(p.count, count, out=np.zeros_like(count), where=count > 0)
        delta = p.mean - merged.mean
        merged = Partials(count, merged.mean + delta * share,
                          merged.m2 + p.m2 + delta**2 * merged.count * share,
                          np.minimum(merged.low, p.low), np.maximum(merged.high, p.high))
    return merged


def final_statistics(partials, variables):
    """`{variable: {mean, std, min, max, count}}` from merged `Partials` (std with ddof 0).

    A variable without any value gets NaN figures and count 0, as numpy's nan-reductions do.
    """
    out = {}
    for i, name in enumerate(variables):
        count = int(partials.count[i]) if partials is not None else 0
        if count:
            figures = (partials.mean[i], math.sqrt(partials.m2[i] / count), partials.low[i],
                       partials.high[i])
        else:
            figures = (math.nan,) * 4
        out[str(name)] = dict(zip(("mean", "std", "min", "max"), map(float, figures)),
                              count=count)
    return out


@dataclasses.dataclass
class CubeSource:
    """The windows a config cuts from files, opened lazily where it is used (picklable).

    Args:
        paths: NetCDF files and/or Zarr stores (strings), as `keras_dsc.data.era5.open_cube`
            takes them.
        variables: ERA5 short names, in the order of the last axis.
        region: `(north, west, south, east)` or None for the whole grid.
        resample: pandas frequency of time means, or None.
        window: time steps per window.
        stride: steps between window starts; None for `window`.
    """

    paths: tuple
    variables: tuple
    region: tuple | None = None
    resample: str | None = None
    window: int = 1
    stride: int | None = None

    def __getstate__(self):  # workers open the files themselves
        return {k: v for k, v in self.__dict__.items() if k != "_opened"}

    def open(self):
        """`(windows, cube)`: the `WindowedCube` (physical units) and the lazy Dataset."""
        if getattr(self, "_opened", None) is None:
            from keras_dsc.data import era5
            from keras_dsc.data.windows import WindowedCube

            cube = era5.open_cube(list(self.paths), list(self.variables), self.region)
            if self.resample:
                cube = era5.resample_time(cube, self.resample)
            array = cube.to_dataarray(dim="variable").transpose(
                "time", "latitude", "longitude", "variable")
            labels = np.asarray(cube["regime"].values) if "regime" in cube.coords else None
            self._opened = WindowedCube(array, self.window, self.stride, labels=labels), cube
        return self._opened

    def window_blocks(self):
        """`(first, stop)` ranges of window numbers, each read in one go."""
        windows, _ = self.open()
        return _blocks(len(windows), 4 * int(np.prod(windows.sample_shape)))

    def time_blocks(self):
        """`(first, stop)` ranges of time steps of the cube, for the statistics."""
        windows, _ = self.open()
        sizes = windows.array.sizes
        step_bytes = 4 * sizes["latitude"] * sizes["longitude"] * sizes["variable"]
        return _blocks(sizes["time"], step_bytes)

    def examples(self, block):
        """Yields `(index, example)` for the windows `first <= index < stop` of `block`."""
        windows, _ = self.open()
        first, stop = block
        starts = windows.start_times[first:stop].astype("datetime64[s]").astype(np.int64)
        labels = windows.labels
        for offset, value in enumerate(windows[first:stop]):
            i = first + offset
            valid = np.isfinite(value)
            yield i, {
                "cube": np.where(valid, value, np.float32(0)).astype(np.float32),
                "mask": valid,
                "start_time": int(starts[offset]),
                "index": i,
                "regime": -1 if labels is None else int(labels[i]),
            }

    def partials(self, block):
        """The `Partials` of the time steps `first <= t < stop` of the cube (every step)."""
        windows, _ = self.open()
        first, stop = block
        values = windows.array.isel(time=slice(first, stop)).values
        return partial_statistics(values)

    def statistics(self):
        """The statistics of the whole cube, block after block in this process."""
        merged = merge_partials(self.partials(b) for b in self.time_blocks())
        return final_statistics(merged, self.variables)


def _blocks(n, item_bytes):
    """`(first, stop)` ranges over `n` items: at most `BLOCK_BYTES`, at least `MIN_BLOCKS`."""
    size = max(1, min(BLOCK_BYTES // max(item_bytes, 1), math.ceil(n / MIN_BLOCKS)))
    return [(first, min(first + size, n)) for first in range(0, n, size)]
