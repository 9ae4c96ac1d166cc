"""From data options (built-in cube, NetCDF files, TFDS) to normalised windows ready for training."""

import dataclasses
import hashlib
import os
import pathlib
import tempfile

from keras_dsc.data import era5
from keras_dsc.data.options import PreparedData, describe_data
from keras_dsc.data.preprocessing import CubePreprocessor
from keras_dsc.data.time_axis import step_text, to_timedelta
from keras_dsc.data.windows import WindowedCube
from keras_dsc.errors import OptionError

IN_MEMORY_LIMIT = 2 * 1024**3


def cache_dir():
    """Folder of generated files (the built-in cube): `$KERAS_DSC_CACHE` or `~/.cache/keras_dsc`."""
    default = pathlib.Path.home() / ".cache" / "keras_dsc"
    return pathlib.Path(os.environ.get("KERAS_DSC_CACHE", default))


def builtin_cube_path(days=365, n_regimes=6):
    """Path of the built-in cube as NetCDF, generated (atomically) on first use.

    The file name carries a digest of the generator's source, so a changed generator never
    serves a stale cached cube.
    """
    from keras_dsc.data import synthetic

    if int(days) < 1:
        raise OptionError(f"{{days}} must be a positive number of days, got {days}", "days")
    folder = cache_dir()
    digest = hashlib.sha256(pathlib.Path(synthetic.__file__).read_bytes()).hexdigest()[:10]
    path = folder / f"builtin_cube_{int(days)}d_{int(n_regimes)}regimes_seed0_{digest}.nc"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(suffix=".nc.partial", dir=folder)
        os.close(handle)
        try:
            synthetic.write_cube(partial, days=int(days), n_regimes=int(n_regimes), seed=0)
            os.replace(partial, path)
        finally:
            if os.path.exists(partial):
                os.remove(partial)
    return path


def open_data(options):
    """Opens and resamples the cube the options describe. Returns `(cube, files)`.

    The cube stays lazy (dask) when `options.stream` says so, or, by default, when it is
    larger than `IN_MEMORY_LIMIT`; otherwise it is read into memory at once, which makes the
    resampling and normalisation passes that follow much faster than through dask.
    """
    if options.builtin:
        files = [str(builtin_cube_path(options.days, options.n_regimes))]
    elif in_memory(options):
        files = options.data
    elif isinstance(options.data, (list, tuple)):
        files = [str(p) for p in options.data]
    else:
        files = str(options.data)
    cube = era5.open_cube(files, options.variables, options.region, options.time_range)
    stream = options.stream
    if stream is None:
        stream = sum(v.nbytes for v in cube.data_vars.values()) > IN_MEMORY_LIMIT
    if not stream:
        cube = cube.load()
    if options.resample:
        cube = _resample(cube, options.resample)
    return cube, files


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
        A `PreparedData`.
    """
    if options.tfds:
        from keras_dsc.data.tfds import prepare_tfds  # TensorFlow: only for tfds: data

        return prepare_tfds(options, preprocessor)
    cube, files = open_data(options)
    if preprocessor is None:
        anomalies = True if options.anomalies is None else options.anomalies
        preprocessor = CubePreprocessor(options.normalization, anomalies).fit(cube)
    normalised = preprocessor.transform(cube)
    if cube.chunks is None or not cube.chunks:  # in memory: keep the normalised cube so too
        normalised = normalised.load()
    windows = WindowedCube(normalised, options.window, options.stride)
    times = cube["time"].values
    # A Dataset in memory is described, not listed as files: it cannot be re-opened from them.
    source = ("built-in synthetic ERA5-form cube" if options.builtin else IN_MEMORY_SOURCE
              if in_memory(options) else "NetCDF files")
    listed = [] if in_memory(options) else files if isinstance(files, list) else [files]
    description = describe_data(
        source, listed, preprocessor, windows,
        time={"start": str(times[0]), "end": str(times[-1]), "n_steps": int(len(times))},
        options={**{field.name: getattr(options, field.name)
                    for field in dataclasses.fields(options) if field.name != "data"},
                 "anomalies": bool(preprocessor.anomalies)},
        has_labels=windows.labels is not None)
    return PreparedData(windows, preprocessor, cube, description)


def _resample(cube, freq):
    import pandas as pd

    try:
        target = to_timedelta(freq)
    except (ValueError, TypeError):
        raise OptionError(f"{{resample}}: {freq!r} is not a fixed time frequency like 3h or 1D",
                          "resample") from None
    times = cube["time"].values
    if len(times) > 1:
        step = pd.Timedelta(times[1] - times[0])
        if target < step:
            raise OptionError(f"{{resample}} {freq} is finer than the data's time step "
                              f"({step_text(step)}); pass {{resample}} none to keep it",
                              "resample")
        if target == step:
            return cube
    return era5.resample_time(cube, freq)
