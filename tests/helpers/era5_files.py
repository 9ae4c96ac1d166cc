"""Small NetCDF files in the forms real climate data come in, for tests.

Three writers, one per form, all with the same core parameters:

- `write_era5`: a current Copernicus CDS ERA5 download (`valid_time`, latitude descending,
  longitude in -180..180, an `expver` coordinate, packed int16 variables, NaN `sst` over land).
- `write_ncep`: an NCEP/NCAR-style file (`time`, `lat`/`lon`, latitude ascending, longitude in
  0..360, a size-1 `level` dimension).
- `write_cmip`: a CMIP-style file (`time` in "days since", `lat`/`lon` with bounds variables,
  CMIP variable names `tas`, `uas`, `vas`, `psl`).

Every writer takes `(path, n_times, nlat, nlon, variables, start, freq, seed)` and keyword
options for the grid (`north`, `west`, `resolution`). The values are realistic: `t2m` about 290 K
with annual and diurnal cycles, `sp` about 101000 Pa, winds within +-10 m/s, hourly accumulated
fluxes about -1e6 J m**-2. The same seed gives the same values in every form, so the three files
written with the same arguments hold the same physical fields.

Example:

>>> import xarray as xr
>>> from tests.helpers.era5_files import write_era5
>>> path = write_era5("era5.nc", n_times=24, nlat=5, nlon=6)
>>> xr.open_dataset(path).sizes["valid_time"]
24
"""

import numpy as np
import pandas as pd
import xarray as xr

ERA5_VARIABLES = ("u10", "v10", "t2m", "sst", "sp", "slhf", "sshf")
NCEP_VARIABLES = ("uwnd", "vwnd", "air", "slp")
CMIP_VARIABLES = ("tas", "uas", "vas", "psl")

# name -> (field generator key, sign/scale applied to it, units, long_name, standard_name)
_SPECS = {
    "u10": ("u", 1.0, "m s**-1", "10 metre U wind component", "eastward_wind"),
    "v10": ("v", 1.0, "m s**-1", "10 metre V wind component", "northward_wind"),
    "t2m": ("t", 1.0, "K", "2 metre temperature", "air_temperature"),
    "sst": ("sst", 1.0, "K", "Sea surface temperature", "sea_surface_temperature"),
    "sp": ("p", 1.0, "Pa", "Surface pressure", "surface_air_pressure"),
    "slhf": ("lh", 1.0, "J m**-2", "Surface latent heat flux",
             "surface_upward_latent_heat_flux"),
    "sshf": ("sh", 1.0, "J m**-2", "Surface sensible heat flux",
             "surface_upward_sensible_heat_flux"),
    "uwnd": ("u", 1.0, "m/s", "u-wind", "eastward_wind"),
    "vwnd": ("v", 1.0, "m/s", "v-wind", "northward_wind"),
    "air": ("t", 1.0, "degK", "air temperature", "air_temperature"),
    "slp": ("p", 1.0, "Pascals", "Sea Level Pressure", "air_pressure_at_mean_sea_level"),
    "tas": ("t", 1.0, "K", "Near-Surface Air Temperature", "air_temperature"),
    "uas": ("u", 1.0, "m s-1", "Eastward Near-Surface Wind", "eastward_wind"),
    "vas": ("v", 1.0, "m s-1", "Northward Near-Surface Wind", "northward_wind"),
    "psl": ("p", 1.0, "Pa", "Sea Level Pressure", "air_pressure_at_mean_sea_level"),
    "tos": ("sst", 1.0, "K", "Sea Surface Temperature", "sea_surface_temperature"),
    "hfls": ("lh", -1.0 / 3600.0, "W m-2", "Surface Upward Latent Heat Flux",
             "surface_upward_latent_heat_flux"),
    "hfss": ("sh", -1.0 / 3600.0, "W m-2", "Surface Upward Sensible Heat Flux",
             "surface_upward_sensible_heat_flux"),
}

# ERA5 variables stored as packed int16 (scale_factor/add_offset/_FillValue) by write_era5.
PACKED = ("t2m", "sst", "sp")


def _grid(nlat, nlon, north, west, resolution):
    lat = north - resolution * np.arange(nlat)
    lon = west + resolution * np.arange(nlon)
    return lat.astype("float64"), lon.astype("float64")


def land_mask(nlat, nlon):
    """The small land patch where `sst` is NaN: a 2x2 block near the centre (none when tiny)."""
    mask = np.zeros((nlat, nlon), dtype=bool)
    if nlat >= 4 and nlon >= 4:
        i, j = nlat // 2, nlon // 2
        mask[i - 1 : i + 1, j - 1 : j + 1] = True
    return mask


def regimes(n_times, seed=0, n_regimes=3, run=6):
    """Integer regime labels: runs of `run` steps, each run drawn at random among `n_regimes`."""
    rng = np.random.default_rng(seed + 1000)
    runs = rng.integers(0, n_regimes, size=n_times // run + 1)
    return np.repeat(runs, run)[:n_times].astype("int32")


def fields(times, lat, lon, variables, seed=0):
    """Realistic physical fields, a dict name -> float64 array (time, lat, lon) on the given grid.

    Args:
        times: pandas DatetimeIndex.
        lat, lon: 1-D arrays in degrees (longitude in -180..180).
        variables: names from ERA5, NCEP or CMIP (see `_SPECS`).
        seed: the same seed gives the same fields whatever the order of `variables`.
    """
    rng = np.random.default_rng(seed)
    nt, ny, nx = len(times), len(lat), len(lon)
    doy = np.asarray(times.day_of_year, dtype="float64")[:, None, None]
    hour = np.asarray(times.hour, dtype="float64")[:, None, None]
    annual = np.cos(2 * np.pi * (doy - 200.0) / 365.25)
    diurnal = np.sin(2 * np.pi * (hour - 9.0) / 24.0)
    la = lat[None, :, None]
    lo = lon[None, None, :]
    regime = regimes(nt, seed)[:, None, None].astype("float64")
    base = {}
    noise = {k: rng.normal(size=(nt, ny, nx)) for k in ("u", "v", "t", "sst", "p", "lh", "sh")}
    base["u"] = 6.0 * np.sin(0.3 * la + 0.2 * lo) + 2.0 * (regime - 1) + 1.5 * noise["u"]
    base["v"] = 4.0 * np.cos(0.2 * la - 0.3 * lo) - 1.5 * (regime - 1) + 1.5 * noise["v"]
    base["t"] = (290.0 - 0.5 * (la - 38.0) + 5.0 * annual + 2.0 * diurnal
                 + 0.8 * regime + 0.5 * noise["t"])
    base["sst"] = 291.0 - 0.4 * (la - 38.0) + 3.0 * annual + 0.2 * noise["sst"]
    sst_mask = land_mask(ny, nx)
    base["sst"] = np.where(sst_mask[None], np.nan, base["sst"])
    base["p"] = (101000.0 + 300.0 * np.sin(0.1 * lo) - 400.0 * (regime - 1)
                 + 150.0 * noise["p"])
    base["lh"] = -8.0e5 - 2.0e5 * (1.0 + diurnal) * 0.5 + 1.0e5 * noise["lh"]
    base["sh"] = -2.0e5 - 5.0e4 * diurnal + 4.0e4 * noise["sh"]
    out = {}
    for name in variables:
        key, factor, *_ = _SPECS[name]
        out[name] = base[key] * factor
    return out


def _attrs(name):
    _, _, units, long_name, standard_name = _SPECS[name]
    return {"units": units, "long_name": long_name, "standard_name": standard_name}


def _pack(values):
    """Packed int16 encoding of float values, as old CDS files stored them."""
    lo, hi = np.nanmin(values), np.nanmax(values)
    scale = (hi - lo) / (2**16 - 4) if hi > lo else 1.0
    offset = (hi + lo) / 2.0
    return {"dtype": "int16", "scale_factor": float(scale), "add_offset": float(offset),
            "_FillValue": np.int16(-32767)}


def write_era5(path, n_times=24, nlat=5, nlon=6, variables=ERA5_VARIABLES,
               start="2021-01-01", freq="1h", seed=0, *, north=43.0, west=-33.0,
               resolution=0.25, expver="coordinate", regime=False):
    """Write a file exactly like a current CDS ERA5 single-levels NetCDF download.

    Args:
        path: file to write.
        n_times, nlat, nlon: sizes of the time, latitude and longitude axes.
        variables: ERA5 short names, a subset of `ERA5_VARIABLES`.
        start, freq: the time axis, `pandas.date_range(start, periods=n_times, freq=freq)`.
        seed: random seed of the fields.
        north, west, resolution: the grid (latitude descending from `north`, longitude
            ascending from `west`, in -180..180).
        expver: `"coordinate"` (current CDS: a string `expver` coordinate on `valid_time`),
            `"dimension"` (old CDS ERA5/ERA5T mix: an `expver` dimension of values 1 and 5, the
            first half of the times in 1, the rest in 5, NaN elsewhere, time named `time`) or
            `None`.
        regime: also write the integer ground-truth variable `regime` on the time axis.

    Returns:
        The path written.
    """
    times = pd.date_range(start, periods=n_times, freq=freq)
    lat, lon = _grid(nlat, nlon, north, west, resolution)
    values = fields(times, lat, lon, variables, seed)
    tname = "time" if expver == "dimension" else "valid_time"
    coords = {
        tname: (tname, times.values, {"standard_name": "time", "long_name": "time"}),
        "latitude": ("latitude", lat, {"units": "degrees_north", "standard_name": "latitude",
                                       "long_name": "latitude", "stored_direction": "decreasing"}),
        "longitude": ("longitude", lon, {"units": "degrees_east", "standard_name": "longitude",
                                         "long_name": "longitude"}),
        "number": ((), np.int64(0), {"long_name": "ensemble member numerical id",
                                     "standard_name": "realization", "units": "1"}),
    }
    dims = (tname, "latitude", "longitude")
    data_vars = {}
    if expver == "dimension":
        coords["expver"] = ("expver", np.array([1, 5], dtype="int32"),
                            {"long_name": "expver"})
        half = n_times // 2
        for name, v in values.items():
            both = np.full((n_times, 2, nlat, nlon), np.nan)
            both[:half, 0] = v[:half]
            both[half:, 1] = v[half:]
            data_vars[name] = ((tname, "expver", "latitude", "longitude"), both, _attrs(name))
    else:
        if expver == "coordinate":
            coords["expver"] = (tname, np.array(["0001"] * n_times, dtype=object),
                                {"long_name": "Experiment version"})
        for name, v in values.items():
            data_vars[name] = (dims, v, _attrs(name))
    if regime:
        data_vars["regime"] = ((tname,), regimes(n_times, seed),
                               {"long_name": "ground-truth regime"})
    ds = xr.Dataset(data_vars, coords=coords, attrs={
        "GRIB_centre": "ecmf",
        "GRIB_centreDescription": "European Centre for Medium-Range Weather Forecasts",
        "GRIB_subCentre": 0,
        "Conventions": "CF-1.7",
        "institution": "European Centre for Medium-Range Weather Forecasts",
        "history": "written by tests/era5_files.py in the form of a CDS download",
    })
    encoding = {tname: {"dtype": "int64", "units": "seconds since 1970-01-01",
                        "calendar": "proleptic_gregorian"}}
    for name in values:
        if name in PACKED:
            encoding[name] = _pack(ds[name].values)
        else:
            encoding[name] = {"dtype": "float32", "_FillValue": np.float32(np.nan)}
    ds.to_netcdf(path, engine="netcdf4", format="NETCDF4", encoding=encoding)
    return path


def _to_360(lon):
    return np.mod(lon, 360.0)


def write_ncep(path, n_times=24, nlat=5, nlon=6, variables=NCEP_VARIABLES,
               start="2021-01-01", freq="6h", seed=0, *, north=43.0, west=-33.0,
               resolution=2.5):
    """Write an NCEP/NCAR-reanalysis-style file: `time`, `lat`/`lon`, a size-1 `level`.

    Latitude is stored ascending, longitude in 0..360 (sorted ascending in that range), time as
    "hours since 1800-01-01", NetCDF3 64-bit offset format. Arguments as `write_era5`; variable
    names from `NCEP_VARIABLES` (or any name `write_era5` knows).

    Returns:
        The path written.
    """
    times = pd.date_range(start, periods=n_times, freq=freq)
    lat, lon = _grid(nlat, nlon, north, west, resolution)
    values = fields(times, lat, lon, variables, seed)
    lat_order, lon360, lon_order = _ascending_360(lat, lon)
    data_vars = {
        name: (("time", "level", "lat", "lon"),
               v[:, None][:, :, lat_order][:, :, :, lon_order].astype("float32"), _attrs(name))
        for name, v in values.items()
    }
    ds = xr.Dataset(data_vars, coords={
        "time": ("time", times.values, {"long_name": "Time", "standard_name": "time"}),
        "level": ("level", np.array([1000.0], dtype="float32"),
                  {"units": "millibar", "long_name": "Level"}),
        "lat": ("lat", lat[lat_order].astype("float32"), {"units": "degrees_north"}),
        "lon": ("lon", lon360[lon_order].astype("float32"), {"units": "degrees_east"}),
    }, attrs={"Conventions": "COARDS", "title": "NCEP-style test file"})
    encoding = {"time": {"units": "hours since 1800-01-01", "dtype": "float64"}}
    for name in values:
        encoding[name] = {"_FillValue": np.float32(-9.96921e36)}
    ds.to_netcdf(path, format="NETCDF3_64BIT", encoding=encoding)
    return path


def _ascending_360(lat, lon):
    """The orders that sort latitude ascending and longitude in 0..360 ascending, and the
    longitudes in 0..360: `(lat_order, lon360, lon_order)`."""
    lon360 = _to_360(lon)
    return np.argsort(lat), lon360, np.argsort(lon360)


def write_cmip(path, n_times=24, nlat=5, nlon=6, variables=CMIP_VARIABLES,
               start="2021-01-01", freq="1D", seed=0, *, north=43.0, west=-33.0,
               resolution=1.0, calendar="standard"):
    """Write a CMIP-style file: `time` in "days since 1850-01-01", `lat`/`lon` with bounds.

    Latitude ascending, longitude in 0..360, `time_bnds`, `lat_bnds`, `lon_bnds` variables on a
    `bnds` dimension, CMIP variable names from `CMIP_VARIABLES` (also `tos`, `hfls`, `hfss`).
    Arguments as `write_era5`, plus `calendar` (e.g. "noleap"; the times must exist in it).

    Returns:
        The path written.
    """
    times = pd.date_range(start, periods=n_times, freq=freq)
    lat, lon = _grid(nlat, nlon, north, west, resolution)
    values = fields(times, lat, lon, variables, seed)
    lat_order, lon360, lon_order = _ascending_360(lat, lon)
    lat_s, lon_s = lat[lat_order], lon360[lon_order]
    step = (times[1] - times[0]) if n_times > 1 else pd.Timedelta("1D")
    data_vars = {}
    for name, v in values.items():
        attrs = dict(_attrs(name), cell_methods="area: time: mean")
        data_vars[name] = (("time", "lat", "lon"),
                           v[:, lat_order][:, :, lon_order].astype("float32"), attrs)
    data_vars["time_bnds"] = (("time", "bnds"),
                              np.stack([times.values, (times + step).values], axis=1))
    half = resolution / 2.0
    data_vars["lat_bnds"] = (("lat", "bnds"), np.stack([lat_s - half, lat_s + half], axis=1))
    data_vars["lon_bnds"] = (("lon", "bnds"), np.stack([lon_s - half, lon_s + half], axis=1))
    ds = xr.Dataset(data_vars, coords={
        "time": ("time", times.values, {"axis": "T", "standard_name": "time",
                                        "bounds": "time_bnds"}),
        "lat": ("lat", lat_s, {"units": "degrees_north", "axis": "Y", "bounds": "lat_bnds",
                               "standard_name": "latitude"}),
        "lon": ("lon", lon_s, {"units": "degrees_east", "axis": "X", "bounds": "lon_bnds",
                               "standard_name": "longitude"}),
    }, attrs={"Conventions": "CF-1.7 CMIP-6.2", "activity_id": "CMIP",
              "source_id": "TEST-MODEL", "frequency": "day", "table_id": "day"})
    time_encoding = {"units": "days since 1850-01-01", "calendar": calendar, "dtype": "float64"}
    encoding = {name: {"_FillValue": np.float32(1.0e20)} for name in values}
    encoding["time"] = time_encoding
    encoding["time_bnds"] = dict(time_encoding)
    ds.to_netcdf(path, format="NETCDF4_CLASSIC", encoding=encoding)
    return path


def write_at(path, times, nlat=3, nlon=4, variables=("u10", "t2m", "sp"), seed=0, *,
             calendar=None, time_name="valid_time", north=43.0, west=-33.0, resolution=0.25,
             latitude_ascending=False, longitude_360=False, packed=(), nan=None):
    """Write an ERA5-form file at exactly the given times (gaps, mixed steps, other calendars).

    Args:
        path: file to write.
        times: the time axis: a `pandas.DatetimeIndex`, or, with `calendar`, a list of
            `(year, month, day, hour)` tuples (dates such as 30 February exist in `360_day`).
        nlat, nlon, variables, seed: as `write_era5` (the values do not depend on the times).
        calendar: a CF calendar (`"noleap"`, `"360_day"`, `"all_leap"`, ...) or None for the
            standard one.
        time_name: `"valid_time"` (current CDS) or `"time"`.
        latitude_ascending, longitude_360: store the grid in those conventions.
        packed: variables stored as packed int16 (scale_factor, add_offset, _FillValue).
        nan: optional function `(name, values) -> values` that puts NaN in the float64
            `(time, lat, lon)` values before writing.

    Returns:
        The path written.
    """
    n = len(times)
    lat, lon = _grid(nlat, nlon, north, west, resolution)
    values = fields(pd.date_range("2021-01-01", periods=n, freq="1h"), lat, lon, variables,
                    seed)
    if nan is not None:
        values = {name: nan(name, v.copy()) for name, v in values.items()}
    if calendar is None:
        time_values = pd.DatetimeIndex(times).values
        encoding_time = {"dtype": "int64", "units": "seconds since 1970-01-01",
                         "calendar": "proleptic_gregorian"}
    else:
        import cftime

        time_values = np.array([cftime.datetime(*t, calendar=calendar) for t in times])
        encoding_time = {"dtype": "float64", "units": "hours since 1850-01-01",
                         "calendar": calendar}
    lat_order = np.argsort(lat) if latitude_ascending else np.arange(nlat)
    lon_stored = _to_360(lon) if longitude_360 else lon
    lon_order = np.argsort(lon_stored)
    data_vars = {name: ((time_name, "latitude", "longitude"),
                        v[:, lat_order][:, :, lon_order], _attrs(name))
                 for name, v in values.items()}
    ds = xr.Dataset(data_vars, coords={
        time_name: (time_name, time_values, {"standard_name": "time"}),
        "latitude": ("latitude", lat[lat_order], {"units": "degrees_north"}),
        "longitude": ("longitude", lon_stored[lon_order], {"units": "degrees_east"}),
    })
    encoding = {time_name: encoding_time}
    for name in values:
        encoding[name] = (_pack(ds[name].values) if name in packed
                          else {"dtype": "float32", "_FillValue": np.float32(np.nan)})
    ds.to_netcdf(path, engine="netcdf4", format="NETCDF4", encoding=encoding)
    return path


ZARR_LEVELS = (1000, 850, 500)
"""Pressure levels (hPa) of the level variables `write_zarr` writes by default."""

_LEVEL_ATTRS = {
    "t": {"units": "K", "long_name": "Temperature", "standard_name": "air_temperature"},
    "z": {"units": "m**2 s**-2", "long_name": "Geopotential", "standard_name": "geopotential"},
}


def level_fields(times, lat, lon, levels, seed=0):
    """`t` and `z` on pressure levels, dict name -> float64 array (time, level, lat, lon)."""
    base = fields(times, lat, lon, ("t2m", "sp"), seed)
    level = np.asarray(levels, dtype="float64")[None, :, None, None]
    t = base["t2m"][:, None] - 0.0065 * 8000.0 * np.log(1000.0 / level)
    z = 9.80665 * 8000.0 * np.log(1000.0 / level) + 0.8 * (base["sp"][:, None] - 101000.0)
    return {"t": t, "z": z}


def write_zarr(path, n_times=24, nlat=5, nlon=6, variables=("u10", "v10", "t2m", "sp"),
               level_variables=("t", "z"), levels=ZARR_LEVELS, start="2021-01-01", freq="1h",
               seed=0, *, north=43.0, west=-33.0, resolution=0.25, long_names=True,
               zarr_format=2, consolidated=True, times=None, put=None):
    """Write a Zarr store in the analysis-ready ERA5 layout of Google's ARCO-ERA5.

    Long variable names (`2m_temperature`, `10m_u_component_of_wind`, `temperature`,
    `geopotential`; short names with `long_names=False`), `time` (int64 hours since
    1900-01-01), latitude descending, longitude in 0..360 ascending, `level` as a dimension of
    the level variables (hPa, int64), float32 values, one time step per chunk, consolidated
    metadata. The values are those of `fields` (and `level_fields`) for the same arguments, so
    `write_at(..., packed=())` on the same grid and times holds the same single-level fields.

    Args:
        path: the store to write (a directory, usually ending in `.zarr`).
        n_times, nlat, nlon, variables, start, freq, seed, north, west, resolution: as
            `write_era5` (single-level ERA5 short names).
        level_variables: `t` and/or `z`, written on `levels`.
        levels: pressure levels in hPa.
        long_names: name the variables by their long names, as ARCO-ERA5 does.
        zarr_format: 2 (`.zmetadata`) or 3 (`zarr.json`).
        consolidated: write consolidated metadata.
        times: the time axis instead of `n_times`, `start`, `freq` (to write gaps).
        put: optional function `(short name, float64 values) -> values` applied before writing
            (to plant a fill value or an infinity).

    Returns:
        The path written.
    """
    from keras_dsc.data.era5_names import SHORT_TO_LONG

    times = (pd.date_range(start, periods=n_times, freq=freq) if times is None
             else pd.DatetimeIndex(times))
    put = put or (lambda short, values: values)
    lat, lon = _grid(nlat, nlon, north, west, resolution)
    lon360 = _to_360(lon)
    order = np.argsort(lon360)
    name = (lambda short: SHORT_TO_LONG[short]) if long_names else (lambda short: short)
    data_vars = {}
    for short, v in fields(times, lat, lon, variables, seed).items():
        data_vars[name(short)] = (("time", "latitude", "longitude"),
                                  put(short, v[:, :, order]).astype("float32"), _attrs(short))
    if level_variables:
        for short, v in level_fields(times, lat, lon, levels, seed).items():
            if short in level_variables:
                data_vars[name(short)] = (("time", "level", "latitude", "longitude"),
                                          put(short, v[..., order]).astype("float32"),
                                          _LEVEL_ATTRS[short])
    ds = xr.Dataset(data_vars, coords={
        "time": ("time", times.values),
        "latitude": ("latitude", lat.astype("float32"), {"units": "degrees_north",
                                                          "long_name": "latitude"}),
        "longitude": ("longitude", lon360[order].astype("float32"),
                      {"units": "degrees_east", "long_name": "longitude"}),
        "level": ("level", np.asarray(levels, dtype="int64"), {"units": "millibars",
                                                               "long_name": "pressure_level"}),
    }, attrs={"title": "ARCO-ERA5-form test store written by tests/helpers/era5_files.py"})
    encoding = {"time": {"units": "hours since 1900-01-01", "dtype": "int64",
                         "calendar": "proleptic_gregorian"}}
    for var_name, var in ds.data_vars.items():
        encoding[var_name] = {"chunks": (1,) + var.shape[1:]}
    import warnings

    with warnings.catch_warnings():  # consolidated metadata is not yet in the v3 spec
        warnings.simplefilter("ignore", UserWarning)
        ds.to_zarr(path, mode="w", encoding=encoding, consolidated=consolidated,
                   zarr_format=zarr_format)
    return path
