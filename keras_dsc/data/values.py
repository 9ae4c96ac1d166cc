"""Values no variable can take: infinities and values beyond any physical range.

An undeclared fill value (`1e30` that is not the file's `_FillValue`) or a stray `inf` does not
fail anywhere by itself: it sets the variable's scale to something huge, and the variable then
carries no signal. `check_values` refuses them, naming the file, the variable, how many and the
first time, unless the user says they stand for missing data (`open_cube(treat_as_missing=...)`,
`--treat-as-missing` on the command line).

The bounds are generous on purpose (they catch garbage, not extremes): per ERA5 short name (and
the NCEP and CMIP names of the same quantities), in the units ERA5 writes, applied only when the
variable's `units` attribute says those units (a field of anomalies in them, centred on 0, is
checked within +-the range's width). A variable with no bounds here is checked against the
file's CF valid range when unpacked, and for a common fill value (-999, -9999, ...) far outside
its other values; `|x| >= 1e20` is refused for any variable.
"""

import dask
import numpy as np
import pandas as pd
import xarray as xr

from keras_dsc.data.era5 import PACKINGS, file_at
from keras_dsc.data.units import CELSIUS, KELVIN, PASCAL, WIND, same_units, units_key
from keras_dsc.errors import DataError, OptionError

LIMIT = 1e20
CONSTANT = 1e-6
"""A spread at most this fraction of a variable's largest magnitude is none (rounding)."""
"""No variable of any file takes values of this magnitude: `|x| >= LIMIT` is refused."""

_WIND = (-200.0, 200.0, WIND)
_TEMPERATURE = (100.0, 400.0, KELVIN)
_CELSIUS = (-173.0, 127.0, CELSIUS)
_PRESSURE = (1.0e4, 1.2e5, PASCAL)
_ENERGY = (-1.0e9, 1.0e9, ("J m**-2", "J m-2"))
_FLUX = (-5.0e3, 5.0e3, ("W m**-2", "W m-2"))
_FRACTION = (-0.1, 1.1, ("(0 - 1)", "1", "0-1", "fraction"))
_WATER = (-1.0, 10.0, ("m", "m of water equivalent"))

BOUNDS = {
    **{name: _WIND for name in ("u10", "v10", "u100", "v100", "u", "v", "uwnd", "vwnd", "uas",
                                "vas", "ua", "va")},
    **{name: (0.0, 200.0, _WIND[2]) for name in ("si10", "ws", "wspd", "sfcWind")},
    **{name: _TEMPERATURE for name in ("t2m", "d2m", "skt", "sst", "t", "stl1", "stl2",
                                       "stl3", "stl4", "mx2t", "mn2t", "air", "tas", "ts",
                                       "ta", "tasmax", "tasmin")},
    "tos": (100.0, 400.0, ("K", "degK")),
    **{f"{name}@C": _CELSIUS for name in ("t2m", "d2m", "skt", "sst", "t", "stl1", "stl2",
                                          "stl3", "stl4", "mx2t", "mn2t", "air", "tas", "ts",
                                          "ta", "tasmax", "tasmin", "tos")},
    **{name: _PRESSURE for name in ("sp", "ps")},
    **{name: (5.0e4, 1.2e5, _PRESSURE[2]) for name in ("msl", "slp", "psl")},
    **{f"{name}@hPa": (500.0, 1200.0, ("hPa", "mb", "mbar", "millibars"))
       for name in ("msl", "slp", "psl", "mslp")},
    **{name: (-1.0e-6, 0.1, ("kg m**-2 s**-1", "kg m-2 s-1", "kg/m2/s", "mm s**-1", "mm s-1",
                             "mm/s"))
       for name in ("pr", "prc", "prsn", "precip", "prate", "mtpr")},
    **{f"{name}@mm": (-0.1, 3000.0, ("mm", "mm/day", "mm day**-1", "mm day-1", "mm/d",
                                      "mm d-1", "mm/month", "mm month-1", "mm/mon"))
       for name in ("pr", "precip", "pre", "prcp", "rain", "rr", "tp", "precipitation")},
    **{name: _ENERGY for name in ("slhf", "sshf", "ssr", "str", "ssrd", "strd", "tsr",
                                  "ttr")},
    **{name: _FLUX for name in ("hfls", "hfss", "rsds", "rlds", "rsus", "rlus")},
    **{name: _WATER for name in ("tp", "cp", "lsp", "e", "sf", "ro")},
    **{name: _FRACTION for name in ("tcc", "lcc", "mcc", "hcc", "lsm", "ci", "siconc")},
    "z": (-1.0e5, 1.0e6, ("m**2 s**-2", "m2 s-2")),
    "q": (-0.01, 0.1, ("kg kg**-1", "kg kg-1", "1")),
    "r": (-10.0, 200.0, ("%",)),
    "blh": (-1.0, 3.0e4, ("m",)),
    "tcwv": (-1.0, 200.0, ("kg m**-2", "kg m-2")),
}
"""Short name -> `(low, high, units)`: the range a value in one of those units stays in
(`NAME@C`: a temperature in degrees Celsius, the same range as in kelvin; `NAME@hPa`: a
pressure in hectopascals; `NAME@mm`: a precipitation amount or rate in millimetres)."""


def bounds_for(name, units):
    """The `(low, high)` physical bounds of a variable in its units, or `None` when unknown.

    Example:

    >>> bounds_for("t2m", "K"), bounds_for("sst", "degC"), bounds_for("foo", "K")
    ((100.0, 400.0), (-173.0, 127.0), None)
    """
    if units is None:
        return None
    given = units_key(units)
    for entry in (BOUNDS.get(f"{name}{other}") for other in ("", "@C", "@hPa", "@mm")):
        if entry is not None and any(given == units_key(u) for u in entry[2]):
            return entry[0], entry[1]
    return None


def check_units(ds, variables, units, where):
    """Refuses data whose variables are in other units than a trained model's.

    A model normalises with offsets and scales fitted in its training units: t2m in degC,
    sp in hPa or u10 in km/h given to a model trained on K, Pa and m/s would be assigned to
    clusters without an error. Units compare as `bounds_for` reads them ("m s**-1" is
    "m s-1", "kelvin" is "K"); a variable without a units attribute, or a model that
    recorded none, is taken as it is.

    Args:
        ds: the canonical Dataset of the new data.
        variables: the model's variables, in order.
        units: the model's units, one per variable (`None` where unknown).
        where: the files, for the message.

    Raises:
        DataError: naming the file, the variable and both units.

    Example:

    >>> import xarray as xr
    >>> new = xr.Dataset({"t2m": ("time", [15.0], {"units": "degC"})})
    >>> try:
    ...     check_units(new, ["t2m"], ["K"], "new.nc")
    ... except DataError as error:
    ...     print(error)
    new.nc: variable 't2m' is in degC, the model was trained on K; convert it to K
    """
    for name, trained in zip(variables, units or ()):
        given = ds[name].attrs.get("units") if name in ds else None
        if given is None or trained is None or same_units(given, trained):
            continue
        raise DataError(f"{where}: variable {name!r} is in {given}, the model was trained on "
                        f"{trained}; convert it to {trained}")


def check_level(ds, variables, ranges, where):
    """Refuses data whose values lie far from a trained model's training data.

    Anomalies (t2m centred on 0 K) given to a model trained on absolute values (about 280 K),
    or the reverse, pass every units and range check and are then assigned to one cluster
    without an error. The median of a few time steps of each variable must lie in the
    model's `typical_ranges` (`keras_dsc.data.preprocessing.CubePreprocessor`); a model that
    recorded none is taken as it is.

    Raises:
        DataError: naming the file, the variable, the median and the range.

    Example:

    >>> new = xr.Dataset({"t2m": (("time", "latitude", "longitude"), np.zeros((3, 1, 1)),
    ...                           {"units": "K"})})
    >>> try:
    ...     check_level(new, ["t2m"], [[230.0, 330.0]], "anomalies.nc")
    ... except DataError as error:
    ...     print(error)
    anomalies.nc: variable 't2m' lies around 0 K, far from the model's training data (230..330 K); are these anomalies given to a model trained on absolute values, or the reverse? Give the data in the form the model was trained on
    """
    for name, (low, high) in zip(variables, ranges or ()):
        x = ds[name]
        sample = _sample(x).astype("float64")
        sample = sample[np.isfinite(sample)]
        if not sample.size:
            continue
        median = float(np.median(sample))
        if low <= median <= high:
            continue
        units = f" {x.attrs['units']}" if x.attrs.get("units") else ""
        raise DataError(f"{where}: variable {name!r} lies around {median:.4g}{units}, far "
                        f"from the model's training data ({low:.4g}..{high:.4g}{units}); are "
                        f"these anomalies given to a model trained on absolute values, or the "
                        f"reverse? Give the data in the form the model was trained on")


def constant_in_time(ds, variables):
    """The variables of `ds` constant in time at every grid point (a fixed field such as a
    land-sea mask, or a fill): none with a single time step.

    Example:

    >>> ds = xr.Dataset({"lsm": (("time", "latitude", "longitude"), np.ones((3, 1, 2))),
    ...                  "t2m": (("time", "latitude", "longitude"), np.arange(6.0).reshape(3, 1, 2))})
    >>> constant_in_time(ds, ["lsm", "t2m"])
    ['lsm']
    """
    if ds.sizes["time"] < 2:
        return []
    spreads = [(ds[v].max("time") - ds[v].min("time")).max() for v in variables]
    magnitudes = [abs(ds[v]).max() for v in variables]
    spreads, magnitudes = dask.compute(spreads, magnitudes)
    return [name for name, spread, magnitude in zip(variables, spreads, magnitudes)
            if np.isfinite(float(spread)) and float(spread) <= CONSTANT * float(magnitude)]


def check_varies_in_time(ds, variables, where):
    """Refuses new data for a model where a variable is constant in time at every grid point:
    the model was trained on data that varied, so such data is a broken file or a fill.

    Raises:
        DataError: naming the files and the variable.
    """
    constant = constant_in_time(ds, variables)
    if constant:
        raise DataError(f"{where}: variable {constant[0]!r} is constant in time at every grid "
                        f"point, unlike the model's training data (a fill or a fixed field, "
                        f"not data to assign)")


def check_values(ds, where):
    """Refuses infinities and values beyond any physical range in a canonical cube.

    Reads the cube once (chunk by chunk when lazy).

    Args:
        ds: an `xarray.Dataset` in the canonical form of `keras_dsc.data.era5.open_cube`.
        where: the files, for messages (the file holding the first bad value is named when
            the cube says which, see `era5.file_at`).

    Returns:
        A list of notes, one per variable that misses values at some time steps at points
        it holds at others.

    Raises:
        OptionError: naming the file, the variable, the number of values, the first time and
            `treat_as_missing`, which masks them when they stand for missing data.

    Example:

    >>> times = pd.date_range("2021-01-01", periods=3, freq="1D")
    >>> t2m = np.full((3, 2, 2), 288.0, "float32")
    >>> t2m[1, 0, 0] = 1e30
    >>> ds = xr.Dataset({"t2m": (("time", "latitude", "longitude"), t2m, {"units": "K"})},
    ...                 coords={"time": times, "latitude": [1.0, 0.0], "longitude": [0.0, 1.0]})
    >>> check_values(ds, "era5.nc")
    Traceback (most recent call last):
    ...
    keras_dsc.errors.OptionError: era5.nc: variable 't2m' has 1 value beyond any physical range (100..400 K), the first at 2021-01-02T00:00:00 (1e+30); if such values stand for missing data, pass treat_as_missing 1e+30
    """
    names = list(ds.data_vars)
    limits_of = {name: _limits(ds[name], name) for name in names}
    fills_of = {name: _fill_values(ds[name]) if limits_of[name] is None else ([], "")
                for name in names}
    packings = ds.attrs.get(PACKINGS) or {}
    packed_of = {name: _packed_fills(ds[name], packings.get(name) or ()) for name in names}
    tasks = []
    for name in names:
        x = ds[name]
        infinite = np.isinf(x)
        bad = abs(x) >= LIMIT
        limits = limits_of[name]
        if limits is not None:
            bad = bad | (x < limits[0]) | (x > limits[1])
        if fills_of[name][0]:
            bad = bad | x.isin(fills_of[name][0])
        for _, value, tolerance, _ in packed_of[name]:
            bad = bad | (abs(x - value) <= tolerance)
        bad = bad & ~infinite
        tasks.append((infinite.sum(), infinite.any(("latitude", "longitude")),
                      bad.sum(), bad.any(("latitude", "longitude")),
                      x.notnull().sum(("latitude", "longitude"))))
    (results,) = dask.compute(tasks)
    times = ds.indexes["time"]
    held = {name: np.asarray(result[4]) for name, result in zip(names, results)}
    any_held = np.any([h > 0 for h in held.values()], axis=0)  # else a missing step
    notes = [note for name in names
             for note in _partly_missing(held[name], any_held, times, name, where)]
    for name, (n_inf, inf_t, n_bad, bad_t, _) in zip(names, results):
        n_inf, n_bad = int(n_inf), int(n_bad)
        if n_inf:
            first = times[int(np.argmax(np.asarray(inf_t)))]
            raise OptionError(
                f"{_file(ds, first, where)}: variable {name!r} has {n_inf} infinite "
                f"value{'s' if n_inf > 1 else ''} (+Inf or -Inf), the first at "
                f"{first.isoformat()}; if they stand for missing data, pass "
                f"{{treat_as_missing}} inf,-inf", "treat_as_missing")
        if n_bad:
            first = times[int(np.argmax(np.asarray(bad_t)))]
            x = ds[name].sel(time=first).values
            limits = limits_of[name]
            low, high = limits[:2] if limits is not None else (-LIMIT, LIMIT)
            fills, spread = fills_of[name]
            packed = packed_of[name]
            near = np.zeros(x.shape, bool)
            for _, fill, tolerance, _ in packed:
                near |= np.abs(x - fill) <= tolerance
            wrong = x[np.isfinite(x) & ((np.abs(x) >= LIMIT) | (x < low) | (x > high)
                                        | np.isin(x, fills) | near)]
            value = float(wrong[0]) if wrong.size else float("nan")
            raw = [(stored, fill, text) for stored, fill, tolerance, text in packed
                   if abs(value - fill) <= tolerance]
            if raw:
                stored, value, text = raw[0]
                rule = (f"stored as {stored}, a common fill value of its integer type that the "
                        f"file does not declare, far outside its other values ({text})")
                raise OptionError(
                    f"{_file(ds, first, where)}: variable {name!r} has {_count(n_bad)} {rule}, "
                    f"the first at {first.isoformat()} ({value:.9g}); if such values stand for "
                    f"missing data, pass {{treat_as_missing}} {value:.9g}", "treat_as_missing")
            if value in fills:
                kind = ("a common fill value" if np.isclose(value, FILL_VALUES, rtol=1e-6).any()
                        else "its lowest value, held at many points")
                rule = f"equal to {value:g}, {kind} far outside its other values ({spread})"
            elif limits is None:
                rule = f"beyond any physical range (|x| >= {LIMIT:g})"
            elif limits[2].startswith("outside"):  # the file's valid range
                rule = limits[2]
            else:
                rule = (f"beyond any physical range ({low:g}..{high:g} "
                        f"{ds[name].attrs.get('units')}{limits[2]})")
            raise OptionError(
                f"{_file(ds, first, where)}: variable {name!r} has {_count(n_bad)} {rule}, the "
                f"first at {first.isoformat()} ({value:g}); if such values stand for missing "
                f"data, pass {{treat_as_missing}} {value:g}", "treat_as_missing")
    return notes


def _partly_missing(held, any_held, times, name, where):
    """A note on the time steps of variable `name` that miss some of the points it holds at
    other steps (sea ice over sea surface temperature, a station gone), where some variable
    holds values (a step with none is a missing step): `[]` when none do."""
    most = int(held.max()) if held.size else 0
    partly = np.flatnonzero(any_held & (held < most))
    if not partly.size:
        return []
    first = partly[0]
    steps = f"{partly.size} time step{'s' if partly.size > 1 else ''}"
    return [f"{where}: variable {name!r} lacks values at points it holds at other steps in "
            f"{steps} (the first {times[first].isoformat()}, {most - int(held[first])} of "
            f"{most} points): read as the climatology (anomaly 0) by the model, k-means "
            f"and the scores, and left out of the reconstruction loss in training"]


def _sample(x):
    """The values of a variable at its first, middle and last time steps, flat, in its dtype:
    what the checks on its level read instead of the whole record."""
    n = x.sizes["time"]
    return np.asarray(x.isel(time=sorted({0, n // 2, n - 1})).values).ravel()


def _limits(x, name):
    """`(low, high, how)`: the physical bounds of variable `x` (else the file's valid range,
    see `_valid_range`), or `None` when unknown.

    A field of anomalies in the bounded units (t2m in K centred on 0, as `cdo ymonsub`
    writes it) lies outside the absolute range everywhere: when the median of a few of its
    time steps is outside the range and within a tenth of its width of 0, the field is
    checked as anomalies, within +-(high - low), and `how` says so.
    """
    limits = bounds_for(name, x.attrs.get("units"))
    if limits is None:
        return _valid_range(x)
    low, high = limits
    sample = _sample(x).astype("float64")
    sample = sample[np.isfinite(sample)]
    median = float(np.median(sample)) if sample.size else low
    if not low <= median <= high and abs(median) <= 0.1 * (high - low):
        return -(high - low), high - low, ", read as anomalies"
    return low, high, ""


FILL_VALUES = (-99.0, -99.9, -99.99, -999.0, -999.9, -999.99, -9999.0, -99999.0, 9999.0,
               99999.0, -32767.0, -32768.0, 32767.0, -9.99e8)
"""Values that files without a declared fill value commonly write where there is no data
(-9.99e8: GrADS' `undef`)."""


def _fill_values(x):
    """`(fills, spread)`: the values a variable that has no bounds holds where it has no data,
    and the 1st..99th percentiles of its other values as text.

    Read on up to 120 time steps spread over the record: the `FILL_VALUES`, and the smallest
    value when it is negative and held at 1 % of the points or more (a fill no list holds:
    land written as -1000), that lie far outside the other values (further from their median
    than 10 times the width of their 1st..99th percentiles). Values inside that spread, such
    as the zeros of precipitation or -1.8 under sea ice, are data, and so is a largest value
    held at many points (pack ice at 1.0, glaciers at 10 m of snow).
    """
    n = x.sizes["time"]
    steps = np.unique(np.linspace(0, n - 1, min(n, 120)).round().astype(int))
    sample = np.asarray(x.isel(time=steps).values).ravel()
    sample = sample[np.isfinite(sample) & (np.abs(sample) < LIMIT)].astype("float64")
    if not sample.size:
        return [], ""
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype("float64")
    listed = np.asarray(FILL_VALUES, dtype).astype("float64")  # as the file stores them
    lowest = sample.min()
    frequent = lowest < 0 and np.count_nonzero(sample == lowest) >= max(3, 0.01 * sample.size)
    candidates = np.unique(np.concatenate([listed, [lowest] if frequent else []]))
    rest = sample[~np.isin(sample, candidates)]
    if rest.size < max(3, 0.01 * sample.size):
        return [], ""
    median, width, text = _spread(rest)
    spread = max(width, 1e-6 * abs(median), 1e-12)
    return [dtype.type(v) for v in candidates if abs(float(v) - median) > 10.0 * spread], text


def _spread(sample):
    """`(median, width of the 1st..99th percentiles, those percentiles as text)` of the
    values of a few time steps (`_sample`), against which fill values lie far out."""
    low, median, high = np.percentile(sample, [1, 50, 99])
    return median, high - low, f"{low:.3g}..{high:.3g}, 1st to 99th percentile"


def _packed_fills(x, packings):
    """The common fill values of a variable packed as integers without a declared one.

    A variable stored as integers with `scale_factor` / `add_offset` and no `_FillValue` or
    `missing_value` (the CDS declares -32767; other writers may not) decodes its fills to
    ordinary-looking numbers (-32767 to 209.466 K at a scale of 0.002 K about 275 K), inside any
    physical range. The signed type's two lowest integers (-32768 and -32767 for int16) are
    taken for fills where they decode far outside the values of a few time steps (further
    from their median than three times the width of their 1st..99th percentiles), never
    where they lie among them (a packing that uses its whole range stores the record's
    minimum there). The highest integer is not: such a packing stores the maximum there, far
    out in a skewed field (rain).

    Args:
        x: the variable, decoded.
        packings: its `[integer type, scale, offset]` in each file (`era5.PACKINGS`).

    Returns:
        A list of `(stored integer, decoded value, tolerance, the values' percentiles)`.
    """
    candidates = []
    for dtype, scale, offset in packings:
        info = np.iinfo(np.dtype(dtype))
        stored = (int(info.min), int(info.min) + 1) if info.min < 0 else ()
        candidates += [(value, offset + scale * value, abs(scale) / 2, scale)
                       for value in stored]
    if not candidates:
        return []
    sample = _sample(x).astype("float64")
    sample = sample[np.isfinite(sample)]
    for _, fill, tolerance, _ in candidates:
        sample = sample[np.abs(sample - fill) > tolerance]
    if not sample.size:
        return []
    median, width, text = _spread(sample)
    return [(value, fill, tolerance, text) for value, fill, tolerance, scale in candidates
            if abs(fill - median) > 3.0 * max(width, abs(scale), 1e-12)]


def _valid_range(x):
    """`(low, high, how)` from the CF attributes `valid_range`, `valid_min`, `valid_max` of an
    unpacked variable (precipitation with `valid_min = 0` and -999 where no data), or None."""
    attrs = x.attrs
    try:
        if "valid_range" in attrs:
            low, high = (float(v) for v in np.ravel(attrs["valid_range"]))
        elif "valid_min" in attrs or "valid_max" in attrs:
            low = float(np.ravel(attrs.get("valid_min", -LIMIT))[0])
            high = float(np.ravel(attrs.get("valid_max", LIMIT))[0])
        else:
            return None
    except (TypeError, ValueError):  # a malformed attribute: the file says nothing usable
        return None
    said = ", ".join(f"{key} {' '.join(f'{v:g}' for v in np.ravel(attrs[key]))}"
                     for key in ("valid_range", "valid_min", "valid_max") if key in attrs)
    return low, high, f"outside the file's valid range ({said})"


def _count(n):
    return f"{n} value" if n == 1 else f"{n} values"


def _file(ds, time, where):
    return file_at(ds, time) or where
