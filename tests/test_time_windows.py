"""Windows are cut by time (issue 12, part 1): gaps, mixed steps, 00 UTC starts, calendars.

Every file is written by the test itself in ERA5 form; the data goes through `prepare_data`,
as `fit` reads it.
"""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from keras_dsc.data import DataOptions, prepare_data
from keras_dsc.data.era5 import open_cube, resample_time
from keras_dsc.data.options import summary_lines
from keras_dsc.data.time_axis import first_irregular, gaps, infer_step, step_text
from keras_dsc.data.windows import WindowedCube, window_starts
from keras_dsc.errors import DataError, OptionError
from tests.helpers.era5_files import write_at

VARIABLES = ("u10", "t2m")


def prepared(path, **options):
    options = {"variables": VARIABLES, "anomalies": False, **options}
    return prepare_data(DataOptions(data=str(path), **options))


def assert_no_window_spans_a_gap(data):
    """Every window's steps are exactly the cube's time step apart."""
    windows = data.windows
    times = pd.DatetimeIndex(windows.array["time"].values)
    step = pd.Timedelta(windows.time_step)
    for start in windows._starts:
        span = times[start:start + windows.window]
        assert len(span) == windows.window
        assert (np.diff(span) == step.to_timedelta64()).all(), span


def one_line(error):
    message = str(error.value)
    assert "\n" not in message
    return message


def test_a_daily_record_with_missing_days_is_not_joined_across_the_gap(tmp_path):
    """Daily data, windows of 2 days: 6 January is never joined to 10 January."""
    times = pd.date_range("2021-01-01", "2021-01-14", freq="1D").delete([6, 7, 8])
    path = write_at(tmp_path / "daily_gap.nc", times)
    data = prepared(path, resample="none", window=2)
    assert_no_window_spans_a_gap(data)
    starts = pd.DatetimeIndex(data.windows.start_times).strftime("%m-%d").tolist()
    assert starts == ["01-01", "01-03", "01-05", "01-10", "01-12"]
    report = data.description["windowing"]
    # Of the tiles 1-2, 3-4, ..., 13-14 January, 7-8 lies inside the gap and never held data;
    # 9-10 held 10 January and is the one dropped.
    assert report["n_gaps"] == 1 and report["dropped_windows"] == 1
    assert report["gaps"] == [{"from": "2021-01-06T00:00", "to": "2021-01-10T00:00",
                               "missing_steps": 3}]


def test_hourly_days_after_a_gap_start_at_00_utc(tmp_path):
    """Hourly data with a gap from 6 January 07:00 to 9 January 13:00 (the step equals the
    target, so no resampling happens): windows of one day are calendar days, and the two
    partial days at the edges of the gap are dropped and reported."""
    hours = pd.date_range("2021-01-04", "2021-01-11 23:00", freq="1h")
    times = hours[(hours < "2021-01-06 07:00") | (hours >= "2021-01-09 13:00")]
    path = write_at(tmp_path / "hourly_gap.nc", times)
    data = prepared(path, resample="1h", window=24)
    assert_no_window_spans_a_gap(data)
    starts = pd.DatetimeIndex(data.windows.start_times)
    assert (starts == starts.normalize()).all()  # 00 UTC, also after the gap
    assert starts.strftime("%m-%d").tolist() == ["01-04", "01-05", "01-10", "01-11"]
    report = data.description["windowing"]
    # 7 and 8 January lie inside the gap; the partial days 6 and 9 January are dropped.
    assert report["windows_without_gaps"] == 6 and report["dropped_windows"] == 2
    assert report["gaps"][0]["from"] == "2021-01-06T06:00"
    assert report["gaps"][0]["to"] == "2021-01-09T13:00"


def test_gaps_and_dropped_windows_are_reported_by_fit(tmp_path):
    """The run summary says how many windows and which periods were dropped."""
    times = pd.date_range("2021-01-01", "2021-01-20", freq="1D").delete([5, 6, 7])
    data = prepared(write_at(tmp_path / "gap.nc", times), resample="none", window=1)
    lines = summary_lines(data.description)
    assert lines[0] == ("time: steps of 1D (none: the data's step kept); windows of 1 step "
                        "(1: as asked)")
    # Windows of one day lose none to a gap of three days: there were never any there (the
    # summary said "dropped 3 of 20 windows", as if 3 days of data had been thrown away).
    assert lines[1] == ("1 gap in the time axis (2021-01-05T00:00..2021-01-09T00:00), which "
                        "no window spans: none dropped")
    assert data.description["windowing"]["dropped_windows"] == 0
    assert len(data.windows) == 17
    two = prepared(write_at(tmp_path / "gap2.nc", times), resample="none", window=2, stride=1)
    # Of the 19 two-day windows of 1..20 January, 2 lie inside the gap; 17 hold data, and
    # the 2 that span its edges (4-5 and 8-9 January) are dropped.
    assert two.description["windowing"]["windows_without_gaps"] == 17
    assert summary_lines(two.description)[1] == (
        "dropped 2 of 17 windows: 1 gap in the time axis (2021-01-05T00:00..2021-01-09T00:00)")


def test_a_record_that_starts_at_06_utc_starts_its_days_at_the_first_full_day(tmp_path):
    times = pd.date_range("2021-01-01 06:00", periods=24 * 3, freq="1h")
    data = prepared(write_at(tmp_path / "late.nc", times), resample="1h", window=24)
    assert pd.DatetimeIndex(data.windows.start_times).strftime("%d %H").tolist() == [
        "02 00", "03 00"]  # 1 January from 06:00 and 4 January until 05:00 are partial


def test_the_steps_before_the_first_and_after_the_last_window_are_reported(tmp_path):
    """A record of 3-hourly steps from 1 January 12:00 to 4 January 06:00 in daily windows:
    the half days at its ends are in no window, and the summary (and `predict`) says so."""
    times = pd.date_range("2021-01-01 12:00", "2021-01-04 06:00", freq="3h")
    data = prepared(write_at(tmp_path / "edges.nc", times), resample="none", window=8)
    assert len(data.windows) == 2
    unused = data.description["windowing"]["unused_steps"]
    assert unused == {"start": {"steps": 4, "from": "2021-01-01T12:00",
                                "to": "2021-01-01T21:00"},
                      "end": {"steps": 3, "from": "2021-01-04T00:00", "to": "2021-01-04T06:00"}}
    assert summary_lines(data.description)[1] == (
        "the first 4 time steps (2021-01-01T12:00..2021-01-01T21:00) come before the first "
        "window and are in none; the last 3 time steps (2021-01-04T00:00..2021-01-04T06:00) "
        "come after the last whole window and are in none")
    assert data.windows.report.text() == summary_lines(data.description)[1]
    one_each = window_starts(times[3:-2], 8, 8)[1].text()
    assert one_each == ("the first time step (2021-01-01T21:00) comes before the first window "
                        "and is in none; the last time step (2021-01-04T00:00) comes after the "
                        "last whole window and is in none")
    whole = prepared(write_at(tmp_path / "whole.nc", times[4:-3]), resample="none", window=8)
    assert whole.description["windowing"]["unused_steps"] == {}
    assert summary_lines(whole.description)[1:] == []


def test_3_hourly_then_hourly_is_refused_naming_the_file_and_the_first_irregular_time(
        tmp_path):
    times = pd.date_range("2021-01-01", "2021-01-03 21:00", freq="3h").append(
        pd.date_range("2021-01-04", "2021-01-05 23:00", freq="1h"))
    path = write_at(tmp_path / "mixed.nc", times)
    for resample in ("none", "auto"):
        with pytest.raises(DataError) as error:
            prepared(path, resample=resample)
        message = one_line(error)
        assert message.startswith(f"{path}: irregular time axis: a step of 3h at "
                                  f"2021-01-01T03:00:00 where the record's step is 1h"), message
        assert "pass resample 3h" in message
    # Asked for a step, the record is averaged to it: 3-hourly windows of one day.
    data = prepared(path, resample="3h")
    assert_no_window_spans_a_gap(data)
    assert data.windows.time_step == "3h" and data.windows.window == 8
    assert len(data.windows) == 5


def test_mixed_steps_are_told_from_gaps():
    gap = pd.date_range("2021-01-01", periods=10, freq="6h").delete([4, 5])
    assert first_irregular(gap) is None and step_text(infer_step(gap)) == "6h"
    mixed = pd.date_range("2021-01-01", periods=4, freq="6h").append(
        pd.date_range("2021-01-02", periods=20, freq="1h"))
    assert first_irregular(mixed) == 1  # 06:00: the first of the 6-hourly stretch
    off_grid = pd.DatetimeIndex(["2021-01-01 00:00", "2021-01-01 01:00", "2021-01-01 02:30",
                                 "2021-01-01 03:30", "2021-01-01 04:30"])
    assert first_irregular(off_grid) == 2


@pytest.mark.parametrize("window, stride, expected", [
    (24, None, ["03 00:00"]),   # days: 00 UTC (1 January stops at 19:00)
    (12, None, ["01 00:00", "02 12:00", "03 00:00", "03 12:00"]),  # half days: 00 and 12
    (5, None, ["01 00:00", "01 05:00", "01 10:00", "01 15:00", "02 06:00", "02 11:00",
               "02 16:00", "02 21:00", "03 02:00", "03 07:00", "03 12:00",
               "03 17:00"]),  # 5 hours divide no day: no alignment
    (24, 1, None),  # sliding windows (stride 1): every start in each stretch
])
def test_window_starts_in_each_regular_stretch(window, stride, expected):
    hours = pd.date_range("2021-01-01", "2021-01-03 23:00", freq="1h")
    times = hours.delete(range(20, 30))  # 1 January 20:00 .. 2 January 05:00 missing
    starts, report = window_starts(times, window, stride or window)
    if expected is None:
        assert len(starts) == 42 - 24 + 1 and times[starts[0]] == times[20]
    else:
        assert times[starts].strftime("%d %H:%M").tolist() == expected
    assert report.gaps == gaps(times, "1h") and report.gaps[0][2] == 10


def test_entirely_missing_windows_are_dropped_never_clustered(tmp_path):
    """A day with no value anywhere (every variable NaN) is not a window."""
    times = pd.date_range("2021-01-01", periods=24 * 5, freq="1h")

    def blank_day(name, values):
        values[48:72] = np.nan  # 3 January
        return values

    data = prepared(write_at(tmp_path / "blank.nc", times, nan=blank_day), resample="1h",
                    window=24)
    starts = pd.DatetimeIndex(data.windows.start_times).strftime("%d").tolist()
    assert starts == ["01", "02", "04", "05"]
    report = data.description["windowing"]
    assert report["n_empty_windows"] == 1 and report["empty_windows"] == ["2021-01-03T00:00"]
    assert not np.isnan(data.windows[np.arange(4)]).all(axis=(1, 2, 3, 4)).any()


def test_partly_missing_windows_are_kept_and_reported(tmp_path):
    """A day whose afternoon holds no value is clustered on its morning, and said so."""
    times = pd.date_range("2021-01-01", periods=24 * 4, freq="1h")

    def blank_afternoon(name, values):
        values[48 + 12:72] = np.nan  # 3 January, 12..23 UTC
        return values

    data = prepared(write_at(tmp_path / "half.nc", times, nan=blank_afternoon), resample="1h",
                    window=24)
    assert len(data.windows) == 4
    report = data.description["windowing"]
    assert report["n_partial_windows"] == 1 and report["partial_windows"] == ["2021-01-03T00:00"]
    assert report["n_empty_windows"] == 0 and report["dropped_windows"] == 0
    assert summary_lines(data.description)[1] == (
        "1 window (starting 2021-01-03T00:00) has time steps with no value and is clustered "
        "on the steps it holds")


def test_every_window_entirely_missing_is_an_error():
    times = pd.date_range("2021-01-01", periods=6, freq="1h")
    array = xr.DataArray(np.full((6, 2, 2, 1), np.nan, "float32"),
                         dims=("time", "latitude", "longitude", "variable"),
                         coords={"time": times, "variable": ["u10"]})
    with pytest.raises(DataError, match="every window of 3 steps is entirely missing"):
        WindowedCube(array, 3)


def test_no_window_fits_between_the_gaps_is_one_line(tmp_path):
    times = pd.date_range("2021-01-01", periods=48, freq="1h").delete([10, 30])
    with pytest.raises(DataError) as error:
        prepared(write_at(tmp_path / "short.nc", times), resample="1h", window=24)
    assert one_line(error) == ("window 24 is longer than every stretch of the series without "
                               "a gap (the longest: 19 consecutive 1h steps)")


def test_resampling_leaves_out_periods_lacking_steps(tmp_path):
    """Means only of whole periods: a day with 18 of its 24 hours is no daily mean."""
    hours = pd.date_range("2021-01-01", "2021-01-05 23:00", freq="1h")
    times = hours[(hours < "2021-01-02 06:00") | (hours >= "2021-01-03 00:00")]
    data = prepared(write_at(tmp_path / "hours.nc", times), resample="1D", window=1)
    days = pd.DatetimeIndex(data.cube["time"].values).strftime("%d").tolist()
    assert days == ["01", "03", "04", "05"]
    assert any("1 period of 1D lacking some of its steps" in note
               for note in data.description["notes"])


def leap_year_days(calendar):
    """(year, month, day, hour) of 25 February .. 5 March 2024, as the calendar has them."""
    days = {"noleap": [28], "360_day": [30], "all_leap": [29]}[calendar]
    out = [(2024, 2, d, 0) for d in range(25, days[0] + 1)]
    return out + [(2024, 3, d, 0) for d in range(1, 6)]


def test_noleap_in_a_leap_year_has_no_29_february_window(tmp_path):
    """Daily noleap data, read date for date: no 29 February window, no all-NaN window."""
    path = write_at(tmp_path / "noleap.nc", leap_year_days("noleap"), calendar="noleap")
    data = prepared(path, resample="auto")
    starts = pd.DatetimeIndex(data.windows.start_times).strftime("%m-%d").tolist()
    assert "02-29" not in starts and len(starts) == 9
    assert data.description["windowing"]["n_gaps"] == 1
    assert any("calendar 'noleap' read date for date" in n for n in data.description["notes"])


def test_6_hourly_noleap_averaged_to_days_never_grows_an_empty_29_february(tmp_path):
    times = [(y, m, d, h) for y, m, d, _ in leap_year_days("noleap") for h in (0, 6, 12, 18)]
    path = write_at(tmp_path / "noleap6h.nc", times, calendar="noleap")
    data = prepared(path, resample="1D", window=1)
    starts = pd.DatetimeIndex(data.windows.start_times).strftime("%m-%d").tolist()
    assert "02-29" not in starts and len(starts) == 9
    assert not np.isnan(data.windows[np.arange(len(starts))]).all(axis=(1, 2, 3, 4)).any()


def test_360_day_dates_the_standard_calendar_lacks_are_dropped_and_reported(tmp_path):
    path = write_at(tmp_path / "d360.nc", leap_year_days("360_day"), calendar="360_day")
    ds = open_cube(str(path))
    days = pd.DatetimeIndex(ds["time"].values).strftime("%m-%d").tolist()
    assert days == ["02-25", "02-26", "02-27", "02-28", "02-29", "03-01", "03-02", "03-03",
                    "03-04", "03-05"]
    (note,) = ds.attrs["keras_dsc_notes"]
    assert note == (f"{path}: calendar '360_day' read date for date as the standard calendar; "
                    f"1 time step on dates the standard calendar lacks dropped (the first "
                    f"2024-02-30); dates the 360_day calendar lacks (the 31st of seven months) "
                    f"are gaps, no window spans them")


def test_monthly_noleap_means_get_no_note_of_gaps_on_29_february(tmp_path):
    # Monthly means span no missing 29 February: the note says how the dates were read and
    # nothing of gaps (it said "dates the noleap calendar lacks ... are gaps").
    times = [(2023 + m // 12, m % 12 + 1, 16, 12) for m in range(24)]
    path = write_at(tmp_path / "monthly.nc", times, calendar="noleap")
    (note,) = open_cube(str(path)).attrs["keras_dsc_notes"]
    assert note == f"{path}: calendar 'noleap' read date for date as the standard calendar"
    order = np.random.default_rng(0).permutation(len(times))
    shuffled = write_at(tmp_path / "shuffled.nc", [times[i] for i in order], calendar="noleap")
    (note,) = open_cube(str(shuffled)).attrs["keras_dsc_notes"]  # the step of sorted times
    assert note == f"{shuffled}: calendar 'noleap' read date for date as the standard calendar"
    daily = write_at(tmp_path / "daily.nc", [(2024, 2, d, 0) for d in range(20, 29)] +
                     [(2024, 3, 1, 0)], calendar="noleap")
    assert "are gaps, no window spans them" in open_cube(str(daily)).attrs["keras_dsc_notes"][0]


def test_seasonal_means_stamped_on_30_february_keep_every_season(tmp_path):
    # CDO stamps a DJF mean of a 360_day model on the season's last day, 30 February: a mean
    # over months keeps its value, its stamp moves to the month's last day (dropped, every
    # season was lost and the file refused as empty).
    times = [(2001 + y, 2, 30, 0) for y in range(6)]
    path = write_at(tmp_path / "djf.nc", times, calendar="360_day")
    ds = open_cube(str(path))
    assert pd.DatetimeIndex(ds["time"].values).strftime("%Y-%m-%d").tolist() == [
        "2001-02-28", "2002-02-28", "2003-02-28", "2004-02-29", "2005-02-28", "2006-02-28"]
    (note,) = ds.attrs["keras_dsc_notes"]
    assert note.endswith("; 6 time steps on dates the standard calendar lacks moved to the last "
                         "day of their month (means over a month or longer) (the first "
                         "2001-02-30)")
    raw = xr.open_dataset(path)
    np.testing.assert_array_equal(ds["t2m"].values, raw["t2m"].values)


def test_monthly_means_of_a_360_day_model_stamped_on_the_30th_keep_february(tmp_path):
    times = [(2001 + m // 12, m % 12 + 1, 30, 0) for m in range(24)]
    data = prepared(write_at(tmp_path / "monthly.nc", times, calendar="360_day"),
                    resample="none", window=1)
    assert len(data.windows) == 24
    assert data.description["windowing"]["n_gaps"] == 0
    starts = pd.DatetimeIndex(data.windows.start_times).strftime("%m-%d").tolist()
    assert starts[:3] == ["01-30", "02-28", "03-30"]


def test_all_leap_29_february_of_other_years_is_dropped_and_reported(tmp_path):
    times = [(2023, 2, d, 0) for d in range(26, 30)] + [(2023, 3, d, 0) for d in (1, 2)]
    path = write_at(tmp_path / "leap.nc", times, calendar="all_leap")
    data = prepared(path, resample="none", window=1)
    assert len(data.windows) == 5
    assert any("1 time step on dates the standard calendar lacks dropped (the first "
               "2023-02-29)" in note for note in data.description["notes"])


def test_resample_time_keeps_whole_periods_of_a_lazy_cube_too(tmp_path):
    times = pd.date_range("2021-01-01 03:00", periods=24 * 3, freq="1h")
    ds = open_cube(str(write_at(tmp_path / "lazy.nc", times)), time_chunk=5)
    out = resample_time(ds, "1D")
    assert pd.DatetimeIndex(out["time"].values).strftime("%d").tolist() == ["02", "03"]
    assert out.attrs["incomplete_periods"] == ["2021-01-01T00:00:00", "2021-01-04T00:00:00"]


@pytest.mark.parametrize("times, step", [
    (pd.DatetimeIndex([f"{year}-01-15" for year in range(1950, 1962)]), "1YS"),  # DJF means
    (pd.DatetimeIndex([f"{year}-07-01 12:00" for year in range(1950, 1962)]), "1YS"),
    (pd.DatetimeIndex(["2001-01-16 12:00", "2001-02-15", "2001-03-16 12:00",
                       "2001-04-16", "2001-05-16 12:00", "2001-06-16"]), "1MS"),  # mid-month
])
def test_means_stamped_mid_month_mid_season_or_mid_year_are_monthly_or_annual(tmp_path, times,
                                                                              step):
    assert first_irregular(times) is None and step_text(infer_step(times)) == step
    path = write_at(tmp_path / "means.nc", times)
    data = prepare_data(DataOptions(data=str(path), anomalies=False))
    assert len(data.windows) == len(times) and data.windows.window == 1
    assert data.description["time"]["step"] == step


def test_a_missing_month_in_mid_month_means_is_a_gap_not_an_irregular_axis():
    times = pd.DatetimeIndex(["2001-01-16 12:00", "2001-02-15", "2001-04-16", "2001-05-16 12:00",
                              "2001-06-16"])
    assert first_irregular(times) is None
    assert gaps(times, infer_step(times)) == [(times[1], times[2], 1)]
    weekly = pd.date_range("2001-01-03", periods=8, freq="7D")
    assert step_text(infer_step(weekly)) == "7D"  # weekly data is not monthly


def test_2_hourly_data_averaged_to_3h_is_refused_and_to_6h_is_kept_whole(tmp_path):
    """3 h means of 2-hourly steps would hold one or two of them by turns (00+02, 04, ...):
    refused, naming the step that works; 6 h means hold three steps each."""
    times = pd.date_range("2021-01-01", periods=12 * 4, freq="2h")
    path = write_at(tmp_path / "two_hourly.nc", times)
    with pytest.raises(OptionError) as error:
        prepared(path, resample="3h", window=4)
    assert str(error.value) == ("resample 3h is not a whole number of the data's 2h steps (its "
                                "means would hold unequal numbers of them); pass resample 6h "
                                "or another multiple of 2h")
    data = prepared(path, resample="6h", window=4)
    assert data.description["time"]["step"] == "6h" and len(data.windows) == 4


def test_pentads_with_a_6_day_pentad_in_leap_years_are_averaged_to_5_days_one_each(tmp_path):
    """CMAP/GPCP pentads: 73 a year from 1 January, the last one of a leap year 6 days long.
    The refusal suggests the record's own step, at which every pentad stays one value
    (a 6-day step would merge neighbouring pentads)."""
    times = pd.DatetimeIndex([pd.Timestamp(f"{year}-01-01") + pd.Timedelta(days=5 * i)
                              for year in (1980, 1981) for i in range(73)])
    path = write_at(tmp_path / "pentads.nc", times)
    with pytest.raises(OptionError) as error:
        prepared(path, resample="none", window=1)
    assert str(error.value).endswith("irregular time axis: a step of 6D at 1981-01-01T00:00:00 "
                                     "where the record's step is 5D; pass resample 5D (or "
                                     "another step) to average it to one step")
    data = prepared(path, resample="5D", window=1)
    assert len(data.windows) == 146


def test_monthly_means_in_a_model_calendar_with_float_noise_are_rounded(tmp_path):
    import cftime

    units = "days since 1850-01-01"
    stamps = [cftime.datetime(1850 + m // 12, m % 12 + 1, 16, calendar="noleap")
              for m in range(24)]
    days = cftime.date2num(stamps, units, calendar="noleap") + np.where(
        np.arange(24) % 2, 1e-6, -1e-6)  # 15.999999 days: 23:59:59.9
    ds = xr.Dataset({"t2m": (("time", "latitude", "longitude"), np.full((24, 2, 3), 280.0),
                             {"units": "K"})},
                    coords={"time": ("time", days, {"units": units, "calendar": "noleap"}),
                            "latitude": [1.0, 0.0], "longitude": [0.0, 1.0, 2.0]})
    ds.to_netcdf(tmp_path / "noisy.nc")
    cube = open_cube(str(tmp_path / "noisy.nc"))
    assert (pd.DatetimeIndex(cube["time"].values).strftime("%d %H:%M:%S") == "16 00:00:00").all()
    assert "rounded to the nearest second" in cube.attrs["keras_dsc_notes"][0]
