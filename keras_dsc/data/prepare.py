"""From data options (built-in cube, NetCDF files, TFDS) to normalised windows ready for training."""

import dataclasses
import hashlib
import math
import os
import pathlib
import shutil
import tempfile

import pandas as pd

from keras_dsc.data import era5
from keras_dsc.data.grid import axis_text, cut_to_grid
from keras_dsc.data.options import AUTO, PreparedData, describe_data
from keras_dsc.data.preprocessing import (CubePreprocessor, check_hours_of_day,
                                           check_in_season)
from keras_dsc.data.time_axis import (
    auto_resample,
    auto_window,
    duration,
    first_irregular,
    infer_step,
    is_calendar,
    step_text,
    time_step_text,
    to_step,
)
from keras_dsc.data.values import check_level, check_units, check_values, check_varies_in_time
from keras_dsc.data.windows import WindowedCube
from keras_dsc.errors import DataError, OptionError

IN_MEMORY_LIMIT = 2 * 1024**3


def cache_dir():
    """Folder of generated files (the built-in cube): `$KERAS_DSC_CACHE` or `~/.cache/keras_dsc`."""
    default = pathlib.Path.home() / ".cache" / "keras_dsc"
    return pathlib.Path(os.environ.get("KERAS_DSC_CACHE", default))


def builtin_cube_path(days=365, n_regimes=6, regime_strength=1.0, episode_days=(1, 8)):
    """Path of the built-in cube as NetCDF, generated (atomically) on first use.

    The file name carries the arguments and a digest of the generator's source, so a changed
    generator never serves a stale cached cube.
    """
    from keras_dsc.data import synthetic

    if int(days) < 1:
        raise OptionError(f"{{days}} must be a positive number of days, got {days}", "days")
    folder = cache_dir()
    digest = hashlib.sha256(pathlib.Path(synthetic.__file__).read_bytes()).hexdigest()[:10]
    shape = ("" if (float(regime_strength), tuple(episode_days)) == (1.0, (1, 8)) else
             f"_strength{float(regime_strength):g}_episodes{episode_days[0]}-{episode_days[1]}")
    path = folder / (f"builtin_cube_{int(days)}d_{int(n_regimes)}regimes{shape}_seed0_"
                     f"{digest}.nc")
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(suffix=".nc.partial", dir=folder)
        os.close(handle)
        try:
            synthetic.write_cube(partial, days=int(days), n_regimes=int(n_regimes), seed=0,
                                 regime_strength=float(regime_strength),
                                 episode_days=tuple(episode_days))
            os.replace(partial, path)
        finally:
            if os.path.exists(partial):
                os.remove(partial)
    return path


def open_data(options):
    """Opens, checks and brings to its time step the cube the options describe.

    Returns `(cube, files)`. The cube stays lazy (dask) when `options.stream` says so, or, by
    default, when it is larger than `IN_MEMORY_LIMIT`; otherwise it is read into memory at
    once, which makes the resampling and normalisation passes that follow much faster than
    through dask. A lazy cube whose prepared form fits (resampled, float32) is loaded by
    `prepare_data` after normalisation. Its values are checked
    (`keras_dsc.data.values.check_values`), its time axis too (`resolve_time_step`).
    """
    opened = _open(options)
    return opened.cube, opened.files


@dataclasses.dataclass
class _Opened:
    cube: object
    files: object
    where: str
    time: dict
    notes: list


def _open(options):
    if options.builtin:
        files = [str(builtin_cube_path(options.days, options.n_regimes, options.regime_strength,
                                       options.episode_days))]
    elif in_memory(options):
        files = options.data
    elif isinstance(options.data, (list, tuple)):
        files = [str(p) for p in options.data]
    else:
        files = str(options.data)
    cube = era5.open_cube(files, options.variables, options.region, options.time_range,
                          select=options.select_dict, treat_as_missing=options.treat_as_missing)
    where = era5.sources_text(cube, str(files))
    notes = list(cube.attrs.get(era5.NOTES) or [])
    stream = options.stream
    if stream is None:
        stream = sum(v.nbytes for v in cube.data_vars.values()) > IN_MEMORY_LIMIT
    try:
        if not stream:
            cube = cube.load()
        notes.extend(check_values(cube, where))
        cube, time = resolve_time_step(cube, options.resample, where)
    except DataError:
        cube.close()  # refused: the files are closed now, not whenever garbage is collected
        raise
    incomplete = era5.incomplete_periods_note(cube, time["step"], where)
    if incomplete:
        notes.append(incomplete)
    return _Opened(cube, files, where, time, notes)


def resolve_time_step(cube, resample, where):
    """Brings a cube to the time step `resample` asks for; returns `(cube, description)`.

    Args:
        cube: a canonical cube (`era5.open_cube`).
        resample: `"auto"`, a frequency (`"3h"`, `"1D"`, `"1MS"`) or `None` (the data's step).
        where: the files, for messages.

    Returns:
        The cube (averaged when needed, `era5.resample_time`) and a dict: `data_step` (the
        files' step), `step` (the cube's), `resample` (what was done and why).

    Raises:
        OptionError: a step finer than the data's; a time axis of mixed steps (3-hourly, then
            hourly) unless `resample` names the step to average it to, naming the file and
            the first irregular time.
    """
    times = cube.indexes["time"]
    step = infer_step(times)
    irregular = first_irregular(times, step) if step is not None else None
    data_step = step_text(step) if step is not None else None
    if resample in (AUTO, None) and irregular is not None:
        raise _irregular(cube, times, step, irregular, where)
    if resample == AUTO:
        target, why = auto_resample(step)
    elif resample is None:
        target, why = None, "none: the data's step kept"
    else:
        target, why = resample, f"{resample}: as asked"
        try:
            wanted = to_step(resample)
        except (ValueError, TypeError):
            raise OptionError(f"{{resample}}: {resample!r} is not a time step like 3h, 1D "
                              f"or 1MS", "resample") from None
        if step is not None and irregular is None:
            if duration(wanted) < duration(step):
                raise OptionError(f"{{resample}} {resample} is finer than the data's time "
                                  f"step ({data_step}); pass {{resample}} none to keep it",
                                  "resample")
            if step_text(wanted) == data_step:
                target, why = None, f"{resample}: the data's step already"
            elif not is_calendar(step) and not is_calendar(wanted) and (
                    wanted % to_step(step) != pd.Timedelta(0)):
                common = pd.Timedelta(math.lcm(wanted.value, to_step(step).value))
                raise OptionError(f"{{resample}} {resample} is not a whole number of the "
                                  f"data's {data_step} steps (its means would hold unequal "
                                  f"numbers of them); pass {{resample}} {step_text(common)} "
                                  f"or another multiple of {data_step}", "resample")
    if target is not None:
        cube = era5.resample_time(cube, target)
        if cube.sizes["time"] == 0:
            raise OptionError(f"{where}: no period of {target} holds all of its "
                              f"{data_step} steps; choose another {{resample}}", "resample")
    # The means are periods of `target` by construction; inferred from the times, the step of
    # a record whose gap drops a period could read as a multiple of it (00 and 09 UTC: 9h).
    new_step = to_step(target) if target is not None else step
    return cube, {"data_step": data_step,
                  "step": step_text(new_step) if new_step is not None else None,
                  "resample": why}


def _irregular(cube, times, step, position, where):
    time = times[position]
    actual = times[position] - times[position - 1]
    text = step_text(actual) if actual > pd.Timedelta(0) else str(actual)
    # A stretch at a coarser multiple of the step (3-hourly within hourly) is averaged to that
    # multiple; any other odd step (a 6-day pentad in a leap year among 5-day ones) to the
    # record's step, whose periods then hold one value each (a coarser step would merge them).
    actual = pd.Timedelta(actual)
    suggested = duration(step)
    if actual > suggested and (is_calendar(step) or actual % suggested == pd.Timedelta(0)):
        suggested = actual
    return OptionError(f"{era5.file_at(cube, time) or where}: irregular time axis: a step of "
                       f"{text} at {time.isoformat()} where the record's step is "
                       f"{step_text(step)}; pass {{resample}} {step_text(suggested)} (or "
                       f"another step) to average it to one step", "resample")


IN_MEMORY_SOURCE = "an xarray Dataset given in memory"


def in_memory(options):
    """Whether the options' data is an `xarray.Dataset` rather than files."""
    import xarray as xr

    return isinstance(options.data, xr.Dataset)


def prepare_data(options, preprocessor=None):
    """Opens, resamples, normalises and windows the data the options describe.

    Args:
        options: a `DataOptions`.
        preprocessor: a fitted `CubePreprocessor` to apply (for new data given to a trained
            model); `None` fits a new one on this data.

    Returns:
        A `PreparedData`, its windows in memory unless `options.stream` is true or, by
        default, the normalised cube is larger than `IN_MEMORY_LIMIT`. Its description says
        what the time options chose and why (`time`), which windows were dropped for gaps or
        for holding no value (`windowing`) and what opening the files changed (`notes`,
        calendar conversions).
    """
    if options.tfds:
        from keras_dsc.data.tfds import prepare_tfds  # TensorFlow: only for tfds: data

        return prepare_tfds(options, preprocessor)
    opened = _open(options)
    cube, files, where = opened.cube, opened.files, opened.where
    if preprocessor is None:
        anomalies = True if options.anomalies is None else options.anomalies
        preprocessor = CubePreprocessor(options.normalization, anomalies).fit(cube)
    else:
        cube, cut = _check_fits(cube, preprocessor, where)
        opened.notes.extend(cut)
    normalised = preprocessor.transform(cube)
    if not cube.chunks or (options.stream is None and normalised.nbytes <= IN_MEMORY_LIMIT):
        # In memory, or files too large to load whose prepared cube (resampled, float32) is
        # not: computed once, chunk after chunk in time order, and served from memory, since
        # windows read at random from a lazy cube cost a dask computation per batch.
        normalised = normalised.load()
    time = opened.time
    if options.window == AUTO:
        window, time["window"] = auto_window(time["step"])
    else:
        window, time["window"] = options.window, f"{options.window}: as asked"
    windows = WindowedCube(normalised, window, options.stride, time_step=time["step"])
    times = cube["time"].values
    # A Dataset in memory is described, not listed as files: it cannot be re-opened from them.
    applied = {field.name: getattr(options, field.name)
               for field in dataclasses.fields(options) if field.name != "data"}
    applied.update(anomalies=bool(preprocessor.anomalies), window=window,
                   resample=_applied_resample(options.resample, time))
    listed = [] if in_memory(options) else files if isinstance(files, list) else [files]
    source = ("built-in synthetic ERA5-form cube" if options.builtin else IN_MEMORY_SOURCE
              if in_memory(options) else "Zarr store" if any(
                  era5.is_zarr_store(str(f)) for f in listed) else "NetCDF files")
    description = describe_data(
        source, listed, preprocessor, windows,
        time={"start": str(times[0]), "end": str(times[-1]), "n_steps": int(len(times)),
              **time},
        options=applied,
        has_labels=windows.labels is not None,
        windowing=windows.report.as_dict(), notes=opened.notes)
    return PreparedData(windows, preprocessor, cube, description)


def hold_windows(windows, folder, stream=None):
    """Where training reads its windows from: memory, a memory-mapped file, or the files.

    Windows read at random from a lazy cube (files whose prepared cube exceeds
    `IN_MEMORY_LIMIT`) cost a dask computation per batch, several train steps on 2 cores. So,
    unless `stream` is true, such a cube is computed once into `<folder>/prepared_windows.npy`
    (float32, chunk after chunk) and read from it memory-mapped, when the disk has room for it.

    Args:
        windows: the windows of `prepare_data` (a `WindowedCube`, or TFDS windows).
        folder: `pathlib.Path`, where the file may be written (a run's training state,
            removed when the run finishes).
        stream: the `DataOptions.stream` option: true keeps a lazy cube streaming.

    Returns:
        `(windows, where)`: the windows to train on and a line saying where they are held.
    """
    if not isinstance(windows, WindowedCube):
        return windows, "windows streamed from the TFDS dataset (stored prepared)"
    if not windows.array.chunks:
        return windows, "windows held in memory"
    size = windows.array.size * 4 / 1024**3
    if stream:
        return windows, "windows streamed from the files, as asked"
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free / 1024**3
    if free < 1.1 * size:
        return windows, (f"windows streamed from the files: the prepared cube ({size:.1f} GiB) "
                         f"does not fit in the {free:.1f} GiB free in {folder}")
    path = folder / PREPARED_WINDOWS_FILE
    path.unlink(missing_ok=True)  # of a killed run being resumed
    try:
        mapped = windows.on_disk(path)
    except OSError as error:  # the disk filled up after all
        path.unlink(missing_ok=True)
        return windows, (f"windows streamed from the files: writing the prepared cube "
                         f"({size:.1f} GiB) into {folder} failed ({error.strerror or error})")
    return mapped, (f"windows prepared once into {path} ({size:.1f} GiB, memory-mapped; "
                    f"removed when the run finishes)")


PREPARED_WINDOWS_FILE = "prepared_windows.npy"


def _applied_resample(resample, time):
    """The `resample` option that gives the same step again: auto is written as its result."""
    if resample != AUTO:
        return resample
    return time["step"]


def _check_fits(cube, preprocessor, where):
    """Data for a fitted preprocessor must be on its grid (a larger grid that holds it is cut
    to it), in its units, at its time step: refused naming the files (the step: naming
    `--resample`, the option that sets it). Returns `(the data, a note per axis cut)`."""
    step = time_step_text(cube.indexes["time"])
    if preprocessor.time_step is not None and step is not None and (
            step != preprocessor.time_step):
        raise OptionError(f"{{resample}}: the time step of {where}, {step} after "
                          f"{{resample}}, differs from the model's {preprocessor.time_step} "
                          f"(pass {{resample}} {preprocessor.time_step})", "resample")
    cube, cuts, mismatch = cut_to_grid(cube, preprocessor.latitudes, preprocessor.longitudes)
    if mismatch is not None:
        axis, given, fitted = mismatch
        raise OptionError(f"{{data}} {where} is on another grid than the model's: "
                          f"{axis}s {axis_text(given)}, the model has {axis_text(fitted)}",
                          "data")
    check_units(cube, preprocessor.variables, preprocessor.units, where)
    check_in_season(cube.indexes["time"], preprocessor.season, where)
    check_hours_of_day(cube.indexes["time"], preprocessor.diurnal_hours(), where)
    check_level(cube, preprocessor.variables, preprocessor.typical_ranges(), where)
    check_varies_in_time(cube, preprocessor.variables, where)
    return cube, [f"{where}: {cut}" for cut in cuts]
