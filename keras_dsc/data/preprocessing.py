"""Normalise a canonical data cube per variable, optionally as anomalies from a climatology.

`CubePreprocessor` is fitted on training data (a Dataset from `keras_dsc.data.era5.open_cube`), turns
any cube on the same grid into the model's input array, turns model outputs back into physical
units, and is saved beside the model so that new data can be prepared the same way.
"""

import json
import os
import warnings

import dask
import dask.array
import numpy as np
import pandas as pd
import xarray as xr

from keras_dsc.data.era5 import first_line, sources_text
from keras_dsc.data.grid import axis_text, same_axis
from keras_dsc.data.time_axis import duration, is_sub_daily, time_step_text
from keras_dsc.data.values import CONSTANT, constant_in_time
from keras_dsc.errors import DataError, OptionError

METHODS = ("zscore", "minmax")
CONFIG_FILE = "preprocessing.json"
CLIMATOLOGY_FILE = "climatology.nc"
HARMONICS = ("mean", "sin1", "cos1", "sin2", "cos2")
HARMONIC_PERIODS = {"sin1": 1.0, "cos1": 1.0, "sin2": 0.5, "cos2": 0.5}
"""The period of each harmonic, in years."""
HOURS = tuple(f"hour{h:02d}" for h in range(24))
YEAR_DAYS = 365.25
SEASON_BINS_PER_DAY = 4
"""The resolution (bins per day) of the part of the year a climatology covers."""


class CubePreprocessor:
    """Per-variable normalisation of a (time, latitude, longitude) cube, with optional anomalies.

    Statistics are computed per variable over all times and grid points of the training data,
    NaN skipped, with xarray reductions: a lazy (dask) cube is reduced chunk by chunk and never
    loaded whole. The normalised value of variable `v` is `(x - offset[v]) / scale[v]`, where
    `offset, scale` are `(mean, std)` for `"zscore"` and `(min, max - min)` for `"minmax"` (a
    constant variable, one whose spread is below a millionth of its magnitude, gets scale 1).
    With anomalies, a variable constant in time at every grid point (a land-sea mask, a fixed
    field) is refused: its anomaly is float32 rounding residue, which normalisation would blow
    up to unit variance.

    With `anomalies=True`, `x` is first replaced by its anomaly: a least-squares climatology is
    fitted per grid point and variable (mean plus annual and semi-annual harmonics, i.e. sin
    and cos of `2*pi*d/365.25` and `4*pi*d/365.25` with `d` the day of the year; and, for
    sub-daily data, the mean diurnal cycle per hour of day of what remains) and subtracted. The
    harmonics need at least a year of training data to be meaningful, and a time step shorter
    than half their period: yearly and one-per-season data get no annual harmonics (their
    climatology is the mean; mid-year stamps, 12 hours apart in leap years, would otherwise be
    fitted as a leap-year cycle), data of 3-month steps no semi-annual ones.

    NaN (sea surface temperature over land, for example) stays NaN: the model computes its
    validity mask from NaN and fills them itself.

    Args:
        method: `"zscore"` or `"minmax"`. Defaults to `"zscore"`.
        anomalies: subtract the fitted climatology first. Defaults to `False`.

    Example:

    >>> import warnings
    >>> from keras_dsc.data.era5 import open_cube
    >>> from keras_dsc.data.synthetic import write_cube
    >>> ds = open_cube(write_cube("era5_2021.nc", days=4))
    >>> with warnings.catch_warnings():  # four days are too short for the annual harmonics
    ...     warnings.simplefilter("ignore")
    ...     prep = CubePreprocessor("zscore", anomalies=True).fit(ds)
    >>> x = prep.transform(ds)           # (time, latitude, longitude, variable) float32
    >>> x.dims
    ('time', 'latitude', 'longitude', 'variable')
    >>> prep.save("run1")                # preprocessing.json + climatology.nc
    >>> CubePreprocessor.load("run1").variables == prep.variables
    True
    """

    def __init__(self, method="zscore", anomalies=False):
        if method not in METHODS:
            raise DataError(f"method: {method!r} is not one of {', '.join(METHODS)}")
        self.method = method
        self.anomalies = bool(anomalies)
        self.variables = None
        self.units = None
        self.latitudes = None
        self.longitudes = None
        self.offset = None
        self.scale = None
        self.time_step = None
        self.climatology = None
        self.levels = None
        self.season = None

    @property
    def fitted(self):
        """Whether `fit` (or `from_config`/`load`) has set the statistics."""
        return self.offset is not None

    def typical_ranges(self, width=10.0):
        """Per variable, `[low, high]` in physical units where the middle of data like the
        training data lies: the training data's mean +- `width` of its standard deviation
        (over time and grid). `check_level` refuses data whose median is outside (anomalies
        given to a model trained on absolute values); `None` for a preprocessor saved before
        these statistics were kept.
        """
        self._check_fitted("typical_ranges")
        if self.levels is None:
            return None
        ranges = []
        for mean, std in self.levels:
            reach = width * max(std, 1e-6 * abs(mean))
            ranges.append([mean - reach, mean + reach])
        return ranges

    def fit(self, ds):
        """Compute the statistics (and the climatology) on training data.

        Args:
            ds: an `xarray.Dataset` in the canonical form of `open_cube`.

        Returns:
            `self`.
        """
        ds = _check_cube(ds, "fit")
        variables = [str(v) for v in ds.data_vars]
        times = ds.indexes["time"]
        self.variables = variables
        self.units = [ds[v].attrs.get("units") for v in variables]
        self.latitudes = [float(v) for v in ds["latitude"].values]
        self.longitudes = [float(v) for v in ds["longitude"].values]
        self.time_step = time_step_text(times)
        self.climatology = None
        self.season = None
        if self.anomalies:
            self._check_varies_in_time(ds, variables)
            self.climatology = self._fit_climatology(ds)
            if len(resolved_harmonics(self.time_step)) > 1:  # a seasonal cycle was fitted
                self.season = covered_season(times, self.time_step)
        data = [self._anomaly(ds[v], v).astype("float64") for v in variables]
        if self.method == "zscore":
            lows = [d.mean() for d in data]
            highs = [d.std() for d in data]
        else:
            lows = [d.min() for d in data]
            highs = [d.max() for d in data]
        magnitudes = [abs(ds[v]).max() for v in variables]
        raw = [ds[v].astype("float64") for v in variables]
        raw = [(x.mean(), x.std()) for x in raw]
        lows, highs, magnitudes, raw = dask.compute(lows, highs, magnitudes, raw)
        self.levels = [[float(mean), float(std)] for mean, std in raw]
        offset, scale = [], []
        for name, low, high, magnitude in zip(variables, lows, highs, magnitudes):
            low, high, magnitude = float(low), float(high), float(magnitude)
            if not np.isfinite(low):
                raise DataError(f"{sources_text(ds, 'fit')}: variable {name!r} is entirely "
                                f"NaN" if np.isnan(low) else f"{sources_text(ds, 'fit')}: "
                                f"variable {name!r} holds infinite values")
            spread = high if self.method == "zscore" else high - low
            constant = not (np.isfinite(spread) and spread > CONSTANT * magnitude)
            offset.append(low)
            scale.append(1.0 if constant or spread <= 0 else spread)
        self.offset, self.scale = offset, scale
        return self

    @staticmethod
    def _check_varies_in_time(ds, variables):
        """Anomalies of a variable constant in time at every grid point are rounding residue."""
        constant = constant_in_time(ds, variables)
        if constant:
            raise OptionError(
                f"{sources_text(ds, 'fit')}: variable {constant[0]!r} is constant in time at "
                f"every grid point (a fixed field such as a land-sea mask): its anomalies "
                f"are only rounding residue; leave it out of {{variables}} or turn "
                f"{{anomalies}} off", "variables", "anomalies")

    @staticmethod
    def _check_times_beyond_climatology(ds, times, design):
        """A record with fewer than two time steps more than the climatology has terms (that
        the record determines, in `design`) has no anomalies to cluster: every grid point's
        anomalies would be zero, or one series scaled."""
        singular = np.linalg.svd(design, compute_uv=False)
        fitted = int(np.sum(singular > 1e-3 * singular[0]))  # as the fit's pinv cuts them
        left = len(times) - fitted
        if left < 2:
            raise OptionError(
                f"{sources_text(ds, 'fit')}: {len(times)} time steps leave {left} free after "
                f"the {fitted} terms of the climatology they determine: the anomalies of every "
                f"grid point would be {'zero' if left <= 0 else 'one series, scaled'}; give a "
                f"longer record or turn {{anomalies}} off", "anomalies")

    def transform(self, ds):
        """Normalise a cube on the fitted grid.

        Args:
            ds: an `xarray.Dataset` in the canonical form, holding the fitted variables (others
                are ignored) on the fitted latitudes and longitudes.

        Returns:
            An `xarray.DataArray` of dims (time, latitude, longitude, variable), float32, lazy if
            `ds` is, NaN where the data is NaN; the `regime` coordinate is kept.
        """
        self._check_fitted("transform")
        ds = _check_cube(ds, "transform")
        missing = [v for v in self.variables if v not in ds.data_vars]
        if missing:
            raise DataError(f"transform: variable {missing[0]!r} is missing; the preprocessor "
                            f"was fitted on {', '.join(self.variables)} and the data has "
                            f"{', '.join(map(str, ds.data_vars))}")
        for axis, fitted in (("latitude", self.latitudes), ("longitude", self.longitudes)):
            given = ds[axis].values
            if not same_axis(given, fitted):
                raise DataError(f"transform: the {axis}s differ from the fitted grid (fitted "
                                f"{axis_text(fitted)}, given {axis_text(given)})")
            # The fitted values exactly (float32 files round them), so that subtracting the
            # climatology aligns every point instead of the few that happen to be equal.
            ds = ds.assign_coords({axis: (axis, np.asarray(fitted, "float64"), ds[axis].attrs)})
        if self.anomalies and HOURS[0] in self._terms():
            step = time_step_text(ds.indexes["time"])
            if step is not None and step != self.time_step:
                raise DataError(f"transform: time step {step} differs from the fitted time "
                                f"step {self.time_step} (the diurnal cycle needs the same)")
        parts = []
        for i, name in enumerate(self.variables):
            x = self._anomaly(ds[name], name)
            parts.append(((x - self.offset[i]) / self.scale[i]).astype("float32"))
        out = xr.concat(parts, dim=pd.Index(self.variables, name="variable"),
                        coords="minimal", compat="override", join="override")
        out = out.transpose("time", "latitude", "longitude", "variable")
        out.name = "normalised"
        out.attrs = {"method": self.method, "anomalies": int(self.anomalies)}
        return out

    def fit_transform(self, ds):
        """`fit(ds)` then `transform(ds)`."""
        return self.fit(ds).transform(ds)

    def inverse_transform(self, array, times=None):
        """Turn normalised values back into physical units.

        Args:
            array: an `xarray.DataArray` with dims (..., latitude, longitude, variable) (such as
                the output of `transform`), or a numpy array whose last three axes are
                (latitude, longitude, variable) on the fitted grid.
            times: with `anomalies=True` only, the time of every field when `array` is numpy:
                an array of datetimes of shape `array.shape[:-3]` (for windows of shape
                `(n, window, lat, lon, variable)`, shape `(n, window)`). A DataArray uses its
                `time` coordinate.

        Returns:
            The same kind of array, float32, in physical units.
        """
        self._check_fitted("inverse_transform")
        nv = len(self.variables)
        if isinstance(array, xr.DataArray):
            if array.dims[-3:] != ("latitude", "longitude", "variable"):
                raise DataError(f"inverse_transform: dims must end with (latitude, longitude, "
                                f"variable), got {array.dims}")
            if array.sizes["variable"] != nv:
                raise DataError(f"inverse_transform: {array.sizes['variable']} variables "
                                f"given, the preprocessor has {nv}")
            scale = xr.DataArray(np.asarray(self.scale, "float32"), dims="variable")
            offset = xr.DataArray(np.asarray(self.offset, "float32"), dims="variable")
            out = array * scale + offset
            if self.anomalies:
                if "time" not in array.coords:
                    raise DataError("inverse_transform: anomalies need the time of every "
                                    "field: the array has no time coordinate")
                out = out + self._climatology_for(array)
            return out.transpose(*array.dims).astype("float32")
        values = np.asarray(array, dtype="float32")
        shape = (len(self.latitudes), len(self.longitudes), nv)
        if values.ndim < 3 or values.shape[-3:] != shape:
            raise DataError(f"inverse_transform: array shape {values.shape} does not end with "
                            f"(latitude, longitude, variable) = {shape}")
        out = values * np.asarray(self.scale, "float32") + np.asarray(self.offset, "float32")
        if self.anomalies:
            if times is None:
                raise DataError("inverse_transform: anomalies need the time of every field: "
                                "pass times=")
            times = np.asarray(times, dtype="datetime64[ns]")
            if times.shape != values.shape[:-3]:
                raise DataError(f"inverse_transform: times of shape {times.shape} do not "
                                f"match the array's leading shape {values.shape[:-3]}")
            design = _design(pd.DatetimeIndex(times.ravel()), self._terms()).astype("float32")
            coef = self.climatology.transpose("term", "latitude", "longitude", "variable")
            clim = np.tensordot(design, coef.values.astype("float32"), axes=(1, 0))
            clim = clim.reshape(values.shape)
            out = out + clim
        return out.astype("float32")

    def get_config(self):
        """A JSON-serialisable dict of the fitted preprocessor (the climatology excepted).

        Keys: method, anomalies, variables, units, latitudes, longitudes, offset, scale (lists
        over variables: normalised = (x - offset[v]) / scale[v], x the anomaly when anomalies),
        time_step (e.g. "1h", "1D"; None for a single step), terms (the climatology terms),
        levels (`[mean, std]` of each variable's training values, in its units), season (the
        parts of the year the climatology's seasonal cycle was fitted on, see
        `covered_season`; None for all of it or for no seasonal cycle).
        """
        return {
            "method": self.method,
            "anomalies": self.anomalies,
            "variables": self.variables,
            "units": self.units,
            "latitudes": self.latitudes,
            "longitudes": self.longitudes,
            "offset": self.offset,
            "scale": self.scale,
            "time_step": self.time_step,
            "terms": list(self._terms()) if self.climatology is not None else None,
            "levels": self.levels,
            "season": self.season,
        }

    @classmethod
    def from_config(cls, config):
        """Rebuild a preprocessor from `get_config()`; with anomalies, use `load` instead."""
        try:
            prep = cls(config["method"], config["anomalies"])
            for key in ("variables", "units", "latitudes", "longitudes", "offset", "scale",
                        "time_step"):
                setattr(prep, key, config[key])
            prep.levels = config.get("levels")  # [mean, std] per variable; older runs: none
            prep.season = config.get("season")  # older runs: not recorded, not checked
        except KeyError as error:
            raise DataError(f"preprocessing config: key {error.args[0]!r} is missing") from None
        return prep

    def save(self, directory):
        """Write `preprocessing.json` (and `climatology.nc` with anomalies) into `directory`."""
        self._check_fitted("save")
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, CONFIG_FILE), "w", encoding="utf-8") as handle:
            json.dump(self.get_config(), handle, indent=2)
        if self.climatology is not None:
            path = os.path.join(directory, CLIMATOLOGY_FILE)
            self.climatology.to_dataset(name="climatology").to_netcdf(path)

    @classmethod
    def load(cls, directory):
        """Read a preprocessor written by `save`."""
        path = os.path.join(directory, CONFIG_FILE)
        try:
            with open(path, encoding="utf-8") as handle:
                config = json.load(handle)
        except FileNotFoundError:
            raise DataError(f"{path}: file not found (was the preprocessor saved here?)") from None
        except json.JSONDecodeError as error:
            raise DataError(f"{path}: not valid JSON ({error.msg})") from None
        prep = cls.from_config(config)
        if prep.anomalies:
            clim_path = os.path.join(directory, CLIMATOLOGY_FILE)
            if not os.path.exists(clim_path):
                raise DataError(f"{clim_path}: file not found (anomalies need the climatology)")
            try:
                with xr.open_dataset(clim_path) as clim:
                    prep.climatology = clim["climatology"].load()
            except (OSError, ValueError, KeyError) as error:  # truncated, damaged, rewritten
                raise DataError(f"{clim_path}: cannot read the climatology "
                                f"({first_line(error)})") from None
        return prep

    def diurnal_hours(self):
        """The hours of day (UTC) the climatology's diurnal cycle was fitted at, or `None`
        without one (no anomalies, daily or coarser data). At other hours its terms are 0,
        so data stamped there keeps its diurnal cycle (`check_hours_of_day` refuses it)."""
        if not self.anomalies or self.climatology is None:
            return None
        terms = [t for t in self._terms() if t in HOURS]
        if not terms:
            return None
        fitted = self.climatology.sel(term=terms).fillna(0.0) != 0
        return [int(t[len("hour"):]) for t, any_value in
                zip(terms, fitted.any(dim=("variable", "latitude", "longitude")).values)
                if any_value]

    def _check_fitted(self, what):
        if not self.fitted:
            raise DataError(f"{what}: the preprocessor is not fitted; call fit(ds) or load()")
        if self.anomalies and self.climatology is None:
            raise DataError(f"{what}: the climatology is missing; read the preprocessor with "
                            f"CubePreprocessor.load(directory)")

    def _terms(self):
        if self.climatology is None:
            return HARMONICS
        return tuple(str(t) for t in self.climatology["term"].values)

    def _climatology_for(self, array):
        """The climatology (variable, time, latitude, longitude) at the times of `array`."""
        time = array["time"]
        design = _design(pd.DatetimeIndex(time.values.ravel()), self._terms()).astype("float32")
        design = design.reshape(time.shape + (design.shape[-1],))
        if array.chunks is not None and time.dims == ("time",) and "time" in array.dims:
            design = dask.array.from_array(
                design, chunks=(array.chunks[array.dims.index("time")], -1))
        design = xr.DataArray(design, dims=time.dims + ("term",), coords=time.coords)
        return xr.dot(design, self.climatology, dim="term")

    def _anomaly(self, x, name):
        """`x` minus the climatology of variable `name` (x itself without anomalies)."""
        if self.climatology is None:
            return x
        terms = self._terms()
        design = _design(x.indexes["time"], terms).astype("float32")
        if x.chunks is not None:
            design = dask.array.from_array(design, chunks=(x.chunks[0], -1))
        design = xr.DataArray(design, dims=("time", "term"), coords={"time": x["time"]})
        coef = self.climatology.sel(variable=name, drop=True)
        clim = xr.dot(design, coef, dim="term")
        return (x - clim).astype(x.dtype)

    def _fit_climatology(self, ds):
        """Least-squares harmonics per grid point, then the diurnal cycle of the residual."""
        times = ds.indexes["time"]
        harmonics = resolved_harmonics(self.time_step)
        span = (times[-1] - times[0]) / pd.Timedelta("1D")
        if span < 364 and len(harmonics) > 1:  # a year of hourly data spans 364.96 days
            warnings.warn(f"anomalies: the training data spans {span:.0f} days; the annual "
                          f"harmonics need at least a year of data to be meaningful",
                          stacklevel=3)
        variables = list(ds.data_vars)
        sub_daily = is_sub_daily(self.time_step)
        terms = harmonics + HOURS if sub_daily else harmonics
        nh = len(harmonics)
        # One pass per variable, chunk by chunk: with D the design matrix (harmonics, then
        # one-hot hours of day), M the validity mask and x the data (NaN as 0), sum over time
        # G^T M D (the harmonics' normal equations and, against the hours, what the fitted
        # harmonics add up to per hour) and D^T x.
        chunks = ds[variables[0]].chunks
        design = _design(times, terms)
        self._check_times_beyond_climatology(ds, times, design)
        if chunks:
            design = dask.array.from_array(design, chunks=(chunks[0], -1))
        d = xr.DataArray(design, dims=("time", "term2"), coords={"time": ds["time"]})
        gd = d.isel(term2=slice(0, nh)).rename(term2="term") * d
        coefs = []
        for name in variables:
            x = ds[name].astype("float64")
            normal, rhs = dask.compute(xr.dot(gd, x.notnull().astype("float64"), dim="time"),
                                       xr.dot(d, x.fillna(0.0), dim="time"))
            normal = normal.transpose("latitude", "longitude", "term", "term2").values
            rhs = rhs.transpose("latitude", "longitude", "term2").values
            # Directions the data cannot determine (harmonics over a short series) are cut
            # rather than fitted with huge, cancelling coefficients.
            inverse = np.linalg.pinv(normal[..., :nh], rcond=1e-6)
            harmonics = np.einsum("yxkl,yxl->yxk", inverse, rhs[..., :nh])
            parts = [harmonics]
            if sub_daily:
                # Mean residual per hour: (sum of x - sum of fitted harmonics) / count.
                fitted = np.einsum("yxkj,yxk->yxj", normal[..., nh:], harmonics)
                count = normal[..., 0, nh:]  # the "mean" column is 1: valid steps per hour
                parts.append((rhs[..., nh:] - fitted) / np.maximum(count, 1.0))
            coefs.append(np.concatenate(parts, axis=-1).transpose(2, 0, 1))
        coef = np.stack(coefs).astype("float32")  # (variable, term, latitude, longitude)
        return xr.DataArray(
            coef, dims=("variable", "term", "latitude", "longitude"),
            coords={"variable": variables, "term": list(terms),
                    "latitude": ds["latitude"].values, "longitude": ds["longitude"].values},
            name="climatology",
            attrs={"description": "per grid point: mean, annual and semi-annual harmonics, "
                                  "mean diurnal cycle (hourNN terms) of the residual"})


def resolved_harmonics(step):
    """The climatology's harmonic terms that data of time step `step` resolves.

    A harmonic needs a step shorter than half its period (the Nyquist limit): sampled once a
    year, the annual cycle is a constant (or, at mid-year stamps that move by 12 hours in leap
    years, a leap-year cycle).

    Example:

    >>> resolved_harmonics("1D"), resolved_harmonics("3MS"), resolved_harmonics("1YS")
    (('mean', 'sin1', 'cos1', 'sin2', 'cos2'), ('mean', 'sin1', 'cos1'), ('mean',))
    """
    if step is None:
        return HARMONICS
    years = duration(step) / pd.Timedelta(days=YEAR_DAYS)
    return tuple(t for t in HARMONICS if t == "mean" or years < HARMONIC_PERIODS[t] / 2)


def _check_cube(ds, what):
    if not isinstance(ds, xr.Dataset):
        raise DataError(f"{what}: expected an xarray.Dataset from open_cube, got "
                        f"{type(ds).__name__}")
    for dim in ("time", "latitude", "longitude"):
        if dim not in ds.dims:
            raise DataError(f"{what}: the dataset has no {dim!r} dimension (open it with "
                            f"keras_dsc.data.era5.open_cube)")
    if not ds.data_vars:
        raise DataError(f"{what}: the dataset has no data variable")
    return ds.transpose("time", "latitude", "longitude", ...)


def covered_season(times, step):
    """The parts of the year that `times` cover, each time two days or a step and a day either
    side.

    A climatology's seasonal cycle fitted on part of the year (120 days of winter and spring,
    or winters only) is an extrapolation elsewhere: anomalies of other days of the year
    against it are wrong, and so is their regime. `check_in_season` refuses those days.

    Args:
        times: the training data's times.
        step: their time step (`time_step_text`), or `None`.

    Returns:
        A list of `[start, end]` pairs of days since 1 January 00:00 (0..365.25), or `None`
        where the times cover the whole year.

    Example:

    >>> covered_season(pd.date_range("2020-01-01", "2020-04-29", freq="1D"), "1D")
    [[0.0, 121.0], [363.25, 365.25]]
    >>> covered_season(pd.date_range("2019-03-01", periods=400, freq="1D"), "1D") is None
    True
    """
    bins = int(YEAR_DAYS * SEASON_BINS_PER_DAY)
    # A step either side (at least a day), and a day more for the leap day's shift.
    width = max(duration(step) / pd.Timedelta("1D"), 1.0) + 1.0 if step else 2.0
    day = _season_day(times)
    starts = np.floor((day - width) * SEASON_BINS_PER_DAY).astype(int)
    ends = np.ceil((day + width) * SEASON_BINS_PER_DAY).astype(int)
    # Each interval, and its copies a year later and earlier (wrapped round the year's end).
    lows = np.clip(np.concatenate([starts, starts + bins, starts - bins]), 0, bins)
    highs = np.clip(np.concatenate([ends, ends + bins, ends - bins]), 0, bins)
    inside = lows < highs
    change = np.zeros(bins + 1)
    np.add.at(change, lows[inside], 1.0)
    np.add.at(change, highs[inside], -1.0)
    covered = np.cumsum(change)[:bins] > 0
    if covered.all():
        return None
    edges = np.flatnonzero(np.diff(np.concatenate([[0], covered.astype(int), [0]])))
    return [[float(low / SEASON_BINS_PER_DAY), float(min(high / SEASON_BINS_PER_DAY, YEAR_DAYS))]
            for low, high in zip(edges[::2], edges[1::2])]


def check_in_season(times, season, where):
    """Refuses times outside the part of the year a climatology was fitted on.

    Args:
        times: the new data's times.
        season: `covered_season` of the training data (`None`: the whole year).
        where: the files, for the message.

    Raises:
        DataError: naming the files, how many times lie outside, the first, and the season.

    Example:

    >>> season = [[0.0, 120.0], [364.25, 365.25]]
    >>> try:
    ...     check_in_season(pd.date_range("2019-09-01", periods=30), season, "autumn.nc")
    ... except DataError as error:
    ...     print(error)
    autumn.nc: 30 of 30 time steps (the first 2019-09-01 00:00) lie outside the part of the year the model's climatology was fitted on (31 Dec-1 May): there its seasonal cycle would be extrapolated and the anomalies wrong; assign data from that part of the year, or train on data that covers the whole year
    """
    if not season or not len(times):
        return
    day = _season_day(times)
    inside = np.zeros(len(day), bool)
    for low, high in season:
        inside |= (day >= low) & (day <= high)
    if inside.all():
        return
    first = pd.DatetimeIndex(times)[~inside][0]
    raise DataError(f"{where}: {int((~inside).sum())} of {len(day)} time steps (the first "
                    f"{first:%Y-%m-%d %H:%M}) lie outside the part of the year the model's "
                    f"climatology was fitted on ({season_text(season)}): there its seasonal "
                    f"cycle would be extrapolated and the anomalies wrong; assign data from "
                    f"that part of the year, or train on data that covers the whole year")


def check_hours_of_day(times, hours, where):
    """Refuses times at hours of day a climatology's diurnal cycle was not fitted at.

    Args:
        times: the new data's times (at the model's step).
        hours: `CubePreprocessor.diurnal_hours` of the model (`None`: no diurnal cycle).
        where: the files, for the message.

    Raises:
        DataError: naming the files, how many times lie at other hours, the first, and the
        hours the model knows. (Its diurnal cycle is 0 at those hours, so it would stay in
        the anomalies: 3-hourly means stamped at 01:30, 04:30, ... against a model trained on
        00:00, 03:00, ...)

    Example:

    >>> try:
    ...     check_hours_of_day(pd.date_range("2021-01-01 01:30", periods=8, freq="3h"),
    ...                        [0, 3, 6, 9, 12, 15, 18, 21], "merra.nc")
    ... except DataError as error:
    ...     print(error)
    merra.nc: 8 of 8 time steps (the first 2021-01-01 01:30) lie at hours of day the model's diurnal cycle was not fitted at (it knows 00, 03, 06, 09, 12, 15, 18, 21 UTC): there the diurnal cycle would stay in the anomalies; give data stamped at those hours
    """
    if hours is None or not len(times):
        return
    times = pd.DatetimeIndex(times)
    outside = ~np.isin(np.asarray(times.hour), list(hours))
    if not outside.any():
        return
    raise DataError(f"{where}: {int(outside.sum())} of {len(times)} time steps (the first "
                    f"{times[outside][0]:%Y-%m-%d %H:%M}) lie at hours of day the model's "
                    f"diurnal cycle was not fitted at (it knows "
                    f"{', '.join(f'{h:02d}' for h in hours)} UTC): there the diurnal cycle "
                    f"would stay in the anomalies; give data stamped at those hours")


def season_text(season):
    """`covered_season`'s parts of the year as dates, joined across the year's end.

    >>> season_text([[0.0, 120.0], [364.25, 365.25]]), season_text([[59.0, 151.5]])
    ('31 Dec-1 May', '1 Mar-1 Jun')
    """
    parts = [list(part) for part in season]
    if len(parts) > 1 and parts[0][0] <= 0.0 and parts[-1][1] >= YEAR_DAYS:
        parts = [[parts[-1][0], parts[0][1]]] + parts[1:-1]  # across 31 December
    def date(days):
        stamp = pd.Timestamp("2001-01-01") + pd.Timedelta(days=min(days, 364.99))  # common
        return f"{stamp.day} {stamp:%b}"

    return ", ".join(f"{date(low)}-{date(high)}" for low, high in parts)


def _season_day(times):
    """Each time's place in its year, in days of a mean year (0..365.25), so that 31
    December of every year lies at the end."""
    times = pd.DatetimeIndex(times)
    length = np.where(times.is_leap_year, 366.0, 365.0)
    return _day_in_year(times) * YEAR_DAYS / length


def _day_in_year(times):
    """Days since 1 January 00:00 of each time's year (float64)."""
    times = pd.DatetimeIndex(times)
    return np.asarray(np.asarray(times.day_of_year, "float64") - 1.0
                      + (times - times.normalize()) / pd.Timedelta("1D"), "float64")


def _design(times, terms):
    """The design matrix (time, term) of the climatology at the given times (float64)."""
    times = pd.DatetimeIndex(times)
    angle = 2.0 * np.pi * _day_in_year(times) / YEAR_DAYS
    columns = {
        "mean": np.ones(len(times)),
        "sin1": np.sin(angle), "cos1": np.cos(angle),
        "sin2": np.sin(2.0 * angle), "cos2": np.cos(2.0 * angle),
    }
    hour = np.asarray(times.hour)
    for h, name in enumerate(HOURS):
        columns[name] = (hour == h).astype("float64")
    return np.stack([columns[t] for t in terms], axis=1)
