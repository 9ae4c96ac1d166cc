"""Property-based tests of the loader (issue 12): small NetCDF files written by hypothesis.

Over combinations of the time name (`valid_time`/`time`), latitude order, longitude convention
(-180..180 or 0..360), CF packing (int16 with scale_factor/add_offset/_FillValue), NaN
patterns, calendars, gaps, time steps and variable subsets, `prepare_data` either raises a
one-line `DataError` or gives windows such that:

- every window is made of steps exactly the time step apart (no window spans a gap);
- no window is entirely missing;
- the windows, back in physical units, equal the decoded file's values at the right times
  (date for date in other calendars) and grid points, NaN where the file has none; averaged
  over each period when the data is resampled.

A bounded number of examples runs in the quick suite; `-m slow` runs many more.
"""

import datetime
import tempfile
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from keras_dsc.data import DataOptions, prepare_data
from keras_dsc.errors import DataError
from tests.helpers.era5_files import write_at

NAMES = ("u10", "t2m", "sp")
FREQS = {"1h": 1, "3h": 3, "6h": 6, "1D": 24}


@st.composite
def cases(draw):
    calendar = draw(st.sampled_from([None, "noleap", "360_day", "all_leap"]))
    freq = draw(st.sampled_from(list(FREQS)))
    n_times = draw(st.integers(4, 40))
    start = draw(st.sampled_from([(2021, 1, 1, 0), (2024, 2, 26, 0), (2023, 2, 27, 6)]))
    times = _times(calendar, start, FREQS[freq], n_times)
    for _ in range(draw(st.integers(0, 2))):  # gaps: a run of missing steps
        if len(times) > 3:
            at = draw(st.integers(1, len(times) - 2))
            length = draw(st.integers(1, 5))
            times = times[:at] + times[at + length:]
    variables = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True))
    requested = draw(st.one_of(st.none(), st.lists(st.sampled_from(variables), min_size=1,
                                                   max_size=len(variables), unique=True)))
    return {
        "times": times,
        "calendar": calendar,
        "freq": freq,
        "variables": tuple(variables),
        "requested": None if requested is None else tuple(requested),
        "time_name": draw(st.sampled_from(["valid_time", "time"])),
        "latitude_ascending": draw(st.booleans()),
        "longitude_360": draw(st.booleans()),
        "west": draw(st.sampled_from([-33.0, -0.25, 170.0])),
        "packed": tuple(v for v in variables if draw(st.booleans())),
        "nan": draw(st.sampled_from(["none", "point", "steps", "random"])),
        "seed": draw(st.integers(0, 3)),
        "window": draw(st.integers(1, 4)),
        "resample": draw(st.sampled_from([None, "auto"])),
    }


def _times(calendar, start, hours, n):
    """`n` times `hours` apart from `start`, as (year, month, day, hour) in the calendar."""
    if calendar is None:
        index = pd.date_range(datetime.datetime(*start), periods=n, freq=f"{hours}h")
        return [(t.year, t.month, t.day, t.hour) for t in index]
    import cftime

    first = cftime.datetime(*start, calendar=calendar)
    steps = [first + datetime.timedelta(hours=hours * k) for k in range(n)]
    return [(t.year, t.month, t.day, t.hour) for t in steps]


def _nan_pattern(kind, seed):
    def put(name, values):
        rng = np.random.default_rng(seed + len(name))
        if kind == "point":
            values[:, 0, 0] = np.nan
        elif kind == "steps":  # whole steps missing, in every variable
            values[1::3] = np.nan
        elif kind == "random":
            values[rng.random(values.shape) < 0.2] = np.nan
        return values
    return put


def _write(path, case):
    times = case["times"]
    if case["calendar"] is None:
        times = pd.DatetimeIndex([datetime.datetime(*t) for t in times])
    return write_at(path, times, nlat=3, nlon=4, variables=case["variables"],
                    seed=case["seed"], calendar=case["calendar"], time_name=case["time_name"],
                    west=case["west"], latitude_ascending=case["latitude_ascending"],
                    longitude_360=case["longitude_360"], packed=case["packed"],
                    nan=_nan_pattern(case["nan"], case["seed"]))


def _decoded(path, case, variables):
    """The file as xarray decodes it: `{key time: {variable: (lat, lon) values}}` with the
    times as standard-calendar Timestamps (date for date; dates it lacks dropped), and the
    latitudes and longitudes (in -180..180) of the stored grid."""
    with xr.open_dataset(path) as raw:
        name = case["time_name"]
        stamps = []
        for t in raw[name].values:
            t = pd.Timestamp(t) if isinstance(t, np.datetime64) else t
            try:
                stamps.append(pd.Timestamp(t.year, t.month, t.day, t.hour))
            except ValueError:  # 30 February, or 29 February of a common year
                stamps.append(None)
        values = {v: raw[v].values.astype("float64") for v in variables}
        lat = raw["latitude"].values.astype("float64")
        lon = (raw["longitude"].values.astype("float64") + 180.0) % 360.0 - 180.0
    by_time = {}
    for j, stamp in enumerate(stamps):
        if stamp is not None:
            by_time[stamp] = {v: values[v][j] for v in variables}
    return by_time, lat, lon


def _check(case, data, path):
    windows = data.windows
    variables = list(case["requested"] or case["variables"])
    assert windows.variables == variables
    assert len(windows) >= 1
    times = pd.DatetimeIndex(windows.array["time"].values)
    step = pd.Timedelta(windows.time_step) if windows.time_step else None
    if step is None:  # a single time step
        assert len(times) == 1 and windows.window == 1
    by_time, lat, lon = _decoded(path, case, variables)
    lat_index = [int(np.flatnonzero(np.isclose(lat, y))[0]) for y in windows.latitudes]
    lon_index = [int(np.flatnonzero(np.isclose(lon, x))[0]) for x in windows.longitudes]
    assert list(windows.latitudes) == sorted(windows.latitudes, reverse=True)
    assert list(windows.longitudes) == sorted(windows.longitudes)
    prep = data.preprocessor
    scale = np.asarray(prep.scale)
    offset = np.asarray(prep.offset)
    values = windows[np.arange(len(windows))]
    for i, start in enumerate(windows._starts):
        span = times[start:start + windows.window]
        assert len(span) == windows.window
        if step is not None:  # never a gap
            assert (np.diff(span.values) == step.to_timedelta64()).all(), span
        physical = values[i].astype("float64") * scale + offset
        assert not np.isnan(physical).all()  # never a window entirely missing
        for k, time in enumerate(span):
            inside = [t for t in by_time if time <= t < time + (step or pd.Timedelta(1))]
            assert inside, (time, "a window step the file does not hold")
            for v, name in enumerate(variables):
                stack = np.stack([by_time[t][name] for t in inside])
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN means
                    expected = np.nanmean(stack, axis=0)[np.ix_(lat_index, lon_index)]
                got = physical[k, :, :, v]
                assert (np.isnan(got) == np.isnan(expected)).all(), (name, time)
                np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4 * scale[v],
                                           equal_nan=True)


def _run(case, record=event):
    with tempfile.TemporaryDirectory() as folder:
        path = _write(f"{folder}/case.nc", case)
        options = DataOptions(data=path, variables=case["requested"], anomalies=False,
                              resample=case["resample"], window=case["window"])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data = prepare_data(options)
        except DataError as error:
            assert "\n" not in str(error) and str(error).strip(), repr(error)
            record(f"refused: {str(error).split(': ', 1)[-1][:40]}")
            return "refused"
        record("windows")
        _check(case, data, path)
        return "windows"


@settings(max_examples=30, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_the_loader_refuses_in_one_line_or_gives_the_files_values(case):
    _run(case)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_the_loader_refuses_in_one_line_or_gives_the_files_values_many(case):
    _run(case)


def test_a_gapped_noleap_packed_case_gives_windows():
    """One fixed case of the property, so that the quick suite checks a non-trivial one."""
    case = {"times": _times("noleap", (2024, 2, 26, 0), 6, 24)[:5] + _times(
                "noleap", (2024, 2, 26, 0), 6, 24)[8:],
            "calendar": "noleap", "freq": "6h", "variables": ("u10", "t2m", "sp"),
            "requested": ("sp", "u10"), "time_name": "time", "latitude_ascending": True,
            "longitude_360": True, "west": -0.25, "packed": ("sp",), "nan": "point",
            "seed": 1, "window": 2, "resample": None}
    assert _run(case, record=lambda text: None) == "windows"
