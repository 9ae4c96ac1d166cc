"""What every data source fills in: the data options, the prepared data and its description.

This module is the leaf of `keras_dsc.data`: the sources (`prepare` for NetCDF and the built-in
cube, `tfds` for prepared TFDS datasets) import it, never each other's internals.
"""

import dataclasses
import math
import numbers

from keras_dsc.data.grid import grid_description
from keras_dsc.data.windows import windowing_text
from keras_dsc.errors import OptionError

AUTO = "auto"
BUILTIN = "builtin"
TFDS_PREFIX = "tfds:"
NORMALIZATIONS = ("zscore", "minmax")


def option(default, help, cli=True, repeatable=False):
    """A dataclass field with its one-line `help` (the command line builds its options from it).

    Args:
        default: the field's default.
        help: what the option means, one sentence.
        cli: whether the command line offers it. Defaults to `True`.
        repeatable: whether the command line takes the option several times (`--data a.nc
            --data b.nc`: a list). Defaults to `False`.
    """
    return dataclasses.field(default=default, metadata={"help": help, "cli": cli,
                                                        "repeatable": repeatable})


@dataclasses.dataclass
class DataOptions:
    """Where the data comes from and how it is cut into samples.

    The options check themselves when made: a bad value raises `keras_dsc.errors.OptionError`
    naming the field.

    Attributes:
        data: NetCDF path, glob or list of paths; a Zarr store (a local `.zarr` folder, or a
            `gs://`/`s3://` URL read through fsspec, e.g. Google's analysis-ready ARCO-ERA5,
            read lazily: only the variables, region and times selected); an
            `xarray.Dataset` already opened (ERA5's
            form or any other `keras_dsc.data.era5.open_cube` reads); `None` or `"builtin"`
            for the built-in cube; `"tfds:era5_cube/<config>"` for a prepared TFDS dataset
            (`keras_dsc.data.tfds`).
        days: length of the built-in cube in days.
        n_regimes: regimes planted in the built-in cube.
        regime_strength: scale of the built-in cube's regime anomalies (`make_cube`).
        episode_days: `(shortest, longest)` regime episode of the built-in cube, in days.
        variables: variable names in order, or `None` for all; ERA5 short (`t2m`) or long
            (`2m_temperature`) names, the cube names them by their short names
            (`keras_dsc.data.era5_names`).
        region: `(north, west, south, east)` in degrees, or `None` for the whole grid.
        time_range: `(start, end)` dates, or `None`.
        select: `("NAME=VALUE", ...)`: one value of each extra dimension of the files (a
            pressure level: `("pressure_level=500",)`); `None` when the files have none of
            size above 1.
        treat_as_missing: values that stand for missing data in the files (an undeclared fill
            value such as `1e30`), read as NaN; `None` for none. Otherwise such values, beyond
            any physical range, are refused.
        resample: the time step of the samples: `"auto"` (the default) keeps the data's step
            when it is 3-hourly or coarser and averages finer data to 3 h; a pandas frequency
            (`"3h"`, `"1D"`, `"1MS"` for months) averages to that step; `None` keeps the
            data's step.
        window: time steps per sample, or `"auto"` (the default): one day of steps for
            sub-daily data (8 three-hourly steps), 1 for daily or coarser data. A window is only
            made of steps exactly one time step apart: windows never span a gap of the record.
        stride: steps between window starts; `None` for `window`.
        anomalies: remove the fitted seasonal and diurnal cycles first (per grid point), as
            climate scientists do before looking for weather regimes; otherwise the seasonal
            cycle dominates every distance and a clustering finds the seasons. `None` (the
            default): on for NetCDF files and the built-in cube, off for `tfds:` datasets,
            which hold no climatology.
        normalization: `"zscore"` or `"minmax"`.
        tfds_data_dir: the TFDS data dir of `tfds:` data; `None` for `$TFDS_DATA_DIR` or
            `~/tensorflow_datasets`.
        stream: keep the cube lazy (dask) and read windows on demand; `None`: only when the
            prepared (resampled, float32) cube is larger than 2 GiB.

    Example:

    >>> DataOptions(window=24, resample="1h").window
    24
    >>> DataOptions().resample, DataOptions().window
    ('auto', 'auto')
    >>> DataOptions(window=0)
    Traceback (most recent call last):
    ...
    keras_dsc.errors.OptionError: window must be a positive integer or auto, got 0
    >>> DataOptions(select=("pressure_level=500",)).select_dict
    {'pressure_level': '500'}
    """

    data: object = option(None, "NetCDF file, glob, Zarr store (a .zarr folder, gs://... or "
                          "s3://...) or 'tfds:era5_cube/<config>'; repeat it for several "
                          "files (or quote a glob). Default: the built-in synthetic ERA5-form "
                          "cube.", repeatable=True)
    days: int = option(365, "Length of the built-in cube in days.")
    n_regimes: int = option(6, "Regimes planted in the built-in cube (4 to 7).")
    regime_strength: float = option(1.0, "Strength of the built-in cube's regimes (0.33: about "
                                    "a third of the noise, a hard case).")
    episode_days: tuple[int, int] = option((1, 8), "Shortest and longest regime episode of the "
                                           "built-in cube, in days.")
    variables: tuple[str, ...] | None = option(
        None, "Comma-separated variable names, e.g. u10,v10,t2m,sst,sp,slhf,sshf. Default: all.")
    region: tuple[float, float, float, float] | None = option(
        None, "N,W,S,E in degrees (the CDS order), e.g. 43,-33,33,-23. Default: the whole grid.")
    time_range: tuple[str, str] | None = option(
        None, "START,END dates, e.g. 2021-01-01,2021-06-30. Default: the whole record.")
    select: tuple[str, ...] | None = option(
        None, "NAME=VALUE: one value of an extra dimension of the files, e.g. "
        "pressure_level=500 (comma-separated for several). Default: none.")
    treat_as_missing: tuple[float, ...] | None = option(
        None, "Values read as missing, e.g. 1e30 for an undeclared fill value (values beyond "
        "any physical range are refused otherwise). Default: none.")
    resample: str | None = option(
        "auto", "Time means at this step (3h, 1D, 1MS, ...); 'none' keeps the data's step; "
        "'auto' keeps it when 3-hourly or coarser and averages finer data to 3h.")
    window: int | str = option(
        "auto", "Time steps per sample; 'auto': one day of steps for sub-daily data (8 "
        "three-hourly steps), 1 for daily or coarser (the paper).")
    stride: int | None = option(None, "Steps between window starts. Default: the window length.")
    anomalies: bool | None = option(
        None, "Remove the fitted seasonal and diurnal cycles first. Default: on, except for "
        "tfds: data.")
    normalization: str = option("zscore", "Per-variable normalisation: zscore or minmax.")
    tfds_data_dir: str | None = option(
        None, "TFDS data dir of --data tfds:... Default: $TFDS_DATA_DIR, else "
        "~/tensorflow_datasets.")
    stream: bool | None = option(
        None, "Read windows lazily instead of loading the cube. Default: when the prepared "
        "cube is beyond 2 GiB.",
        cli=False)

    def __post_init__(self):
        self.days = _positive_int(self.days, "days")
        self.n_regimes = _positive_int(self.n_regimes, "n_regimes")
        if not (math.isfinite(float(self.regime_strength)) and self.regime_strength >= 0):
            raise OptionError(f"{{regime_strength}} must be a number >= 0, got "
                              f"{self.regime_strength!r}", "regime_strength")
        self.regime_strength = float(self.regime_strength)
        days = tuple(self.episode_days)
        if len(days) != 2 or not all(isinstance(d, numbers.Integral) for d in days) or not (
                1 <= days[0] <= days[1]):
            raise OptionError(f"{{episode_days}} must be SHORTEST,LONGEST days with 1 <= "
                              f"shortest <= longest, got {self.episode_days!r}", "episode_days")
        self.episode_days = tuple(int(d) for d in days)
        self.window = _window(self.window)
        if self.stride is not None:
            self.stride = _positive_int(self.stride, "stride")
        self.variables = _names(self.variables)
        self.region = _region(self.region)
        self.time_range = _dates(_pair(self.time_range, "time_range", "(start, end)"))
        self.select = _select(self.select)
        self.treat_as_missing = _numbers(self.treat_as_missing, "treat_as_missing")
        if isinstance(self.resample, str) and self.resample.strip().lower() == "none":
            self.resample = None
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
    def select_dict(self):
        """`select` as the dict `keras_dsc.data.era5.open_cube` takes (`{"level": "500"}`)."""
        return dict(item.split("=", 1) for item in self.select or ())

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


def summary_lines(description):
    """What the data preparation chose and dropped, as lines for a run's summary.

    Args:
        description: the dict of `describe_data` (a run's `config.json` `data`).

    Example:

    >>> summary_lines({"time": {"step": "3h", "resample": "auto: averaged to 3h",
    ...                         "window": "auto: one day of 3h steps"}, "options": {"window": 8}})
    ['time: steps of 3h (auto: averaged to 3h); windows of 8 steps (auto: one day of 3h steps)']
    """
    time = description.get("time") or {}
    lines = []
    if time.get("resample") or time.get("window"):
        window = (description.get("options") or {}).get("window")
        steps = "1 step" if window == 1 else f"{window} steps"
        lines.append(f"time: steps of {time.get('step')} ({time.get('resample')}); windows of "
                     f"{steps} ({time.get('window')})")
    dropped = windowing_text(description.get("windowing") or {})
    if dropped:
        lines.append(dropped)
    lines += [f"note: {note}" for note in description.get("notes") or []]
    return lines


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise OptionError(f"{{{name}}} must be a positive integer, got {value!r}", name)
    if int(value) <= 0:
        raise OptionError(f"{{{name}}} must be a positive integer, got {value}", name)
    return int(value)


def _window(value):
    if isinstance(value, str):
        text = value.strip().lower()
        if text == AUTO:
            return AUTO
        if text.isdigit():
            value = int(text)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) <= 0:
        raise OptionError(f"{{window}} must be a positive integer or {AUTO}, got {value!r}",
                          "window")
    return int(value)


def _names(variables):
    if variables is None:
        return None
    if isinstance(variables, str):
        variables = [variables]
    names = [str(v).strip() for v in variables]
    if not any(names):
        raise OptionError(f"{{variables}}: no variable named in {','.join(names)!r}; give "
                          f"names such as u10,v10,t2m, or leave the option out for every "
                          f"variable", "variables")
    if any(not n for n in names):
        raise OptionError(f"{{variables}}: an empty name in {','.join(names)!r}",
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


def _dates(pair):
    import pandas as pd

    if pair is None:
        return None
    for text in pair:
        if text is None:
            continue
        try:
            pd.Timestamp(text)
        except (ValueError, TypeError):
            raise OptionError(f"{{time_range}}: {text!r} is not a date like 2021-06-30",
                              "time_range") from None
    start, end = pair
    if start is not None and end is not None and pd.Timestamp(start) > pd.Timestamp(end):
        raise OptionError(f"{{time_range}}: start {start} is after end {end}", "time_range")
    return pair


def _select(value):
    if value is None:
        return None
    if isinstance(value, dict):
        value = [f"{k}={v}" for k, v in value.items()]
    elif isinstance(value, str):
        value = [value]
    items = []
    for item in value:
        name, equals, chosen = str(item).partition("=")
        if not equals or not name.strip() or not chosen.strip():
            raise OptionError(f"{{select}}: {item!r} is not NAME=VALUE, e.g. "
                              f"pressure_level=500", "select")
        items.append(f"{name.strip()}={chosen.strip()}")
    names = [item.split("=", 1)[0] for item in items]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise OptionError(f"{{select}}: {duplicated[0]} chosen more than once", "select")
    return tuple(items) or None


def _numbers(value, name):
    if value is None:
        return None
    if isinstance(value, (numbers.Real, str)):
        value = [value]
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise OptionError(f"{{{name}}}: expected numbers, got {value!r}", name) from None
    if any(math.isnan(v) for v in out):
        raise OptionError(f"{{{name}}}: NaN is always missing; give the values that stand "
                          f"for missing data, such as 1e30", name)
    return out or None


def _frequency(text):
    from keras_dsc.data.time_axis import to_step

    if str(text).strip().lower() == AUTO:
        return AUTO
    try:
        to_step(text)
    except (ValueError, TypeError):
        raise OptionError(f"{{resample}}: {text!r} is not a time step like 3h, 1D or 1MS "
                          f"(month starts)", "resample") from None
    return str(text)
