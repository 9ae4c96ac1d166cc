"""Tests of keras_dsc.data.preprocessing.CubePreprocessor."""

import json
import warnings

import dask.array
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from keras_dsc.data.era5 import open_cube
from keras_dsc.errors import DataError
from keras_dsc.data.preprocessing import CubePreprocessor
from tests.helpers.era5_files import land_mask, write_era5


def as_array(ds, variables):
    return np.stack([ds[v].values for v in variables], axis=-1)


def assert_close(actual, desired, rtol=1e-4):
    """Within rtol relative, values near zero compared with the variable's magnitude."""
    magnitude = np.nanmax(np.abs(desired), axis=(0, 1, 2))
    error = np.abs(actual - desired)
    bound = rtol * np.maximum(np.abs(desired), 1e-2 * magnitude)
    assert np.all((error <= bound) | np.isnan(desired)), np.nanmax(error / bound)


@pytest.fixture(scope="module")
def era5(tmp_path_factory):
    path = tmp_path_factory.mktemp("era5") / "era5.nc"
    write_era5(path, n_times=48, nlat=6, nlon=6, regime=True)
    return open_cube(path)


def planted_cycle_file(path, freq="1D", days=730, diurnal=0.0, seed=0):
    """A variable with a known annual (and diurnal) cycle per grid point plus small noise."""
    times = pd.date_range("2020-01-01", periods=int(days * pd.Timedelta("1D")
                                                     / pd.Timedelta(freq)), freq=freq)
    rng = np.random.default_rng(seed)
    day = (times.day_of_year.values - 1 + times.hour.values / 24.0)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, size=(1, 3, 4))
    amp = rng.uniform(5, 10, size=(1, 3, 4))
    hour = times.hour.values[:, None, None]
    x = (280.0 + amp * np.sin(2 * np.pi * day / 365.25 + phase)
         + 2.0 * np.cos(4 * np.pi * day / 365.25)
         + diurnal * np.sin(2 * np.pi * (hour - 6) / 24.0)
         + 0.3 * rng.normal(size=(len(times), 3, 4)))
    ds = xr.Dataset({"t2m": (("time", "latitude", "longitude"), x.astype("float32"),
                             {"units": "K"})},
                    coords={"time": times, "latitude": [40.0, 39.0, 38.0],
                            "longitude": [-30.0, -29.0, -28.0, -27.0]})
    ds.to_netcdf(path)
    return path


@pytest.mark.parametrize("method", ["zscore", "minmax"])
@pytest.mark.parametrize("anomalies", [False, True])
def test_round_trip_and_nan(era5, method, anomalies):
    variables = list(era5.data_vars)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 2 days of data: the annual-harmonics warning
        prep = CubePreprocessor(method, anomalies=anomalies).fit(era5)
    x = prep.transform(era5)
    assert x.dims == ("time", "latitude", "longitude", "variable")
    assert x.dtype == np.float32
    assert isinstance(x.data, dask.array.Array)
    assert list(x["variable"].values) == variables
    np.testing.assert_array_equal(x["regime"].values, era5.regime.values)
    values = x.values
    sst = values[..., variables.index("sst")]
    mask = land_mask(6, 6)
    assert np.isnan(sst[:, mask]).all() and not np.isnan(sst[:, ~mask]).any()
    assert not np.isnan(np.delete(values, variables.index("sst"), axis=-1)).any()
    if method == "zscore" and not anomalies:
        np.testing.assert_allclose(np.nanmean(values, axis=(0, 1, 2)), 0.0, atol=1e-4)
        np.testing.assert_allclose(np.nanstd(values, axis=(0, 1, 2)), 1.0, atol=1e-4)
    if method == "minmax":
        np.testing.assert_allclose(np.nanmin(values, axis=(0, 1, 2)), 0.0, atol=1e-6)
        np.testing.assert_allclose(np.nanmax(values, axis=(0, 1, 2)), 1.0, atol=1e-6)
    original = as_array(era5, variables)
    back = prep.inverse_transform(x)
    assert back.dims == x.dims and back.dtype == np.float32
    assert_close(back.values, original)
    np.testing.assert_array_equal(np.isnan(back.values), np.isnan(original))
    times = era5.time.values.reshape(12, 4) if anomalies else None
    windows = values.reshape((12, 4) + values.shape[1:])
    back_np = prep.inverse_transform(windows, times=times)
    assert back_np.dtype == np.float32
    assert_close(back_np.reshape(original.shape), original)


def test_config_is_json_and_has_the_stats(era5):
    prep = CubePreprocessor("zscore").fit(era5[["t2m", "u10"]])
    config = json.loads(json.dumps(prep.get_config()))
    assert config["variables"] == ["t2m", "u10"]
    assert config["units"] == ["K", "m s**-1"]
    assert config["latitudes"] == list(era5.latitude.values)
    assert config["time_step"] == "1h"
    t2m = era5.t2m.values.astype("float64")
    assert config["offset"][0] == pytest.approx(t2m.mean(), rel=1e-6)
    assert config["scale"][0] == pytest.approx(t2m.std(), rel=1e-5)
    again = CubePreprocessor.from_config(config)
    np.testing.assert_array_equal(again.transform(era5).values, prep.transform(era5).values)


@pytest.mark.parametrize("anomalies", [False, True])
def test_save_load_round_trip_identical(tmp_path, anomalies):
    path = planted_cycle_file(tmp_path / "cycle.nc", freq="6h", days=400, diurnal=3.0)
    ds = open_cube(path)
    prep = CubePreprocessor("minmax", anomalies=anomalies).fit(ds)
    prep.save(tmp_path / "saved")
    assert (tmp_path / "saved" / "preprocessing.json").exists()
    assert (tmp_path / "saved" / "climatology.nc").exists() == anomalies
    loaded = CubePreprocessor.load(tmp_path / "saved")
    assert loaded.get_config() == prep.get_config()
    np.testing.assert_array_equal(loaded.transform(ds).values, prep.transform(ds).values)
    if anomalies:
        without = CubePreprocessor.from_config(prep.get_config())
        with pytest.raises(DataError, match="climatology"):
            without.transform(ds)
        # A truncated climatology.nc is a one-line DataError naming it, not netCDF4's traceback.
        clim = tmp_path / "saved" / "climatology.nc"
        clim.write_bytes(clim.read_bytes()[:200])
        with pytest.raises(DataError, match="climatology.nc: cannot read the climatology") as error:
            CubePreprocessor.load(tmp_path / "saved")
        assert "\n" not in str(error.value)


def test_anomalies_remove_a_planted_annual_cycle(tmp_path):
    ds = open_cube(planted_cycle_file(tmp_path / "cycle.nc"))
    raw_std = float(ds.t2m.std())
    prep = CubePreprocessor("zscore", anomalies=True).fit(ds)
    assert prep.get_config()["terms"] == ["mean", "sin1", "cos1", "sin2", "cos2"]
    residual_std = prep.scale[0]
    assert raw_std > 3.0
    assert residual_std < 0.35 and residual_std < raw_std / 10
    plain = CubePreprocessor("zscore").fit(ds)
    assert plain.scale[0] == pytest.approx(raw_std, rel=1e-5)


def test_anomalies_remove_a_planted_diurnal_cycle(tmp_path):
    ds = open_cube(planted_cycle_file(tmp_path / "cycle.nc", freq="3h", days=366, diurnal=4.0))
    prep = CubePreprocessor("zscore", anomalies=True).fit(ds)
    terms = prep.get_config()["terms"]
    assert terms[5:] == [f"hour{h:02d}" for h in range(24)]
    assert prep.scale[0] < 0.35
    # Fitted on 3-hourly data: daily data would meet the wrong diurnal terms.
    daily = ds.resample(time="1D").mean()
    with pytest.raises(DataError, match="time step"):
        prep.transform(daily)


def test_yearly_means_stamped_mid_year_get_the_mean_as_climatology(tmp_path):
    """CMIP yearly means are stamped at the middle of each year: 2 July 12:00, or 00:00 in a
    leap year. The harmonics would fit that half day as a leap-year cycle (huge cancelling
    coefficients, a spurious offset between leap and common years); a step of a year resolves
    no harmonic, so the climatology is the mean and the anomalies keep every year's value."""
    years = np.arange(1961, 2021)
    times = pd.DatetimeIndex([pd.Timestamp(f"{y}-01-01") + (pd.Timestamp(f"{y + 1}-01-01")
                                                             - pd.Timestamp(f"{y}-01-01")) / 2
                              for y in years])
    rng = np.random.default_rng(0)
    x = 288.0 + 0.02 * (years - 1990)[:, None, None] + rng.normal(size=(len(years), 3, 4))
    ds = xr.Dataset({"t2m": (("time", "latitude", "longitude"), x.astype("float32"),
                             {"units": "K"})},
                    coords={"time": times, "latitude": [40.0, 39.0, 38.0],
                            "longitude": [-30.0, -29.0, -28.0, -27.0]})
    ds.to_netcdf(tmp_path / "tas_yr.nc")
    cube = open_cube(tmp_path / "tas_yr.nc")
    prep = CubePreprocessor("zscore", anomalies=True).fit(cube)
    assert prep.time_step == "1YS" and prep.get_config()["terms"] == ["mean"]
    anomalies = prep.transform(cube).values[..., 0] * prep.scale[0]
    np.testing.assert_allclose(anomalies, x - x.mean(axis=0), atol=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 'at least a year' warning: no harmonic is fitted
        CubePreprocessor("zscore", anomalies=True).fit(cube.isel(time=slice(0, 3)))


@pytest.mark.parametrize("days, left", [(2, "0 free after the 2 terms"),
                                         (3, "1 free after the 2 terms")])
def test_a_record_the_climatology_absorbs_is_refused(tmp_path, days, left):
    """Found by a probe: three days clustered into three gave two windows equal (anomalies one
    series scaled at every grid point), 2 clusters of 3 and a Davies-Bouldin score of 0."""
    from keras_dsc.errors import OptionError

    path = planted_cycle_file(tmp_path / "short.nc", days=days)
    cube = open_cube(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the short-record warning
        with pytest.raises(OptionError, match=f"{days} time steps leave {left} of the "
                                              f"climatology they determine") as error:
            CubePreprocessor(anomalies=True).fit(cube)
        assert "turn anomalies off" in str(error.value) and str(path) in str(error.value)
        # Four days leave two: fitted, and no two windows' anomalies are equal.
        cube = open_cube(planted_cycle_file(tmp_path / "four.nc", days=4))
        anomalies = CubePreprocessor(anomalies=True).fit_transform(cube).values[..., 0]
        distances = np.abs(anomalies[:, None] - anomalies[None]).sum(axis=(2, 3))
        assert distances[~np.eye(4, dtype=bool)].min() > 1e-3 * distances.max()
        CubePreprocessor(anomalies=False).fit(open_cube(path))  # without anomalies: no limit


def test_short_series_warns_about_harmonics(era5):
    with pytest.warns(UserWarning, match="at least a year"):
        CubePreprocessor(anomalies=True).fit(era5[["t2m"]])


def test_transform_checks_variables_and_grid(era5):
    prep = CubePreprocessor().fit(era5[["t2m", "sp"]])
    with pytest.raises(DataError, match="'sp' is missing.*t2m, sp") as info:
        prep.transform(era5[["t2m", "u10"]])
    assert "\n" not in str(info.value)
    swapped = prep.transform(era5[["sp", "t2m"]])
    assert list(swapped["variable"].values) == ["t2m", "sp"]
    with pytest.raises(DataError, match="latitudes differ.*fitted 6 points") as info:
        prep.transform(era5.isel(latitude=slice(0, 4)))
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match="longitudes differ"):
        prep.transform(era5.assign_coords(longitude=era5.longitude + 1.0))


def test_a_grid_stored_in_float32_is_the_same_grid_everywhere(era5, tmp_path):
    # A file whose coordinates were rounded to float32 (43.7 is 43.70000076) is on the grid of
    # a float64 file: transform keeps every point (it kept the few whose rounding happened to
    # agree), and open_cube joins the two files in time.
    cube = era5[["t2m"]].load()
    cube.attrs = {}
    exact = cube.assign_coords(latitude=cube.latitude + 1.0 / 3.0,
                               longitude=cube.longitude + 0.1)
    rounded = exact.assign_coords(latitude=exact.latitude.astype("float32").astype("float64"),
                                  longitude=exact.longitude.astype("float32").astype("float64"))
    assert not np.array_equal(exact.latitude, rounded.latitude)
    prep = CubePreprocessor().fit(rounded)
    out = prep.transform(exact)
    assert out.shape == (cube.sizes["time"], 6, 6, 1)
    np.testing.assert_allclose(out.values, prep.transform(rounded).values)

    def write(ds, name):
        ds.rename(latitude="lat", longitude="lon").to_netcdf(tmp_path / name)
        return str(tmp_path / name)

    first = write(rounded.isel(time=slice(0, 24)), "a.nc")
    joined = open_cube([first, write(exact.isel(time=slice(24, None)), "b.nc")])
    assert dict(joined.sizes) == {"time": cube.sizes["time"], "latitude": 6, "longitude": 6}
    lat, lon = exact.latitude.values, exact.longitude.values  # the box named in float64
    boxed = open_cube(first, region=(lat.max(), lon.min(), lat.min(), lon.max()))
    assert dict(boxed.sizes) == {"time": 24, "latitude": 6, "longitude": 6}
    moved = exact.assign_coords(latitude=exact.latitude + 0.01).isel(time=slice(24, None))
    with pytest.raises(DataError, match="different grids.*latitudes up to 0.01 degrees apart"):
        open_cube([first, write(moved, "c.nc")])


def test_bad_arguments():
    with pytest.raises(DataError, match="method: 'robust'"):
        CubePreprocessor("robust")
    with pytest.raises(DataError, match="not fitted"):
        CubePreprocessor().transform(xr.Dataset())
    with pytest.raises(DataError, match="preprocessing.json: file not found"):
        CubePreprocessor.load("/nonexistent/place")


def test_inverse_transform_checks_shapes(era5):
    prep = CubePreprocessor().fit(era5[["t2m"]])
    with pytest.raises(DataError, match="does not end with"):
        prep.inverse_transform(np.zeros((3, 6, 5, 1)))


class LargestResult:
    """A dask callback that records the largest array any task returned."""

    def __init__(self):
        from dask.callbacks import Callback

        self.largest = 0
        outer = self

        class _Record(Callback):
            def _posttask(self, key, result, dsk, state, worker_id):
                outer.largest = max(outer.largest, getattr(result, "nbytes", 0))

        self.callback = _Record()


@pytest.mark.parametrize("anomalies", [False, True])
def test_fit_reduces_a_lazy_cube_chunk_by_chunk(tmp_path, anomalies):
    for day in range(4):
        write_era5(tmp_path / f"era5_{day}.nc", n_times=168, nlat=6, nlon=6,
                   start=f"2021-01-{7 * day + 1:02d}", variables=["t2m", "sst"])
    ds = open_cube(str(tmp_path / "era5_*.nc"))
    assert ds.t2m.chunks[0] == (168, 168, 168, 168)
    whole = ds.t2m.size * 8  # one variable of the whole cube in float64
    record = LargestResult()
    with warnings.catch_warnings(), record.callback:
        warnings.simplefilter("ignore")
        prep = CubePreprocessor(anomalies=anomalies).fit(ds)
    assert 0 < record.largest <= whole / 4
    assert np.isfinite(prep.offset).all()
