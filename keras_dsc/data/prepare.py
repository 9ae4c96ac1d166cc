"""From a data option (built-in cube, NetCDF files) to normalised windows ready for training."""

import dataclasses
import hashlib
import os
import pathlib
import tempfile

from keras_dsc.data import era5
from keras_dsc.errors import DataError
from keras_dsc.data.preprocessing import CubePreprocessor
from keras_dsc.data.windows import WindowedCube

BUILTIN = "builtin"
IN_MEMORY_LIMIT = 2 * 1024**3


@dataclasses.dataclass
class DataOptions:
    """Where the data comes from and how it is cut into samples (the CLI's data options).

    Attributes:
        data: NetCDF path, glob or list of paths; `None` or `"builtin"` for the built-in cube;
            `"tfds:era5_cube/<config>"` for a prepared TFDS dataset (`keras_dsc.data.tfds`).
        days: length of the built-in cube in days.
        n_regimes: regimes planted in the built-in cube.
        variables: variable names in order, or `None` for all.
        region: `(north, west, south, east)` or `None` for the whole grid.
        time_range: `(start, end)` or `None`.
        resample: pandas frequency for time means (`"3h"`, `"1D"`), or `None` to keep the step.
        window: time steps per sample.
        stride: steps between window starts; `None` for `window`.
        anomalies: remove the fitted seasonal and diurnal cycles first (per grid point), as
            climate scientists do before looking for weather regimes; otherwise the seasonal
            cycle dominates every distance and a clustering finds the seasons. `None` (the
            default): on for NetCDF files and the built-in cube, off for `tfds:` datasets,
            which hold no climatology.
        normalization: `"zscore"` or `"minmax"`.
        tfds_data_dir: the TFDS data dir of `tfds:` data; `None` for `$TFDS_DATA_DIR` or
            `~/tensorflow_datasets`.
    """

    data: object = None
    days: int = 365
    n_regimes: int = 6
    variables: tuple = None
    region: tuple = None
    time_range: tuple = None
    resample: str = "3h"
    window: int = 8
    stride: int = None
    anomalies: bool = None
    normalization: str = "zscore"
    tfds_data_dir: str = None
    stream: bool = None

    @property
    def builtin(self):
        return self.data is None or self.data == BUILTIN

    @property
    def tfds(self):
        """Whether `data` names a prepared TFDS dataset (`"tfds:era5_cube/paper"`)."""
        from keras_dsc.data.tfds import is_tfds_spec

        return is_tfds_spec(self.data)


@dataclasses.dataclass
class PreparedData:
    """Normalised windows and everything needed to describe and reproduce them.

    Attributes:
        windows: a `WindowedCube` of normalised windows (NaN where missing).
        preprocessor: the fitted `CubePreprocessor`.
        cube: the opened (resampled) cube in physical units, lazy.
        description: JSON-serialisable dict describing the data.
    """

    windows: WindowedCube
    preprocessor: CubePreprocessor
    cube: object
    description: dict


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
        raise DataError(f"--days must be a positive number of days, got {days}")
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
        from keras_dsc.data.tfds import prepare_tfds

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
    description = {
        "source": "built-in synthetic ERA5-form cube" if options.builtin else "NetCDF files",
        "files": files if isinstance(files, list) else [files],
        "variables": list(preprocessor.variables),
        "units": dict(zip(preprocessor.variables, preprocessor.units)),
        "grid": grid_description(preprocessor),
        "time": {"start": str(times[0]), "end": str(times[-1]), "n_steps": int(len(times))},
        "options": {
            **{key: value for key, value in dataclasses.asdict(options).items() if key != "data"},
            "anomalies": bool(preprocessor.anomalies),
        },
        "n_samples": len(windows),
        "sample_shape": list(windows.sample_shape),
        "has_reference_labels": windows.labels is not None,
    }
    return PreparedData(windows, preprocessor, cube, description)


def grid_description(preprocessor):
    """The grid a fitted `CubePreprocessor` knows, as the dict run descriptions carry."""
    return {
        "n_latitudes": len(preprocessor.latitudes),
        "n_longitudes": len(preprocessor.longitudes),
        "north": float(max(preprocessor.latitudes)),
        "south": float(min(preprocessor.latitudes)),
        "west": float(min(preprocessor.longitudes)),
        "east": float(max(preprocessor.longitudes)),
    }


def _resample(cube, freq):
    import pandas as pd

    try:
        target = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    except (ValueError, TypeError):
        raise DataError(f"--resample: {freq!r} is not a fixed time frequency like 3h or 1D")
    times = cube["time"].values
    if len(times) > 1:
        step = pd.Timedelta(times[1] - times[0])
        if target < step:
            raise DataError(
                f"--resample {freq} is finer than the data's time step ({step}); "
                f"pass --resample none to keep it"
            )
        if target == step:
            return cube
    return era5.resample_time(cube, freq)
