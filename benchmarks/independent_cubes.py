"""Synthetic cubes from a generator independent of the built-in one, and every method on them.

The built-in cube (`keras_dsc.data.synthetic`) is what the defaults were developed on; this
script checks them on cubes made another way, so that a default tuned to the built-in cube
shows. What differs:

- the grid (29 x 41 points at 1 degree, 62..34 N, 45..5 W) and the variables (msl, u10, v10,
  t2m, sst), written 3-hourly, packed as int16 with scale_factor / add_offset, in the CDS
  NetCDF form (`valid_time`, `number`, `expver`);
- the regimes: random pressure patterns (two to three Gaussian highs and lows each, drawn per
  seed, not designed, each of zero mean over the domain), the winds from their gradients, t2m from the meridional wind plus a
  random pattern of its own, sst a weak smoothed echo of t2m; regimes 0 and 1 share a low
  that travels eastward or westward during the day (equal daily means), unless `--no-pair`;
- the sequence: episodes of 2-5 days, the next regime drawn at random with unequal
  frequencies (no cycle through all regimes);
- variability the anomaly step leaves in: a domain-wide t2m / sst offset (red noise, 20-day
  e-folding, sd 0.6 K in t2m and half that in sst, plus a 0.5 K trend), a slow north-south pressure dipole (10 days), and
  synoptic noise smooth in space and red in time (18 h), from which the winds follow.

The regime strength is the rms of a regime's pressure pattern over the rms of the synoptic
pressure noise. Each case is written once, read by `prepare_data` as `fit --data FILE` reads
it (every default: anomalies, 3-hourly windows of a day, or `--resample 1D --window 1` for the
daily case), then every method is trained with `fit`'s own `train_method` and its defaults;
ARI against the planted regimes.

Usage (from the repository root; about 3 minutes per DSC training on 2 cores):

    python -m benchmarks.independent_cubes --seeds 0,1,2
    python -m benchmarks.independent_cubes --cases daily_k4 --methods eof-kmeans,dsc
    python -m benchmarks.independent_cubes --cases heldout_like --strength 0.5 --seeds 0
"""

import argparse
import pathlib
import tempfile

import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage, signal

from benchmarks.kl_weight import print_table, train_and_score
from keras_dsc.data import DataOptions, prepare_data
from keras_dsc.runs.options import FitOptions
from keras_dsc.training.hardware import hardware_settings

LATITUDE = np.arange(62.0, 33.5, -1.0)
LONGITUDE = np.arange(-45.0, -4.5, 1.0)
STEPS_PER_DAY = 8
NOISE_PA = 500.0  # rms of the synoptic pressure noise

# name: (days, k, strength, travelling pair, windows)
CASES = {
    "heldout_like": (240, 5, 1.2, True, "day"),
    "weaker": (240, 5, 0.9, True, "day"),
    "k7_unequal": (365, 7, 1.5, True, "day"),
    "daily_k4": (730, 4, 1.2, False, "daily means"),
}


def _blob(y, x, cy, cx, radius):
    return np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * radius**2))


def _red(rng, n, tau_steps, shape=()):
    """Unit-variance red noise (AR(1), e-folding `tau_steps`) of length n along axis 0."""
    a = np.exp(-1.0 / tau_steps)
    white = rng.standard_normal((n, *shape)) * np.sqrt(1 - a**2)
    out = signal.lfilter([1.0], [1.0, -a], white, axis=0)
    return out / out.std()


def make_cube(days, k, strength, pair, seed):
    """An xarray Dataset in the CDS form, 3-hourly, with the planted `regime` per time step."""
    rng = np.random.default_rng(1000 + seed)
    n = days * STEPS_PER_DAY
    times = pd.date_range("2019-03-01", periods=n, freq="3h")
    y, x = np.meshgrid(np.arange(len(LATITUDE)), np.arange(len(LONGITUDE)), indexing="ij")
    y, x = y.astype(float), x.astype(float)
    hour = (np.arange(STEPS_PER_DAY) + 0.5) / STEPS_PER_DAY - 0.5  # -0.5..0.5 over the day

    # Regime patterns (pressure, Pa), per time step of the day: (k, 8, ny, nx).
    patterns = np.zeros((k, STEPS_PER_DAY, *y.shape))
    for r in range(k):
        static = np.zeros(y.shape)
        for _ in range(rng.integers(2, 4)):
            static += rng.choice([-1, 1]) * rng.uniform(0.6, 1.0) * _blob(
                y, x, rng.uniform(4, 24), rng.uniform(5, 35), rng.uniform(4, 9))
        patterns[r] = static
    if pair:  # the same low travels 16 points east (0) or west (1) over the day
        cy = rng.uniform(10, 18)
        for step, h in enumerate(hour):
            for r, sign in ((0, 1), (1, -1)):
                patterns[r, step] = -1.2 * _blob(y, x, cy, 20 + sign * 16 * h, 5.0)
    patterns -= patterns.mean(axis=(2, 3), keepdims=True)
    patterns *= strength * NOISE_PA / np.sqrt((patterns**2).mean(axis=(1, 2, 3), keepdims=True))
    t2m_own = np.stack([ndimage.gaussian_filter(rng.standard_normal(y.shape), 5) for _ in range(k)])
    t2m_own *= strength * 0.8 / t2m_own.std(axis=(1, 2), keepdims=True)

    # Regime sequence: episodes of 2-5 days, unequal frequencies.
    weights = rng.uniform(0.5, 1.5, k)
    daily = []
    current = rng.integers(k)
    while len(daily) < days:
        daily += [current] * int(rng.integers(2, 6))
        p = weights.copy()
        p[current] = 0
        current = rng.choice(k, p=p / p.sum())
    daily = np.asarray(daily[:days])
    regime = np.repeat(daily, STEPS_PER_DAY)
    amplitude = np.repeat(rng.uniform(0.6, 1.4, days), STEPS_PER_DAY)[:, None, None]

    # Pressure: regime + synoptic noise + slow dipole; winds from its gradient.
    anomaly = patterns[regime, np.tile(np.arange(STEPS_PER_DAY), days)] * amplitude
    noise = _red(rng, n, 6.0, y.shape)  # 18 h
    noise = ndimage.gaussian_filter(noise, (0, 3, 3))
    noise *= NOISE_PA / noise.std()
    dipole = np.cos(np.pi * y / (len(LATITUDE) - 1))
    slow_p = _red(rng, n, 80.0)[:, None, None] * 0.4 * NOISE_PA * dipole  # 10 days
    pressure = anomaly + noise + slow_p
    dp_dy, dp_dx = np.gradient(pressure, axis=(1, 2))  # Pa per grid point (y downwards: south)
    u10 = 6.0 + 0.02 * dp_dy + rng.standard_normal(pressure.shape) * 0.8
    v10 = 0.02 * dp_dx + rng.standard_normal(pressure.shape) * 0.8

    # Temperatures: climate + advection + own pattern + slow offset + noise.
    day_of_year = times.day_of_year.values
    season = np.cos(2 * np.pi * (day_of_year - 220) / 365.25)[:, None, None]
    diurnal = np.cos(2 * np.pi * (times.hour.values - 14) / 24)[:, None, None]
    gradient = 300.0 - 0.6 * (LATITUDE[:, None] - 34.0) + 0 * LONGITUDE[None, :]
    offset = (0.6 * _red(rng, n, 160.0) + np.linspace(-0.25, 0.25, n))[:, None, None]  # 20 days
    own = t2m_own[regime] * amplitude
    t2m = (gradient + 6.0 * season + 1.2 * diurnal + 0.25 * (v10 - v10.mean()) + own + offset
           + ndimage.gaussian_filter(_red(rng, n, 4.0, y.shape), (0, 2, 2)) * 0.8
           + rng.standard_normal(pressure.shape) * 0.3)
    sst = (gradient + 1.0 + 3.0 * np.roll(season, 30 * STEPS_PER_DAY, axis=0) + 0.5 * offset
           + 0.2 * ndimage.gaussian_filter(own, (STEPS_PER_DAY * 2, 0, 0))
           + rng.standard_normal(pressure.shape) * 0.15)
    msl = 101500.0 + 300.0 * np.sin(np.pi * y / 28.0) + pressure
    fields = {"msl": (msl, "Pa", "Mean sea level pressure"),
              "u10": (u10, "m s**-1", "10 metre U wind component"),
              "v10": (v10, "m s**-1", "10 metre V wind component"),
              "t2m": (t2m, "K", "2 metre temperature"),
              "sst": (sst, "K", "Sea surface temperature")}
    dims = ("valid_time", "latitude", "longitude")
    data = {name: (dims, values.astype(np.float32), {"units": units, "long_name": long_name})
            for name, (values, units, long_name) in fields.items()}
    data["regime"] = ("valid_time", regime.astype(np.int32))
    coords = {"valid_time": times, "latitude": ("latitude", LATITUDE, {"units": "degrees_north"}),
              "longitude": ("longitude", LONGITUDE, {"units": "degrees_east"}),
              "number": 0, "expver": ("valid_time", np.full(n, "0001"))}
    return xr.Dataset(data, coords=coords, attrs={"Conventions": "CF-1.7"})


def write_cube(path, cube):
    """Writes `cube` packed as int16 (scale_factor / add_offset per variable), CDS-style."""
    encoding = {"valid_time": {"units": "seconds since 1970-01-01", "dtype": "int64"}}
    for name in ("msl", "u10", "v10", "t2m", "sst"):
        low, high = float(cube[name].min()), float(cube[name].max())
        scale = (high - low) / 65000.0
        encoding[name] = {"dtype": "int16", "scale_factor": scale,
                          "add_offset": (high + low) / 2, "_FillValue": np.int16(-32767)}
    cube.to_netcdf(path, engine="netcdf4", encoding=encoding)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--methods", default="kmeans,eof-kmeans,dsc")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--cube-seed", type=int, default=0, help="seed of the generator")
    parser.add_argument("--strength", type=float, help="regime strength of every case "
                        "(default: each case's own)")
    parser.add_argument("--folder", help="where the cubes go (default: a temporary folder)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    hardware = hardware_settings()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = pathlib.Path(args.folder or scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for name in args.cases.split(","):
            days, k, strength, pair, windows_of = CASES[name]
            strength = strength if args.strength is None else args.strength
            path = folder / f"{name}_strength{strength:g}_cube{args.cube_seed}.nc"
            if not path.exists():
                write_cube(path, make_cube(days, k, strength, pair, args.cube_seed))
            options = DataOptions(data=[str(path)])
            if windows_of == "daily means":
                options = DataOptions(data=[str(path)], resample="1D", window="1")
            windows = prepare_data(options).windows
            labels = np.asarray(windows.labels)
            for method in args.methods.split(","):
                for seed in seeds:
                    fit_options = FitOptions(n_clusters=k, seed=seed, method=method, plots=False)
                    rows.append(train_and_score(windows, labels, fit_options, hardware,
                                                case=name, strength=strength, method=method))
    print_table(rows, ["case", "method"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
