"""The built-in climate cube: ERA5-shaped synthetic data with planted weather regimes.

`make_cube` builds an hourly cube over the Azores box of the DSC paper (43..33 N, 33..23 W,
0.25 degree, 41 x 41 points) with the seven ERA5 single-level variables of the paper, laid
out exactly like a NetCDF file from the current Copernicus Climate Data Store. Every day
belongs to one planted weather regime, stored as the ground-truth variable `regime`.

How the cube is made (all in physical units, vectorised, seeded):

- Climate: a seasonal cycle (t2m and sst peak in late summer), a meridional gradient, a
  diurnal cycle in t2m (larger over land) and in the fluxes, a semidiurnal pressure tide,
  and a seasonal Azores high that drives the mean winds.
- Regimes: each regime is a pressure anomaly pattern (Gaussian highs and lows). Winds follow
  from it (geostrophic wind, reduced by surface friction and turned towards low pressure),
  temperature and humidity from meridional advection (southerly wind brings warm, moist air),
  and the latent and sensible heat fluxes from bulk formulas on wind speed and the air-sea
  temperature and humidity differences. The regimes `eastward_low` and `westward_low` are the
  same low travelling along the same track in opposite directions within the day: their
  daily means are the same, only the time order tells them apart.
- Day-to-day variability: random amplitude (x0.6..1.4), position jitter (up to 3 grid
  points), synoptic pressure noise that is smooth in space and correlated in time (it moves
  the winds, temperature and fluxes coherently), air-mass, humidity and sea-surface eddy
  noise, and white noise.
- Regime sequence: episodes of 2 to 8 days (mean about 3.5; `episode_days` changes the
  range), and `regime_strength` scales every regime's anomaly; the next regime is drawn among
  those not yet visited in the current cycle, so that every regime occurs once in every
  `n_regimes` consecutive episodes (a Markov chain on the regime and the set visited).
"""

import dataclasses
import os
import pathlib

import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage
from scipy import signal

from keras_dsc.errors import DataError

LATITUDE = np.linspace(43.0, 33.0, 41)
LONGITUDE = np.linspace(-33.0, -23.0, 41)
VARIABLES = ("u10", "v10", "t2m", "sst", "sp", "slhf", "sshf")

# Grid points of the islands (latitude, longitude): an Azores-like chain of a few points.
LAND_POINTS = (
    (38.75, -28.75),
    (38.50, -28.50),
    (38.50, -28.25),
    (38.50, -28.00),
    (38.75, -27.25),
    (37.75, -25.75),
    (37.75, -25.50),
    (37.75, -25.25),
)

_ATTRS = {
    "u10": ("10 metre U wind component", "m s**-1", "eastward_wind"),
    "v10": ("10 metre V wind component", "m s**-1", "northward_wind"),
    "t2m": ("2 metre temperature", "K", "air_temperature"),
    "sst": ("Sea surface temperature", "K", "sea_surface_temperature"),
    "sp": ("Surface pressure", "Pa", "surface_air_pressure"),
    "slhf": ("Surface latent heat flux", "J m**-2", "surface_upward_latent_heat_flux"),
    "sshf": ("Surface sensible heat flux", "J m**-2", "surface_upward_sensible_heat_flux"),
}

_KM_PER_DEGREE = 111.2
_OMEGA = 7.292e-5
_RHO_AIR = 1.2


@dataclasses.dataclass(frozen=True)
class _Centre:
    """One Gaussian pressure anomaly: centre, travel speed, amplitude (Pa), radii (km)."""

    lat: float
    lon: float
    amplitude: float
    radius_y: float
    radius_x: float
    lon_per_hour: float = 0.0


@dataclasses.dataclass(frozen=True)
class _Regime:
    name: str
    centres: tuple
    diurnal_gain: float = 1.0  # clear skies under a high: a stronger diurnal cycle


REGIMES = (
    _Regime("azores_high", (_Centre(39.0, -28.0, 900.0, 500.0, 600.0),), diurnal_gain=1.6),
    _Regime("northwest_low", (_Centre(43.5, -34.5, -1200.0, 500.0, 500.0),)),
    _Regime("eastward_low", (_Centre(38.0, -28.0, -1100.0, 450.0, 450.0, 0.6),)),
    _Regime("westward_low", (_Centre(38.0, -28.0, -1100.0, 450.0, 450.0, -0.6),)),
    _Regime(
        "northerly_outbreak",
        (_Centre(38.0, -36.0, 700.0, 550.0, 400.0), _Centre(38.0, -20.0, -700.0, 550.0, 400.0)),
        diurnal_gain=0.7,
    ),
    _Regime("southern_cutoff_low", (_Centre(33.0, -26.0, -1100.0, 450.0, 450.0),)),
    _Regime(
        "zonal_westerlies",
        (_Centre(30.0, -28.0, 800.0, 450.0, 3000.0), _Centre(46.0, -28.0, -800.0, 450.0, 3000.0)),
    ),
)
"""The regime templates; a cube with `n_regimes=K` uses the first K."""

MOTION_REGIMES = ("eastward_low", "westward_low")
"""The two regimes with the same daily mean that differ only in their order within the day."""


def make_cube(days=365, n_regimes=6, seed=0, start="2021-01-01", freq="1h", variability=1.0,
              regime_strength=1.0, episode_days=(1, 8)):
    """Builds the synthetic climate cube with planted weather regimes.

    Args:
        days: int, number of days. Defaults to `365`.
        n_regimes: int, number of planted regimes, 4 to 7 (the first `n_regimes` of
            `REGIMES`; both motion regimes are always in). Defaults to `6`.
        seed: int, seed of the random generator; the same arguments give the same arrays.
            Defaults to `0`.
        start: str, first day (midnight UTC). Defaults to `"2021-01-01"`.
        freq: str, time step, a pandas frequency that divides a day. Defaults to `"1h"`.
        variability: float, scale of the day-to-day variability (amplitude spread, position
            jitter and all noise); `0` gives every day of a regime the same anomaly.
            Defaults to `1.0`.
        regime_strength: float, scale of the regimes' anomalies (pressure, and through it the
            winds, temperature and fluxes; their diurnal gain); the noise is unchanged.
            `0.33` makes them about a third of the day-to-day noise, a hard case where
            k-means on the anomaly windows is clearly imperfect. Defaults to `1.0`.
        episode_days: `(shortest, longest)`, the range of an episode's length in days.
            Defaults to `(1, 8)` (episodes of 2 to 8 days, mean about 3.5).

    Returns:
        An `xarray.Dataset` shaped like an ERA5 NetCDF file from the current CDS: dimensions
        `(valid_time, latitude, longitude)`, latitude descending, float32 variables
        `u10 v10 t2m sst sp slhf sshf` in ERA5 units (`sst` NaN over the islands), and the
        int32 ground truth `regime` on `valid_time`, constant within each day.

    Example:

    >>> cube = make_cube(days=10, seed=1)
    >>> cube.t2m.shape
    (240, 41, 41)
    >>> cube.regime.attrs["flag_meanings"].split()[:2]
    ['azores_high', 'northwest_low']
    """
    days, n_regimes, steps, times, variability = _check(days, n_regimes, seed, start, freq,
                                                         variability)
    strength, shortest, longest = _check_regimes(regime_strength, episode_days)
    seeds = np.random.SeedSequence(seed).spawn(8)
    n_times = days * steps
    shape = (n_times, 41, 41)
    day_of_time = np.repeat(np.arange(days), steps)
    hour = (times.hour + times.minute / 60.0 + times.second / 3600.0).to_numpy()
    day_of_year = times.day_of_year.to_numpy()[::steps] - 1 + 0.5
    lat2, lon2 = np.meshgrid(LATITUDE, LONGITUDE, indexing="ij")
    land = _land_mask()
    f32 = np.float32

    regime_of_day = _regime_sequence(days, n_regimes, np.random.default_rng(seeds[0]),
                                     shortest, longest)
    regime = regime_of_day[day_of_time]

    def seasonal(peak_day):  # per day, 1 on peak_day, -1 half a year later
        return np.cos(2.0 * np.pi * (day_of_year - peak_day) / 365.25)

    # Regime pressure anomaly (Pa) with random amplitude and jitter, stronger in winter, plus
    # synoptic noise; the 10 m wind anomaly follows from it.
    anomaly = _regime_pressure(regime, day_of_time, hour, steps, (1.0 + 0.15 * seasonal(15)),
                               variability, np.random.default_rng(seeds[1]))
    if strength != 1.0:
        anomaly *= np.float32(strength)
    anomaly += f32(150.0 * variability) * _smooth_noise(seeds[2], n_times, 36 * steps / 24, 12.0)
    anom_u, anom_v = _surface_wind(anomaly)

    # Climate, per day: the Azores high, stronger and further north in summer.
    summer = seasonal(200)[:, None, None]
    r2 = (lat2 - (35.5 + 1.5 * summer)) ** 2 + ((lon2 + 31.0) * np.cos(np.radians(lat2))) ** 2
    base = 101300.0 + (1100.0 + 400.0 * summer) * np.exp(-0.5 * r2 * (_KM_PER_DEGREE / 900.0) ** 2)
    base_u, base_v = _surface_wind(base)
    base, base_u, base_v = (a.astype(f32)[day_of_time] for a in (base, base_u, base_v))

    rng = np.random.default_rng(seeds[3])
    u10 = base_u + anom_u + f32(0.6 * variability) * rng.standard_normal(shape, f32)
    v10 = base_v + anom_v + f32(0.6 * variability) * rng.standard_normal(shape, f32)
    del base_u, base_v, anom_u

    # Diurnal cycle (peak at 15 local solar time), stronger under clear skies.
    local = (hour[:, None] + LONGITUDE[None, :] / 15.0).astype(f32)[:, None, :]
    gain = np.array([1.0 + strength * (REGIMES[k].diurnal_gain - 1.0)
                     for k in range(n_regimes)], f32)[regime]
    diurnal = np.cos(f32(2.0 * np.pi / 24.0) * (local - f32(15.0))) * gain[:, None, None]

    elevation = np.where(land, 150.0, 0.0)
    t_clim = (291.0 + 3.0 * seasonal(220)[:, None, None] - 0.25 * (lat2 - 38.0)
              - 0.0065 * elevation).astype(f32)
    t2m = (t_clim[day_of_time] + np.where(land, f32(3.0), f32(0.6)) * diurnal
           + f32(0.15) * anom_v
           + f32(0.6 * variability) * _smooth_noise(seeds[4], n_times, 72 * steps / 24, 6.0)
           + f32(0.15 * variability) * rng.standard_normal(shape, f32))
    humidity = (f32(0.75) + f32(0.012) * anom_v - f32(0.03) * diurnal
                + f32(0.04 * variability) * _smooth_noise(seeds[5], n_times, 24 * steps / 24, 5.0))
    np.clip(humidity, 0.5, 0.98, out=humidity)
    del anom_v

    speed = np.sqrt(u10**2 + v10**2 + f32(0.25))
    decay = np.exp(-24.0 / (72.0 * steps))
    mixing = signal.lfilter([1.0 - decay], [1.0, -decay], speed - f32(7.0), axis=0)
    s_clim = (291.9 + 2.8 * seasonal(235)[:, None, None] - 0.35 * (lat2 - 38.0)).astype(f32)
    sst = (s_clim[day_of_time]
           + f32(0.05) * np.cos(f32(2.0 * np.pi / 24.0) * (local - f32(16.0)))
           - np.clip(f32(0.04) * mixing, f32(-0.3), f32(0.5))
           + f32(0.3 * variability) * _smooth_noise(seeds[6], n_times, 20 * steps, 6.0)
           + f32(0.03 * variability) * rng.standard_normal(shape, f32))
    del mixing
    sp = (base + anomaly - (12.0 * elevation).astype(f32)
          + f32(80.0) * np.cos(f32(4.0 * np.pi / 24.0) * (local - f32(10.0)))
          + f32(20.0 * variability) * rng.standard_normal(shape, f32))
    del base, anomaly

    # Bulk formulas (upward W m-2), accumulated over the hour and signed downward like ERA5.
    skin = np.where(land, t2m + f32(1.0) + f32(1.5) * diurnal, sst)
    wetness = np.where(land, f32(0.4), f32(1.0))
    q_surface = f32(0.98) * _saturation_humidity(skin, sp)
    # Air warmer than the sea cannot hold more vapour than saturation at the sea surface (fog).
    q_air = np.minimum(humidity * _saturation_humidity(t2m, sp), f32(1.02) * q_surface)
    rng = np.random.default_rng(seeds[7])
    slhf = (f32(-3600.0 * _RHO_AIR * 2.5e6 * 1.2e-3) * wetness * speed * (q_surface - q_air)
            * (f32(1.0) + f32(0.03 * variability) * rng.standard_normal(shape, f32)))
    sshf = (f32(-3600.0 * _RHO_AIR * 1005.0 * 1.1e-3) * speed * (skin - t2m)
            * (f32(1.0) + f32(0.03 * variability) * rng.standard_normal(shape, f32)))
    sst[:, land] = np.nan

    fields = dict(u10=u10, v10=v10, t2m=t2m, sst=sst, sp=sp, slhf=slhf, sshf=sshf)
    return _dataset(fields, regime, times, n_regimes, seed, variability)


def _regime_pressure(regime, day_of_time, hour, steps, season, variability, rng):
    """The regimes' pressure anomaly (time, latitude, longitude) in Pa, as float32."""
    days = day_of_time[-1] + 1
    gain = 1.0 + variability * rng.uniform(-0.4, 0.4, days)
    jitter_lat = variability * rng.uniform(-0.75, 0.75, days)
    jitter_lon = variability * rng.uniform(-0.75, 0.75, days)
    mid_hour = (24.0 - 24.0 / steps) / 2.0
    lat = LATITUDE[None, :, None]
    lon = LONGITUDE[None, None, :]
    coslat = np.cos(np.radians(lat))
    anomaly = np.zeros((len(regime), 41, 41), np.float32)
    for k in np.unique(regime):
        on = regime == k
        d = day_of_time[on]
        for c in REGIMES[k].centres:
            clat = (c.lat + jitter_lat[d])[:, None, None]
            clon = (c.lon + jitter_lon[d] + c.lon_per_hour * (hour[on] - mid_hour))[:, None, None]
            dy = (lat - clat) * (_KM_PER_DEGREE / c.radius_y)
            dx = (lon - clon) * (coslat * _KM_PER_DEGREE / c.radius_x)
            amplitude = (c.amplitude * gain[d] * season[d])[:, None, None]
            anomaly[on] += (amplitude * np.exp(-0.5 * (dy**2 + dx**2))).astype(np.float32)
    return anomaly


def write_cube(path, **make_cube_kwargs):
    """Writes the synthetic cube to a NetCDF file (netCDF4 engine, uncompressed).

    Args:
        path: str or path-like, the file to write.
        **make_cube_kwargs: the arguments of `make_cube`.

    Returns:
        The path written, as a `pathlib.Path`.

    Example:

    >>> path = write_cube("cube.nc", days=5, seed=3)
    >>> xr.open_dataset(path).sizes["valid_time"]
    120
    """
    path = pathlib.Path(os.fspath(path))
    cube = make_cube(**make_cube_kwargs)
    encoding = {name: {"zlib": False} for name in VARIABLES}
    encoding["valid_time"] = {"units": "seconds since 1970-01-01", "calendar": "proleptic_gregorian",
                              "dtype": "int64"}
    for name in ("latitude", "longitude", "regime"):
        encoding[name] = {"_FillValue": None}
    try:
        cube.to_netcdf(path, engine="netcdf4", encoding=encoding)
    except (OSError, PermissionError) as error:
        raise DataError(f"{path}: cannot write the synthetic cube: {error}") from None
    return path


def _check(days, n_regimes, seed, start, freq, variability):
    if isinstance(days, bool) or not isinstance(days, (int, np.integer)) or days < 1:
        raise DataError(f"synthetic cube: days must be a positive integer, got {days!r}")
    if isinstance(n_regimes, bool) or not isinstance(n_regimes, (int, np.integer)) or not (
        4 <= n_regimes <= len(REGIMES)
    ):
        raise DataError(
            f"synthetic cube: n_regimes must be an integer from 4 to {len(REGIMES)}, got {n_regimes!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"synthetic cube: seed must be a non-negative integer, got {seed!r}")
    if not np.isfinite(variability) or variability < 0:
        raise DataError(f"synthetic cube: variability must be >= 0, got {variability!r}")
    try:
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
        first = pd.Timestamp(start).normalize()
    except (ValueError, TypeError) as error:
        raise DataError(f"synthetic cube: bad start {start!r} or freq {freq!r}: {error}") from None
    steps = pd.Timedelta("1D") / step
    if step <= pd.Timedelta(0) or steps != int(steps):
        raise DataError(f"synthetic cube: freq {freq!r} must divide one day")
    steps = int(steps)
    times = pd.date_range(first, periods=int(days) * steps, freq=step)
    return int(days), int(n_regimes), steps, times, float(variability)


def _land_mask():
    mask = np.zeros((41, 41), dtype=bool)
    for lat, lon in LAND_POINTS:
        mask[np.argmin(abs(LATITUDE - lat)), np.argmin(abs(LONGITUDE - lon))] = True
    return mask


def _check_regimes(regime_strength, episode_days):
    strength = float(regime_strength)
    if not np.isfinite(strength) or strength < 0:
        raise DataError(f"synthetic cube: regime_strength must be >= 0, got {regime_strength!r}")
    try:
        shortest, longest = (int(d) for d in episode_days)
    except (TypeError, ValueError):
        raise DataError(f"synthetic cube: episode_days must be (shortest, longest), got "
                        f"{episode_days!r}") from None
    if not 1 <= shortest <= longest:
        raise DataError(f"synthetic cube: episode_days must be 1 <= shortest <= longest, got "
                        f"{episode_days!r}")
    return strength, shortest, longest


def _regime_sequence(days, n_regimes, rng, shortest=1, longest=8):
    """Per-day regimes: episodes of `shortest`..`longest` days (geometric, mean about 3.5);
    each cycle of episodes visits every regime."""
    sequence = []
    previous = -1
    while len(sequence) < days:
        order = rng.permutation(n_regimes)
        if order[0] == previous:
            order = np.roll(order, -1)
        for k in order:
            sequence += [k] * min(max(1 + rng.geometric(0.4), shortest), longest)
        previous = order[-1]
    return np.asarray(sequence[:days], dtype=np.int32)


def _smooth_noise(seed, n_times, tau, scale, n_modes=32):
    """Unit-variance noise, smooth in space (`scale` grid points) and AR(1) in time (`tau` steps).

    It is a sum of `n_modes` random smooth patterns whose coefficients are AR(1) series.
    """
    rng = np.random.default_rng(seed)
    pad = int(3 * scale)
    white = rng.standard_normal((n_modes, 41 + 2 * pad, 41 + 2 * pad))
    modes = ndimage.gaussian_filter(white, sigma=(0, scale, scale), mode="wrap")
    modes = modes[:, pad:pad + 41, pad:pad + 41]
    modes /= np.sqrt((modes**2).mean(axis=(1, 2), keepdims=True) * n_modes)
    phi = np.exp(-1.0 / tau)
    kicks = rng.standard_normal((n_times, n_modes))
    kicks[0] /= np.sqrt(1.0 - phi**2)  # start in the stationary distribution
    coefficients = signal.lfilter([np.sqrt(1.0 - phi**2)], [1.0, -phi], kicks, axis=0)
    return np.einsum("tm,myx->tyx", coefficients.astype(np.float32), modes.astype(np.float32))


def _surface_wind(pressure):
    """10 m wind from a sea-level pressure field (time, latitude, longitude) in Pa.

    Geostrophic wind, times 0.7 for surface friction and turned 20 degrees towards low pressure.
    """
    metres = _KM_PER_DEGREE * 1000.0  # per degree
    dtype = pressure.dtype
    coriolis = 2.0 * _OMEGA * np.sin(np.radians(LATITUDE))[:, None]
    # 0.7 * geostrophic wind: u = -dp/dy / (rho f), v = dp/dx / (rho f).
    dp_dy = np.gradient(pressure, LATITUDE * metres, axis=1)
    dp_dy *= (-0.7 / (_RHO_AIR * coriolis)).astype(dtype)
    dp_dx = np.gradient(pressure, LONGITUDE * metres, axis=2)
    dp_dx *= (0.7 / (_RHO_AIR * coriolis * np.cos(np.radians(LATITUDE))[:, None])).astype(dtype)
    cos, sin = dtype.type(np.cos(np.radians(20.0))), dtype.type(np.sin(np.radians(20.0)))
    return dp_dy * cos - dp_dx * sin, dp_dy * sin + dp_dx * cos


def _saturation_humidity(temperature, pressure):
    """Saturation specific humidity (kg/kg) from temperature (K) and pressure (Pa), Bolton 1980."""
    f32 = np.float32
    vapour = f32(611.2) * np.exp(f32(17.67) * (temperature - f32(273.15))
                                 / (temperature - f32(29.65)))
    return f32(0.622) * vapour / (pressure - f32(0.378) * vapour)


def _dataset(fields, regime, times, n_regimes, seed, variability):
    coords = {
        "number": 0,
        "valid_time": ("valid_time", times.values,
                       {"standard_name": "time", "long_name": "time"}),
        "latitude": ("latitude", LATITUDE,
                     {"units": "degrees_north", "standard_name": "latitude",
                      "long_name": "latitude"}),
        "longitude": ("longitude", LONGITUDE,
                      {"units": "degrees_east", "standard_name": "longitude",
                       "long_name": "longitude"}),
        "expver": ("valid_time", np.full(len(times), "0001"), {"long_name": "model experiment version"}),
    }
    dims = ("valid_time", "latitude", "longitude")
    data_vars = {}
    for name in VARIABLES:
        long_name, units, standard_name = _ATTRS[name]
        data_vars[name] = (dims, np.asarray(fields[name], dtype=np.float32),
                           {"long_name": long_name, "units": units, "standard_name": standard_name})
    names = [REGIMES[k].name for k in range(n_regimes)]
    data_vars["regime"] = (
        ("valid_time",),
        regime.astype(np.int32),
        {"long_name": "planted weather regime",
         "flag_values": np.arange(n_regimes, dtype=np.int32),
         "flag_meanings": " ".join(names)},
    )
    attrs = {
        "Conventions": "CF-1.7",
        "institution": "keras_dsc",
        "title": "Synthetic ERA5-like hourly cube over the Azores with planted weather regimes",
        "source": (f"keras_dsc synthetic climate cube (keras_dsc.data.synthetic.make_cube, seed={seed}, "
                   f"n_regimes={n_regimes}, variability={variability:g}); not ERA5 data"),
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)
