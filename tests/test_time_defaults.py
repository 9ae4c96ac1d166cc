"""Defaults that fit every common ERA5 time step (issue 12, part 2).

Hourly, 3-hourly, 6-hourly, daily, monthly and annual files all prepare with no time option:
`resample="auto"` keeps a step of 3 h or coarser and averages finer data to 3 h, `window="auto"`
is one day of sub-daily steps and 1 step of daily or coarser data; the description (a run's
`config.json`) says what was chosen and why, steps written as `6h`, `1D`.
"""

import json
import os
import subprocess
import sys
import warnings

import pytest

from keras_dsc.data import DataOptions, prepare_data
from keras_dsc.data.time_axis import auto_resample, auto_window, step_text, to_step
from tests.helpers.era5_files import write_era5

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--filters", "2", "--latent-dim", "4", "--steps", "2", "--pretrain-steps", "2",
        "--batch-size", "2", "--no-plots"]


@pytest.mark.parametrize("freq, n_times, step, window, n_windows, resample_why, window_why", [
    ("1h", 48, "3h", 8, 2, "auto: the data's step 1h is finer than 3h, averaged to 3h",
     "auto: one day of 3h steps"),
    ("3h", 16, "3h", 8, 2, "auto: the data's step 3h is 3-hourly or coarser, kept",
     "auto: one day of 3h steps"),
    ("6h", 12, "6h", 4, 3, "auto: the data's step 6h is 3-hourly or coarser, kept",
     "auto: one day of 6h steps"),
    ("1D", 10, "1D", 1, 10, "auto: the data's step 1D is 3-hourly or coarser, kept",
     "auto: one step of 1D"),
    ("MS", 24, "1MS", 1, 24, "auto: the data's step 1MS is 3-hourly or coarser, kept",
     "auto: one step of 1MS"),
    ("YS", 12, "1YS", 1, 12, "auto: the data's step 1YS is 3-hourly or coarser, kept",
     "auto: one step of 1YS"),
])
def test_every_common_step_prepares_with_no_time_option(tmp_path, freq, n_times, step, window,
                                                        n_windows, resample_why, window_why):
    path = write_era5(tmp_path / "era5.nc", n_times=n_times, freq=freq,
                      variables=("u10", "t2m", "sp"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short record for the annual harmonics
        data = prepare_data(DataOptions(data=str(path)))
    assert len(data.windows) == n_windows
    assert data.windows.sample_shape[0] == window
    time = data.description["time"]
    assert time["step"] == step and time["resample"] == resample_why
    assert time["window"] == window_why
    options = data.description["options"]
    assert options["resample"] == step and options["window"] == window  # reproducible as is


def test_auto_rules():
    assert auto_resample(to_step("30min"))[0] == "3h"
    assert auto_resample(to_step("2h"))[0] == "6h"  # 3 h is no whole number of 2 h steps
    assert auto_resample(to_step("12h"))[0] is None
    assert auto_window(to_step("1h")) == (24, "auto: one day of 1h steps")
    assert auto_window(to_step("7D"))[0] == 1
    assert [step_text(to_step(s)) for s in ("6h", "1D", "MS", "YS", "90min")] == [
        "6h", "1D", "1MS", "1YS", "90min"]


def test_cli_fit_on_6_hourly_data_with_no_time_option(tmp_path):
    """`python cli.py fit --data era5_6hourly.nc --n-clusters 2` trains (the default
    --resample used to be 3h, finer than the data) and config.json says what was chosen."""
    path = write_era5(tmp_path / "era5_6hourly.nc", n_times=4 * 6, freq="6h",
                      variables=("u10", "t2m", "sp"))
    proc = subprocess.run(
        [sys.executable, "cli.py", "fit", "--data", str(path), "--n-clusters", "2", *TINY,
         "--out", str(tmp_path / "runs"), "--run-name", "r"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert ("time: steps of 6h (auto: the data's step 6h is 3-hourly or coarser, kept); "
            "windows of 4 steps (auto: one day of 6h steps)") in proc.stdout
    config = json.loads((tmp_path / "runs" / "r" / "config.json").read_text())
    assert config["data"]["time"]["data_step"] == "6h"
    assert config["data"]["options"]["resample"] == "6h"
    assert config["data"]["options"]["window"] == 4
    assert config["data"]["n_samples"] == 6


def test_means_keep_the_step_they_were_averaged_to_when_a_gap_drops_a_whole_period(tmp_path):
    # Hourly 00-02 and 07-11 UTC: the 3h means at 00 and 09 (06-09 lacks 06, left out) are
    # 3-hourly with a gap, not 9-hourly, and no window of two steps joins them.
    import numpy as np
    import pandas as pd

    from tests.helpers.era5_files import write_at

    times = pd.DatetimeIndex([f"2021-01-01T{h:02d}" for h in (0, 1, 2, 7, 8, 9, 10, 11)])
    path = write_at(tmp_path / "gap.nc", times, variables=("u10",))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = prepare_data(DataOptions(data=str(path), anomalies=False, window=1))
        assert one.description["time"]["step"] == "3h"
        assert to_step(one.windows.time_step) == to_step("3h")
        np.testing.assert_array_equal(one.windows.start_times.astype("datetime64[h]"),
                                      np.array(["2021-01-01T00", "2021-01-01T09"],
                                               dtype="datetime64[h]"))
        with pytest.raises(Exception, match="window"):  # two steps would span the gap
            prepare_data(DataOptions(data=str(path), anomalies=False, window=2))
