"""Tests for keras_dsc.data.synthetic: the built-in ERA5-shaped cube with planted regimes."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from keras_dsc.errors import DataError
from keras_dsc.data.synthetic import LAND_POINTS, MOTION_REGIMES, REGIMES, VARIABLES, make_cube, write_cube

UNITS = {"u10": "m s**-1", "v10": "m s**-1", "t2m": "K", "sst": "K", "sp": "Pa",
         "slhf": "J m**-2", "sshf": "J m**-2"}


@pytest.fixture(scope="module")
def cube():
    return make_cube(days=20, seed=0)


def test_era5_form(cube):
    assert list(cube.data_vars) == list(VARIABLES) + ["regime"]
    for name in VARIABLES:
        var = cube[name]
        assert var.dims == ("valid_time", "latitude", "longitude")
        assert var.dtype == np.float32
        assert var.attrs["units"] == UNITS[name]
        assert var.attrs["long_name"] and var.attrs["standard_name"]
    assert cube.sizes == {"valid_time": 480, "latitude": 41, "longitude": 41}
    np.testing.assert_allclose(cube.latitude, np.arange(43.0, 32.99, -0.25))
    np.testing.assert_allclose(cube.longitude, np.arange(-33.0, -22.99, 0.25))
    assert cube.latitude.attrs["units"] == "degrees_north"
    assert cube.longitude.attrs["units"] == "degrees_east"
    times = pd.DatetimeIndex(cube.valid_time.values)
    assert times[0] == pd.Timestamp("2021-01-01") and (np.diff(times) == pd.Timedelta("1h")).all()
    assert cube.valid_time.attrs == {"standard_name": "time", "long_name": "time"}
    assert cube.regime.dims == ("valid_time",) and cube.regime.dtype == np.int32
    assert cube.regime.attrs["long_name"] == "planted weather regime"
    assert cube.regime.attrs["flag_meanings"].split() == [r.name for r in REGIMES[:6]]
    np.testing.assert_array_equal(cube.regime.attrs["flag_values"], np.arange(6))
    assert cube.attrs["Conventions"] == "CF-1.7"
    assert "seed=0" in cube.attrs["source"] and "synthetic" in cube.attrs["source"]


def test_realistic_magnitudes(cube):
    ranges = {"u10": (-25, 25), "v10": (-25, 25), "t2m": (278, 302), "sst": (285, 298),
              "sp": (97000, 104500), "slhf": (-3e6, 5e5), "sshf": (-8e5, 4e5)}
    for name, (low, high) in ranges.items():
        values = cube[name].values
        assert low < np.nanmin(values) and np.nanmax(values) < high, name
    # In January the sea is warmer than the air on average: heat goes up, fluxes are negative.
    assert cube.slhf.mean() < -1e5 and cube.sshf.mean() < 0
    # The diurnal cycle of t2m peaks in the afternoon, not at night.
    hourly = cube.t2m.mean(("latitude", "longitude")).groupby("valid_time.hour").mean()
    assert 12 <= int(np.argmax(hourly.values)) <= 19


def test_sst_nan_only_over_land(cube):
    nan = np.isnan(cube.sst.values)
    land = nan[0]
    assert (nan == land).all()  # the same points at every time
    assert land.sum() == len(LAND_POINTS)
    for lat, lon in LAND_POINTS:
        assert land[cube.indexes["latitude"].get_loc(lat), cube.indexes["longitude"].get_loc(lon)]
    for name in VARIABLES:
        if name != "sst":
            assert not np.isnan(cube[name].values).any(), name


def test_deterministic(cube):
    again = make_cube(days=20, seed=0)
    for name in list(VARIABLES) + ["regime"]:
        np.testing.assert_array_equal(cube[name].values, again[name].values)
    other = make_cube(days=20, seed=1)
    assert not np.array_equal(cube.t2m.values, other.t2m.values)


@pytest.mark.parametrize("n_regimes", [5, 6, 7])
def test_regimes_daily_and_all_present(n_regimes):
    regime = make_cube(days=60, n_regimes=n_regimes, seed=2).regime.values.reshape(60, 24)
    assert (regime == regime[:, :1]).all()
    assert set(regime[:, 0]) == set(range(n_regimes))
    # Regimes persist: far fewer changes than a day-to-day shuffle would give.
    assert (np.diff(regime[:, 0]) != 0).sum() < 30


def _motion_day_pair():
    """Two noise-free cubes and a day that is eastward_low in one and westward_low in the other."""
    east, west = (REGIMES.index(next(r for r in REGIMES if r.name == n)) for n in MOTION_REGIMES)
    cubes = [make_cube(days=30, seed=s, variability=0.0) for s in range(6)]
    days = [c.regime.values[::24] for c in cubes]
    for a in range(len(cubes)):
        for b in range(len(cubes)):
            both = np.flatnonzero((days[a] == east) & (days[b] == west))
            if both.size:
                return cubes[a], cubes[b], int(both[0])
    raise AssertionError("no day found with the two motion regimes")


def test_motion_regimes_differ_only_in_time_order():
    east, west, day = _motion_day_pair()
    hours = slice(24 * day, 24 * day + 24)
    for name, mean_tolerance in [("sp", 0.5), ("u10", 1e-3), ("v10", 1e-3), ("t2m", 1e-3)]:
        difference = (east[name][hours] - west[name][hours]).values
        assert np.abs(difference.mean(axis=0)).max() < mean_tolerance, name
    difference = (east.sp[hours] - west.sp[hours]).values
    assert np.abs(difference).max() > 500.0
    # At midnight the eastward low is still in the west, the westward one in the east ...
    assert difference[0, :, :10].mean() < -200 and difference[0, :, -10:].mean() > 200
    # ... and at 23:00 it is the other way round.
    assert difference[23, :, :10].mean() > 200 and difference[23, :, -10:].mean() < -200
    # The fluxes are non-linear in the fields: their daily means agree only nearly.
    for name in ("slhf", "sshf"):
        hourly = (east[name][hours] - west[name][hours]).values
        assert np.abs(hourly.mean(axis=0)).max() < 0.2 * np.abs(hourly).max(), name


def test_other_time_step():
    cube = make_cube(days=3, freq="3h", seed=4, start="2022-06-01")
    assert cube.sizes["valid_time"] == 24
    assert pd.Timestamp(cube.valid_time.values[0]) == pd.Timestamp("2022-06-01")
    regime = cube.regime.values.reshape(3, 8)
    assert (regime == regime[:, :1]).all()


@pytest.mark.parametrize("kwargs, where", [
    ({"days": 0}, "days"), ({"n_regimes": 3}, "n_regimes"), ({"n_regimes": 8}, "n_regimes"),
    ({"freq": "7h"}, "freq"), ({"start": "not a date"}, "start"), ({"variability": -1.0}, "variability"),
    ({"seed": -3}, "seed"),
])
def test_bad_arguments(kwargs, where):
    with pytest.raises(DataError, match=where) as error:
        make_cube(**{"days": 2, **kwargs})
    assert "\n" not in str(error.value)


def test_write_cube_round_trip(tmp_path):
    path = write_cube(tmp_path / "cube.nc", days=3, seed=5)
    assert path == tmp_path / "cube.nc"
    expected = make_cube(days=3, seed=5)
    with xr.open_dataset(path) as read:
        assert list(read.data_vars) == list(VARIABLES) + ["regime"]
        for name in list(VARIABLES) + ["regime"]:
            assert read[name].dtype == expected[name].dtype
            np.testing.assert_array_equal(read[name].values, expected[name].values)
            assert read[name].attrs["long_name"] == expected[name].attrs["long_name"]
        np.testing.assert_array_equal(read.valid_time.values, expected.valid_time.values)
        assert read.latitude.values[0] == 43.0 and read.latitude.values[-1] == 33.0
        assert read.regime.attrs["flag_meanings"] == expected.regime.attrs["flag_meanings"]
        assert read.attrs["source"] == expected.attrs["source"]
