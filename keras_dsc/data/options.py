"""What every data source fills in: the data options, the prepared data and its description.

This module is the leaf of `keras_dsc.data`: the sources (`prepare` for NetCDF and the built-in
cube, `tfds` for prepared TFDS datasets) import it, never each other's internals.
"""

import dataclasses
import math
import numbers

from keras_dsc.data.grid import grid_description
from keras_dsc.errors import OptionError

BUILTIN = "builtin"
TFDS_PREFIX = "tfds:"
NORMALIZATIONS = ("zscore", "minmax")


def option(default, help, cli=True):
    """A dataclass field with its one-line `help` (the command line builds its options from it).

    Args:
        default: the field's default.
        help: what the option means, one sentence.
        cli: whether the command line offers it. Defaults to `True`.
    """
    return dataclasses.field(default=default, metadata={"help": help, "cli": cli})


@dataclasses.dataclass
class DataOptions:
    """Where the data comes from and how it is cut into samples.

    The options check themselves when made: a bad value raises `keras_dsc.errors.OptionError`
    naming the field.

    Attributes:
        data: NetCDF path, glob or list of paths; an `xarray.Dataset` already opened (ERA5's
            form or any other `keras_dsc.data.era5.open_cube` reads); `None` or `"builtin"`
            for the built-in cube; `"tfds:era5_cube/<config>"` for a prepared TFDS dataset
            (`keras_dsc.data.tfds`).
        days: length of the built-in cube in days.
        n_regimes: regimes planted in the built-in cube.
        variables: variable names in order, or `None` for all.
        region: `(north, west, south, east)` in degrees, or `None` for the whole grid.
        time_range: `(start, end)` dates, or `None`.
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
        stream: keep the cube lazy (dask) and read windows on demand; `None`: only when it is
            larger than 2 GiB.

    Example:

    >>> DataOptions(window=24, resample="1h").window
    24
    >>> DataOptions(window=0)
    Traceback (most recent call last):
    ...
    keras_dsc.errors.OptionError: window must be a positive integer, got 0
    """

    data: object = option(None, "NetCDF file, glob or 'tfds:era5_cube/<config>'. Default: the "
                          "built-in synthetic ERA5-form cube.")
    days: int = option(365, "Length of the built-in cube in days.")
    n_regimes: int = option(6, "Regimes planted in the built-in cube.", cli=False)
    variables: tuple[str, ...] | None = option(
        None, "Comma-separated variable names, e.g. u10,v10,t2m,sst,sp,slhf,sshf. Default: all.")
    region: tuple[float, float, float, float] | None = option(
        None, "N,W,S,E in degrees (the CDS order), e.g. 43,-33,33,-23. Default: the whole grid.")
    time_range: tuple[str, str] | None = option(
        None, "START,END dates, e.g. 2021-01-01,2021-06-30. Default: the whole record.")
    resample: str | None = option(
        "3h", "Time means at this step (3h, 1D, ...); 'none' keeps the data's step.")
    window: int = option(
        8, "Time steps per sample (8 three-hourly steps = one day; 1 = the paper).")
    stride: int | None = option(None, "Steps between window starts. Default: the window length.")
    anomalies: bool | None = option(
        None, "Remove the fitted seasonal and diurnal cycles first. Default: on, except for "
        "tfds: data.")
    normalization: str = option("zscore", "Per-variable normalisation: zscore or minmax.")
    tfds_data_dir: str | None = option(
        None, "TFDS data dir of --data tfds:... Default: $TFDS_DATA_DIR, else "
        "~/tensorflow_datasets.")
    stream: bool | None = option(
        None, "Read windows lazily instead of loading the cube. Default: beyond 2 GiB.",
        cli=False)

    def __post_init__(self):
        self.days = _positive_int(self.days, "days")
        self.n_regimes = _positive_int(self.n_regimes, "n_regimes")
        self.window = _positive_int(self.window, "window")
        if self.stride is not None:
            self.stride = _positive_int(self.stride, "stride")
        self.variables = _names(self.variables)
        self.region = _region(self.region)
        self.time_range = _pair(self.time_range, "time_range", "(start, end)")
        if self.resample is not None:
            self.resample = _frequency(self.resample)
        if self.normalization not in NORMALIZATIONS:
            raise OptionError(f"{{normalization}} must be one of {', '.join(NORMALIZATIONS)}, "
                              f"got {self.normalization!r}", "normalization")
        if isinstance(self.data, (list, tuple)):
            self.data = [str(path) for path in self.data]
            if not self.data:
                raise OptionError("{data}: the list of files is empty", "data")

    @property
    def builtin(self):
        """Whether the options name the built-in cube."""
        return self.data is None or (isinstance(self.data, str) and self.data == BUILTIN)

    @property
    def tfds(self):
        """Whether `data` names a prepared TFDS dataset (`"tfds:era5_cube/paper"`)."""
        return is_tfds_spec(self.data)


@dataclasses.dataclass
class PreparedData:
    """Normalised windows and everything needed to describe and reproduce them.

    Attributes:
        windows: the window source: a `WindowedCube` of normalised windows (NaN where missing)
            or a `keras_dsc.data.tfds.TfdsWindows`.
        preprocessor: the fitted `CubePreprocessor`.
        cube: the opened (resampled) cube in physical units, lazy; `None` for TFDS data.
        description: JSON-serialisable dict describing the data (`describe_data`).
    """

    windows: object
    preprocessor: object
    cube: object
    description: dict


def is_tfds_spec(data):
    """Whether a `data` value names a TFDS dataset (`"tfds:era5_cube/paper"`).

    Example:

    >>> is_tfds_spec("tfds:era5_cube/paper"), is_tfds_spec(["era5_2021.nc"])
    (True, False)
    """
    if isinstance(data, (list, tuple)) and len(data) == 1:
        data = data[0]
    return isinstance(data, str) and data.startswith(TFDS_PREFIX)


def describe_data(source, files, preprocessor, windows, time, options, has_labels, **extra):
    """The JSON-serialisable description of prepared data that a run's `config.json` keeps.

    Args:
        source: a short description of the source (`"NetCDF files"`, ...).
        files: the list of files (or dataset names) read.
        preprocessor: the fitted `CubePreprocessor`.
        windows: the window source (`len()`, `sample_shape`).
        time: dict `{start, end, n_steps}` of the time axis.
        options: dict of the data options as applied (`DataOptions` fields but `data`).
        has_labels: whether the data carries reference labels (planted regimes).
        **extra: more keys, placed after `files`.

    Returns:
        A dict with the keys `source`, `files`, the extra keys, `variables`, `units`, `grid`,
        `time`, `options`, `n_samples`, `sample_shape` and `has_reference_labels`.
    """
    return {
        "source": source,
        "files": list(files),
        **extra,
        "variables": list(preprocessor.variables),
        "units": dict(zip(preprocessor.variables, preprocessor.units)),
        "grid": grid_description(preprocessor.latitudes, preprocessor.longitudes),
        "time": time,
        "options": options,
        "n_samples": len(windows),
        "sample_shape": list(windows.sample_shape),
        "has_reference_labels": bool(has_labels),
    }


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise OptionError(f"{{{name}}} must be a positive integer, got {value!r}", name)
    if int(value) <= 0:
        raise OptionError(f"{{{name}}} must be a positive integer, got {value}", name)
    return int(value)


def _names(variables):
    if variables is None:
        return None
    if isinstance(variables, str):
        variables = [variables]
    names = [str(v).strip() for v in variables]
    if not names:
        raise OptionError("{variables}: the list of variables is empty", "variables")
    if any(not n for n in names):
        raise OptionError(f"{{variables}}: a variable name is blank in {list(variables)!r}",
                          "variables")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise OptionError(f"{{variables}}: {', '.join(duplicated)} given more than once",
                          "variables")
    return tuple(names)


def _region(region):
    if region is None:
        return None
    try:
        north, west, south, east = (float(v) for v in region)
    except (TypeError, ValueError):
        raise OptionError(f"{{region}}: expected N,W,S,E (north, west, south, east in "
                          f"degrees), got {region!r}", "region") from None
    if not all(math.isfinite(v) for v in (north, west, south, east)):
        raise OptionError(f"{{region}}: {region!r} is not made of finite numbers", "region")
    if north < south:
        raise OptionError(f"{{region}}: north {north:g} is south of south {south:g}", "region")
    if not (-90.0 <= south and north <= 90.0):
        raise OptionError(f"{{region}}: latitudes {north:g} and {south:g} must be in -90..90",
                          "region")
    return (north, west, south, east)


def _pair(value, name, what):
    if value is None:
        return None
    if isinstance(value, str) or len(tuple(value)) != 2:
        raise OptionError(f"{{{name}}}: expected {what}, got {value!r}", name)
    return tuple(None if v in (None, "") else str(v) for v in value)


def _frequency(text):
    import pandas as pd

    try:
        pd.tseries.frequencies.to_offset(text)
    except (ValueError, TypeError):
        raise OptionError(f"{{resample}}: {text!r} is not a time frequency like 3h or 1D",
                          "resample") from None
    return str(text)
