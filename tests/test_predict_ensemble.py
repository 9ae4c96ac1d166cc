"""`predict` on ensembles (a `number` dimension) and forecasts (a lead-time axis), from files
the tests write, and from xarray Datasets."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from keras_dsc.cli import cli
from keras_dsc.runs.predict import forecast_series, member_counts, predict
from tests.helpers.serving_run import make_run, write_data

MEMBERS = 3


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny run, three single-member files and the ensemble file made of them."""
    folder = tmp_path_factory.mktemp("ensemble")
    run_dir, _, _ = make_run(folder / "run", write_data(folder / "train.nc"))
    datasets = []
    for m in range(MEMBERS):
        with xr.open_dataset(write_data(folder / f"packed{m}.nc", seed=10 + m)) as ds:
            datasets.append(ds.load().drop_vars("number").expand_dims(number=[m]))
    ensemble = xr.concat(datasets, dim="number")
    for name in ensemble.variables:  # float32 as decoded, written as they are
        ensemble[name].encoding = {}
    ensemble["number"].attrs = {"long_name": "ensemble member numerical id",
                                "standard_name": "realization", "units": "1"}
    ensemble.to_netcdf(folder / "ensemble.nc")
    members = []
    for m in range(MEMBERS):  # each member alone, the same values
        ensemble.isel(number=m).to_netcdf(folder / f"member{m}.nc")
        members.append(folder / f"member{m}.nc")
    return {"run": run_dir, "members": members, "ensemble": folder / "ensemble.nc",
            "folder": folder}


def test_every_member_is_assigned_as_its_own_file_would_be(files, tmp_path):
    out = tmp_path / "clusters.csv"
    table = predict(files["run"], files["ensemble"], out=out)
    assert table.columns.tolist() == ["number", "time", "cluster", "probability"]
    assert sorted(table["number"].unique()) == list(range(MEMBERS))
    for m, path in enumerate(files["members"]):
        alone = predict(files["run"], path)
        member = table[table["number"] == m].reset_index(drop=True)
        pd.testing.assert_frame_equal(member.drop(columns="number"), alone)
    counts = pd.read_csv(tmp_path / "clusters_counts.csv")
    assert counts.columns.tolist() == ["time", "n_members", "count_0", "count_1",
                                       "fraction_0", "fraction_1"]
    assert len(counts) == 6 and (counts["n_members"] == MEMBERS).all()
    assert (counts["count_0"] + counts["count_1"] == MEMBERS).all()
    first = table[table["time"] == counts.loc[0, "time"]]
    assert counts.loc[0, "count_1"] == int((first["cluster"] == 1).sum())
    np.testing.assert_allclose(counts["fraction_0"] + counts["fraction_1"], 1.0)


def test_the_command_line_writes_both_tables(files, tmp_path):
    out = tmp_path / "ens.csv"
    result = CliRunner().invoke(cli, ["predict", "--model", str(files["run"]), "--data",
                                      str(files["ensemble"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        f"3 members; members per regime and time: wrote {tmp_path / 'ens_counts.csv'}")
    assert len(pd.read_csv(out)) == 18


def forecast_dataset(files, inits=("2021-01-01T00", "2021-01-02T00"), lead_name="step"):
    """Two ensemble forecasts of 3 days at hourly lead times, as cfgrib / the CDS write them:
    dims (number, forecast_reference_time, step, latitude, longitude)."""
    with xr.open_dataset(files["ensemble"]) as ensemble:
        ensemble = ensemble.load()
    forecasts = []
    for init in inits:
        start = np.datetime64(init)
        part = ensemble.sel(valid_time=slice(start, start + np.timedelta64(71, "h")))
        part = part.assign_coords(valid_time=part.valid_time - start).rename(
            valid_time=lead_name)
        forecasts.append(part.drop_vars("expver", errors="ignore"))
    ds = xr.concat(forecasts, dim="forecast_reference_time")
    ds = ds.assign_coords(forecast_reference_time=np.array(inits, "datetime64[ns]"))
    valid = ds.forecast_reference_time + ds[lead_name]
    return ds.assign_coords(valid_time=valid)


def test_forecasts_are_assigned_on_their_valid_times(files, tmp_path):
    ds = forecast_dataset(files)
    series = forecast_series(ds)
    assert [key for key, _ in series][:2] == [
        {"number": 0, "forecast_reference_time": "2021-01-01T00:00:00"},
        {"number": 1, "forecast_reference_time": "2021-01-01T00:00:00"}]
    assert len(series) == MEMBERS * 2
    path = tmp_path / "forecast.nc"
    ds.to_netcdf(path)
    out = tmp_path / "forecast_clusters.csv"
    table = predict(files["run"], path, out=out)
    assert table.columns.tolist() == ["number", "forecast_reference_time", "time", "cluster",
                                      "probability"]
    # Three days of lead time: three daily windows per member and forecast.
    second = table[table["forecast_reference_time"] == "2021-01-02T00:00:00"]
    assert sorted(second["time"].unique()) == ["2021-01-02T00:00:00", "2021-01-03T00:00:00",
                                               "2021-01-04T00:00:00"]
    # The valid times are those of the analysis: the same windows, the same clusters.
    analysis = predict(files["run"], files["members"][1])
    member = second[second["number"] == 1].set_index("time")["cluster"]
    assert member.tolist() == analysis.set_index("time").loc[member.index, "cluster"].tolist()
    counts = pd.read_csv(tmp_path / "forecast_clusters_counts.csv")
    assert counts.columns.tolist()[:3] == ["forecast_reference_time", "time", "n_members"]
    assert len(counts) == 6 and (counts["n_members"] == MEMBERS).all()
    # In memory, as an xarray Dataset, the same.
    pd.testing.assert_frame_equal(predict(files["run"], ds), table)


def test_a_single_forecast_with_a_scalar_initial_time_and_forecast_period(files):
    ds = forecast_dataset(files, inits=("2021-01-03T00",), lead_name="forecast_period")
    ds = ds.isel(forecast_reference_time=0)  # cfgrib: a scalar initial time
    table = predict(files["run"], ds)
    assert table["forecast_reference_time"].unique().tolist() == ["2021-01-03T00:00:00"]
    assert table["time"].unique().tolist() == ["2021-01-03T00:00:00", "2021-01-04T00:00:00",
                                               "2021-01-05T00:00:00"]


def test_a_lead_axis_that_is_not_made_of_timedeltas_is_refused(files):
    from keras_dsc.errors import DataError

    ds = forecast_dataset(files).assign_coords(step=np.arange(72))
    with pytest.raises(DataError, match="'step' is not made of lead times"):
        predict(files["run"], ds)


def test_member_counts_of_a_hand_made_table():
    table = pd.DataFrame({"number": [0, 1, 2, 0, 1, 2],
                          "time": ["t0", "t0", "t0", "t1", "t1", "t1"],
                          "cluster": [2, 2, 0, 1, 1, 1], "probability": [0.5] * 6})
    counts = member_counts(table, 3)
    assert counts[["count_0", "count_1", "count_2"]].values.tolist() == [[1, 0, 2], [0, 3, 0]]
    assert counts["fraction_2"].tolist() == [0.666667, 0.0]


def test_what_sends_files_to_the_forecast_path(files, tmp_path):
    """The usual path refuses these layouts with the messages `_forecast_layout` looks for;
    a file with neither dimension never takes the forecast path."""
    from keras_dsc.data import era5
    from keras_dsc.errors import DataError
    from keras_dsc.runs.predict import _forecast_layout

    forecast = forecast_dataset(files)
    single = forecast.isel(forecast_reference_time=0, number=0)
    for ds in (forecast, forecast.rename(step="forecast_period"), single):
        with pytest.raises(DataError) as error:
            era5.open_cube(ds)
        assert _forecast_layout(error.value), str(error.value)
    with pytest.raises(DataError) as error:
        era5.open_cube(files["ensemble"])
    assert _forecast_layout(error.value)
    assert forecast_series(files["members"][0]) is None
