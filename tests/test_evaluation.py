import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from keras_dsc.data import builtin_cube_path
from keras_dsc.errors import DataError, OptionError
from keras_dsc.runs.evaluate import (
    evaluate_run,
    evaluation_data_options,
    format_scores,
    read_reference_labels,
    write_evaluation,
)
from keras_dsc.runs.run_folder import read_assignments

SCORES = {"silhouette_euclidean", "silhouette_cosine", "davies_bouldin", "calinski_harabasz",
          "total_rmse", "variance", "inter_cluster_distance", "n_clusters", "cluster_sizes",
          "features"}


@pytest.fixture(scope="module")
def own(tiny_run):
    return evaluate_run(tiny_run)


def write_builtin_copy(path, variables=None, days=6):
    """The built-in cube (as generated for the tiny run) written again as a plain NetCDF file."""
    with xr.open_dataset(builtin_cube_path(days)) as ds:
        subset = ds[variables] if variables else ds
        subset.load().to_netcdf(path)
    return path


def test_evaluate_own_data_reproduces_the_run(tiny_run, own):
    assert SCORES <= set(own)
    assert own["features"] == "normalised input windows, flattened (6 x 94136), area-weighted"
    assert own["data"]["own_data"] and own["data"]["n_windows"] == 6
    assert own["data"]["first_window"] == "2021-01-01T00:00:00"
    # The planted regimes of the built-in cube are the reference.
    assert own["reference"] == "planted regimes of the data"
    assert 0.0 <= own["nmi"] <= 1.0 and -1.0 <= own["ari"] <= 1.0
    # The reloaded model assigns the windows exactly as the run did.
    assert own["assignments"]["cluster"] == read_assignments(tiny_run).tolist()
    table = format_scores(own)
    assert table.splitlines()[0] == f"scores on {own['features']}"
    assert "silhouette_cosine" in table and "ari" in table


def test_evaluate_latent_features_with_a_labels_csv(tiny_run, tmp_path, own):
    # The run's own assignments with renamed clusters: a perfect match up to permutation.
    frame = pd.read_csv(tiny_run / "assignments.csv")
    pd.DataFrame({"time": frame["time"], "label": 7 - frame["cluster"]}).to_csv(
        tmp_path / "labels.csv", index=False)
    result = evaluate_run(tiny_run, labels_csv=tmp_path / "labels.csv", features="latent")
    assert result["features"] == "latent vectors of the model's encoder (6 x 4)"
    assert result["reference"] == f"labels from {tmp_path / 'labels.csv'}"
    assert result["ari"] == pytest.approx(1.0) and result["nmi"] == pytest.approx(1.0)
    # Same clusters, another space: other scores.
    assert result["total_rmse"] != pytest.approx(own["total_rmse"])
    path = write_evaluation(result, tmp_path / "deep" / "evaluation.json")
    assert path.is_file() and '"features": "latent vectors' in path.read_text()


def test_evaluate_other_data_file(tiny_run, tmp_path):
    path = write_builtin_copy(tmp_path / "other.nc")
    options = evaluation_data_options(tiny_run, data=str(path))
    assert options.window == 8 and options.resample == "3h" and options.time_range is None
    result = evaluate_run(tiny_run, options)
    assert not result["data"]["own_data"]
    assert result["data"]["files"] == [str(path)]
    assert result["data"]["n_windows"] == 6


@pytest.mark.parametrize("overrides, message", [
    ({"window": 4}, "window: samples of shape (4, 41, 41, 7)"),
    ({"resample": "6h"}, "resample: the data's time step 6h differs from the 3h"),
    ({"variables": ("t2m", "sst")}, "variables: t2m,sst differ from the variables of the run"),
])
def test_evaluate_refuses_data_that_does_not_fit_the_model(tiny_run, overrides, message):
    with pytest.raises(DataError) as error:
        evaluate_run(tiny_run, evaluation_data_options(tiny_run, **overrides))
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_evaluate_refuses_hourly_data_kept_hourly_naming_resample_and_the_file(tiny_run,
                                                                              tmp_path):
    """The run averaged hourly data to 3 h; `--resample none` on hourly files is refused by
    the option's name before the normaliser sees them (was: an unnamed 'transform:' error)."""
    path = write_builtin_copy(tmp_path / "hourly.nc")
    with pytest.raises(OptionError) as error:
        evaluate_run(tiny_run, evaluation_data_options(tiny_run, data=str(path),
                                                       resample="none"))
    assert str(error.value) == (f"resample: the time step of {path}, 1h after resample, differs "
                                f"from the model's 3h (pass resample 3h)")


def test_evaluate_refuses_a_file_without_the_models_variables(tiny_run, tmp_path):
    path = write_builtin_copy(tmp_path / "two.nc", ["t2m", "sst"])
    with pytest.raises(DataError) as error:
        evaluate_run(tiny_run, evaluation_data_options(tiny_run, data=str(path)))
    assert str(error.value) == f"{path}: variable 'u10' not found; available: t2m, sst"


def test_evaluation_options_refuse_another_normalisation(tiny_run):
    with pytest.raises(DataError, match="normalization: the model of .* leave the option out"):
        evaluation_data_options(tiny_run, normalization="minmax")
    assert evaluation_data_options(tiny_run, normalization="zscore").days == 6


def test_evaluate_refuses_a_missing_run_folder_and_bad_features(tmp_path, tiny_run):
    with pytest.raises(DataError, match="run folder not found"):
        evaluate_run(tmp_path / "nope")
    with pytest.raises(DataError, match="model.keras is missing"):
        (tmp_path / "config.json").write_text("{}")
        (tmp_path / "preprocessing.json").write_text("{}")
        evaluate_run(tmp_path)
    with pytest.raises(DataError, match="features: expected one of input, latent"):
        evaluate_run(tiny_run, features="pixels")


def test_read_reference_labels(tmp_path):
    starts = pd.date_range("2021-01-01", periods=3, freq="1D").values
    path = tmp_path / "labels.csv"
    pd.DataFrame({"time": pd.date_range("2021-01-01", periods=24, freq="3h"),
                  "cluster": np.arange(24) % 5}).to_csv(path, index=False)
    assert read_reference_labels(path, starts).tolist() == [0, 3, 1]  # rows 0, 8, 16

    pd.DataFrame({"time": ["2021-01-01", "2021-01-02"], "label": [1, 2]}).to_csv(
        path, index=False)
    with pytest.raises(DataError, match=r"no label for 1 of the 3 window start times, the first "
                       r"2021-01-03T00:00:00"):
        read_reference_labels(path, starts)

    pd.DataFrame({"date": ["2021-01-01"], "label": [1]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="expected the columns time and cluster"):
        read_reference_labels(path, starts)

    pd.DataFrame({"time": ["2021-01-01", "2021-01-02", "2021-01-03"],
                  "label": [1, 1.5, 2]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="integer labels"):
        read_reference_labels(path, starts)

    # Names of classes, as index phases are often written: numbered in sorted order.
    pd.DataFrame({"time": ["2021-01-01", "2021-01-02", "2021-01-03"],
                  "label": ["Neutral", " El Nino", "Neutral"]}).to_csv(path, index=False)
    assert read_reference_labels(path, starts).tolist() == [1, 0, 1]
    pd.DataFrame({"time": ["2021-01-01", "2021-01-02", "2021-01-03"],
                  "label": ["Neutral", "1", "La Nina"]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="mixes numbers and names"):
        read_reference_labels(path, starts)
    pd.DataFrame({"time": ["2021-01-01", "2021-01-02", "2021-01-03"],
                  "label": ["Neutral", None, "La Nina"]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="the label column has no label on line 3; "):
        read_reference_labels(path, starts)
    path.write_text("time,label\n\n2021-01-01,Neutral\n\n\n2021-01-02,\n2021-01-03,La Nina\n")
    with pytest.raises(DataError, match="no label on line 6; "):  # blank lines counted
        read_reference_labels(path, starts)
    # One class written in two ways would be two classes to the scores (and to k).
    for other in ("el nino", "El Niño", "El  Nino"):
        pd.DataFrame({"time": ["2021-01-01", "2021-01-02", "2021-01-03"],
                      "label": ["El Nino", other, "La Nina"]}).to_csv(path, index=False)
        with pytest.raises(DataError, match="names one class in two ways") as error:
            read_reference_labels(path, starts)
        assert "'El Nino'" in str(error.value) and repr(other) in str(error.value)

    pd.DataFrame({"time": ["2021-01-01", "2021-01-01"], "label": [1, 2]}).to_csv(
        path, index=False)
    with pytest.raises(DataError, match="appears more than once"):
        read_reference_labels(path, starts)

    with pytest.raises(DataError, match="labels file not found"):
        read_reference_labels(tmp_path / "none.csv", starts)


def test_labels_written_by_month_or_day_match_windows_stamped_within_it(tmp_path):
    path = tmp_path / "labels.csv"
    monthly = pd.DatetimeIndex(["2000-01-16", "2000-02-15", "2000-03-16 12:00"]).values
    # An index table written by month (ONI-like): 2000-01 is read as 2000-01-01.
    pd.DataFrame({"time": ["1999-12", "2000-01", "2000-02", "2000-03", "2000-04"],
                  "label": ["La Nina", "La Nina", "Neutral", "El Nino", "El Nino"]}).to_csv(
        path, index=False)
    assert read_reference_labels(path, monthly).tolist() == [1, 2, 0]
    # Daily means stamped at 12:00 against labels written by date.
    daily = pd.date_range("2000-01-01 12:00", periods=3, freq="1D").values
    pd.DataFrame({"time": ["2000-01-01", "2000-01-02", "2000-01-03"],
                  "label": [2, 0, 1]}).to_csv(path, index=False)
    assert read_reference_labels(path, daily).tolist() == [2, 0, 1]
    # Two labels in one month: which one holds for the month is not guessed.
    pd.DataFrame({"time": ["2000-01-01", "2000-01-20", "2000-02-01", "2000-03-01"],
                  "label": [0, 1, 1, 0]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="no label for 3 of the 3 window start times"):
        read_reference_labels(path, monthly)
    # 3-hourly windows are matched at their start time only.
    pd.DataFrame({"time": ["2000-01-01", "2000-01-02"], "label": [0, 1]}).to_csv(path,
                                                                               index=False)
    with pytest.raises(DataError, match="no label for 2 of the 2 window start times"):
        read_reference_labels(path, pd.DatetimeIndex(["2000-01-01 03:00",
                                                      "2000-01-01 06:00"]).values)


def test_reference_labels_that_would_score_the_wrong_thing_are_refused(tmp_path):
    starts = pd.date_range("2020-01-01", periods=3, freq="1D").values
    path = tmp_path / "labels.csv"

    def refusal(frame, where=path):
        frame.to_csv(where, index=False)
        with pytest.raises(DataError) as error:
            read_reference_labels(where, starts)
        text = str(error.value)
        assert text.startswith(f"{where}: ") and "\n" not in text
        return text[len(f"{where}: "):]

    # Dates written as 20200101 are dates, not nanoseconds since 1970.
    pd.DataFrame({"time": [20200101, 20200102, 20200103], "label": [0, 1, 0]}).to_csv(
        path, index=False)
    assert read_reference_labels(path, starts).tolist() == [0, 1, 0]
    # Times in several UTC offsets are read in UTC (was: "not made of dates").
    pd.DataFrame({"time": ["2020-01-01T01:00:00+01:00", "2020-01-02T00:00:00+00:00",
                           "2020-01-02T19:00:00-05:00"], "label": [0, 1, 0]}).to_csv(
        path, index=False)
    assert read_reference_labels(path, starts).tolist() == [0, 1, 0]
    # Unix seconds are not dates: refused in one line, without pandas' warnings on stderr.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert refusal(pd.DataFrame({"time": [1577836800, 1577923200, 1578009600],
                                     "label": [0, 1, 0]})) == (
            "the time column is not made of dates (the first: '1577836800')")
    # Both columns: which one holds the reference is not guessed.
    assert refusal(pd.DataFrame({"time": ["2020-01-01", "2020-01-02", "2020-01-03"],
                                 "cluster": [2, 0, 1], "label": [0, 1, 0]})) == (
        "both a cluster and a label column; keep the one that holds the reference labels")
    # -1 ("no regime") would be a class to the scores but not to k.
    assert refusal(pd.DataFrame({"time": ["2020-01-01", "2020-01-02", "2020-01-03"],
                                 "label": [0, -1, 1]})).startswith("1 negative label (the "
                                                                   "first -1)")
    # One class: nothing to score.
    assert refusal(pd.DataFrame({"time": ["2020-01-01", "2020-01-02", "2020-01-03"],
                                 "label": [2, 2, 2]})) == (
        "every window has the label 2; the scores need at least two classes")
    # Times that miss the windows say where the file's times are.
    assert refusal(pd.DataFrame({"time": ["2019-01-01", "2019-01-02"], "label": [0, 1]})) == (
        "no label for 3 of the 3 window start times, the first 2020-01-01T00:00:00 (the "
        "file's times run 2019-01-01T00:00:00 to 2019-01-02T00:00:00)")
    # A header only (it said "the file's times run NaT to NaT").
    assert refusal(pd.DataFrame({"time": [], "label": []})) == (
        "no labels (the file has its header only)")
    # A folder is not a file (it was a traceback).
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    with pytest.raises(DataError, match=r"folder.csv: not a readable CSV file \("):
        read_reference_labels(folder, starts)
