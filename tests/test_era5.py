"""Tests of keras_dsc.data.era5: every accepted file form opens to the canonical cube."""

import os
import warnings

import dask.array
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from keras_dsc.data.era5 import open_cube, resample_time
from keras_dsc.errors import DataError, OptionError
from tests.helpers.era5_files import (
    ERA5_VARIABLES,
    PACKED,
    fields,
    land_mask,
    regimes,
    write_cmip,
    write_era5,
    write_ncep,
)


def raises_one_line(call, *words):
    """Call, expect a DataError whose message is one line containing every word."""
    with pytest.raises(DataError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert str(word) in message, (word, message)
    return message


def assert_canonical(ds, variables):
    assert list(ds.data_vars) == list(variables)
    for name in variables:
        assert ds[name].dims == ("time", "latitude", "longitude")
        assert ds[name].dtype == np.float32
        assert isinstance(ds[name].data, dask.array.Array)
        assert "units" in ds[name].attrs
    assert set(ds.coords) <= {"time", "latitude", "longitude", "regime"}
    lat, lon = ds.latitude.values, ds.longitude.values
    assert np.all(np.diff(lat) < 0)
    assert np.all(np.diff(lon) > 0)
    assert lon.min() >= -180 and lon.max() <= 180
    assert np.issubdtype(ds.time.dtype, np.datetime64)
    assert ds.indexes["time"].is_monotonic_increasing


def expected(times, lat, lon, variables, seed=0):
    return fields(pd.DatetimeIndex(times), lat, lon, variables, seed)


def test_era5_form_opens_canonical(tmp_path):
    path = write_era5(tmp_path / "era5.nc", n_times=12, nlat=5, nlon=6, seed=3)
    raw = xr.open_dataset(path)
    assert "valid_time" in raw.dims and "expver" in raw.coords
    ds = open_cube(path)
    assert_canonical(ds, ERA5_VARIABLES)
    assert ds.t2m.attrs["units"] == "K" and ds.slhf.attrs["units"] == "J m**-2"
    truth = expected(ds.time.values, ds.latitude.values, ds.longitude.values, ERA5_VARIABLES, 3)
    for name in ERA5_VARIABLES:
        tolerance = 1e-3 * np.nanmax(np.abs(truth[name]))
        np.testing.assert_allclose(ds[name].values, truth[name], atol=tolerance)
    assert 280 < float(ds.t2m.mean()) < 300
    assert 99000 < float(ds.sp.mean()) < 103000


def test_packed_int16_decoded_to_float32(tmp_path):
    path = write_era5(tmp_path / "era5.nc", n_times=6)
    raw = xr.open_dataset(path, decode_cf=False)
    for name in PACKED:
        assert raw[name].dtype == np.int16 and "scale_factor" in raw[name].attrs
    ds = open_cube(path, variables=["t2m", "sp"])
    truth = expected(ds.time.values, ds.latitude.values, ds.longitude.values, ["t2m", "sp"])
    for name in ("t2m", "sp"):
        step = raw[name].attrs["scale_factor"]
        assert ds[name].dtype == np.float32
        assert ds[name].encoding == {}
        assert np.max(np.abs(ds[name].values - truth[name])) <= step + 1e-3 * abs(
            truth[name]).max() * 1e-3


def test_sst_nan_over_land_kept(tmp_path):
    path = write_era5(tmp_path / "era5.nc", n_times=4, nlat=6, nlon=6)
    sst = open_cube(path, variables=["sst"]).sst.values
    mask = land_mask(6, 6)
    assert np.isnan(sst[:, mask]).all()
    assert not np.isnan(sst[:, ~mask]).any()


def test_ncep_form_opens_canonical(tmp_path):
    path = write_ncep(tmp_path / "ncep.nc", n_times=8, nlat=5, nlon=6)
    raw = xr.open_dataset(path)
    assert raw.lat.values[0] < raw.lat.values[-1] and raw.lon.values.min() > 180
    assert raw.sizes["level"] == 1
    ds = open_cube(path)
    assert_canonical(ds, ["uwnd", "vwnd", "air", "slp"])
    np.testing.assert_allclose(ds.longitude.values, -33.0 + 2.5 * np.arange(6))
    np.testing.assert_allclose(ds.latitude.values, 43.0 - 2.5 * np.arange(5))
    truth = expected(ds.time.values, ds.latitude.values, ds.longitude.values, ["air", "slp"])
    np.testing.assert_allclose(ds.air.values, truth["air"], rtol=1e-6)
    np.testing.assert_allclose(ds.slp.values, truth["slp"], rtol=1e-6)


@pytest.mark.parametrize("calendar", ["standard", "noleap"])
def test_cmip_form_opens_canonical(tmp_path, calendar):
    path = write_cmip(tmp_path / "cmip.nc", n_times=10, calendar=calendar)
    raw = xr.open_dataset(path)
    assert "lat_bnds" in raw and "time_bnds" in raw
    ds = open_cube(path)
    assert_canonical(ds, ["tas", "uas", "vas", "psl"])
    assert ds.time.values[0] == np.datetime64("2021-01-01")
    truth = expected(ds.time.values, ds.latitude.values, ds.longitude.values, ["tas"])
    np.testing.assert_allclose(ds.tas.values, truth["tas"], rtol=1e-6)


def test_region_across_the_0_360_conversion(tmp_path):
    # Longitudes -10..10 by 2.5, stored as 0..10 then 350..357.5 in 0..360.
    path = write_ncep(tmp_path / "ncep.nc", n_times=4, nlat=5, nlon=9, west=-10.0, north=50.0)
    raw_lon = xr.open_dataset(path).lon.values
    assert raw_lon[0] == 0 and raw_lon[-1] == 357.5
    ds = open_cube(path, region=(47.5, -5, 42.5, 5))
    np.testing.assert_allclose(ds.longitude.values, [-5, -2.5, 0, 2.5, 5])
    np.testing.assert_allclose(ds.latitude.values, [47.5, 45, 42.5])
    full = open_cube(path)
    truth = expected(full.time.values, full.latitude.values, full.longitude.values, ["air"])
    np.testing.assert_allclose(full.air.values, truth["air"], rtol=1e-6)
    np.testing.assert_array_equal(ds.air.values, full.air.values[:, 1:4, 2:7])


def test_region_is_inclusive_and_checked(tmp_path):
    path = write_era5(tmp_path / "era5.nc", n_times=2, nlat=9, nlon=9)
    ds = open_cube(path, region=(42.5, -32.5, 41.5, -31.75))
    np.testing.assert_allclose(ds.latitude.values, [42.5, 42.25, 42.0, 41.75, 41.5])
    np.testing.assert_allclose(ds.longitude.values, [-32.5, -32.25, -32.0, -31.75])
    raises_one_line(lambda: open_cube(path, region=(10, 0, 5, 5)), "era5.nc", "outside the grid")
    raises_one_line(lambda: open_cube(path, region=(30, 0, 40, 5)), "region", "north")
    raises_one_line(lambda: open_cube(path, region=(43, 10, 41, -10)), "region", "west")


def test_expver_dimension_merged(tmp_path):
    path = write_era5(tmp_path / "old.nc", n_times=8, nlat=4, nlon=4, expver="dimension")
    raw = xr.open_dataset(path)
    assert raw.sizes["expver"] == 2 and np.isnan(raw.u10.values).any()
    ds = open_cube(path)
    assert_canonical(ds, ERA5_VARIABLES)
    assert "expver" not in ds.dims and "expver" not in ds.coords
    assert not np.isnan(ds.u10.values).any()
    truth = expected(ds.time.values, ds.latitude.values, ds.longitude.values, ["u10"])
    np.testing.assert_allclose(ds.u10.values, truth["u10"], rtol=1e-5)


def test_variables_order_and_missing(tmp_path):
    path = write_era5(tmp_path / "era5.nc", n_times=2)
    ds = open_cube(path, variables=["sp", "u10"])
    assert list(ds.data_vars) == ["sp", "u10"]
    message = raises_one_line(lambda: open_cube(path, variables=["u10", "u100"]),
                              "era5.nc", "u100", "available", "t2m")
    assert "sshf" in message


def _pressure_level_file(path):
    times = pd.date_range("2021-01-01", periods=3, freq="1h")
    lat, lon = np.array([43.0, 42.75]), np.array([-33.0, -32.75, -32.5])
    levels = np.array([850, 500, 250])
    t = 250.0 + np.arange(3 * 3 * 2 * 3, dtype="float32").reshape(3, 3, 2, 3)
    ds = xr.Dataset(
        {"t": (("valid_time", "pressure_level", "latitude", "longitude"), t, {"units": "K"})},
        coords={"valid_time": times, "pressure_level": levels, "latitude": lat,
                "longitude": lon})
    ds.to_netcdf(path)
    return t


def test_extra_dimension_refused_unless_selected(tmp_path):
    path = tmp_path / "plev.nc"
    t = _pressure_level_file(path)
    raises_one_line(lambda: open_cube(path), "plev.nc", "'pressure_level'", "size 3", "select")
    ds = open_cube(path, select={"pressure_level": 500})
    assert_canonical(ds, ["t"])
    np.testing.assert_array_equal(ds.t.values, t[:, 1])
    raises_one_line(lambda: open_cube(path, select={"pressure_level": 700}),
                    "plev.nc", "700", "850")
    raises_one_line(lambda: open_cube(path, select={"pressure_level": 500, "member": 1}),
                    "select", "'member'", "plev.nc")


def test_a_level_given_in_hpa_is_found_among_levels_in_pa_with_a_note(tmp_path):
    # CMIP's plev is in Pa: --select plev=500 means 50000 Pa (it was refused, listing them).
    t = _pressure_level_file(tmp_path / "hpa.nc")
    with xr.open_dataset(tmp_path / "hpa.nc") as raw:
        cmip = raw.load().rename(pressure_level="plev")
    cmip = cmip.assign_coords(plev=("plev", cmip.plev.values * 100.0, {"units": "Pa"}))
    cmip.to_netcdf(tmp_path / "pa.nc")
    ds = open_cube(tmp_path / "pa.nc", select={"plev": "500"})
    np.testing.assert_array_equal(ds.t.values, t[:, 1])
    assert ds.attrs["keras_dsc_notes"] == [f"{tmp_path / 'pa.nc'}: select plev=500 read as "
                                           f"50000 Pa (the levels of 'plev' are in Pa)"]
    np.testing.assert_array_equal(open_cube(tmp_path / "pa.nc", select={"plev": 50000})
                                  .t.values, t[:, 1])
    raises_one_line(lambda: open_cube(tmp_path / "pa.nc", select={"plev": 700}),
                    "pa.nc", "700", "85000")
    # Levels in hPa are never multiplied.
    raises_one_line(lambda: open_cube(tmp_path / "hpa.nc", select={"pressure_level": 5}),
                    "hpa.nc", "not found")


def test_extra_dimension_of_a_variable_not_asked_for_is_ignored(tmp_path):
    path = tmp_path / "mixed.nc"
    t = _pressure_level_file(path)
    with xr.open_dataset(path) as raw:
        mixed = raw.load()
    mixed["sst"] = mixed.t.isel(pressure_level=0, drop=True) + 40.0
    mixed.to_netcdf(tmp_path / "both.nc")
    ds = open_cube(tmp_path / "both.nc", variables=["sst"])
    np.testing.assert_array_equal(ds.sst.values, t[:, 0] + 40.0)
    raises_one_line(lambda: open_cube(tmp_path / "both.nc"), "'pressure_level'")


def test_lazy_multi_file_open(tmp_path):
    write_era5(tmp_path / "era5_b.nc", n_times=24, start="2021-01-02", variables=["u10", "t2m"])
    write_era5(tmp_path / "era5_a.nc", n_times=24, start="2021-01-01", variables=["u10", "t2m"])
    ds = open_cube(str(tmp_path / "era5_*.nc"))
    assert_canonical(ds, ["u10", "t2m"])
    assert ds.sizes["time"] == 48
    assert ds.u10.chunks[0] == (24, 24)
    listed = open_cube([tmp_path / "era5_b.nc", tmp_path / "era5_a.nc"])
    assert listed.time.values[0] == np.datetime64("2021-01-01T00:00")
    xr.testing.assert_equal(listed.compute(), ds.compute())
    small = open_cube(str(tmp_path / "era5_*.nc"), time_chunk=10)
    assert small.t2m.chunks[0] == (10, 10, 4, 10, 10, 4)
    xr.testing.assert_equal(small.compute(), ds.compute())
    raises_one_line(lambda: open_cube(tmp_path / "era5_a.nc", time_chunk=0), "time_chunk")


def test_split_instant_and_accumulated_files_merged(tmp_path):
    write_era5(tmp_path / "instant.nc", n_times=6, variables=["u10", "t2m"])
    write_era5(tmp_path / "accum.nc", n_times=6, variables=["slhf"])
    ds = open_cube([tmp_path / "instant.nc", tmp_path / "accum.nc"])
    assert_canonical(ds, ["u10", "t2m", "slhf"])
    only = open_cube([tmp_path / "instant.nc", tmp_path / "accum.nc"], variables=["slhf", "u10"])
    assert_canonical(only, ["slhf", "u10"])
    raises_one_line(lambda: open_cube([tmp_path / "instant.nc", tmp_path / "accum.nc"],
                                      variables=["sp"]), "instant.nc", "'sp'", "u10, t2m, slhf")
    write_era5(tmp_path / "later.nc", n_times=6, variables=["slhf"], start="2022-01-01")
    raises_one_line(lambda: open_cube([tmp_path / "instant.nc", tmp_path / "later.nc"]),
                    "instant.nc", "later.nc", "different times")


def test_unsorted_time_is_sorted(tmp_path):
    path = write_era5(tmp_path / "era5.nc", n_times=6, variables=["t2m"])
    with xr.open_dataset(path) as raw:
        shuffled = raw.isel(valid_time=[3, 0, 5, 1, 4, 2]).load()
    shuffled.to_netcdf(tmp_path / "shuffled.nc")
    ds = open_cube(tmp_path / "shuffled.nc")
    np.testing.assert_array_equal(ds.time.values, open_cube(path).time.values)
    np.testing.assert_allclose(ds.t2m.values, open_cube(path).t2m.values)


def test_duplicate_times_refused(tmp_path):
    write_era5(tmp_path / "a.nc", n_times=4, variables=["t2m"])
    write_era5(tmp_path / "b.nc", n_times=4, variables=["t2m"], start="2021-01-01T02")
    raises_one_line(lambda: open_cube([tmp_path / "a.nc", tmp_path / "b.nc"]),
                    "a.nc", "duplicate time", "2021-01-01T02:00:00", "b.nc")


def test_different_grids_refused(tmp_path):
    write_era5(tmp_path / "a.nc", n_times=4, variables=["t2m"])
    write_era5(tmp_path / "b.nc", n_times=4, variables=["t2m"], start="2021-02-01", nlat=6)
    raises_one_line(lambda: open_cube([tmp_path / "a.nc", tmp_path / "b.nc"]),
                    "a.nc", "b.nc", "different grids")


def test_bad_paths_and_files(tmp_path):
    raises_one_line(lambda: open_cube(tmp_path / "missing.nc"), "missing.nc", "not found")
    raises_one_line(lambda: open_cube(str(tmp_path / "*.nc")), "*.nc", "no file matches")
    text = tmp_path / "notes.nc"
    text.write_text("this is not a NetCDF file\n")
    raises_one_line(lambda: open_cube(text), "notes.nc", "not a readable NetCDF")


@pytest.mark.parametrize("writer", [write_era5, write_ncep])
def test_truncated_file_refused(tmp_path, writer):
    path = writer(tmp_path / "full.nc", n_times=48)
    content = path.read_bytes()
    cut = tmp_path / "cut.nc"
    cut.write_bytes(content[: len(content) // 2])
    raises_one_line(lambda: open_cube(cut), "cut.nc")


def test_times_along_another_dimension_than_the_datas_are_refused_in_one_line(tmp_path):
    # coords={"valid_time": an index named "time"}: the data lies along valid_time, its times
    # along a dimension time (a slip of xarray users). Was: KeyError: 'time', a traceback.
    times = pd.DatetimeIndex(pd.date_range("2020-01-01", periods=4), name="time")
    path = tmp_path / "slip.nc"
    xr.Dataset({"t2m": (("valid_time", "latitude", "longitude"), np.full((4, 2, 3), 280.0),
                        {"units": "K"})},
               coords={"valid_time": times, "latitude": [50.0, 49.0],
                       "longitude": [0.0, 1.0, 2.0]}).to_netcdf(path)
    raises_one_line(lambda: open_cube(path), "slip.nc", "the time dimension 'valid_time' has "
                    "no time coordinate of its own")


def test_no_time_dimension(tmp_path):
    path = tmp_path / "static.nc"
    xr.Dataset({"z": (("latitude", "longitude"), np.ones((2, 3)))},
               coords={"latitude": [1.0, 0.0], "longitude": [0.0, 1.0, 2.0]}).to_netcdf(path)
    raises_one_line(lambda: open_cube(path), "static.nc", "no time dimension")


def test_all_nan_variable_refused(tmp_path):
    path = write_era5(tmp_path / "era5.nc", n_times=4, nlat=6, nlon=6, variables=["t2m", "sst"])
    # The land patch alone: sst is NaN everywhere in that box.
    land = open_cube(path).isel(latitude=[2, 3], longitude=[2, 3])
    region = (float(land.latitude[0]), float(land.longitude[0]),
              float(land.latitude[-1]), float(land.longitude[-1]))
    raises_one_line(lambda: open_cube(path, region=region), "era5.nc", "'sst'", "entirely NaN")
    assert list(open_cube(path, variables=["t2m"], region=region).data_vars) == ["t2m"]


def test_time_range(tmp_path):
    path = write_era5(tmp_path / "era5.nc", n_times=48, variables=["t2m"])
    ds = open_cube(path, time_range=("2021-01-01T06", "2021-01-01T11"))
    assert ds.sizes["time"] == 6
    assert ds.time.values[-1] == np.datetime64("2021-01-01T11:00")
    raises_one_line(lambda: open_cube(path, time_range=("2030-01-01", None)),
                    "era5.nc", "time_range", "2021-01-01T00:00:00")


def test_regime_labels_become_a_coordinate(tmp_path):
    path = write_era5(tmp_path / "era5.nc", n_times=20, regime=True)
    ds = open_cube(path)
    assert "regime" not in ds.data_vars and ds.regime.dims == ("time",)
    np.testing.assert_array_equal(ds.regime.values, regimes(20))


def test_resample_daily_means(tmp_path):
    path = write_era5(tmp_path / "era5.nc", n_times=48, regime=True)
    ds = open_cube(path)
    daily = resample_time(ds, "1D")
    assert daily.sizes["time"] == 2
    assert daily.t2m.dtype == np.float32 and daily.t2m.attrs["units"] == "K"
    np.testing.assert_allclose(daily.t2m.values[1], ds.t2m.values[24:].mean(axis=0), rtol=1e-6)
    sst = daily.sst.values
    assert np.isnan(sst[:, land_mask(5, 6)]).all()
    np.testing.assert_array_equal(daily.regime.values, regimes(48)[[0, 24]])
    raises_one_line(lambda: resample_time(ds, "every day"), "resample", "every day")


def test_messages_name_the_path_given(tmp_path):
    os.makedirs(tmp_path / "sub")
    raises_one_line(lambda: open_cube(tmp_path / "sub"), "sub", "directory")


@pytest.mark.parametrize("freq", ["3h", "6h", "1D"])
def test_resampling_a_lazy_cube_matches_resampling_it_in_memory(tmp_path, freq):
    """Lazy cubes take the block-mean path (coarsen); its result is resample's, labels too."""
    path = write_era5(tmp_path / "era5.nc", n_times=50, nlat=5, nlon=6, freq="1h", regime=True)
    lazy = open_cube(str(path), time_chunk=7)
    assert lazy.chunks
    in_memory = open_cube(str(path)).load()
    expected = resample_time(in_memory, freq)
    got = resample_time(lazy, freq)
    assert got.chunks  # still lazy
    xr.testing.assert_allclose(got.compute(), expected)
    np.testing.assert_array_equal(got["regime"].values, expected["regime"].values)
    assert got["u10"].attrs["units"] == "m s**-1" and got["u10"].dtype == np.float32


def write_lon_grid(path, longitudes):
    """Monthly `tas` on 3 latitudes and the given longitudes; each value encodes its cell."""
    lon = np.asarray(longitudes, "float64")
    lat = np.array([10.0, 0.0, -10.0])
    values = (1000.0 * np.arange(4)[:, None, None] + 10.0 * lat[None, :, None]
              + np.cos(np.deg2rad(lon))[None, None, :] + 250.0).astype("float32")
    ds = xr.Dataset({"tas": (("time", "lat", "lon"), values, {"units": "K"})},
                    coords={"time": pd.date_range("1980-01-01", periods=4, freq="MS"),
                            "lat": lat, "lon": lon})
    ds.to_netcdf(path)
    return ds


def test_a_box_across_the_date_line_keeps_its_longitudes_in_order(tmp_path):
    # The tropical Pacific of ENSO studies in 0..360: wrapped to -180..180 and sorted, its
    # halves would be swapped (175E beside 180, 115W beside 150E) under the convolutions.
    raw = write_lon_grid(tmp_path / "pacific.nc", np.arange(150.0, 250.0, 5.0))
    ds = open_cube(tmp_path / "pacific.nc")
    np.testing.assert_allclose(ds.longitude.values, np.arange(150.0, 250.0, 5.0))
    np.testing.assert_allclose(ds.tas.values, raw.tas.values, rtol=1e-6)  # lat descending


@pytest.mark.parametrize("stored", ["as_written", "sorted"])
def test_a_box_across_the_date_line_in_minus_180_180_is_read_in_0_360(tmp_path, stored):
    # The same Pacific box written in -180..180 (150..175 then -180..-115, or sorted with a
    # hole at 175..-180): sorted as it was, its halves sat side by side in the wrong order
    # with no word said.
    longitudes = (np.arange(150.0, 250.0, 5.0) + 180.0) % 360.0 - 180.0
    if stored == "sorted":
        longitudes = np.sort(longitudes)
    raw = write_lon_grid(tmp_path / "pacific.nc", longitudes)
    ds = open_cube(tmp_path / "pacific.nc")
    np.testing.assert_allclose(ds.longitude.values, np.arange(150.0, 250.0, 5.0))
    order = np.argsort(longitudes % 360.0)
    np.testing.assert_allclose(ds.tas.values, raw.tas.values[:, :, order], rtol=1e-6)
    assert ds.attrs["keras_dsc_notes"] == [f"{tmp_path / 'pacific.nc'}: longitudes read as "
                                           f"0..360 (150..245): the box crosses the date line"]
    nino34 = open_cube(tmp_path / "pacific.nc", region=(5, -170, -5, -120))
    np.testing.assert_allclose(nino34.longitude.values, np.arange(190.0, 245.0, 5.0))


def test_a_region_is_cut_from_a_box_across_the_date_line_in_its_own_longitudes(tmp_path):
    # --region is given in -180..180; the box kept in 0..360 is cut where those degrees lie.
    write_lon_grid(tmp_path / "pacific.nc", np.arange(150.0, 250.0, 5.0))
    nino34 = open_cube(tmp_path / "pacific.nc", region=(5, -170, -5, -120))
    np.testing.assert_allclose(nino34.longitude.values, np.arange(190.0, 245.0, 5.0))
    np.testing.assert_allclose(nino34.latitude.values, [0.0])
    np.testing.assert_allclose(nino34.tas.values[0, 0], 250.0 + np.cos(np.deg2rad(
        np.arange(190.0, 245.0, 5.0))), rtol=1e-6)
    across = open_cube(tmp_path / "pacific.nc", region=(10, 170, -10, -160))
    np.testing.assert_allclose(across.longitude.values, np.arange(170.0, 205.0, 5.0))
    west = open_cube(tmp_path / "pacific.nc", region=(10, 150, -10, 160))
    np.testing.assert_allclose(west.longitude.values, [150.0, 155.0, 160.0])
    # The other way round the globe (190 eastward to 170) is refused, as on any grid.
    with pytest.raises(OptionError, match="west -170 is east of east 170"):
        open_cube(tmp_path / "pacific.nc", region=(10, -170, -10, 170))
    write_lon_grid(tmp_path / "atlantic.nc", np.arange(-60.0, 20.0, 5.0))
    with pytest.raises(OptionError, match="grid crosses it"):
        open_cube(tmp_path / "atlantic.nc", region=(10, 10, -10, -10))


@pytest.mark.parametrize("first", [0.0, -180.0])
def test_a_box_across_the_date_line_is_cut_from_a_global_grid(tmp_path, first):
    # A global grid (stored in 0..360 or in -180..180) crosses the date line: the tropical
    # Pacific 120E..150W is cut whole, in order, in 0..360 longitudes (was: refused, "a box
    # across the date line can be cut only from a file whose grid crosses it").
    write_lon_grid(tmp_path / "global.nc", np.arange(first, first + 360.0, 30.0))
    pacific = open_cube(tmp_path / "global.nc", region=(10, 120, -10, -150))
    expected = np.array([120.0, 150.0, 180.0, 210.0])
    np.testing.assert_allclose(pacific.longitude.values, expected)
    np.testing.assert_allclose(pacific.tas.values[0, 1], 250.0 + np.cos(np.deg2rad(expected)),
                               rtol=1e-6)
    assert pacific.chunks and pacific.sizes["latitude"] == 3
    # A box that does not cross it is cut as before.
    np.testing.assert_allclose(open_cube(tmp_path / "global.nc", region=(10, -60, -10, 0))
                               .longitude.values, [-60.0, -30.0, 0.0])


def test_a_global_grid_still_wraps_to_minus_180_180(tmp_path):
    write_lon_grid(tmp_path / "global.nc", np.arange(0.0, 360.0, 30.0))
    ds = open_cube(tmp_path / "global.nc")
    np.testing.assert_allclose(ds.longitude.values, np.arange(-180.0, 180.0, 30.0))
    np.testing.assert_allclose(ds.tas.values[0, 0], 350.0 + np.cos(np.deg2rad(
        np.arange(-180.0, 180.0, 30.0))), rtol=1e-6)


def test_both_ends_of_minus_180_180_are_one_meridian(tmp_path):
    lon = np.arange(-180.0, 181.0, 30.0)  # -180 and 180: the same column twice
    write_lon_grid(tmp_path / "ends.nc", lon)
    ds = open_cube(tmp_path / "ends.nc")
    np.testing.assert_allclose(ds.longitude.values, lon[:-1])
    assert ds.sizes["longitude"] == 12


def test_horizontal_axes_named_by_their_coordinates_y_x_and_iri_y_x(tmp_path):
    values = np.random.default_rng(0).normal(size=(6, 3, 4)).astype("float32") + 280.0
    months = pd.date_range("1980-01-01", periods=6, freq="MS")
    yx = xr.Dataset({"tas": (("time", "y", "x"), values, {"units": "K"})},
                    coords={"time": months,
                            "lat": ("y", [10.0, 0.0, -10.0], {"units": "degrees_north"}),
                            "lon": ("x", [0.0, 10.0, 20.0, 30.0], {"units": "degrees_east"})})
    yx.to_netcdf(tmp_path / "yx.nc")
    ds = open_cube(tmp_path / "yx.nc")
    assert ds.tas.dims == ("time", "latitude", "longitude")
    np.testing.assert_allclose(ds.latitude.values, [10.0, 0.0, -10.0])
    np.testing.assert_allclose(ds.tas.values, values)
    # IRI/GrADS: the dimensions Y, X are their own coordinates, named by CF attributes.
    iri = xr.Dataset({"sst": (("time", "Y", "X"), values, {"units": "K"})}, coords={
        "time": ("time", np.arange(6.0), {"units": "months since 1960-01-01",
                                          "calendar": "360_day"}),
        "Y": ("Y", [-10.0, 0.0, 10.0], {"units": "degree_north"}),
        "X": ("X", [0.0, 10.0, 20.0, 30.0], {"units": "degree_east"})})
    iri.to_netcdf(tmp_path / "iri.nc")
    ds = open_cube(tmp_path / "iri.nc")
    np.testing.assert_allclose(ds.sst.values, values[:, ::-1])  # latitude turned descending
    assert ds.time.values[1] == np.datetime64("1960-02-01")



def test_a_time_axis_named_by_its_coordinate_iri_t(tmp_path):
    # IRI's data library names every axis by one letter: T is time (standard_name, axis).
    values = np.random.default_rng(1).normal(size=(4, 2, 3)).astype("float32") + 280.0
    iri = xr.Dataset({"sst": (("T", "Y", "X"), values, {"units": "K"})}, coords={
        "T": ("T", np.arange(4.0) + 0.5, {"units": "months since 1960-01-01",
                                          "calendar": "360_day", "standard_name": "time"}),
        "Y": ("Y", [10.0, 0.0], {"units": "degree_north"}),
        "X": ("X", [0.0, 10.0, 20.0], {"units": "degree_east"})})
    iri.to_netcdf(tmp_path / "iri_t.nc")
    ds = open_cube(tmp_path / "iri_t.nc")
    assert ds.sst.dims == ("time", "latitude", "longitude")
    assert ds.time.values[0] == np.datetime64("1960-01-16")
    np.testing.assert_allclose(ds.sst.values, values)
    # Without such a coordinate, an axis under another name is still refused, naming it.
    iri["T"].attrs.pop("standard_name")
    iri.to_netcdf(tmp_path / "unnamed_t.nc")
    raises_one_line(lambda: open_cube(tmp_path / "unnamed_t.nc"), "unnamed_t.nc",
                    "no time dimension", "T")

def test_a_curvilinear_grid_is_refused_saying_so(tmp_path):
    ds = xr.Dataset({"tas": (("time", "rlat", "rlon"), np.ones((2, 3, 4), "float32"))},
                    coords={"time": pd.date_range("1980-01-01", periods=2, freq="MS"),
                            "lat": (("rlat", "rlon"), np.zeros((3, 4))),
                            "lon": (("rlat", "rlon"), np.zeros((3, 4)))})
    ds["lat_bnds"] = (("rlat", "bnds"), np.zeros((3, 2)), {"units": "degrees_north"})
    ds.to_netcdf(tmp_path / "cordex.nc")
    raises_one_line(lambda: open_cube(tmp_path / "cordex.nc"), "cordex.nc", "curvilinear",
                    "regrid")


def test_rotated_projected_and_radian_axes_are_refused_not_read_as_degrees(tmp_path):
    # Each was read as latitudes and longitudes in degrees, exit 0 (found by a probe).
    times = pd.date_range("2000-01-01", periods=4, freq="D")
    y, x = np.arange(3) * 0.44 - 0.44, np.arange(4) * 0.44 - 0.66

    def write(name, y_name, x_name, y_values, x_values, y_attrs, x_attrs, plane=True):
        ds = xr.Dataset({"tas": (("time", y_name, x_name), np.arange(48, dtype="float32")
                                 .reshape(4, 3, 4) % 7)},
                        coords={"time": times, y_name: (y_name, y_values, y_attrs),
                                x_name: (x_name, x_values, x_attrs)})
        if plane:  # the true positions, as 2-D coordinates
            ds.coords["lat"] = ((y_name, x_name), 50 + np.add.outer(y, 0 * x),
                                {"units": "degrees_north", "standard_name": "latitude"})
            ds.coords["lon"] = ((y_name, x_name), 10 + np.add.outer(0 * y, x),
                                {"units": "degrees_east", "standard_name": "longitude"})
        ds.to_netcdf(tmp_path / name)
        return tmp_path / name

    rotated = write("rotated.nc", "rlat", "rlon", y, x,
                    {"standard_name": "grid_latitude", "units": "degrees", "axis": "Y"},
                    {"standard_name": "grid_longitude", "units": "degrees", "axis": "X"})
    raises_one_line(lambda: open_cube(rotated), "rotated.nc", "latitude axis",
                    "'grid_latitude'", "rotated-pole or projected grid", "regrid")
    lambert = write("lambert.nc", "y", "x", y * 1e5, x * 1e5, {"units": "m", "axis": "Y"},
                    {"units": "m", "axis": "X"})
    raises_one_line(lambda: open_cube(lambert), "lambert.nc", "units 'm', not degrees")
    radians = write("radians.nc", "lat", "lon", np.deg2rad(50 + y), np.deg2rad(10 + x),
                    {"units": "radians"}, {"units": "radians"}, plane=False)
    raises_one_line(lambda: open_cube(radians), "radians.nc", "units 'radians', not degrees")
    beyond = write("beyond.nc", "lat", "lon", [95.0, 90.0, 85.0], 10 + x, {}, {}, plane=False)
    raises_one_line(lambda: open_cube(beyond), "beyond.nc", "values up to 95, beyond the poles")
    # Degrees however spelt are read.
    plain = write("plain.nc", "lat", "lon", 50 + y, 10 + x, {"units": "degrees_north"},
                  {"units": "deg E"}, plane=False)
    assert open_cube(plain).sizes["latitude"] == 3


def test_months_since_in_the_standard_calendar_is_not_called_damaged(tmp_path):
    ds = xr.Dataset({"tas": (("time", "lat", "lon"), np.full((3, 2, 2), 280.0, "float32"))},
                    coords={"time": ("time", [0.0, 1.0, 2.0],
                                     {"units": "months since 1850-01-01", "calendar": "standard"}),
                            "lat": [1.0, 0.0], "lon": [0.0, 1.0]})
    ds.to_netcdf(tmp_path / "months.nc")
    message = raises_one_line(lambda: open_cube(tmp_path / "months.nc"), "months.nc",
                              "time axis cannot be decoded", "360_day")
    assert "damaged" not in message


def test_years_beyond_what_dates_hold_are_refused_with_the_shift_to_apply(tmp_path):
    import cftime

    times = [cftime.datetime(1 + i // 12, i % 12 + 1, 16, calendar="noleap") for i in range(24)]
    ds = xr.Dataset({"tas": (("time", "lat", "lon"), np.full((24, 2, 2), 280.0, "float32"))},
                    coords={"time": times, "lat": [1.0, 0.0], "lon": [0.0, 1.0]})
    ds.to_netcdf(tmp_path / "picontrol.nc",
                 encoding={"time": {"units": "days since 0001-01-01", "calendar": "noleap"}})
    raises_one_line(lambda: open_cube(tmp_path / "picontrol.nc"), "picontrol.nc",
                    "from year 0001 to 0002", "1678..2261", "by +2000")
    # A CMIP6 extension to 2300: refused the same way, with nothing from xarray on stderr.
    times = [cftime.datetime(2297 + i // 12, i % 12 + 1, 16, calendar="proleptic_gregorian")
             for i in range(24)]
    ds = ds.assign_coords(time=times)
    ds.to_netcdf(tmp_path / "ssp585ext.nc", encoding={"time": {
        "units": "days since 1850-01-01", "calendar": "proleptic_gregorian"}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # was: xarray's SerializationWarning before the refusal
        raises_one_line(lambda: open_cube(tmp_path / "ssp585ext.nc"), "ssp585ext.nc",
                        "from year 2297 to 2298", "1678..2261", "by -400")


def test_a_latitude_along_time_is_never_taken_for_the_latitude_axis(tmp_path):
    # A moving station's position on the time axis: not a grid, so no latitude dimension.
    ds = xr.Dataset({"tas": (("time", "y", "x"), np.full((3, 2, 2), 280.0, "float32"))},
                    coords={"time": pd.date_range("1980-01-01", periods=3, freq="MS"),
                            "lat": ("time", [1.0, 2.0, 3.0], {"units": "degrees_north"}),
                            "lon": ("x", [0.0, 1.0], {"units": "degrees_east"})})
    ds.to_netcdf(tmp_path / "track.nc")
    raises_one_line(lambda: open_cube(tmp_path / "track.nc"), "track.nc",
                    "no latitude dimension")


def test_a_static_field_beside_the_data_is_left_out_and_said_so(tmp_path):
    """A land-sea mask on (latitude, longitude) in the file: not a variable to cluster, and
    the notes say it was left out (was: silently)."""
    times = pd.date_range("2021-01-01", periods=4)
    ds = xr.Dataset({"sst": (("time", "latitude", "longitude"), np.full((4, 2, 3), 290.0),
                             {"units": "K"}),
                     "lsm": (("latitude", "longitude"), np.zeros((2, 3)), {"units": "1"})},
                    coords={"time": times, "latitude": [1.0, 0.0],
                            "longitude": [10.0, 11.0, 12.0]})
    ds.to_netcdf(tmp_path / "sst_lsm.nc")
    cube = open_cube(tmp_path / "sst_lsm.nc")
    assert list(cube.data_vars) == ["sst"]
    assert cube.attrs["keras_dsc_notes"] == [
        f"{tmp_path / 'sst_lsm.nc'}: lsm left out: on latitude and longitude only, not in time"]
    assert open_cube(tmp_path / "sst_lsm.nc", ["sst"]).attrs["keras_dsc_notes"] == []


def test_a_station_count_beside_the_data_is_left_out_unless_named(tmp_path):
    """CRU TS stores `stn` (stations behind each value, int32, no units) beside `pre`: by
    default it was clustered too, and a change of the station network made the regimes."""
    times = pd.date_range("1990-01-16", periods=4, freq="MS")
    ds = xr.Dataset({"pre": (("time", "lat", "lon"), np.full((4, 2, 3), 80.0, "float32"),
                             {"units": "mm/month"}),
                     "stn": (("time", "lat", "lon"), np.full((4, 2, 3), 5, "int32"),
                             {"description": "number of stations contributing to each datum"}),
                     "packed": (("time", "lat", "lon"), np.full((4, 2, 3), 1.0))},
                    coords={"time": times, "lat": [1.0, 0.0], "lon": [10.0, 11.0, 12.0]})
    ds.to_netcdf(tmp_path / "cru.nc", encoding={"packed": {"dtype": "int16",
                                                            "scale_factor": 0.1}})
    cube = open_cube(tmp_path / "cru.nc")
    assert list(cube.data_vars) == ["pre", "packed"]  # a packed integer is a field
    assert cube.attrs["keras_dsc_notes"] == [
        f"{tmp_path / 'cru.nc'}: stn left out: integers without units (a count or a flag, such "
        f"as the stations behind each value); name it in --variables to cluster it too"]
    assert list(open_cube(tmp_path / "cru.nc", ["pre", "stn"]).data_vars) == ["pre", "stn"]


def test_winds_on_staggered_grids_are_refused_or_left_out_and_said_so(tmp_path):
    """u and v staggered by half a cell: with no variable on the grid, a one-line refusal
    (was: KeyError 'latitude' traceback); with one, the other is left out with a note (was:
    silently); bounds variables are dropped without a note, as before."""
    times = pd.date_range("2021-01-01", periods=4)
    lat, lon = [1.0, 0.0], [10.0, 11.0, 12.0]
    winds = np.ones((4, 2, 3))
    both = xr.Dataset({"u": (("time", "lat", "lon_u"), winds), "v": (("time", "lat_v", "lon"),
                                                                       winds)},
                      coords={"time": times, "lat": lat, "lon": lon,
                              "lat_v": ("lat_v", [0.5, -0.5], {"standard_name": "latitude"}),
                              "lon_u": ("lon_u", [10.5, 11.5, 12.5],
                                        {"standard_name": "longitude"})})
    both.to_netcdf(tmp_path / "staggered.nc")
    with pytest.raises(DataError, match=r"staggered.nc: no variable on \(time, latitude, "
                                        r"longitude\); 'u' is on \(time, latitude, lon_u\)"):
        open_cube(tmp_path / "staggered.nc")
    one = xr.Dataset({"u": (("time", "lat", "lon"), winds), "v": (("time", "lat", "lon_v"),
                                                                   winds),
                      "time_bnds": (("time", "bnds"), np.zeros((4, 2)))},
                     coords={"time": times, "lat": lat, "lon": lon, "lon_v": [10.5, 11.5, 12.5]})
    one.to_netcdf(tmp_path / "v_staggered.nc")
    cube = open_cube(tmp_path / "v_staggered.nc")
    assert list(cube.data_vars) == ["u"]
    assert cube.attrs["keras_dsc_notes"] == [
        f"{tmp_path / 'v_staggered.nc'}: v left out: on (time, latitude, lon_v), not on the "
        f"grid of u"]


def test_a_cyclic_column_or_a_duplicated_row_is_kept_once_and_said_so(tmp_path):
    """0..360 with both ends (the cyclic point of plotting files) and a latitude given twice:
    each kept once, with a note (was: the column dropped silently, the row kept twice)."""
    write_lon_grid(tmp_path / "cyclic.nc", np.arange(0.0, 361.0, 30.0))
    ds = open_cube(tmp_path / "cyclic.nc")
    np.testing.assert_allclose(ds.longitude.values, np.arange(-180.0, 180.0, 30.0))
    assert ds.attrs["keras_dsc_notes"] == [
        f"{tmp_path / 'cyclic.nc'}: longitude 0 given twice (compared in -180..180, where 0 "
        f"and 360 are one meridian): the first kept"]
    raw = xr.open_dataset(tmp_path / "cyclic.nc")
    raw.isel(lat=[0, 1, 1, 2]).to_netcdf(tmp_path / "row.nc")
    rows = open_cube(tmp_path / "row.nc")
    np.testing.assert_allclose(rows.latitude.values, [10.0, 0.0, -10.0])
    assert ": latitude 0 given twice: the first kept; longitude 0" in rows.attrs["keras_dsc_notes"][0]


@pytest.mark.parametrize("case", ["float64 noise", "float32 hours", "float32 half hours"])
def test_times_stored_as_floats_are_rounded_back_or_refused(tmp_path, case):
    """Float days with rounding noise (11:59:59.9 for 12:00) and hourly stamps in float32
    days since 1800 (which hold 1/128 day) are rounded back, with a note; half-hour stamps that
    float32 moved by 5 minutes cannot be told apart from hours and are refused (was: an
    'irregular time axis: a step of 4049999998976ns' refusal, or noisy stamps)."""
    n = 48
    if case == "float64 noise":
        days = 8000.5 + np.arange(n) + 1e-6 * np.random.default_rng(0).normal(size=n)
        dtype, expected = "float64", pd.date_range("2000-11-26 12:00", periods=n, freq="1D")
    else:
        offset = 0.5 if case == "float32 half hours" else 0.0
        days, dtype = 73000 + (np.arange(n) + offset) / 24.0, "float32"
        expected = pd.date_range("1999-11-14", periods=n, freq="1h")
    days = np.asarray(days, dtype)
    reference = "1979-01-01" if case == "float64 noise" else "1800-01-01"
    xr.Dataset({"t2m": (("time", "lat", "lon"), np.full((n, 2, 2), 280.0), {"units": "K"})},
               coords={"time": ("time", days, {"units": f"days since {reference}"}),
                       "lat": [1.0, 0.0], "lon": [0.0, 1.0]}).to_netcdf(
        tmp_path / "t.nc", encoding={"time": {"dtype": dtype}})
    if case == "float32 half hours":
        with pytest.raises(DataError, match=r"t.nc: the time axis is stored in float32 days "
                                            r"since 1800-01-01, which holds its times only to "
                                            r"675 s"):
            open_cube(tmp_path / "t.nc")
        return
    ds = open_cube(tmp_path / "t.nc")
    assert pd.DatetimeIndex(ds.time.values).equals(expected)
    unit = "second" if case == "float64 noise" else "hour"
    (note,) = ds.attrs["keras_dsc_notes"]
    assert note.startswith(f"{tmp_path / 't.nc'}: times stored in {dtype} days since "
                           f"{reference} rounded to the nearest {unit} (moved up to ")


def test_a_netcdf4_file_with_its_data_in_a_group_is_refused_naming_the_group(tmp_path):
    """Was: "no time dimension (looked for time, valid_time; dimensions: none)"."""
    write_lon_grid(tmp_path / "flat.nc", [0.0, 10.0])
    xr.open_dataset(tmp_path / "flat.nc").to_netcdf(tmp_path / "grouped.nc", group="data")
    with pytest.raises(DataError, match=r"grouped.nc: the file's root holds no variable; its "
                                        r"data is in groups \(data\)"):
        open_cube(tmp_path / "grouped.nc")


def test_a_file_with_no_time_steps_is_refused_in_one_line(tmp_path):
    """Was: IndexError in the all-NaN check (predict, evaluate and fit)."""
    xr.Dataset({"tas": (("time", "lat", "lon"), np.zeros((0, 2, 2), "float32"),
                        {"units": "K"})},
               coords={"time": pd.DatetimeIndex([]), "lat": [1.0, 0.0],
                       "lon": [0.0, 1.0]}).to_netcdf(tmp_path / "none.nc")
    with pytest.raises(DataError, match=r"none.nc: no time steps \(the time axis is empty\)"):
        open_cube(tmp_path / "none.nc")
