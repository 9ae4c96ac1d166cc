"""Windows of consecutive time steps over a normalised cube, computed on demand.

A sample of the DSC model is a window of `window` consecutive time steps of the whole grid:
an array of shape (window, latitude, longitude, variable). `WindowedCube` indexes those windows
over a (time, latitude, longitude, variable) DataArray without materialising them: indexing
computes only the time steps the requested windows cover, so that multi-year lazy (dask) cubes
stream through training in constant memory.

Windows are cut by time, not by counting steps: a window is made only of steps exactly one
time step apart, so a record with gaps (missing days, merged downloads that skip a month) is
split into regular stretches and no window spans a gap. Windows of a whole day (or of a
divisor of a day) of sub-daily data start at the first step of a day (00 UTC), also after a
gap, and a window whose every value is missing is dropped. `WindowedCube.report` says what was
dropped.
"""

import copy
import dataclasses
import os

import numpy as np
import pandas as pd
import xarray as xr

from keras_dsc.data.time_axis import (
    DAY,
    consecutive,
    gaps,
    infer_step,
    is_sub_daily,
    step_text,
    to_step,
)
from keras_dsc.errors import DataError, OptionError

DIMS = ("time", "latitude", "longitude", "variable")
_LISTED = 10  # gaps and missing windows listed by name in reports


@dataclasses.dataclass
class WindowReport:
    """What the windowing of a time axis kept and dropped.

    Attributes:
        step: the time step, as text (`"3h"`), or `None` for a single time.
        window: time steps per window.
        stride: steps between window starts.
        kept: the number of windows kept.
        expected: the number of windows a record without gaps over the same period would
            have (with the same alignment) that hold a time step of this record: a window
            inside a gap is not counted as dropped.
        gaps: `(before, after, missing_steps)` of every gap of the time axis (`time_axis.gaps`).
        empty: the start times of the windows dropped because every value in them is missing.
        partial: the start times of the windows kept although some of their time steps hold
            no value (they are clustered on the steps they hold).
        unused_start: `(count, first, last)` of the time steps before the first window (a
            day begun at 12 UTC when windows are calendar days), or `()` for none.
        unused_end: the same for the steps after the last window's end (a last window that
            the record does not fill).
    """

    step: str | None
    window: int
    stride: int
    kept: int
    expected: int
    gaps: list
    empty: list
    unused_start: tuple = ()
    unused_end: tuple = ()
    partial: list = dataclasses.field(default_factory=list)

    @property
    def dropped(self):
        """How many windows the gaps and the entirely missing windows cost."""
        return max(0, self.expected - self.kept)

    def as_dict(self):
        """A JSON-serialisable summary (the first gaps and missing windows by name)."""
        return {
            "step": self.step,
            "window": self.window,
            "stride": self.stride,
            "windows": self.kept,
            "windows_without_gaps": self.expected,
            "dropped_windows": self.dropped,
            "n_gaps": len(self.gaps),
            "gaps": [{"from": _iso(before), "to": _iso(after), "missing_steps": missing}
                     for before, after, missing in self.gaps[:_LISTED]],
            "n_empty_windows": len(self.empty),
            "empty_windows": [_iso(t) for t in self.empty[:_LISTED]],
            "n_partial_windows": len(self.partial),
            "partial_windows": [_iso(t) for t in self.partial[:_LISTED]],
            "unused_steps": {where: {"steps": int(steps[0]), "from": _iso(steps[1]),
                                     "to": _iso(steps[2])}
                             for where, steps in (("start", self.unused_start),
                                                  ("end", self.unused_end)) if steps},
        }

    def text(self):
        """One line saying what was dropped; `None` when nothing was (see `windowing_text`).

        Example:

        >>> times = pd.DatetimeIndex(["2021-01-05", "2021-01-06", "2021-01-07", "2021-01-10"])
        >>> WindowReport("1D", 2, 1, 2, 4, gaps(times, "1D"), []).text()
        'dropped 2 of 4 windows: 1 gap in the time axis (2021-01-07T00:00..2021-01-10T00:00)'
        """
        return windowing_text(self.as_dict())


def windowing_text(summary):
    """One line saying what a windowing dropped, from `WindowReport.as_dict()`; `None` if nothing.

    The windows a gap or missing values cost, the windows kept with time steps that hold no
    value, and the time steps at the record's start and end that are in no window.

    Example:

    >>> times = pd.date_range("2021-01-01 12:00", periods=20, freq="3h")
    >>> windowing_text(window_starts(times, 8, 8)[1].as_dict())
    'the first 4 time steps (2021-01-01T12:00..2021-01-01T21:00) come before the first window and are in none'
    """
    parts = []
    n_gaps, n_empty = summary.get("n_gaps") or 0, summary.get("n_empty_windows") or 0
    if summary.get("dropped_windows") or n_gaps or n_empty:
        causes = []
        if n_gaps:
            periods = ", ".join(f"{g['from']}..{g['to']}" for g in summary["gaps"][:3])
            more = f", ... {n_gaps - 3} more" if n_gaps > 3 else ""
            causes.append(f"{n_gaps} gap{'s' if n_gaps > 1 else ''} in the time axis "
                          f"({periods}{more})")
        if n_empty:
            starts = ", ".join(summary["empty_windows"][:3])
            more = ", ..." if n_empty > 3 else ""
            causes.append(f"{n_empty} window{'s' if n_empty > 1 else ''} entirely missing "
                          f"(starting {starts}{more})")
        if summary.get("dropped_windows") or n_empty:
            parts.append(f"dropped {summary['dropped_windows']} of "
                         f"{summary['windows_without_gaps']} windows: " + "; ".join(causes))
        else:  # windows of one step, gaps between them
            parts.append(f"{causes[0]}, which no window spans: none dropped")
    n_partial = summary.get("n_partial_windows") or 0
    if n_partial:
        starts = ", ".join(summary["partial_windows"][:3]) + (", ..." if n_partial > 3 else "")
        many = n_partial > 1
        parts.append(f"{n_partial} window{'s' if many else ''} (starting {starts}) "
                     f"{'have' if many else 'has'} time steps with no value and "
                     f"{'are' if many else 'is'} clustered on the steps "
                     f"{'they' if many else 'it'} hold{'' if many else 's'}")
    for where, (first_last, relation) in (("start", ("first", "before the first window")),
                                           ("end", ("last", "after the last whole window"))):
        unused = (summary.get("unused_steps") or {}).get(where)
        if unused:
            many = unused["steps"] > 1
            steps = f"{unused['steps']} time steps" if many else "time step"
            period = unused["from"] + ("" if not many else f"..{unused['to']}")
            parts.append(f"the {first_last} {steps} ({period}) "
                         f"{'come' if many else 'comes'} {relation} and "
                         f"{'are' if many else 'is'} in none")
    return "; ".join(parts) or None


def _iso(time):
    return pd.Timestamp(time).isoformat(timespec="minutes")


def alignment(step, window, stride):
    """The period window starts are aligned to (a `Timedelta`), or `None` for none.

    Windows of sub-daily data that span a divisor of a day (or whole days), tiled by a stride
    of such spans, start where the time of day is a multiple of that span (a whole day: the
    first step of a day, 00 UTC): daily windows are calendar days.
    """
    if step is None or not is_sub_daily(step):
        return None
    step = to_step(step)
    span, stride_span = step * window, step * stride
    if span <= DAY and DAY % span == pd.Timedelta(0):
        unit = span
    elif span % DAY == pd.Timedelta(0):
        unit = DAY
    else:
        return None
    return unit if stride_span % unit == pd.Timedelta(0) else None


def _segment_starts(times, regular, window, stride, step):
    """Window starts inside each regular stretch of the axis, aligned by `alignment`."""
    n = len(times)
    bounds = np.concatenate([[0], np.flatnonzero(~regular) + 1, [n]]).astype("int64")
    unit = alignment(step, window, stride)
    if unit is not None:
        ns = np.asarray(times, dtype="datetime64[ns]").astype("int64")
        phase = np.mod(ns, unit.value)  # epoch days start at 00 UTC
        aligned = phase < to_step(step).value
    out = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        last = b - window
        if last < a:
            continue
        first = a
        if unit is not None:
            found = np.flatnonzero(aligned[a:last + 1])
            if not found.size:
                continue
            first = a + int(found[0])
        out.append(np.arange(first, last + 1, stride, dtype="int64"))
    return np.concatenate(out) if out else np.zeros(0, dtype="int64")


def window_starts(times, window, stride, step=None, valid_steps=None):
    """The positions where windows start on a time axis, and what was dropped.

    Args:
        times: the sorted time axis.
        window: time steps per window.
        stride: steps between window starts inside a regular stretch.
        step: the time step; `None` for `time_axis.infer_step(times)`.
        valid_steps: optional bool array, whether each time step holds any value; windows
            with none are dropped, those with some are reported as `partial`.

    Returns:
        `(starts, report)`: an int64 array of positions and a `WindowReport`.

    Example:

    >>> times = pd.date_range("2021-01-01", periods=48, freq="1h").delete(range(30, 34))
    >>> starts, report = window_starts(times, 24, 24)
    >>> times[starts].strftime("%d %H:%M").tolist(), report.dropped
    (['01 00:00'], 1)
    """
    times = pd.DatetimeIndex(times)
    step = infer_step(times) if step is None else to_step(step)
    n = len(times)
    regular = consecutive(times, step) if step is not None else np.zeros(max(n - 1, 0), bool)
    starts = all_starts = _segment_starts(times, regular, window, stride, step)
    empty, partial = [], []
    if valid_steps is not None and starts.size:
        valid_steps = np.asarray(valid_steps, dtype=bool)
        counts = np.concatenate([[0], np.cumsum(valid_steps)])
        held = counts[starts + window] - counts[starts]
        empty = list(times[starts[held == 0]])
        partial = list(times[starts[(held > 0) & (held < window)]])
        starts = starts[held > 0]
    if step is None or n == 0:
        expected = len(starts) + len(empty)
    else:
        # The windows of the same period without gaps that would hold a step of the record:
        # one inside a gap never existed (monthly windows of 1 step lose none to a gap).
        full = pd.date_range(times[0], times[-1], freq=step)
        full_starts = _segment_starts(full, np.ones(max(len(full) - 1, 0), bool), window,
                                      stride, step)
        held = np.concatenate([[0], np.cumsum(full.isin(times))])
        expected = int(np.count_nonzero(held[full_starts + window] > held[full_starts]))
    unused_start = unused_end = ()
    if all_starts.size:
        first, stop = int(all_starts[0]), int(all_starts[-1]) + int(window)
        if first > 0:
            unused_start = (first, times[0], times[first - 1])
        if stop < n:
            unused_end = (n - stop, times[stop], times[-1])
    report = WindowReport(step_text(step) if step is not None else None, int(window),
                          int(stride), len(starts), max(expected, len(starts)),
                          gaps(times, step) if step is not None else [], empty,
                          unused_start, unused_end, partial)
    return starts, report


class WindowedCube:
    """Windows of consecutive time steps of a (time, latitude, longitude, variable) array.

    On a regular time axis, window `i` covers the time steps `i * stride ... i * stride +
    window - 1`. With the default `stride = window` the windows tile the series without
    overlap; a trailing remainder shorter than `window` is left out. A window is only made of
    steps exactly `time_step` apart: a gap ends one regular stretch and starts the next, and
    windows are tiled inside each stretch (`window_starts`); windows of a whole day (or a
    divisor of a day) of sub-daily steps start at 00 UTC. Windows whose every value is missing
    are dropped. `report` says how many windows were dropped and which periods.

    Args:
        array: an `xarray.DataArray` with dims (time, latitude, longitude, variable), numpy-
            backed or lazy (dask), such as the output of `CubePreprocessor.transform`.
        window: number of time steps per window (e.g. 24 for the hours of a day; 1 for the
            paper's one-step samples).
        stride: steps between the starts of consecutive windows. Defaults to `window`.
        labels: ground-truth labels: None to use the `regime` coordinate when the array has
            one, the name of another coordinate on time, or an integer array with one label per
            time step. A window's label is that of its first time step.
        time_step: the time step windows are made of (`"3h"`, a Timedelta, `"1MS"`); `None`
            for the most frequent step of the array's time axis.
        valid_steps: bool array, whether each time step holds any value; `None` computes it
            from the array (one pass over a lazy array).

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

    def __init__(self, array, window, stride=None, labels=None, *, time_step=None,
                 valid_steps=None):
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
        if valid_steps is None:
            valid_steps = self.array.notnull().any(("latitude", "longitude", "variable")).values
        valid_steps = np.asarray(valid_steps, dtype=bool)
        if valid_steps.shape != (n_times,):
            raise DataError(f"valid_steps: expected one flag per time step ({n_times}), got "
                            f"shape {valid_steps.shape}")
        try:
            step = None if time_step is None else to_step(time_step)
        except (ValueError, TypeError):
            raise OptionError(f"{{time_step}}: {time_step!r} is not a time step like 3h, 1D "
                              f"or 1MS", "time_step") from None
        times = self.array.indexes["time"]
        self._starts, self.report = window_starts(times, self.window, self.stride, step,
                                                  valid_steps)
        self.time_step = self.report.step
        if not len(self._starts):
            raise OptionError(self._no_window_message(times, step), "window")
        self._length = len(self._starts)
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

    def on_disk(self, path):
        """The same windows, their cube computed once into a float32 `.npy` file and read
        from it memory-mapped.

        For a lazy cube too large for memory: windows read at random from it cost a dask
        computation per batch, from the file a few page reads. The file is written chunk after
        chunk, so memory stays bounded; it is the caller's to remove (a mapping stays valid
        after the file is unlinked).

        Args:
            path: the `.npy` file to write; an existing file is refused.

        Returns:
            A `WindowedCube` with the same windows, report and labels, over the mapped file.

        Example:

        >>> x = xr.DataArray(np.ones((4, 2, 2, 1), "float32"), dims=DIMS,
        ...                  coords={"time": pd.date_range("2021", periods=4, freq="D")})
        >>> mapped = WindowedCube(x.chunk(time=2), window=2).on_disk("cube.npy")
        >>> mapped.array.chunks is None, mapped[1].shape
        (True, (2, 2, 2, 1))
        """
        import dask.array as da

        if os.path.exists(path):
            raise DataError(f"{path} exists: a prepared cube is never written over it")
        out = np.lib.format.open_memmap(path, mode="w+", dtype="float32", shape=self.array.shape)
        da.store(da.asarray(self.array.data).astype("float32"), out, lock=False)
        out.flush()
        del out
        mapped = copy.copy(self)
        mapped.array = self.array.copy(data=np.load(path, mmap_mode="r"))
        return mapped

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

    def _no_window_message(self, times, step):
        """Why no window fits: the longest regular stretch is shorter, or all are missing."""
        if self.report.empty:
            return (f"{{window}}: every window of {self.window} steps is entirely missing "
                    f"(no value in the data)")
        regular = consecutive(times, step) if step is not None else np.zeros(0, bool)
        lengths = np.diff(np.concatenate([[0], np.flatnonzero(~regular) + 1, [len(times)]]))
        what = f"{step_text(step)} steps" if step is not None else "time steps"
        return (f"{{window}} {self.window} is longer than every stretch of the series without "
                f"a gap (the longest: {int(lengths.max())} consecutive {what})")

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
