"""Values that would ruin a variable without an error (issue 12, part 3).

An undeclared fill value, infinities and values beyond any physical range are refused naming
the file, the variable, the count and the first time (unless masked with treat_as_missing); a
variable constant in time is refused under anomalies; near-constant variables get scale 1.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from keras_dsc.data import DataOptions, prepare_data
from keras_dsc.data.preprocessing import CubePreprocessor
from keras_dsc.data.values import BOUNDS, bounds_for
from keras_dsc.errors import DataError, OptionError
from tests.helpers.cli_run import refused, run_cli, snapshot
from tests.helpers.era5_files import write_at

TIMES = pd.date_range("2021-01-01", periods=48, freq="1h")


def with_values(where, value, names=("t2m",)):
    """A `nan=` callback of write_at that writes `value` at the (time, lat, lon) `where`."""
    def put(name, values):
        if name in names:
            values[where] = value
        return values
    return put


def options(path, **kwargs):
    data = [str(p) for p in path] if isinstance(path, list) else str(path)
    return DataOptions(data=data, variables=("u10", "t2m", "sp"), anomalies=False, **kwargs)


def message_of(call):
    with pytest.raises(DataError) as error:
        call()
    text = str(error.value)
    assert "\n" not in text
    return text


def test_an_undeclared_fill_value_is_refused_naming_file_variable_count_and_time(tmp_path):
    path = write_at(tmp_path / "fill.nc", TIMES, nan=with_values((slice(5, 7), 0, 1), 1e30))
    text = message_of(lambda: prepare_data(options(path)))
    assert text == (f"{path}: variable 't2m' has 2 values beyond any physical range "
                    f"(100..400 K), the first at 2021-01-01T05:00:00 (1e+30); if such values "
                    f"stand for missing data, pass treat_as_missing 1e+30")


def test_treat_as_missing_masks_the_fill_value(tmp_path):
    path = write_at(tmp_path / "fill.nc", TIMES, nan=with_values((slice(5, 7), 0, 1), 1e30))
    data = prepare_data(options(path, treat_as_missing=(1e30,), resample="1h", window=24))
    t2m = data.cube["t2m"].values
    assert np.isnan(t2m[5:7, 0, 1]).all() and np.isfinite(t2m[:5]).all()
    scale = data.preprocessor.scale[data.preprocessor.variables.index("t2m")]
    assert 0.1 < scale < 20  # K: the variable keeps its signal (it was ~1e24 before)


def test_a_huge_value_of_any_variable_is_refused(tmp_path):
    values = np.ones((4, 2, 2), "float32")
    values[2, 1, 1] = -3e21
    ds = xr.Dataset({"foo": (("time", "lat", "lon"), values, {"units": "furlongs"})},
                    coords={"time": pd.date_range("2021-01-01", periods=4, freq="1D"),
                            "lat": [1.0, 0.0], "lon": [0.0, 1.0]})
    ds.to_netcdf(tmp_path / "foo.nc")
    text = message_of(lambda: prepare_data(DataOptions(data=str(tmp_path / "foo.nc"))))
    assert "variable 'foo' has 1 value beyond any physical range (|x| >= 1e+20), the first at " \
           "2021-01-03T00:00:00 (-3e+21)" in text


def monthly_field(path, values, name="precip", units="mm/day"):
    """A monthly field of a variable without known bounds, as an observation product has it."""
    n = values.shape[0]
    ds = xr.Dataset({name: (("time", "lat", "lon"), values.astype("float32"), {"units": units})},
                    coords={"time": pd.date_range("1990-01-01", periods=n, freq="MS"),
                            "lat": np.linspace(40.0, 31.0, values.shape[1]),
                            "lon": np.linspace(-30.0, -19.0, values.shape[2])})
    ds.to_netcdf(path)
    return str(path)


@pytest.mark.parametrize("fill, kind", [(-99.9, "a common fill value"),
                                        (-1000.0, "its lowest value, held at many points")])
def test_an_undeclared_fill_of_an_unbounded_variable_is_refused(tmp_path, fill, kind):
    """A fill the file does not declare, on land (a third of the points) or at scattered
    months: read as data it made one cluster of the land and another of the rest."""
    rng = np.random.default_rng(0)
    values = 6.0 + rng.standard_normal((36, 10, 12))
    values[:, :, :4] = fill  # land
    path = monthly_field(tmp_path / "obs.nc", values, "chl", "mg m-3")  # no known bounds
    for anomalies in (True, False):
        text = message_of(lambda: prepare_data(DataOptions(
            data=path, window=1, resample="none", anomalies=anomalies)))
        assert text.startswith(f"{path}: variable 'chl' has 1440 values equal to {fill:g}, "
                               f"{kind} far outside its other values (")
        assert text.endswith(f"pass treat_as_missing {fill:g}")
    data = prepare_data(DataOptions(data=path, window=1, resample="none",
                                    treat_as_missing=(fill,)))
    assert np.isnan(data.cube["chl"].values[:, :, :4]).all()


@pytest.mark.parametrize("name, units, level, fill", [
    ("precip", "mm/day", 6.0, -1.0), ("pr", "kg m-2 s-1", 3e-5, -99.0),
    ("slp", "millibars", 1010.0, -99.9)])
def test_a_fill_inside_the_spread_but_outside_physical_bounds_is_refused(tmp_path, name, units,
                                                                          level, fill):
    rng = np.random.default_rng(2)
    values = level * (1.0 + 0.05 * rng.random((36, 10, 12)))
    values[:, :, :2] = fill  # land, a fill the file does not declare
    path = monthly_field(tmp_path / "obs.nc", values, name, units)
    text = message_of(lambda: prepare_data(DataOptions(data=path, window=1, resample="none")))
    assert text.startswith(f"{path}: variable '{name}' has 720 values beyond any physical "
                           f"range (")
    assert text.endswith(f"pass treat_as_missing {np.float32(fill):g}")


def test_a_fill_over_most_points_or_only_at_some_steps_is_refused(tmp_path):
    """-99.9 (stored in float32 as -99.9000015) on 60 % of the points, and -1000 at two
    months in the middle of the record only: both were read as data."""
    rng = np.random.default_rng(3)
    values = 240.0 + 5.0 * rng.standard_normal((36, 10, 12))
    values[:, :, :7] = -99.9
    path = monthly_field(tmp_path / "most.nc", values, "olr", "W m-2")
    text = message_of(lambda: prepare_data(DataOptions(data=path, window=1, resample="none")))
    assert "values equal to -99.9, a common fill value far outside its other values" in text
    values = 240.0 + 5.0 * rng.standard_normal((36, 10, 12))
    values[[10, 25], :, :5] = -1000.0
    path = monthly_field(tmp_path / "some.nc", values, "olr", "W m-2")
    text = message_of(lambda: prepare_data(DataOptions(data=path, window=1, resample="none")))
    assert "100 values equal to -1000, its lowest value, held at many points" in text


def test_repeated_values_inside_the_spread_of_the_others_are_data(tmp_path):
    """Dry months (exact zeros) and sea ice (-1.8) are values, not fills."""
    rng = np.random.default_rng(1)
    rain = np.clip(rng.gamma(0.6, 4.0, (36, 10, 12)) - 1.0, 0.0, None)  # many exact zeros
    assert (rain == 0).mean() > 0.2
    data = prepare_data(DataOptions(data=monthly_field(tmp_path / "rain.nc", rain), window=1,
                                    resample="none"))
    assert np.isfinite(data.cube["precip"].values).all()
    sst = 5.0 + 3.0 * rng.standard_normal((36, 10, 12))
    sst[:, :3, :] = -1.8  # under sea ice
    data = prepare_data(DataOptions(data=monthly_field(tmp_path / "sst.nc", sst, "sea_temp",
                                                       "degC"), window=1, resample="none"))
    assert (data.cube["sea_temp"].values[:, :3] == np.float32(-1.8)).all()
    # A largest value held at many points is data: pack ice at 1.0, glaciers at 10 m of snow.
    ice = np.clip(0.3 * rng.random((36, 10, 12)), 0.0, None)
    ice[:, :, :3] = 1.0
    snow = 0.2 + 0.05 * rng.random((36, 10, 12))
    snow[:, :2, :5] = 10.0
    for name, field, units in (("ice", ice, "1"), ("sd", snow, "m of water equivalent")):
        path = monthly_field(tmp_path / f"{name}.nc", field, name, units)
        data = prepare_data(DataOptions(data=path, window=1, resample="none"))
        assert np.isfinite(data.cube[name].values).all()


def test_infinity_is_reported_as_infinity_with_the_file(tmp_path):
    path = write_at(tmp_path / "inf.nc", TIMES,
                    nan=with_values((7, 1, 2), -np.inf, names=("u10",)))
    text = message_of(lambda: prepare_data(options(path)))
    assert text == (f"{path}: variable 'u10' has 1 infinite value (+Inf or -Inf), the first at "
                    f"2021-01-01T07:00:00; if they stand for missing data, pass "
                    f"treat_as_missing inf,-inf")
    assert "entirely NaN" not in text
    data = prepare_data(options(path, treat_as_missing=(np.inf, -np.inf), resample="1h",
                                window=24))
    assert np.isnan(data.cube["u10"].values[7, 1, 2])


def test_the_file_holding_the_bad_value_is_named_among_several(tmp_path):
    first = write_at(tmp_path / "a.nc", TIMES[:24])
    second = write_at(tmp_path / "b.nc", TIMES[24:], nan=with_values((3, 0, 0), 5000.0))
    text = message_of(lambda: prepare_data(options([first, second])))
    assert text.startswith(f"{second}: variable 't2m' has 1 value beyond any physical range "
                           f"(100..400 K), the first at 2021-01-02T03:00:00 (5000)")


def test_bounds_apply_in_the_variables_own_units_only():
    assert bounds_for("sp", "Pa") == (1.0e4, 1.2e5)
    assert bounds_for("t2m", "degC") == bounds_for("sst", "degrees_C") == (-173.0, 127.0)
    assert bounds_for("u10", "degC") is None and bounds_for("t2m", "furlongs") is None
    assert bounds_for("u10", "m s-1") == bounds_for("u10", "m s**-1")
    assert bounds_for("msl", "Pa") == (5.0e4, 1.2e5) and bounds_for("msl", "hPa") == (500, 1200)
    # Precipitation cannot be negative: a land fill of -1 or -99 is out of range.
    assert bounds_for("precip", "mm/day") == bounds_for("pre", "mm/month") == (-0.1, 3000.0)
    assert bounds_for("pr", "kg m-2 s-1") == (-1.0e-6, 0.1)
    assert bounds_for("slp", "Pa") == (5.0e4, 1.2e5) and bounds_for("slp", "mb") == (500, 1200)
    for name, (low, high, units) in BOUNDS.items():  # every entry: a range and unit names
        assert low < high and units and all(isinstance(u, str) for u in units), name


def test_a_mean_sea_level_pressure_in_pa_loads_and_a_value_out_of_range_is_refused(tmp_path):
    # ERA5's msl (Pa) is checked against 500..1200 hPa; a value of 500 Pa is refused.
    rng = np.random.default_rng(0)
    msl = 101000.0 + 500.0 * rng.normal(size=(48, 3, 4))
    t2m = 280.0 + rng.normal(size=(48, 3, 4))

    def write(path, pressure):
        xr.Dataset({"msl": (("valid_time", "latitude", "longitude"), pressure, {"units": "Pa"}),
                    "t2m": (("valid_time", "latitude", "longitude"), t2m, {"units": "K"})},
                   coords={"valid_time": TIMES, "latitude": [43.0, 42.75, 42.5],
                           "longitude": [-33.0, -32.75, -32.5, -32.25]}).to_netcdf(path)
        return DataOptions(data=str(path), variables=("t2m", "msl"), anomalies=False)

    data = prepare_data(write(tmp_path / "msl.nc", msl))
    assert data.windows.sample_shape[-1] == 2
    bad = msl.copy()
    bad[3, 1, 2] = 500.0
    text = message_of(lambda: prepare_data(write(tmp_path / "bad_msl.nc", bad)))
    assert "bad_msl.nc" in text and "'msl'" in text


def test_undeclared_sea_ice_of_a_celsius_sst_is_refused_and_can_be_masked(tmp_path):
    # HadISST writes sea ice as -1000 in degrees Celsius without declaring it a fill value.
    rng = np.random.default_rng(0)
    sst = (15.0 + rng.normal(size=(24, 4, 5))).astype("float32")
    sst[:, 0, :2] = -1000.0
    ds = xr.Dataset({"sst": (("time", "latitude", "longitude"), sst, {"units": "C"})},
                    coords={"time": pd.date_range("1980-01-16", periods=24, freq="MS"),
                            "latitude": [80.0, 70.0, 60.0, 50.0],
                            "longitude": [0.0, 10.0, 20.0, 30.0, 40.0]})
    ds.to_netcdf(tmp_path / "hadisst.nc")
    given = dict(data=str(tmp_path / "hadisst.nc"), window=1, resample="none", anomalies=False)
    text = message_of(lambda: prepare_data(DataOptions(**given)))
    assert text.startswith(f"{tmp_path / 'hadisst.nc'}: variable 'sst' has 48 values beyond "
                           f"any physical range (-173..127 ")
    assert text.endswith("pass treat_as_missing -1000")
    data = prepare_data(DataOptions(**given, treat_as_missing=(-1000.0,)))
    assert np.isnan(data.cube["sst"].values[:, 0, :2]).all()
    assert 0.5 < data.preprocessor.scale[0] < 2  # the field's own spread, not the ice's


def test_anomalies_in_kelvin_load_and_an_undeclared_fill_among_them_is_refused(tmp_path):
    # tas anomalies with units K (as cdo ymonsub or HadCRUT write them) were refused: every
    # value is below 100 K. They are checked as anomalies, within +-300 K, so that -999 on
    # land is still caught.
    rng = np.random.default_rng(0)
    tas = rng.normal(size=(24, 4, 5)).astype("float32")

    def given(name, values):
        xr.Dataset({"tas": (("time", "lat", "lon"), values, {"units": "K"})},
                   coords={"time": pd.date_range("1980-01-01", periods=24, freq="MS"),
                           "lat": [60.0, 50.0, 40.0, 30.0],
                           "lon": [0.0, 10.0, 20.0, 30.0, 40.0]}).to_netcdf(tmp_path / name)
        return DataOptions(data=str(tmp_path / name), window=1, resample="none")

    data = prepare_data(given("anomalies.nc", tas))
    assert len(data.windows) == 24 and 0.5 < data.preprocessor.scale[0] < 2
    flagged = tas.copy()
    flagged[:, 0, :2] = -999.0
    text = message_of(lambda: prepare_data(given("flagged.nc", flagged)))
    assert text.startswith(f"{tmp_path / 'flagged.nc'}: variable 'tas' has 48 values beyond "
                           f"any physical range (-300..300 K, read as anomalies)")
    assert text.endswith("pass treat_as_missing -999")
    # An absolute field keeps the absolute range: 50 K in a field of 280 K is refused.
    absolute = 280.0 + tas
    absolute[3, 1, 1] = 50.0
    assert "(100..400 K)" in message_of(lambda: prepare_data(given("absolute.nc", absolute)))


def test_a_variable_in_other_units_in_another_file_is_refused_naming_both(tmp_path):
    times = pd.date_range("2021-01-01", periods=48, freq="1D")
    rng = np.random.default_rng(0)
    for name, units, offset, part in (("k.nc", "K", 280.0, slice(0, 24)),
                                      ("c.nc", "degC", 7.0, slice(24, 48))):
        xr.Dataset({"t2m": (("time", "lat", "lon"), offset + rng.normal(size=(24, 3, 4)),
                            {"units": units})},
                   coords={"time": times[part], "lat": [50.0, 40.0, 30.0],
                           "lon": [0.0, 10.0, 20.0, 30.0]}).to_netcdf(tmp_path / name)
    files = [str(tmp_path / "k.nc"), str(tmp_path / "c.nc")]
    text = message_of(lambda: prepare_data(DataOptions(data=files, window=1, resample="none")))
    assert text == (f"{files[1]}: variable 't2m' is in degC, in {files[0]} it is in K; "
                    f"convert the files to the same units")


def test_values_outside_the_files_valid_range_are_refused_unless_packed(tmp_path):
    # Rainfall (a name with no physical bounds here) with valid_min 0 and an undeclared
    # -999 where there is no data: refused naming the valid range (was: trained on, a cluster
    # of its own for the flagged days). A packed variable's valid_range is in packed units
    # and is not applied to the unpacked values.
    rng = np.random.default_rng(0)
    precip = rng.gamma(0.4, 4.0, (24, 3, 4)).astype("float32")
    precip[5:7] = -999.0
    coords = {"time": pd.date_range("2001-01-01", periods=24, freq="1D"),
              "lat": [20.0, 10.0, 0.0], "lon": [100.0, 110.0, 120.0, 130.0]}
    xr.Dataset({"rainfall": (("time", "lat", "lon"), precip,
                           {"units": "mm/day", "valid_min": 0.0})}, coords=coords).to_netcdf(
        tmp_path / "precip.nc", encoding={"rainfall": {"_FillValue": None}})
    given = dict(data=str(tmp_path / "precip.nc"), window=1, resample="none", anomalies=False)
    text = message_of(lambda: prepare_data(DataOptions(**given)))
    assert text == (f"{tmp_path / 'precip.nc'}: variable 'rainfall' has 24 values outside the "
                    f"file's valid range (valid_min 0), the first at 2001-01-06T00:00:00 "
                    f"(-999); if such values stand for missing data, pass treat_as_missing -999")
    data = prepare_data(DataOptions(**given, treat_as_missing=(-999.0,)))
    assert np.isnan(data.cube["rainfall"].values[5:7]).all() and len(data.windows) == 22
    packed = 100000.0 + 500.0 * rng.normal(size=(24, 3, 4))  # stored as 10000 +- 50
    xr.Dataset({"pres": (("time", "lat", "lon"), packed, {"units": "Pa",
                                                          "valid_range": [0, 12000]})},
               coords=coords).to_netcdf(tmp_path / "packed.nc", encoding={"pres": {
                   "dtype": "int16", "scale_factor": 10.0, "add_offset": 0.0}})
    assert prepare_data(DataOptions(data=str(tmp_path / "packed.nc"), window=1,
                                    resample="none")).windows.sample_shape[-1] == 1


def test_a_common_fill_value_far_outside_a_variables_values_is_refused(tmp_path):
    # An sst with no units attribute (so no physical bounds) and -999 over land, undeclared:
    # refused with the hint (was: trained on, the scale hundreds where the spread is 3). A -999
    # among values of its own size (a field in the thousands) is a value, not a fill.
    rng = np.random.default_rng(0)
    sst = (15.0 + 3.0 * rng.normal(size=(24, 3, 4))).astype("float32")
    sst[:, 0, :2] = -999.0
    coords = {"time": pd.date_range("2001-01-01", periods=24, freq="MS"),
              "lat": [20.0, 10.0, 0.0], "lon": [100.0, 110.0, 120.0, 130.0]}

    def given(name, values):
        xr.Dataset({"sst": (("time", "lat", "lon"), values)}, coords=coords).to_netcdf(
            tmp_path / name, encoding={"sst": {"_FillValue": None}})
        return dict(data=str(tmp_path / name), window=1, resample="none")

    text = message_of(lambda: prepare_data(DataOptions(**given("sst.nc", sst))))
    assert text.startswith(f"{tmp_path / 'sst.nc'}: variable 'sst' has 48 values equal to "
                           f"-999, a common fill value far outside its other values (")
    assert text.endswith("the first at 2001-01-01T00:00:00 (-999); if such values stand for "
                         "missing data, pass treat_as_missing -999")
    masked = prepare_data(DataOptions(**given("sst.nc", sst), treat_as_missing=(-999.0,)))
    assert 1 < masked.preprocessor.scale[0] < 5  # the field's own spread, about 3
    other = sst.copy()
    other[:, 0, :2] = -999.9  # float32 holds it as -999.900024: still recognised
    assert "equal to -999.9, a common fill value" in message_of(
        lambda: prepare_data(DataOptions(**given("other.nc", other))))
    large = (2000.0 * rng.normal(size=(24, 3, 4))).astype("float32")
    large[3, 1, 1] = -999.0
    assert len(prepare_data(DataOptions(**given("large.nc", large))).windows) == 24


def write_mask(path, times, constant):
    """u10 and a land-sea mask `lsm` (0 over land, 1 over sea, the same at every time)."""
    rng = np.random.default_rng(0)
    lsm = np.zeros((len(times), 3, 4), "float32")
    lsm[:, :, 2:] = 1.0
    if not constant:
        lsm = np.clip(lsm + rng.normal(scale=0.1, size=lsm.shape), 0, 1).astype("float32")
    ds = xr.Dataset({
        "u10": (("time", "latitude", "longitude"),
                rng.normal(size=lsm.shape).astype("float32"), {"units": "m s**-1"}),
        "lsm": (("time", "latitude", "longitude"), lsm, {"units": "(0 - 1)"}),
    }, coords={"time": times, "latitude": [43.0, 42.75, 42.5],
               "longitude": [-33.0, -32.75, -32.5, -32.25]})
    ds.to_netcdf(path)
    return path


def test_a_variable_constant_in_time_is_refused_under_anomalies(tmp_path):
    path = write_mask(tmp_path / "lsm.nc", TIMES, constant=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two days are short for the annual harmonics
        with pytest.raises(OptionError) as error:
            prepare_data(DataOptions(data=str(path)))
    assert str(error.value) == (
        f"{path}: variable 'lsm' is constant in time at every grid point (a fixed field such "
        f"as a land-sea mask): its anomalies are only rounding residue; leave it out of "
        f"variables or turn anomalies off")
    assert error.value.options == ("variables", "anomalies")
    # Without anomalies it is a plain input of unit scale; with --variables it is left out.
    data = prepare_data(DataOptions(data=str(path), anomalies=False, resample="1h", window=24))
    assert data.preprocessor.scale[1] == pytest.approx(0.5, rel=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepare_data(DataOptions(data=str(path), variables=("u10",)))
    # A mask with noise varies in time: accepted.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepare_data(DataOptions(data=str(write_mask(tmp_path / "n.nc", TIMES, False))))


def test_near_constant_variables_get_scale_one_relative_to_their_magnitude():
    times = pd.date_range("2021-01-01", periods=10, freq="1D")
    values = 101325.0 + np.arange(10 * 4, dtype="float64").reshape(10, 2, 2) * 1e-6
    ds = xr.Dataset({"sp": (("time", "latitude", "longitude"), values.astype("float32"),
                            {"units": "Pa"})},
                    coords={"time": times, "latitude": [1.0, 0.0], "longitude": [0.0, 1.0]})
    prep = CubePreprocessor("zscore").fit(ds)
    assert prep.scale == [1.0]  # float32 jitter of a constant is no signal


def test_cli_refuses_the_fill_value_in_one_line_and_writes_nothing(tmp_path):
    path = write_at(tmp_path / "fill.nc", TIMES, nan=with_values((slice(5, 7), 0, 1), 1e30))
    before = snapshot(tmp_path)
    done = run_cli("fit", "--data", path, "--out", tmp_path / "runs", "--n-clusters", "2")
    refused(done, str(path), "'t2m'", "2 values", "2021-01-01T05:00:00",
            "--treat-as-missing 1e+30")
    assert snapshot(tmp_path) == before


def test_values_missing_at_some_steps_only_are_reported_and_a_fixed_mask_is_not(tmp_path):
    # Sea ice over an SST, a station gone: points that hold values at other steps miss them
    # at a few. They are handled (masked in the loss, 0 in the scores) and now said so.
    def gone(name, values):
        if name == "t2m":
            values[:, 0, 0] = np.nan  # a fixed mask: no note
            values[5:8, 1, 1:3] = np.nan
        return values

    data = prepare_data(options(write_at(tmp_path / "ice.nc", TIMES, nan=gone),
                                resample="1h", window=24))
    (note,) = [n for n in data.description["notes"] if "lacks values" in n]
    assert note == (f"{tmp_path / 'ice.nc'}: variable 't2m' lacks values at points it holds at "
                    f"other steps in 3 time steps (the first 2021-01-01T05:00:00, 2 of 11 "
                    f"points): read as the climatology (anomaly 0) by the model, k-means "
                    f"and the scores, and left out of the reconstruction loss in training")
    fixed = write_at(tmp_path / "mask.nc", TIMES, nan=with_values((slice(None), 0, 0), np.nan))
    assert not [n for n in prepare_data(options(fixed, resample="1h", window=24))
                .description["notes"] if "lacks values" in n]


def test_a_variable_missing_entirely_at_a_step_where_another_holds_values_is_noted(tmp_path):
    def gone(name, values):
        if name == "sp":
            values[3] = np.nan  # u10 and t2m hold values at that hour
        if name in ("u10", "t2m", "sp"):
            values[10] = np.nan  # a missing step: reported with the windows, not here
        return values

    data = prepare_data(options(write_at(tmp_path / "sp.nc", TIMES, nan=gone),
                                resample="1h", window=24))
    (note,) = [n for n in data.description["notes"] if "lacks values" in n]
    assert "variable 'sp' lacks values at points it holds at other steps in 1 time step (the " \
           "first 2021-01-01T03:00:00, 12 of 12 points)" in note


def test_a_fill_of_a_packed_variable_that_the_file_does_not_declare_is_refused(tmp_path):
    # t2m packed as int16 (0.002 K about 275 K) with no _FillValue, -32767 stored at a few
    # points: decoded, 209.466 K, inside any physical range, and it was trained on. Refused
    # with the value to pass; masked with it. A packing that uses its whole range keeps its
    # extremes: there they are values.
    rng = np.random.default_rng(0)
    coords = {"time": pd.date_range("2001-01-01", periods=24, freq="1D"),
              "latitude": [20.0, 10.0, 0.0], "longitude": [100.0, 110.0, 120.0, 130.0]}

    def write(name, values, scale, offset):
        xr.Dataset({"t2m": (("time", "latitude", "longitude"), values, {"units": "K"})},
                   coords=coords).to_netcdf(tmp_path / name, encoding={"t2m": {
                       "dtype": "int16", "scale_factor": scale, "add_offset": offset,
                       "_FillValue": None}})
        return dict(data=str(tmp_path / name), window=1, resample="none", anomalies=False)

    t2m = 275.0 + 2.0 * rng.normal(size=(24, 3, 4))
    t2m[3, 0, :2] = t2m[7, 2, 3] = 275.0 + 0.002 * -32767
    text = message_of(lambda: prepare_data(DataOptions(**write("t2m.nc", t2m, 0.002, 275.0))))
    assert text.startswith(f"{tmp_path / 't2m.nc'}: variable 't2m' has 3 values stored as "
                           f"-32767, a common fill value of its integer type that the file "
                           f"does not declare, far outside its other values (")
    assert text.endswith("the first at 2001-01-04T00:00:00 (209.466); if such values stand "
                         "for missing data, pass treat_as_missing 209.466")
    masked = prepare_data(DataOptions(**write("t2m.nc", t2m, 0.002, 275.0),
                                      treat_as_missing=(209.466,)))
    assert int(np.isnan(masked.cube["t2m"].values).sum()) == 3
    whole = 275.0 + 2.0 * rng.normal(size=(24, 3, 4))
    scale = (whole.max() - whole.min()) / 65534
    offset = (whole.max() + whole.min()) / 2  # the extremes are stored as -32767 and 32767
    assert len(prepare_data(DataOptions(**write("whole.nc", whole, scale, offset))).windows) == 24
    rain = rng.gamma(0.3, 2.0, size=(24, 3, 4))  # mostly near 0, its maximum far out
    scale, offset = rain.max() / 65534, rain.max() / 2
    data = prepare_data(DataOptions(**write("rain.nc", 275.0 + rain, scale, 275.0 + offset)))
    assert len(data.windows) == 24
