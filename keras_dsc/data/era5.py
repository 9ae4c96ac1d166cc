"""Open ERA5 (and other gridded NetCDF) files as one lazy, canonical data cube.

Real files come in many forms: `valid_time` or `time`, `latitude`/`longitude` or `lat`/`lon`,
latitude ascending or descending, longitude in 0..360 or -180..180, an `expver` dimension or
coordinate, size-1 level or ensemble dimensions, packed int16 variables, dimensions under other
names (`y`/`x`, `Y`/`X`, IRI's `T`) that 1-D coordinates identify. `open_cube` takes them
as they are and returns ONE canonical form, read lazily with dask so that a decade of hourly
data never sits in memory:

- dimensions `time`, `latitude`, `longitude`, in that order;
- latitude descending (the ERA5 convention), longitude ascending in -180..180 (a regional
  box across the date line keeps its 0..360 longitudes, in order);
- data variables float32 in the requested order, with their `units` (and other) attributes;
- the time axis sorted (duplicates refused);
- the optional ground-truth labels (an integer variable `regime` on time) as a coordinate.
"""

import functools
import glob
import os
import warnings

import numpy as np
import pandas as pd
import xarray as xr

from keras_dsc.data import grid
from keras_dsc.data.era5_names import short_name
from keras_dsc.data.time_axis import first_irregular, infer_step, is_calendar, to_step
from keras_dsc.data.units import same_units
from keras_dsc.errors import DataError, OptionError

TIME_NAMES = ("time", "valid_time")
LEAD_DIMS = ("step", "forecast_period", "lead_time", "leadtime")  # forecast lead times
LATITUDE_NAMES = ("latitude", "lat")
LONGITUDE_NAMES = ("longitude", "lon")
CANONICAL_DIMS = ("time", "latitude", "longitude")
LABELS = "regime"
NOTES = "keras_dsc_notes"
"""Attribute of an opened cube: what opening it changed (calendar conversions), one line each."""
VALID_RANGE_ATTRIBUTES = ("valid_min", "valid_max", "valid_range")
"""CF attributes of the values a variable may take (outside them: missing or invalid)."""
SOURCES = "keras_dsc_sources"
"""Attribute of an opened cube: `(path, first time, last time)` of every file read."""
PACKINGS = "keras_dsc_packings"
"""The dataset attribute with, per variable stored as integers with `scale_factor` /
`add_offset` but no declared fill value, its `[integer type, scale, offset]` in each file
(`keras_dsc.data.values.check_values` looks for the integer type's fills among its values)."""

# Target size of one dask chunk of one variable over the selected region (bytes); chunks are
# cut along time only. Small enough that fetching a few windows reads little more than them.
_CHUNK_BYTES = 2 * 2**20


def open_cube(paths, variables=None, region=None, time_range=None, select=None, *,
              time_chunk=None, treat_as_missing=None):
    """Open NetCDF files as one lazy data cube in the canonical form.

    Files written by the Copernicus CDS (current `valid_time` files and older `time` files, with
    an `expver` dimension or coordinate), NCEP-style files (`lat`/`lon`, longitude 0..360, a
    size-1 `level`) and CMIP-style files (`lat`/`lon` with bounds) are all accepted. CF
    conventions (`_FillValue`, `scale_factor`/`add_offset` packing) are decoded by xarray;
    packed int16 variables come out as float32 physical values.

    Calendars: times in a non-standard CF calendar (`noleap`, `365_day`, `all_leap`,
    `366_day`, `360_day`, `julian`) are converted to the standard calendar date for date:
    each time keeps its year, month, day and hour. Time steps on dates the standard calendar
    lacks (29 February of other years, 30 February) are dropped; dates the file's calendar
    lacks (29 February of leap years in `noleap`, the 31st in `360_day`) are gaps of the
    record, which windows never span. What was dropped is reported, one line per file, in the
    result's `attrs["keras_dsc_notes"]`.

    The time axis of the result is sorted; duplicates refused: files may be given in any order,
    but a time present twice (for example in two overlapping downloads) is an error. Files that
    hold different variables for the same times (the CDS splits instantaneous and accumulated
    variables into two files) are merged.

    Args:
        paths: one path, a glob pattern (`"era5_*.nc"`), a list of paths, or an
            `xarray.Dataset` already opened (for example by `xarray.open_mfdataset`; named in
            messages by `encoding["source"]`, the file it came from, when it has one). A
            Zarr store is one of the paths: a local directory (`era5.zarr`, or any holding
            `.zmetadata`, `.zgroup` or `zarr.json`) or a URL read through fsspec (`gs://`
            needs gcsfs, `s3://` s3fs: the extras `keras_dsc[gcs]`, `keras_dsc[s3]`). It is
            read lazily, its consolidated metadata used when present, the region and time
            range cut before anything else, so only the chunks selected are ever read; the
            analysis-ready ERA5 layout (ARCO-ERA5: long names, `time`, longitude 0..360, a
            `level` dimension chosen with `select`) comes out in the same canonical form.
        variables: list of variable names, in the order wanted: ERA5 short names (`t2m`)
            or long names (`2m_temperature`), either for files of either form; the cube names
            them by their short names (`keras_dsc.data.era5_names`). Defaults to every data
            variable on (time, latitude, longitude), in file order.
        region: `(north, west, south, east)` in degrees, the CDS order, west/east in
            -180..180 (on a box across the date line kept in 0..360, cut where those
            degrees lie there); the box is selected inclusively. Defaults to the whole grid.
        time_range: `(start, end)` date strings (inclusive, either may be None), or None.
        select: dict choosing one value of an extra dimension, e.g.
            `{"pressure_level": 500}`. Extra dimensions of size 1 (a single level, the
            ensemble `number`) are dropped without it; larger ones must be chosen here.
        time_chunk: time steps per dask chunk. Defaults to about 2 MB of float32 per
            variable over the selected region (never more than one file per chunk).
        treat_as_missing: values to read as missing (NaN), such as an undeclared fill value
            `1e30`; a value within a relative 1e-6 of one of them is missing. Defaults to none.

    Returns:
        An `xarray.Dataset` with dims (time, latitude, longitude), dask-backed float32 data
        variables, and a `regime` coordinate on time when the files carry one; its attributes
        `keras_dsc_notes` (see Calendars) and `keras_dsc_sources` (`(path, first time, last
        time)` of each file, see `file_at`).

    Raises:
        DataError: a missing or unreadable file, a missing variable, a variable that is
            entirely NaN, files on different grids, duplicate times, an extra dimension not
            chosen, an empty region or time range.

    Example:

    >>> from keras_dsc.data.synthetic import write_cube
    >>> path = write_cube("era5_2021_01.nc", days=2)  # ERA5's CDS form: valid_time, ...
    >>> ds = open_cube("era5_2021_*.nc", variables=["u10", "v10", "t2m"],
    ...                region=(43, -33, 38, -28))
    >>> ds.t2m.dims, ds.sizes["time"], ds.sizes["latitude"]
    (('time', 'latitude', 'longitude'), 48, 21)
    """
    files = _resolve_paths(paths)
    if variables is not None:
        if isinstance(variables, str):
            variables = [variables]
        variables = [short_name(str(v)) for v in variables]
        if not variables:
            raise DataError("variables: the list of variables is empty")
        duplicated = sorted({v for v in variables if variables.count(v) > 1})
        if duplicated:
            raise DataError(f"variables: {', '.join(duplicated)} given more than once")
    if time_chunk is not None and (isinstance(time_chunk, bool) or not isinstance(
            time_chunk, (int, np.integer)) or time_chunk <= 0):
        raise DataError(f"time_chunk must be a positive integer, got {time_chunk!r}")
    select = dict(select or {})
    for key in select:
        if key in CANONICAL_DIMS + TIME_NAMES + LATITUDE_NAMES + LONGITUDE_NAMES:
            raise OptionError(f"{{select}}: {key!r} cannot be selected; use {{region}} or "
                              f"{{time_range}}", "select", "region", "time_range")
    missing_values = _missing_values(treat_as_missing)

    handles = []  # every file opened, closed again when the cube is refused
    try:
        return _open_all(files, variables, region, time_range, select, time_chunk,
                         missing_values, handles)
    except DataError:
        for handle in handles:
            handle.close()
        raise


def _open_all(files, variables, region, time_range, select, time_chunk, missing_values,
              handles):
    """The body of `open_cube`, every file it opens appended to `handles`."""
    opened = []
    used_select = set()
    available = []
    notes = []
    for path in files:
        ds, used, names, note = _open_one(path, variables, select, region, time_chunk,
                                            handles, time_range)
        used_select.update(used)
        available += [n for n in names if n not in available]
        if note:
            notes.append(f"{path}: {note}")
        if ds.data_vars:  # a file holding none of the requested variables is left out
            opened.append((_name(path), ds))
    where = _describe_files([_name(f) for f in files])
    unused = [k for k in select if k not in used_select]
    if unused:
        raise OptionError(f"{{select}}: dimension {unused[0]!r} is in none of the files "
                          f"({where})", "select")
    missing = [v for v in variables or [] if v not in available]
    if missing:
        raise DataError(f"{where}: variable {missing[0]!r} not found; available: "
                        f"{', '.join(available) or 'none'}")
    if not opened:
        raise DataError(f"{where}: no data variable on (time, latitude, longitude)")

    _check_same_grid(opened)
    packings = {}
    for _, opened_ds in opened:
        for name, var in opened_ds.data_vars.items():
            packing = _undeclared_fill_packing(var.encoding, var.dtype)
            if packing is not None and packing not in packings.setdefault(str(name), []):
                packings[str(name)].append(packing)
    sources = [(str(path), _iso(d.indexes["time"][0]), _iso(d.indexes["time"][-1]))
               for path, d in opened if d.sizes["time"]]
    ds = _combine(opened)
    if not ds.sizes["time"]:
        raise DataError(f"{where}: no time steps (the time axis is empty)")
    order = variables if variables is not None else list(ds.data_vars)
    ds = ds[order]

    if time_range is not None:
        ds = _select_time(ds, time_range, where)
    if region is not None:
        ds = _select_region(ds, region, where)
    for name in order:
        var = ds[name]
        attrs = dict(var.attrs)
        if {"scale_factor", "add_offset"} & set(var.encoding):  # in packed units: not ours
            attrs = {k: v for k, v in attrs.items() if k not in VALID_RANGE_ATTRIBUTES}
        var = var.astype("float32")
        if missing_values:
            var = var.where(~_close_to_any(var, missing_values))
        ds[name] = var
        ds[name].attrs = attrs
        ds[name].encoding = {}
    _check_not_all_nan(ds, where)
    ds.attrs[NOTES] = notes
    ds.attrs[SOURCES] = sources
    ds.attrs[PACKINGS] = {name: found for name, found in packings.items() if found}
    # `ds` is derived from the opened files, so its own close() would close nothing.
    ds.set_close(lambda: [handle.close() for handle in handles])
    return ds


def _undeclared_fill_packing(encoding, dtype):
    """`[integer type, scale, offset]` of a variable packed as integers without a declared
    fill value (`_FillValue` or `missing_value`), else `None`."""
    stored = np.dtype(encoding.get("dtype", dtype))
    if (stored.kind not in "iu" or not {"scale_factor", "add_offset"} & set(encoding)
            or {"_FillValue", "missing_value"} & set(encoding)):
        return None
    return [stored.name, float(np.ravel(encoding.get("scale_factor", 1.0))[0]),
            float(np.ravel(encoding.get("add_offset", 0.0))[0])]


def file_at(ds, time):
    """The file of an opened cube that holds `time` (the first whose span covers it).

    Args:
        ds: a Dataset from `open_cube`.
        time: a time of its axis.

    Returns:
        The path as text, or `None` when the cube does not say (not from `open_cube`).
    """
    time = pd.Timestamp(time)
    for path, first, last in ds.attrs.get(SOURCES) or ():
        if pd.Timestamp(first) <= time <= pd.Timestamp(last):
            return path
    return None


def sources_text(ds, default=None):
    """The files an opened cube was read from, for messages: `"a.nc"`, `"a.nc (and 2 more
    files)"`; `default` when the cube does not say."""
    paths = [path for path, _, _ in ds.attrs.get(SOURCES) or ()]
    return _describe_files(paths) if paths else default


def _iso(time):
    return pd.Timestamp(time).isoformat()


def _missing_values(values):
    if values is None:
        return ()
    if isinstance(values, (int, float, np.number)):
        values = [values]
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise OptionError(f"{{treat_as_missing}}: expected numbers, got {values!r}",
                          "treat_as_missing") from None
    if any(np.isnan(v) for v in out):
        raise OptionError("{treat_as_missing}: NaN is always missing; give the values that "
                          "stand for missing data, such as 1e30", "treat_as_missing")
    return out


def _close_to_any(var, values):
    """Where `var` is within a relative 1e-6 of one of `values` (exactly, for 0 and inf)."""
    mask = None
    for value in values:
        if np.isinf(value) or value == 0:
            hit = var == value
        else:
            hit = abs(var.astype("float64") - value) <= 1e-6 * abs(value)
        mask = hit if mask is None else mask | hit
    return mask


def incomplete_periods_note(ds, step, where):
    """The note on the periods `resample_time` left out of `ds` for missing steps, or `None`."""
    incomplete = ds.attrs.get("incomplete_periods") or []
    if not incomplete:
        return None
    periods = (f"{len(incomplete)} periods of {step} lacking some of their steps"
               if len(incomplete) > 1 else f"1 period of {step} lacking some of its steps")
    return f"{where}: {periods} left out of the means (the first {incomplete[0]})"


def resample_time(ds, freq):
    """Resample a canonical cube in time, with means (NaN skipped).

    The paper averaged hourly ERA5 to daily means: `resample_time(ds, "1D")`. Attributes
    (units) are kept; the `regime` labels, if any, take the first value of each period.

    Only periods with data are kept: a period without any time step (a gap of the record) is
    left out, so is, on a regular record, a period that lacks some of its steps (a day with
    18 of its 24 hours, at the edges of a record or of a gap), whose mean would not be that
    of the period. The result's `attrs["incomplete_periods"]` lists the start of those left
    out for missing steps.

    Args:
        ds: a Dataset from `open_cube`.
        freq: a pandas frequency string such as `"1D"`, `"6h"`, `"MS"`.

    Returns:
        The resampled Dataset (lazy if `ds` is), float32 variables.

    Example:

    >>> from keras_dsc.data.synthetic import write_cube
    >>> hourly = open_cube(write_cube("era5_2021.nc", days=3))
    >>> resample_time(hourly, "1D").sizes["time"]
    3
    >>> late = resample_time(hourly.isel(time=slice(6, None)), "1D")  # 1 January from 06:00
    >>> late.sizes["time"], late.attrs["incomplete_periods"]
    (2, ['2021-01-01T00:00:00'])
    """
    try:
        pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError) as error:
        raise DataError(f"resample: {freq!r} is not a time frequency such as '1D' or '6h' "
                        f"({first_line(error)})") from None
    if "time" not in ds.dims:
        raise DataError("resample: the dataset has no time dimension")
    labels = ds.coords[LABELS] if LABELS in ds.coords else None
    data = ds.drop_vars(LABELS) if labels is not None else ds
    blocks = _regular_blocks(ds.indexes["time"], freq)
    if blocks:
        # A regular series whose step divides `freq`: block means (`coarsen`) give the same
        # values as `resample`, keep dask's chunks whole instead of splitting them into one
        # task per period (minutes to build, seconds per batch when streaming), and in memory
        # take a fraction of `resample`'s one reduction per period (a year of hourly data to
        # 3 h: 5.7 s against 1.0 s on 2 CPU cores).
        starts = ds.indexes["time"][::blocks]
        out = (data.drop_indexes("time").drop_vars("time")
               .coarsen(time=blocks, boundary="pad").mean(keep_attrs=True)
               .assign_coords(time=starts))
        if labels is not None:
            labels = labels.isel(time=slice(None, None, blocks))
            out = out.assign_coords({LABELS: labels.astype("int64") if not np.issubdtype(
                labels.dtype, np.integer) else labels})
            labels = None
    else:
        out = data.resample(time=freq).mean(keep_attrs=True)
    for name in out.data_vars:
        attrs = dict(ds[name].attrs)
        out[name] = out[name].astype("float32")
        out[name].attrs = attrs
    if labels is not None:
        first = labels.astype("float64").resample(time=freq).first()
        out = out.assign_coords({LABELS: first.fillna(-1).astype(labels.dtype)
                                 if np.issubdtype(labels.dtype, np.integer)
                                 else first.fillna(-1).astype("int64")})
    keep, incomplete = _complete_periods(ds.indexes["time"], out.indexes["time"], freq)
    if len(keep) < out.sizes["time"]:
        out = out.isel(time=keep)
    out.attrs = {**{k: v for k, v in ds.attrs.items()},
                 "incomplete_periods": [_iso(t) for t in incomplete]}
    return out


def _complete_periods(times, labels, freq):
    """Positions of the periods (labelled `labels`) to keep, and the labels of incomplete ones.

    A period is kept when it holds a time step; on a regular record (one step, gaps allowed)
    whose step divides the period, only when it holds all of its steps.
    """
    offset = pd.tseries.frequencies.to_offset(freq)
    counts = pd.Series(np.ones(len(times)), index=times).resample(freq).count()
    counts = counts.reindex(labels, fill_value=0).to_numpy()
    step = infer_step(times)
    expected = None
    if step is not None and not is_calendar(step) and first_irregular(times, step) is None:
        ends = labels + offset
        lengths = np.asarray(ends - labels, dtype="timedelta64[ns]").astype("int64")
        step_ns = to_step(step).value
        if np.all(lengths % step_ns == 0):
            expected = lengths // step_ns
    full = counts > 0 if expected is None else counts >= expected
    incomplete = labels[(counts > 0) & ~full]
    return np.flatnonzero(full), list(incomplete)


def _regular_blocks(times, freq):
    """Steps per period when `times` is regular, starts on a period boundary and its step
    divides `freq` (a fixed frequency); otherwise None."""
    if len(times) < 2:
        return None
    try:
        period = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    except (ValueError, TypeError):  # calendar frequencies ("MS") are not fixed
        return None
    step = times[1] - times[0]
    regular = bool(np.all(np.diff(times.values) == step.to_timedelta64()))
    if not regular or period % step != pd.Timedelta(0) or times[0] != times[0].floor(period):
        return None
    return int(period // step)


def first_line(error):
    """The first line of an error's message, or its type's name when it has none."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _describe_files(files):
    if len(files) == 1:
        return str(files[0])
    return f"{files[0]} (and {len(files) - 1} more files)"


def _name(source):
    """How messages name a file, or a Dataset given in memory."""
    if isinstance(source, xr.Dataset):
        return str(source.encoding.get("source") or "the xarray Dataset")
    return str(source)


def _resolve_paths(paths):
    """Turn a path, a glob pattern or a list of paths into a list of existing files (a Dataset
    given in memory stays as it is)."""
    if isinstance(paths, xr.Dataset):
        return [paths]
    if isinstance(paths, (str, os.PathLike)):
        text = os.fspath(paths)
        if glob.has_magic(text) and not _is_url(text):
            found = sorted(glob.glob(os.path.expanduser(text)))
            if not found:
                raise DataError(f"{text}: no file matches this pattern")
            candidates = found
        else:
            candidates = [text]
    else:
        candidates = [os.fspath(p) for p in paths]
        if not candidates:
            raise DataError("paths: the list of files is empty")
    files = []
    for path in candidates:
        path = path if _is_url(path) else os.path.expanduser(path)
        if is_zarr_store(path):
            files.append(path)
            continue
        if not os.path.exists(path):
            kind = "Zarr store" if path.rstrip("/").endswith(".zarr") else "file"
            raise DataError(f"{path}: {kind} not found")
        if os.path.isdir(path):
            raise DataError(f"{path}: is a directory, neither a NetCDF file nor a Zarr store "
                            f"(no .zmetadata, .zgroup or zarr.json in it)")
        files.append(path)
    duplicated = sorted({p for p in files if files.count(p) > 1})
    if duplicated:
        raise DataError(f"{duplicated[0]}: file given more than once")
    return files


ZARR_MARKERS = (".zmetadata", ".zgroup", "zarr.json")
"""Files at the root of a Zarr store (v2 consolidated metadata, v2 group, v3)."""

FSSPEC_EXTRAS = {"gs": ("gcsfs", "gcs"), "gcs": ("gcsfs", "gcs"), "s3": ("s3fs", "s3"),
                 "s3a": ("s3fs", "s3"), "http": ("aiohttp", "http"),
                 "https": ("aiohttp", "http")}
"""URL scheme -> (the fsspec implementation it needs, the keras_dsc extra that installs it)."""


def _is_url(path):
    return "://" in str(path)


def is_zarr_store(path):
    """Whether `path` names a Zarr store: a URL (`gs://`, `s3://`, read through fsspec), or a
    local directory ending in `.zarr` or holding `.zmetadata`, `.zgroup` or `zarr.json`.

    Example:

    >>> is_zarr_store("gs://gcp-public-data-arco-era5/ar/full_37-1h-0p25deg-chunk-1.zarr-v3")
    True
    >>> is_zarr_store("era5_2021.nc")
    False
    """
    text = os.fspath(path) if not isinstance(path, xr.Dataset) else ""
    if _is_url(text):
        return True
    if not os.path.isdir(text):
        return False
    return text.rstrip(os.sep).endswith(".zarr") or any(
        os.path.exists(os.path.join(text, marker)) for marker in ZARR_MARKERS)


_COLLECTOR = []  # the garbage-collector thread, once started


def collect_garbage_off_the_io_thread(interval=0.05):
    """Runs Python's cyclic garbage collection in a thread of its own from now on.

    zarr-python 3 reads every chunk through ONE event-loop thread (`zarr_io`). The automatic
    collection runs in whatever thread happens to allocate; when that is `zarr_io` and the
    garbage holds a finished `tf.data` iterator (Keras leaves them in reference cycles),
    destroying the iterator waits for its in-flight reads, which wait for `zarr_io`: the
    process hangs (seen in `benchmarks.memory_years --source zarr`, in the `predict` after
    joint training). So, once a Zarr store is opened, the automatic collection's thresholds
    are raised out of reach (`gc.disable` would not do: dask turns collection back on) and a
    daemon thread collects at the former thresholds; it is never a thread that reads need.
    Idempotent.
    """
    import gc
    import threading
    import time

    if _COLLECTOR:
        return
    # The former thresholds, or CPython's defaults where they were off (0) or out of reach.
    thresholds = tuple(t if 0 < t < 2**30 else default
                       for t, default in zip(gc.get_threshold(), (700, 10, 10)))
    gc.set_threshold(2**30, 2**30, 2**30)

    def collect():
        while True:
            time.sleep(interval)
            counts = gc.get_count()
            for generation in (2, 1, 0):
                if thresholds[generation] and counts[generation] > thresholds[generation]:
                    gc.collect(generation)
                    break

    thread = threading.Thread(target=collect, name="keras_dsc_gc", daemon=True)
    thread.start()
    _COLLECTOR.append(thread)


def _open_zarr(path):
    """Open a Zarr store lazily (no dask yet, nothing read but the metadata and coordinates).

    Consolidated metadata is used when the store has it. A URL needs the fsspec implementation
    of its scheme (gcsfs for `gs://`, s3fs for `s3://`), installed by an optional extra.
    """
    if _is_url(path):
        scheme = path.split("://", 1)[0].lower()
        import fsspec

        try:
            fsspec.get_filesystem_class(scheme)
        except ImportError:
            package, extra = FSSPEC_EXTRAS.get(scheme, (f"the fsspec {scheme} filesystem",
                                                        "cloud"))
            raise OptionError(f"{{data}} {path}: reading {scheme}:// stores needs {package}, "
                              f"not installed; pip install 'keras_dsc[{extra}]'",
                              "data") from None
        except ValueError:
            raise OptionError(f"{{data}} {path}: unknown URL scheme {scheme}:// (fsspec "
                              f"knows gs://, s3://, https://, ...)", "data") from None
    collect_garbage_off_the_io_thread()
    consolidated = None
    if not _is_url(path):
        consolidated = os.path.exists(os.path.join(path, ".zmetadata")) or _v3_consolidated(
            path)

    try:
        with warnings.catch_warnings():
            # consolidated=None on a URL: xarray warns when it falls back to the plain metadata.
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.filterwarnings("ignore", "Consolidated metadata is currently not part")
            return xr.open_dataset(path, engine="zarr", chunks=None, cache=False,
                                   consolidated=consolidated)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as error:
        raise DataError(f"{path}: not a readable Zarr store ({first_line(error)})") from None


def _v3_consolidated(path):
    """Whether a local Zarr v3 store keeps consolidated metadata in its root `zarr.json`."""
    import json

    try:
        with open(os.path.join(path, "zarr.json"), encoding="utf-8") as handle:
            return json.load(handle).get("consolidated_metadata") is not None
    except (OSError, ValueError, AttributeError):
        return False


def _check_netcdf3_complete(path):
    """NetCDF3 files cut short open without error and read zeros: check their size."""
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic not in (b"CDF\x01", b"CDF\x02"):
        return
    import gc

    import scipy.io

    # scipy maps every variable onto the file (nothing is read) and fails when one lies beyond
    # its end; the mapped arrays are dropped before closing so that the file closes cleanly.
    message = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            handle = scipy.io.netcdf_file(path, mode="r", mmap=True)
        except (ValueError, TypeError, OSError) as error:
            message = first_line(error)
        else:
            handle.variables.clear()
            handle.close()
        if message is not None:
            gc.collect()  # the half-built reader, now unreachable, closes here, quietly
    if message is not None:
        raise DataError(f"{path}: truncated or damaged NetCDF3 file ({message})")


def _open_one(path, variables, select, region, time_chunk, handles, time_range=None):
    """Open one file lazily (or take an `xarray.Dataset` as it is) and bring it to the
    canonical form (without region/time cuts).

    An opened file is appended to `handles`; a file holding none of `variables` is closed.
    """
    if isinstance(path, xr.Dataset):
        return _canonical(path, _name(path), variables, select, region, time_chunk)
    if is_zarr_store(path):
        raw = _open_zarr(path)
        handles.append(raw)
        return _canonical(raw, path, variables, select, region, time_chunk, cut=True,
                          time_range=time_range)
    try:
        with warnings.catch_warnings():  # dates beyond 2261 stay cftime: refused, with a hint
            warnings.filterwarnings("ignore", "Unable to decode time axis into full")
            raw = xr.open_dataset(path, chunks=None, cache=False)
    except (OSError, ValueError, RuntimeError, KeyError, IndexError, TypeError) as error:
        raise DataError(f"{path}: {why_unreadable(path, error)}") from None
    handles.append(raw)
    _check_netcdf3_complete(path)
    if not raw.variables:
        _refuse_data_in_groups(path)
    out = _canonical(raw, path, variables, select, region, time_chunk)
    if not out[0].data_vars:
        raw.close()
    return out


def _refuse_data_in_groups(path):
    """A NetCDF-4 file whose root holds nothing, its data in groups: refused naming them."""
    try:
        import netCDF4

        with netCDF4.Dataset(path) as nc:
            groups = list(nc.groups)
    except (ImportError, OSError):
        return
    if groups:
        raise DataError(f"{path}: the file's root holds no variable; its data is in groups "
                        f"({', '.join(groups[:5])}): write the group to a file of its own "
                        f"(e.g. xarray.open_dataset(path, group={groups[0]!r}).to_netcdf(...))")


def _is_count(var):
    """Whether a variable is stored as plain integers (not packed) without physical units: a
    count or a flag, such as the number of stations behind each value of CRU TS."""
    stored = np.dtype(var.encoding.get("dtype", var.dtype))
    packed = "scale_factor" in var.encoding or "add_offset" in var.encoding
    units = str(var.attrs.get("units", "")).strip().lower()
    return stored.kind in "iu" and not packed and units in ("", "1", "count", "counts")


def _canonical(ds, path, variables, select, region, time_chunk, *, cut=False,
               time_range=None):
    """`_open_one` on the opened Dataset `ds`: `(dataset, used select keys, names, note)`.

    With `cut` (Zarr stores, whose record may span decades of hourly steps over the globe),
    the region and the time range are cut before the cube is chunked, so that dask's graph
    holds only the chunks selected and nothing else is ever read.
    """
    # ERA5 long names (analysis-ready stores) become short names, as in CDS files.
    renamed = {name: short_name(name) for name in ds.data_vars
               if short_name(name) != name and short_name(name) not in ds.variables}
    if renamed:
        ds = ds.rename(renamed)

    ds = _axes_named_by_their_coordinates(ds, path)
    # Time.
    if "valid_time" in ds.dims:
        time_dim = "valid_time"
    elif "time" not in ds.dims and _time_named_by_its_coordinate(ds):
        time_dim = _time_named_by_its_coordinate(ds)
    elif "time" not in ds.dims:
        raise DataError(f"{path}: no time dimension (looked for {', '.join(TIME_NAMES)}; "
                        f"dimensions: {', '.join(map(str, ds.dims)) or 'none'})")
    else:
        time_dim = "time"
    if time_dim not in ds.indexes:  # no times, or times along another dimension
        raise DataError(f"{path}: the time dimension {time_dim!r} has no time coordinate of its "
                        f"own (dimensions: {', '.join(map(str, ds.dims))}); write the times as "
                        f"the coordinate of the data's time dimension")
    if time_dim == "valid_time" and "time" in ds.variables:
        ds = ds.drop_vars("time")
    if time_dim != "time":
        ds = ds.rename({time_dim: "time"})
    # Latitude, longitude.
    for canonical, names in (("latitude", LATITUDE_NAMES), ("longitude", LONGITUDE_NAMES)):
        found = [n for n in names if n in ds.dims]
        if not found:
            raise DataError(f"{path}: no {canonical} dimension (looked for "
                            f"{', '.join(names)}; dimensions: {', '.join(map(str, ds.dims))})")
        if found[0] != canonical:
            if canonical in ds.variables:
                ds = ds.drop_vars(canonical)
            ds = ds.rename({found[0]: canonical})
    _check_geographic_axes(ds, path)
    ds, note = _decode_time(ds, path)
    ds, rounded = _times_off_float_storage(ds, path)
    note = _joined(note, rounded)

    # Ground-truth labels become a coordinate; variables not on the grid (bounds) are dropped.
    if LABELS in ds.data_vars and ds[LABELS].dims == ("time",):
        ds = ds.set_coords(LABELS)
    gridded = [n for n, v in ds.data_vars.items() if set(CANONICAL_DIMS) <= set(v.dims)]
    static = [str(n) for n, v in ds.data_vars.items()
              if set(v.dims) == {"latitude", "longitude"}]
    off_grid = [str(n) for n, v in ds.data_vars.items() if n not in gridded
                and n not in static and v.ndim >= 2 and not _is_bounds(n, v)]
    left_out = []
    counts = [str(n) for n in gridded if _is_count(ds[n])]
    if variables is None and counts and len(counts) < len(gridded):  # CRU TS's stn
        gridded = [n for n in gridded if n not in counts]
        left_out.append(f"{', '.join(counts)} left out: integers without units (a count or a "
                        f"flag, such as the stations behind each value); name "
                        f"{'it' if len(counts) == 1 else 'them'} in --variables to cluster "
                        f"{'it' if len(counts) == 1 else 'them'} too")
    if variables is None and static and gridded:  # a land-sea mask, cell areas
        left_out.append(f"{', '.join(static)} left out: on latitude and longitude only, not "
                        f"in time")
    if variables is None and off_grid:  # staggered winds, another grid in the same file
        dims = ", ".join(map(str, ds[off_grid[0]].dims))
        if not gridded:
            raise DataError(f"{path}: no variable on (time, latitude, longitude); "
                            f"{off_grid[0]!r} is on ({dims}): regrid the variables to one "
                            f"latitude-longitude grid (e.g. 'cdo remapbil')")
        left_out.append(f"{', '.join(off_grid)} left out: on ({dims}), not on the grid of "
                        f"{', '.join(gridded)}")
    note = _joined(note, *left_out)
    if variables is not None:
        not_gridded = [v for v in variables if v in ds.data_vars and v not in gridded]
        if not_gridded:
            dims = ", ".join(map(str, ds[not_gridded[0]].dims))
            raise DataError(f"{path}: variable {not_gridded[0]!r} is not on (time, latitude, "
                            f"longitude) (dimensions: {dims})")
    available = list(gridded)
    if variables is not None:
        gridded = [v for v in gridded if v in variables]
        if not gridded:
            return xr.Dataset(), set(), available, note
    ds = ds[gridded]

    # ERA5 mixed with ERA5T: an expver dimension (first non-NaN) or coordinate (dropped).
    if "expver" in ds.dims:
        merged = {}
        for name, var in ds.data_vars.items():
            if "expver" in var.dims:
                parts = [var.isel(expver=i, drop=True) for i in range(ds.sizes["expver"])]
                var = functools.reduce(lambda a, b: a.fillna(b), parts)
            merged[name] = var
        ds = ds.drop_dims("expver").assign(merged) if merged else ds.drop_dims("expver")
    # Extra dimensions: chosen by `select`, dropped when of size 1, refused otherwise.
    used = set()
    for key, value in select.items():
        if key in ds.dims:
            used.add(key)
            wanted = _matching(ds, key, value)
            in_pa = _hpa_as_pa(ds, key, wanted)
            if in_pa is not None:  # CMIP's plev is in Pa, where 500 (hPa) is meant
                note = _joined(note, f"select {key}={value} read as {in_pa:g} Pa (the levels "
                                     f"of {key!r} are in Pa)")
                wanted = in_pa
            try:
                ds = ds.sel({key: wanted})
            except (KeyError, ValueError, TypeError):
                raise OptionError(f"{path}: {{select}} {key}={value} not found; available: "
                                  f"{_values_text(ds, key)}", "select") from None
    for dim in list(ds.dims):
        if dim in CANONICAL_DIMS:
            continue
        if ds.sizes[dim] == 1:
            ds = ds.isel({dim: 0}, drop=True)
        else:
            user = [n for n, v in ds.data_vars.items() if dim in v.dims]
            raise OptionError(f"{path}: variable {user[0]!r} has an extra dimension {dim!r} "
                              f"of size {ds.sizes[dim]} ({_values_text(ds, dim)}); choose one "
                              f"value with {{select}} {dim}=VALUE", "select")
    ds = ds.drop_vars([c for c in ds.coords if c not in CANONICAL_DIMS + (LABELS,)])

    # Latitude descending, longitude ascending in -180..180.
    lat = ds["latitude"].values
    if lat.size > 1 and not np.all(np.diff(lat) < 0):
        ds = ds.sortby("latitude", ascending=False)
        ds, twice = _once(ds, "latitude")
        note = _joined(note, twice)
    lon = ds["longitude"].values.astype("float64")
    both_ends = lon.size > 1 and lon.min() == -180.0 and lon.max() == 180.0  # one meridian
    if lon.size and (lon.max() > 180.0 or lon.min() < -180.0 or both_ends):
        wrapped = (lon + 180.0) % 360.0 - 180.0
        # A regional box across the date line (150E..115W in 0..360) keeps its own
        # longitudes: wrapped, its halves would sit side by side in the wrong order.
        if not _splits_at_the_date_line(lon, wrapped):
            attrs = dict(ds["longitude"].attrs)
            ds = ds.assign_coords(longitude=("longitude", wrapped, attrs))
            lon = wrapped
    elif lon.size and _splits_at_the_date_line(lon % 360.0, lon):
        # The same box written in -180..180 (150..175 then -180..-135): sorted as it is, its
        # halves would sit side by side in the wrong order; in 0..360 it is contiguous.
        lon = lon % 360.0
        ds = ds.assign_coords(longitude=("longitude", lon, dict(ds["longitude"].attrs)))
        note = _joined(note, f"longitudes read as 0..360 ({lon.min():g}..{lon.max():g}): "
                             f"the box crosses the date line")
    if lon.size > 1 and not np.all(np.diff(lon) > 0):
        ds = ds.sortby("longitude")
        ds, twice = _once(ds, "longitude")
        note = _joined(note, twice)
    ds = ds.transpose(*CANONICAL_DIMS)
    if cut:
        if time_range is not None:
            ds = _select_time(ds, time_range, path)
        if region is not None:
            ds = _select_region(ds, region, path)

    # Lazy dask chunks along time only.
    if time_chunk is None:
        per_step = 4 * _points_in_region(ds, region)
        time_chunk = _CHUNK_BYTES // max(per_step, 1)
        if time_chunk > 24:
            time_chunk -= time_chunk % 24  # whole days of hourly data per chunk
    steps = int(max(1, min(ds.sizes["time"], time_chunk)))
    ds = ds.chunk({"time": steps, "latitude": -1, "longitude": -1})
    coords = {axis: (axis, ds[axis].values.astype("float64"), ds[axis].attrs)
              for axis in ("latitude", "longitude")}
    if LABELS in ds.coords:
        labels = ds.coords[LABELS]
        values = labels.values
        if np.issubdtype(values.dtype, np.floating) and np.isfinite(values).all():
            values = values.astype("int64")  # decoded as float because of a _FillValue
        coords[LABELS] = ("time", values, labels.attrs)
    return ds.assign_coords(coords), used, available, note


def _splits_at_the_date_line(lon, wrapped):
    """Whether wrapping a contiguous box of longitudes into -180..180 cuts it in two."""
    if lon.size < 3:
        return False
    spacing = np.diff(np.sort(lon))
    step = np.median(spacing)
    unique = np.unique(wrapped)
    inner = np.diff(unique)
    # Contiguous before, a hole inside after (a global grid wraps onto itself, no hole).
    return bool(spacing.max() <= 1.5 * step and inner.size and inner.max() > 1.5 * step
                and unique.size == lon.size)


def _values_text(ds, dim):
    values = ds[dim].values if dim in ds.coords else np.arange(ds.sizes[dim])
    text = ", ".join(map(str, values[:12]))
    return f"values {text}{', ...' if len(values) > 12 else ''}"


def _hpa_as_pa(ds, key, value):
    """`value` times 100 where coordinate `key` is in Pa and holds that, not `value` (a level
    given in hPa); `None` otherwise."""
    if key not in ds.coords or str(ds[key].attrs.get("units", "")).strip() != "Pa":
        return None
    try:
        levels = np.asarray(ds[key].values, dtype="float64")
        value = float(value)
    except (TypeError, ValueError):
        return None
    return 100.0 * value if (np.isclose(levels, 100.0 * value).any()
                             and not np.isclose(levels, value).any()) else None


def _matching(ds, key, value):
    """`value` (often text from the command line) as a value of coordinate `key`."""
    if key not in ds.coords or not isinstance(value, str):
        return value
    kind = ds[key].dtype
    try:
        if np.issubdtype(kind, np.integer):
            number = float(value)
            return int(number) if number.is_integer() else number
        if np.issubdtype(kind, np.floating):
            return float(value)
    except ValueError:
        return value
    return value


_AXIS_ATTRIBUTES = {
    "latitude": {"standard_name": ("latitude",), "axis": ("Y",),
                 "units": ("degrees_north", "degree_north", "degree_N", "degrees_N")},
    "longitude": {"standard_name": ("longitude",), "axis": ("X",),
                  "units": ("degrees_east", "degree_east", "degree_E", "degrees_E")},
}
_KNOWN_NAMES = {"latitude": LATITUDE_NAMES, "longitude": LONGITUDE_NAMES}
_NAMED_AXES = TIME_NAMES + LATITUDE_NAMES + LONGITUDE_NAMES  # never renamed into another axis


_PROJECTED = ("grid_latitude", "grid_longitude", "projection_y_coordinate",
              "projection_x_coordinate")
"""CF standard names of the axes of rotated-pole and projected grids."""


def _check_geographic_axes(ds, path):
    """Refuses latitude and longitude axes that are not geographic degrees: a rotated-pole or
    projected grid (CORDEX `rlat`/`rlon`, Lambert `y`/`x` in metres), radians, or latitudes
    beyond the poles; each would be read as degrees on the globe, and every area weight,
    region and map would be wrong."""
    for axis in ("latitude", "longitude"):
        attrs = ds[axis].attrs
        standard_name = str(attrs.get("standard_name", ""))
        units = str(attrs.get("units", "")).strip()
        why = None
        if standard_name in _PROJECTED:
            why = f"standard_name {standard_name!r}: a rotated-pole or projected grid"
        elif units and not units.lower().startswith("deg"):
            why = f"units {units!r}, not degrees"
        elif axis == "latitude" and ds[axis].size:
            furthest = np.nanmax(np.abs(ds[axis].values.astype("float64")))
            if furthest > 90.0 + grid.TOLERANCE:
                why = f"values up to {furthest:g}, beyond the poles"
        if why:
            raise DataError(f"{path}: the {axis} axis has {why}; keras_dsc reads regular "
                            f"latitude-longitude grids in degrees: regrid the data to one "
                            f"(e.g. 'cdo remapbil')")


def _axes_named_by_their_coordinates(ds, path):
    """Horizontal dimensions under other names (`y`/`x` carrying 1-D `lat(y)`/`lon(x)`, IRI's
    `Y`/`X`) become `latitude`/`longitude` when a 1-D coordinate on them says what they are
    (its name, CF `standard_name`, `axis` or `units`). A 2-D latitude (a curvilinear grid) is
    refused, saying so."""
    for canonical, names in _KNOWN_NAMES.items():
        if any(n in ds.dims for n in names):
            continue
        attributes = _AXIS_ATTRIBUTES[canonical]
        candidates, planes = [], []
        for name, var in ds.variables.items():
            named = name in names or any(
                str(var.attrs.get(key, "")) in values for key, values in attributes.items())
            if named and var.ndim == 1 and var.dims[0] not in _NAMED_AXES:
                candidates.append((name, var.dims[0]))
            elif named and var.ndim == 2 and "bnds" not in var.dims and "bounds" not in name:
                planes.append((name, var.dims))
        if not candidates and planes:
            name, dims = planes[0]
            raise DataError(f"{path}: {canonical} is a 2-D variable {name!r} on "
                            f"({', '.join(map(str, dims))}): a curvilinear grid is not "
                            f"supported; regrid it to a regular latitude-longitude grid "
                            f"(e.g. 'cdo remapbil')")
        if len({dim for _, dim in candidates}) == 1:
            name, dim = candidates[0]
            if name == dim:  # the dimension's own coordinate (IRI: X, Y)
                ds = ds.rename({dim: canonical})
            else:
                if canonical in ds.variables and canonical != name:
                    ds = ds.drop_vars(canonical)
                ds = ds.swap_dims({dim: name}).rename({name: canonical})
    return ds


def _once(ds, axis):
    """`ds` with each `axis` coordinate once (the first kept), and a note of those given twice
    (the cyclic column of a global grid, 0 and 360; a duplicated row)."""
    values = ds[axis].values
    twice = values[pd.Index(values).duplicated()]
    if not twice.size:
        return ds, None
    listed = ", ".join(f"{v:g}" for v in np.unique(twice)[:3])
    cyclic = (" (compared in -180..180, where 0 and 360 are one meridian)"
              if axis == "longitude" else "")
    return ds.drop_duplicates(axis), f"{axis} {listed} given twice{cyclic}: the first kept"


def _joined(*notes):
    """The notes that say something, as one line (`None` when none does)."""
    return "; ".join(n for n in notes if n) or None


def _is_bounds(name, var):
    """Whether a variable holds cell or time bounds (`time_bnds`, `lat_bnds` on `bnds`/`nv`)."""
    return any("bnd" in str(n) or "bound" in str(n) or str(n) == "nv"
               for n in (name, *var.dims))


def _time_named_by_its_coordinate(ds):
    """The one dimension whose own coordinate says it is time (CF `standard_name: time` or
    `axis: T`; IRI's `T`), or None. Forecast axes (`LEAD_DIMS`, timedeltas, the initial
    times) are never taken for it, whatever attributes they inherited: `predict` reads them
    as forecasts."""
    forecast_axes = LEAD_DIMS + ("forecast_reference_time", "init_time")
    named = [dim for dim in ds.dims if dim in ds.variables and ds[dim].ndim == 1
             and dim not in LATITUDE_NAMES + LONGITUDE_NAMES + forecast_axes
             and not np.issubdtype(ds[dim].dtype, np.timedelta64)  # a lead time
             and (ds[dim].attrs.get("standard_name") == "time"
                  or ds[dim].attrs.get("axis") == "T")]
    return named[0] if len(named) == 1 else None


def why_unreadable(path, error):
    """Why a file did not open, in words (a GRIB file, a zip archive, an empty file...)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            magic = handle.read(8)
    except OSError as os_error:
        return f"cannot be read ({os_error.strerror})"
    if size == 0:
        return "not a readable NetCDF file: it is empty (0 bytes)"
    if magic.startswith(b"GRIB"):
        return ("not a readable NetCDF file: it is a GRIB file; download it as NetCDF "
                "(cli.py download does) or convert it, e.g. with 'cdo -f nc copy'")
    if magic.startswith(b"PK\x03\x04"):
        return ("not a readable NetCDF file: it is a zip archive (the CDS zips several files "
                "unless download_format is 'unarchived'); unzip it and give the .nc files")
    if magic.startswith((b"CDF", b"\x89HDF")):
        first = first_line(error).split('. ')[0]
        if "unable to decode time units" in first:  # a readable file, an undecodable axis
            hint = ("; months and years since a date are only defined in the 360_day "
                    "calendar: rewrite the time axis in days since a date (e.g. 'cdo -r copy')"
                    if "months since" in first or "years since" in first else "")
            return f"its time axis cannot be decoded ({first}){hint}"
        return f"not a readable NetCDF file (damaged: {first})"
    return "not a readable NetCDF file: it has neither a NetCDF nor an HDF5 signature"


def _points_in_region(ds, region):
    """How many grid points of `ds` the region will keep (all when None or malformed)."""
    lat, lon = ds["latitude"].values, ds["longitude"].values
    try:
        north, west, south, east = (float(v) for v in region)
    except (TypeError, ValueError):
        return lat.size * lon.size
    west, east = _in_grid_longitudes(lon, west, east)
    n_lat = np.count_nonzero((lat <= north + grid.TOLERANCE) & (lat >= south - grid.TOLERANCE))
    east_of_west, west_of_east = lon >= west - grid.TOLERANCE, lon <= east + grid.TOLERANCE
    if west > east and _goes_round(lon):
        n_lon = np.count_nonzero(east_of_west | west_of_east)
    else:
        n_lon = np.count_nonzero(east_of_west & west_of_east)
    return max(1, n_lat * n_lon)


def _goes_round(lon):
    """Whether ascending longitudes go all the way round the globe (a global grid, whose
    last column is one step west of its first): such a grid crosses the date line."""
    if lon.size < 3:
        return False
    step = np.median(np.diff(lon))
    seam = lon[0] + 360.0 - lon[-1]
    return bool(step > 0 and 0.5 * step <= seam <= 1.5 * step)


def _in_grid_longitudes(lon, west, east):
    """A region's west and east (given in -180..180) in the grid's own longitudes: a box
    across the date line is kept in 0..360, where 170W is 190 and 170E..150W is 170..210."""
    if lon.size and lon.max() > 180.0 + grid.TOLERANCE:
        west = west % 360.0 if west < 0 or west >= east else west
        east = east % 360.0 if east < 0 else east
    return west, east


def _decode_time(ds, path):
    """Make the time axis numpy datetime64; `(ds, note)`, the note saying what changed.

    CF calendars other than the standard one are converted date for date (see `open_cube`).
    """
    time = ds.indexes.get("time")
    if time is None or isinstance(time, pd.DatetimeIndex):
        return ds, None
    if isinstance(time, xr.CFTimeIndex):
        calendar = time.calendar
        first, last = int(min(time.year)), int(max(time.year))
        if first < 1678 or last > 2261:  # what datetime64[ns] holds: 1677-09-21..2262-04-11
            raise DataError(f"{path}: the time axis (calendar {calendar!r}) runs from year "
                            f"{first:04d} to {last:04d}, outside the years 1678..2261 that "
                            f"dates can hold here; shift its years by "
                            f"{_shift_years(first, last):+d} (a multiple of 400 keeps the "
                            f"leap years; e.g. with 'cdo shifttime') and give the shifted file")
        if _means_of_a_month_or_longer(time):
            # A monthly or seasonal mean stamped on a day the standard calendar lacks (30
            # February, CDO's stamp of a 360_day DJF mean) keeps its value: its stamp moves to
            # the last day of its month.
            last = pd.to_datetime({"year": time.year, "month": time.month, "day": 1}) + \
                pd.offsets.MonthEnd(0)
            days = np.minimum(np.asarray(time.day), last.dt.day.to_numpy())
            stamps = pd.to_datetime({"year": time.year, "month": time.month, "day": days,
                                     "hour": time.hour, "minute": time.minute,
                                     "second": time.second, "us": time.microsecond})
            if stamps.is_unique:
                encoding = ds["time"].encoding  # its dtype: float times are rounded next
                converted = ds.assign_coords(time=("time", pd.DatetimeIndex(stamps),
                                                   dict(ds["time"].attrs)))
                converted["time"].encoding = encoding
                return converted, _calendar_note(time, calendar, moved=True)
        try:
            converted = ds.convert_calendar("standard", dim="time", align_on="date",
                                            use_cftime=False)
        except (ValueError, TypeError, OverflowError) as error:
            raise DataError(f"{path}: time axis in calendar {calendar!r} cannot be "
                            f"converted to dates ({first_line(error)})") from None
        return converted, _calendar_note(time, calendar)
    raise DataError(f"{path}: the time coordinate is not made of dates "
                    f"(dtype {ds['time'].dtype}; is its 'units' attribute missing?)")


def _shift_years(first, last):
    """A multiple of 400 years (the Gregorian cycle: leap years kept) that brings
    `first..last` nearest to the middle of 1678..2261."""
    return int(round((1970 - (first + last) / 2) / 400.0)) * 400


def _times_off_float_storage(ds, path):
    """`(ds, note)`: times stored as floating-point numbers, rounded back to what they were.

    Float days carry rounding noise (11:59:59.9 for 12:00), so such times are rounded to the
    second. In float32 (about 7 digits) `days since 1800` resolves only 1/128 day: such times
    are rounded to the minute or the hour above that resolution when that moves none of them
    by more than the resolution, and refused when it would (the stamps cannot be recovered).
    """
    index = ds.indexes.get("time")
    encoding = ds["time"].encoding if "time" in ds.variables else {}
    dtype = np.dtype(encoding.get("dtype", "int64"))
    if not isinstance(index, pd.DatetimeIndex) or not len(index) or dtype.kind != "f":
        return ds, None
    resolution = 0.0
    unit, _, reference = str(encoding.get("units", "")).partition(" since ")
    try:
        seconds = pd.Timedelta(1, unit=unit.strip().lower()).total_seconds()
        largest = max(abs((t - pd.Timestamp(reference)).total_seconds()) for t in index[[0, -1]])
        resolution = float(np.spacing(dtype.type(largest / seconds))) * seconds
    except (ValueError, TypeError, OverflowError):  # units pandas does not know: no bound
        pass
    for rounding in (u for u in ("1s", "1min", "1h")
                     if pd.Timedelta(u).total_seconds() > resolution):
        rounded = index.round(rounding)
        moved = float(np.abs((rounded - index).total_seconds()).max())
        if moved <= max(resolution, 0.5):  # within what the storage may have moved them
            break
    else:
        raise DataError(f"{path}: the time axis is stored in {dtype.name} {encoding['units']}, "
                        f"which holds its times only to {resolution:.0f} s, and they do not "
                        f"round to whole hours; rewrite it in float64 or integers (e.g. "
                        f"xarray: encoding={{'time': {{'dtype': 'float64'}}}})")
    if rounded.equals(index):
        return ds, None
    attrs = dict(ds["time"].attrs)
    ds = ds.assign_coords(time=("time", rounded, attrs))
    ds["time"].encoding = encoding
    said = (f"times stored in {dtype.name} {encoding.get('units')} rounded to the nearest "
            f"{ {'1s': 'second', '1min': 'minute', '1h': 'hour'}[rounding] } (moved up to "
            f"{moved:.3g} s)")
    return ds, said


def _median_step_seconds(time):
    """The median step of `time` (a CFTimeIndex, sorted or not) in seconds; `None` for one time."""
    ordered = sorted(time)
    steps = [(b - a).total_seconds() for a, b in zip(ordered[:-1], ordered[1:])]
    return float(np.median(steps)) if steps else None


def _means_of_a_month_or_longer(time):
    """Whether the steps of `time` (a CFTimeIndex) are a month or longer: means over periods."""
    step = _median_step_seconds(time)
    return step is not None and step >= 28 * 86400.0


def _calendar_note(time, calendar, moved=False):
    """What converting the times of `time` (a CFTimeIndex) date for date dropped (`moved`:
    moved to the last day of their month) and left out."""
    year = np.asarray(time.year, "int64")
    month = np.asarray(time.month, "int64")
    day = np.asarray(time.day, "int64")
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    lengths = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[month - 1] + (
        (month == 2) & leap)
    lacking = np.flatnonzero(day > lengths)
    note = f"calendar {calendar!r} read date for date as the standard calendar"
    if lacking.size:
        first = lacking[0]
        steps = "1 time step" if lacking.size == 1 else f"{lacking.size} time steps"
        what = ("moved to the last day of their month (means over a month or longer)"
                if moved else "dropped")
        note += (f"; {steps} on dates the standard calendar lacks {what} "
                 f"(the first {year[first]:04d}-{month[first]:02d}-{day[first]:02d})")
    step = _median_step_seconds(time)
    daily_or_finer = step is None or step <= 86400.0  # monthly means span no gap
    if calendar in ("noleap", "365_day", "360_day") and daily_or_finer:
        lacks = ("29 February of leap years" if calendar != "360_day"
                 else "the 31st of seven months")
        note += f"; dates the {calendar} calendar lacks ({lacks}) are gaps, no window spans them"
    return note


def _grid_text(ds):
    lat, lon = ds["latitude"].values, ds["longitude"].values
    return (f"{lat.size}x{lon.size} points, latitude {lat[0]:g}..{lat[-1]:g}, "
            f"longitude {lon[0]:g}..{lon[-1]:g}")


def _check_same_grid(opened):
    first_path, first = opened[0]
    for i, (path, ds) in enumerate(opened[1:], start=1):
        for axis in ("latitude", "longitude"):
            a, b = first[axis].values, ds[axis].values
            if not grid.same_axis(a, b):
                apart = (f"; {axis}s up to {np.abs(a - b).max():.3g} degrees apart"
                         if a.shape == b.shape else "")
                raise DataError(f"{first_path} and {path} have different grids "
                                f"({_grid_text(first)} vs {_grid_text(ds)}{apart})")
        # Exactly the same coordinates, so that concatenation aligns nothing.
        opened[i] = (path, ds.assign_coords(latitude=first["latitude"],
                                            longitude=first["longitude"]))


def _check_same_units(members):
    """Refuse a variable whose files give it in different units (t2m in K, then in degC):
    joined, its values would change scale where one file ends."""
    first_path, first = members[0]
    for path, ds in members[1:]:
        for name in first.data_vars:
            a, b = first[name].attrs.get("units"), ds[name].attrs.get("units")
            if a is not None and b is not None and not same_units(a, b):
                raise DataError(f"{path}: variable {name!r} is in {b}, in {first_path} it is "
                                f"in {a}; convert the files to the same units")


def _check_times(ds, members):
    index = ds.indexes["time"]
    duplicated = index[index.duplicated()]
    if len(duplicated):
        first = duplicated[0]
        holders = [str(p) for p, d in members if first in d.indexes["time"]]
        where = (f"in {' and '.join(holders[:2])}" if len(holders) > 1
                 else "twice in the same file")
        raise DataError(f"{holders[0]}: duplicate time {pd.Timestamp(first).isoformat()} "
                        f"({where}; times must be unique)")
    if not index.is_monotonic_increasing:
        ds = ds.sortby("time")
    return ds


def _combine(opened):
    """Concatenate files along time; merge groups of files holding different variables."""
    if any(LABELS not in ds.coords for _, ds in opened):
        opened = [(p, ds.drop_vars(LABELS, errors="ignore")) for p, ds in opened]
    groups = {}
    for path, ds in opened:
        groups.setdefault(tuple(sorted(ds.data_vars)), []).append((path, ds))
    combined = []
    for members in groups.values():
        files = [p for p, _ in members]
        if len(members) == 1:
            ds = members[0][1]
        else:
            _check_same_units(members)
            ds = xr.concat([d for _, d in members], dim="time", data_vars="minimal",
                           coords="minimal", compat="override", join="exact",
                           combine_attrs="override")
        combined.append((files, _check_times(ds, members)))
    files, result = combined[0]
    for other_files, other in combined[1:]:
        if not result.indexes["time"].equals(other.indexes["time"]):
            raise DataError(f"{files[0]} and {other_files[0]} hold different variables "
                            f"({', '.join(result.data_vars)} vs {', '.join(other.data_vars)}) "
                            f"for different times; give every variable for the same times")
        other = other.drop_vars(LABELS, errors="ignore")
        result = xr.merge([result, other], join="exact", compat="override",
                          combine_attrs="override")
    order = []
    for _, ds in opened:
        order += [n for n in ds.data_vars if n not in order]
    return result[order]


def _select_time(ds, time_range, where):
    try:
        start, end = time_range
    except (TypeError, ValueError):
        raise OptionError(f"{{time_range}}: expected (start, end), got {time_range!r}",
                          "time_range") from None
    try:
        out = ds.sel(time=slice(start, end))
    except (KeyError, ValueError, TypeError) as error:
        raise OptionError(f"{where}: {{time_range}} {start}..{end} cannot be selected "
                          f"({first_line(error)})", "time_range") from None
    if out.sizes["time"] == 0:
        index = ds.indexes["time"]
        raise OptionError(f"{where}: {{time_range}} {start}..{end} holds no time step; the "
                          f"files cover {index[0].isoformat()}..{index[-1].isoformat()}",
                          "time_range")
    return out


def _select_region(ds, region, where):
    try:
        north, west, south, east = (float(v) for v in region)
    except (TypeError, ValueError):
        raise OptionError(f"{{region}}: expected (north, west, south, east) in degrees, "
                          f"got {region!r}", "region") from None
    if north < south:
        raise OptionError(f"{{region}}: north {north:g} is south of south {south:g}",
                          "region")
    if not (-180.0 <= west <= 180.0 and -180.0 <= east <= 180.0):
        raise OptionError(f"{{region}}: west {west:g} and east {east:g} must be in -180..180",
                          "region")
    lon = ds["longitude"].values
    lon_west, lon_east = _in_grid_longitudes(lon, west, east)
    tol = grid.TOLERANCE
    if lon_west > lon_east and _goes_round(lon):
        # A global grid in -180..180 crosses the date line: the box's part east of it is
        # joined on as 180..360, so the box keeps its longitudes in order (as in 0..360).
        beyond = ds.sel(longitude=slice(None, lon_east + tol))
        beyond = beyond.assign_coords(longitude=("longitude", beyond["longitude"].values + 360.0,
                                                 ds["longitude"].attrs))
        ds = xr.concat([ds.sel(longitude=slice(lon_west - tol, None)), beyond], "longitude",
                       data_vars="minimal", coords="minimal", compat="override",
                       combine_attrs="override")
        lon_east += 360.0
    if lon_west > lon_east:
        raise OptionError(f"{{region}}: west {west:g} is east of east {east:g} (a box across "
                          f"the date line can be cut only from a file whose grid crosses it)",
                          "region")
    out = ds.sel(latitude=slice(north + tol, south - tol),
                 longitude=slice(lon_west - tol, lon_east + tol))
    if out.sizes["latitude"] == 0 or out.sizes["longitude"] == 0:
        raise OptionError(f"{where}: {{region}} north {north:g}, west {west:g}, south "
                          f"{south:g}, east {east:g} is outside the grid ({_grid_text(ds)})",
                          "region")
    return out


def _check_not_all_nan(ds, where):
    """Refuse a variable that is NaN everywhere: look at a few steps, then at all if needed."""
    n = ds.sizes["time"]
    sample = sorted({0, n // 2, n - 1})
    for name, var in ds.data_vars.items():
        if bool(var.isel(time=sample).notnull().any()):
            continue
        if not bool(var.notnull().any()):
            raise DataError(f"{where}: variable {name!r} is entirely NaN over the selected "
                            f"grid and times")
