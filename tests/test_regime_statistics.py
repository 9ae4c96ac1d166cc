"""keras_dsc.regimes on hand-made sequences: every expected number is worked out by hand."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from keras_dsc.errors import DataError, OptionError
from keras_dsc.regimes import (
    NO_REGIME,
    as_labels,
    composites,
    duration_histogram,
    episodes,
    filter_duration,
    filter_probability,
    frequencies,
    frequency_climatology,
    longest_episodes,
    persistence,
    transitions,
    window_means,
    window_step,
)


def daily(values, start="2021-01-01"):
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="1D"))


@pytest.fixture
def two_winters():
    """Dec 2020 - Feb 2021 (one winter) and Jan 2022 (the next), daily, hand-written."""
    dec = [0] * 20 + [1] * 11                    # Dec 2020: 20 x 0, 11 x 1
    jan = [1] * 10 + [2] * 21                    # Jan 2021: 10 x 1, 21 x 2
    feb = [0] * 28                               # Feb 2021: 28 x 0
    first = daily(dec + jan + feb, "2020-12-01")
    second = daily([2] * 31, "2022-01-01")       # Jan 2022: 31 x 2
    return pd.concat([first, second])


def test_frequencies_per_month_season_year_by_hand(two_winters):
    months = frequencies(two_winters, by="month", normalize=False)
    assert months.index.tolist() == [1, 2, 12]
    assert months.loc[1].tolist() == [0, 10, 52]        # Jan 2021 + Jan 2022
    assert months.loc[12].tolist() == [20, 11, 0]
    fractions = frequencies(two_winters, by="month")
    np.testing.assert_allclose(fractions.loc[1], [0, 10 / 62, 52 / 62])
    np.testing.assert_allclose(fractions.sum(axis=1), 1.0)
    seasons = frequencies(two_winters, by="season", normalize=False)
    assert seasons.index.tolist() == ["DJF"]
    assert seasons.loc["DJF"].tolist() == [48, 21, 52]
    years = frequencies(two_winters, by="year", normalize=False)
    assert years.to_dict("index") == {2020: {0: 20, 1: 11, 2: 0}, 2021: {0: 28, 1: 10, 2: 21},
                                      2022: {0: 0, 1: 0, 2: 31}}
    everything = frequencies(two_winters, by="all", clusters=4)
    assert everything.columns.tolist() == [0, 1, 2, 3]   # regime 3 never occurs: 0
    np.testing.assert_allclose(everything.loc["all"], [48 / 121, 21 / 121, 52 / 121, 0])


def test_frequency_climatology_by_season_year(two_winters):
    table = frequency_climatology(two_winters).set_index(["period", "cluster"])
    assert sorted(set(table.index.get_level_values("period"))) == ["DJF", "all"]
    # DJF years: Dec 2020 + Jan-Feb 2021 are the winter of 2021 (90 days), Jan 2022 of 2022.
    winter = table.loc["DJF"]
    assert winter["n_years"].tolist() == [2, 2, 2]
    np.testing.assert_allclose(winter["year_mean"], [(48 / 90 + 0) / 2, (21 / 90) / 2,
                                                     (21 / 90 + 1) / 2])
    np.testing.assert_allclose(winter.loc[2, "year_std"], np.std([21 / 90, 1.0], ddof=1))
    np.testing.assert_allclose(winter["frequency"], [48 / 121, 21 / 121, 52 / 121])
    assert winter.loc[0, "year_min"] == 0 and winter.loc[2, "year_max"] == 1.0
    # Calendar years for "all": 2020 (31 days), 2021 (59), 2022 (31).
    np.testing.assert_allclose(table.loc["all"].loc[0, "year_mean"],
                               (20 / 31 + 28 / 59 + 0) / 3)


def test_episodes_durations_and_gaps():
    # 12-hourly windows; a gap of a day after the fourth window ends the episode.
    times = pd.to_datetime(["2021-01-01 00:00", "2021-01-01 12:00", "2021-01-02 00:00",
                            "2021-01-02 12:00", "2021-01-04 00:00", "2021-01-04 12:00"])
    labels = pd.Series([3, 3, 1, 1, 1, 3], index=times)
    assert window_step(labels) == pd.Timedelta("12h")
    table = episodes(labels)
    assert table["cluster"].tolist() == [3, 1, 1, 3]
    assert table["n_windows"].tolist() == [2, 2, 1, 1]
    assert table["duration_days"].tolist() == [1.0, 1.0, 0.5, 0.5]
    assert table["start"].tolist() == [times[0], times[2], times[4], times[5]]
    assert table["end"].tolist() == [times[2], pd.Timestamp("2021-01-03"), times[5],
                                     pd.Timestamp("2021-01-05")]
    # The step can be given: at 6-hourly steps, windows 12 hours apart are not consecutive.
    assert episodes(labels, step="6h")["duration_days"].tolist() == [0.25] * 6


def test_persistence_histogram_and_longest_episodes():
    labels = daily([0, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 2])
    # Episodes: 0:3, 1:1, 0:1, 1:2, 0:4, 2:1.
    table = persistence(labels, clusters=4)
    assert table.index.tolist() == [0, 1, 2, 3]
    assert table["n_episodes"].tolist() == [3, 2, 1, 0]
    assert table["n_windows"].tolist() == [8, 3, 1, 0]
    np.testing.assert_allclose(table["mean_duration_days"][:3], [8 / 3, 1.5, 1.0])
    np.testing.assert_allclose(table["median_duration_days"][:3], [3.0, 1.5, 1.0])
    assert table["max_duration_days"].tolist()[:3] == [4.0, 2.0, 1.0]
    assert np.isnan(table.loc[3, "mean_duration_days"])
    histogram = duration_histogram(labels)
    assert histogram.index.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert histogram.to_dict("list") == {0: [1, 0, 1, 1], 1: [1, 1, 0, 0], 2: [1, 0, 0, 0]}
    longest = longest_episodes(labels, n=2)
    assert longest[["cluster", "rank", "duration_days"]].values.tolist() == [
        [0, 1, 4.0], [0, 2, 3.0], [1, 1, 2.0], [1, 2, 1.0], [2, 1, 1.0]]
    assert longest.loc[0, "start"] == pd.Timestamp("2021-01-08")


def test_transition_matrix_counts_probabilities_and_gaps():
    labels = daily([0, 0, 1, 1, 1, 0, 2, 2])
    counts = transitions(labels)
    # Pairs: 0-0, 0-1, 1-1, 1-1, 1-0, 0-2, 2-2.
    assert counts.values.tolist() == [[1, 1, 1], [1, 2, 0], [0, 0, 1]]
    assert counts.index.name == "from" and counts.columns.name == "to"
    probabilities = transitions(labels, normalize=True)
    np.testing.assert_allclose(probabilities.values, [[1 / 3, 1 / 3, 1 / 3], [1 / 3, 2 / 3, 0],
                                                      [0, 0, 1]])
    # A gap is no transition: drop Jan 4 and the pairs 1-1 (3->4) and 1-1 (4->5) go.
    gapped = labels.drop(pd.Timestamp("2021-01-04"))
    assert transitions(gapped).loc[1].tolist() == [1, 0, 0]
    # A row without any transition is NaN in probabilities; no regime is the last row.
    alone = daily([0, 0, NO_REGIME, 1])
    matrix = transitions(alone, clusters=2, normalize=True)
    assert matrix.index.tolist() == [0, 1, -1]
    assert matrix.loc[0].tolist() == [0.5, 0.0, 0.5]
    assert np.isnan(matrix.loc[1]).all()


def test_filter_probability_marks_no_regime():
    labels = daily([0, 1, 1, 2])
    probability = pd.Series([0.9, 0.5, 0.49, 0.7], index=labels.index)
    filtered = filter_probability(labels, probability, 0.5)
    assert filtered.tolist() == [0, 1, NO_REGIME, 2]
    assert labels.tolist() == [0, 1, 1, 2]  # the input is left alone
    # No regime is reported as its own, last, column.
    assert frequencies(filtered, by="all", normalize=False).columns.tolist() == [0, 1, 2, -1]
    with pytest.raises(OptionError, match="min_probability must be a probability"):
        filter_probability(labels, probability, 1.5)
    with pytest.raises(DataError, match="one value per window"):
        filter_probability(labels, [0.5], 0.5)


def test_filter_duration_merge_rule_by_hand():
    #   index:   0  1  2  3  4  5  6  7  8  9 10 11 12 13 14
    values = [0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 1, 2, 2, 0, 0]
    labels = daily(values)
    merged = filter_duration(labels, "3D")
    # 1 at 3 interrupts two long 0 episodes: it becomes 0. The 2 at 7 lies between 0 and 1:
    # no regime. The 2-day 2 at 11-12 is short, between 1 and 0: no regime. The final 0 (two
    # days) is short with no episode after it: no regime.
    assert merged.tolist() == [0, 0, 0, 0, 0, 0, 0, -1, 1, 1, 1, -1, -1, -1, -1]
    dropped = filter_duration(labels, "3D", rule="no-regime")
    assert dropped.tolist() == [0, 0, 0, -1, 0, 0, 0, -1, 1, 1, 1, -1, -1, -1, -1]
    # Flanks must themselves be long: 0 1 0 with 1-day episodes all go.
    assert filter_duration(daily([0, 1, 0]), "2D").tolist() == [-1, -1, -1]
    # And consecutive: a gap before the interruption keeps it from merging.
    gapped = daily([0, 0, 0, 1, 0, 0, 0]).drop(pd.Timestamp("2021-01-03"))
    assert filter_duration(gapped, "2D").tolist() == [0, 0, -1, 0, 0, 0]
    # Durations follow the step: 12-hourly windows, three of them make 1.5 days.
    half = pd.Series([1, 1, 1, 0, 0], index=pd.date_range("2021-01-01", periods=5, freq="12h"))
    assert filter_duration(half, "1.5D").tolist() == [1, 1, 1, -1, -1]
    assert filter_duration(half, "1D").tolist() == [1, 1, 1, 0, 0]
    with pytest.raises(OptionError, match="min_duration: 'three days' is not a duration"):
        filter_duration(labels, "three days")
    with pytest.raises(OptionError, match="rule must be one of merge, no-regime"):
        filter_duration(labels, "3D", rule="drop")


def test_the_filters_feed_the_statistics():
    labels = daily([0, 0, 0, 1, 0, 0, 0, 1, 1, 1])
    probability = [0.9, 0.9, 0.9, 0.9, 0.3, 0.9, 0.9, 0.9, 0.9, 0.9]
    filtered = filter_duration(filter_probability(labels, probability, 0.5), "2D")
    # The probability filter cuts 0 0 0 1 [0] 0 0 ...: the 1 at 3 is now between 0 and no
    # regime, so it cannot merge and becomes no regime.
    assert filtered.tolist() == [0, 0, 0, -1, -1, 0, 0, 1, 1, 1]
    table = persistence(filtered)
    assert table.index.tolist() == [0, 1, -1]
    assert table["n_episodes"].tolist() == [2, 1, 1]


def test_labels_in_every_accepted_form_and_refused_ones():
    series = daily([1, 0])
    array = xr.DataArray([1, 0], dims="time", coords={"time": series.index})
    table = pd.DataFrame({"time": series.index.strftime("%Y-%m-%dT%H:%M:%S"),
                          "cluster": [1, 0], "probability": [0.6, 0.7]})
    for form in (series, array, table):
        assert as_labels(form).tolist() == [1, 0]
    with pytest.raises(DataError, match="whole numbers"):
        as_labels(daily([0.5, 1.0]))
    with pytest.raises(DataError, match="appears twice"):
        as_labels(pd.Series([0, 1], index=pd.to_datetime(["2021-01-01", "2021-01-01"])))
    with pytest.raises(DataError, match="-2 is not a regime"):
        as_labels(daily([-2, 0]))
    with pytest.raises(DataError, match="regime 3 is not one of the clusters"):
        frequencies(daily([3, 0]), clusters=2)
    with pytest.raises(OptionError, match="by must be one of month, season, year, all"):
        frequencies(series, by="decade")


def planted_field(test_seed=0):
    """60 daily windows in 3 regimes; a 6 x 8 grid with unit noise and, in regime 1 only,
    +4 inside the box latitude rows 1-2, longitude columns 2-4. Hourly steps."""
    rng = np.random.default_rng(test_seed)
    starts = pd.date_range("2021-01-01", periods=60, freq="1D")
    regimes = np.arange(60) % 3
    labels = pd.Series(regimes, index=starts)
    hours = pd.date_range("2021-01-01", periods=60 * 24, freq="1h")
    values = rng.normal(size=(hours.size, 6, 8))
    planted = np.zeros((6, 8), bool)
    planted[1:3, 2:5] = True
    in_regime_1 = np.repeat(regimes == 1, 24)
    values[np.ix_(in_regime_1, planted.any(1), planted.any(0))] += 4.0
    field = xr.Dataset(
        {"tp": (("time", "latitude", "longitude"), values,
                {"units": "mm", "long_name": "Total precipitation"})},
        coords={"time": hours, "latitude": np.linspace(50, 45, 6),
                "longitude": np.linspace(-10, 4, 8)})
    return field, labels, planted


@pytest.mark.parametrize("test", ["t-test", "bootstrap"])
def test_composites_find_the_planted_anomaly_and_only_it(test):
    field, labels, planted = planted_field()
    result = composites(field, labels, test=test, level=0.001, n_resamples=2000,
                        climatology="all")
    assert result["count"].values.tolist() == [20, 20, 20]
    assert result["tp"].dims == ("cluster", "latitude", "longitude")
    assert result["tp"].attrs["units"] == "mm"
    significant = result["tp_significant"].values
    assert significant[1][planted].all()
    assert not significant[1][~planted].any()
    # The other regimes see minus a third of the planted anomaly in the box (the mean of all
    # windows includes it): significant there too, and nowhere else.
    assert not significant[0][~planted].any() and not significant[2][~planted].any()
    # Hourly noise averaged over 24 steps: anomalies of 4 - 4/3 inside, about 0 outside.
    np.testing.assert_allclose(result["tp"].values[1][planted], 4 - 4 / 3, atol=0.1)
    np.testing.assert_allclose(result["tp"].values[1][~planted], 0.0, atol=0.1)


def test_composite_t_test_agrees_with_scipy():
    from scipy import stats

    field, labels, _ = planted_field(1)
    result = composites(field, labels, climatology="all")
    means, kept = window_means(field, labels)
    anomalies = means["tp"].values - means["tp"].values.mean(axis=0)
    expected = stats.ttest_1samp(anomalies[kept.to_numpy() == 2], 0.0, axis=0).pvalue
    np.testing.assert_allclose(result["tp_p_value"].values[2], expected, rtol=1e-4)


def test_composites_on_a_field_that_covers_part_of_the_record():
    field, labels, _ = planted_field()
    # Only the first 30 days are in the file; regime counts follow.
    part = field.sel(time=slice(None, "2021-01-30T23:00"))
    result = composites(part, labels, test=None)
    assert result["count"].values.tolist() == [10, 10, 10]
    assert result.attrs["windows_without_the_field"] == len(labels) - 30
    assert "tp_significant" not in result
    with pytest.raises(DataError, match="fall in none of the windows"):
        composites(field.assign_coords(time=field.time + np.timedelta64(400, "D")), labels)


def test_window_means_overlapping_windows_and_nan():
    times = pd.date_range("2021-01-01", periods=6, freq="6h")
    field = xr.DataArray([1.0, np.nan, 3.0, 5.0, 7.0, 9.0], dims="time", coords={"time": times})
    starts = pd.Series([0, 1, 0], index=times[[0, 2, 4]])
    means, kept = window_means(field, starts, "18h")   # steps 0-2, 2-4: overlapping
    np.testing.assert_allclose(means.values, [2.0, 5.0])
    # The last window would hold steps 4-5 of its three: left out, not averaged over 12 h.
    assert means.attrs["partial_windows_left_out"] == 1 and kept.tolist() == [0, 1]
    means, _ = window_means(field, starts, "12h")   # non-overlapping
    np.testing.assert_allclose(means.values, [1.0, 4.0, 8.0])


def test_window_means_refuses_a_field_coarser_than_the_windows():
    """Monthly means on daily windows: each window would hold one value or none."""
    days = pd.date_range("2021-01-01", periods=90)
    labels = pd.Series(np.arange(90) % 3, index=days)
    months = pd.date_range("2021-01-01", periods=4, freq="MS")
    monthly = xr.DataArray([1.0, 2.0, 3.0, 4.0], dims="time", coords={"time": months})
    with pytest.raises(DataError, match=r"^tp_monthly.nc: its time step \(31 days\) is longer "
                                        r"than the windows \(1 day\)"):
        window_means(monthly, labels, name="tp_monthly.nc")
    with pytest.raises(DataError, match=r"^field: its time step"):
        composites(monthly, labels)
    # Up to 1.5 windows is accepted: 36-hourly steps on daily windows, one step or none each.
    coarse = xr.DataArray(np.ones(10), dims="time",
                          coords={"time": pd.date_range("2021-01-01", periods=10, freq="36h")})
    means, _ = window_means(coarse, labels)
    assert means.sizes["time"] == 10


def test_composites_refuse_a_field_whose_anomalies_are_all_zero():
    """A field over one window, or one window per calendar month: every anomaly from the
    climatology would be zero, a composite of nothing."""
    labels = pd.Series([0, 1, 0, 1], index=pd.date_range("2021-01-01", periods=4))
    one_day = xr.DataArray(np.ones((1, 2)), dims=("time", "x"),
                           coords={"time": pd.date_range("2021-01-01", periods=1)}, name="t2m")
    with pytest.raises(OptionError) as error:
        composites(one_day, labels, name="t2m_day.nc")
    assert str(error.value) == ("t2m_day.nc: each calendar month holds one window of its times "
                                "(1 in all), so every anomaly from the monthly climatology is "
                                "zero; give a longer field or climatology all")
    with pytest.raises(DataError, match=r"^field: its times are in one window only"):
        composites(one_day, labels, climatology="all")
    months = pd.date_range("2021-01-01", periods=12, freq="MS")
    monthly_labels = pd.Series(np.arange(12) % 2, index=months)
    year = xr.DataArray(np.arange(12.0), dims="time", coords={"time": months}, name="sst")
    with pytest.raises(OptionError, match=r"each calendar month holds one window .*\(12 in all\)"):
        composites(year, monthly_labels)
    result = composites(year, monthly_labels, climatology="all")
    assert result["count"].values.tolist() == [6, 6]


def test_composites_monthly_climatology_fdr_and_no_regime_windows():
    times = pd.date_range("2021-01-01", periods=59, freq="1D")   # January and February
    february = times.month == 2
    values = np.where(february, 10.0, 0.0)[:, None] + np.zeros((59, 2))
    field = xr.DataArray(values, dims=("time", "x"), coords={"time": times}, name="t2m")
    labels = pd.Series(np.where(february, 1, 0), index=times)
    labels.iloc[0] = NO_REGIME
    # Against the whole record, regime 1 (February) is warm; against each month, not at all.
    whole = composites(field, labels, test=None, climatology="all")
    assert whole["t2m"].values[1, 0] > 4
    monthly = composites(field, labels, climatology="month", test=None)
    np.testing.assert_allclose(monthly["t2m"].values, 0.0)
    assert whole["count"].values.tolist() == [30, 28]   # the no-regime window is left out
    field, labels, planted = planted_field()
    adjusted = composites(field, labels, correction="fdr")
    assert (adjusted["tp_p_value"].values >= composites(field, labels)["tp_p_value"].values
            - 1e-7).all()
    # The default, monthly anomalies, finds the planted box too.
    assert composites(field, labels, level=0.001)["tp_significant"].values[1][planted].all()
    assert adjusted["tp_significant"].values[1][planted].all()
    with pytest.raises(OptionError, match="level must be a significance level"):
        composites(field, labels, level=5)
    with pytest.raises(OptionError, match="test must be one of t-test, bootstrap"):
        composites(field, labels, test="wilcoxon")
