"""`cli.py regimes` and `cli.py composites` on run folders, and the NetCDF files they write."""

import json
import os
import pathlib
import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner
from matplotlib.image import imread

from keras_dsc.cli import cli
from keras_dsc.maps import grid_aspect, map_layout
from keras_dsc.regimes import as_labels, frequencies, transitions
from keras_dsc.runs.regimes import assignments_dataset, composites_run, regime_statistics
from keras_dsc.runs.run_folder import read_assignments_table
from tests.helpers.cli_run import snapshot

DPI = 40


def assert_png(path, width_in, height_in, dpi=DPI):
    image = imread(path)
    assert image.shape[:2] == (round(height_in * dpi), round(width_in * dpi)), path.name
    assert image[..., :3].std() > 0
    return image


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    return shutil.copytree(tiny_run, tmp_path / "run")


def hand_made_run(folder, clusters, probabilities, start="2021-01-01", freq="1D", k=3):
    """A run folder as any method would write it: assignments.csv, config.json,
    preprocessing.json; no model."""
    folder.mkdir(parents=True)
    times = pd.date_range(start, periods=len(clusters), freq=freq)
    pd.DataFrame({"time": times.strftime("%Y-%m-%dT%H:%M:%S"), "cluster": clusters,
                  "probability": probabilities}).to_csv(folder / "assignments.csv", index=False)
    config = {"fit": {"n_clusters": k, "method": "eof-kmeans"},
              "data": {"source": "NetCDF files", "files": ["era5.nc"],
                       "options": {"window": 1, "stride": None, "resample": freq}}}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "preprocessing.json").write_text(json.dumps({"time_step": freq}))
    return folder


def test_regimes_command_on_a_run_of_another_method(tmp_path):
    clusters = [0, 0, 0, 1, 0, 0, 0, 2, 2, 1, 1, 1]
    probabilities = [0.9, 0.8, 0.9, 0.7, 0.9, 0.3, 0.9, 0.8, 0.8, 0.9, 0.9, 0.9]
    run = hand_made_run(tmp_path / "eof", clusters, probabilities)
    before = (run / "assignments.csv").read_bytes()
    result = CliRunner().invoke(cli, ["regimes", str(run), "--dpi", str(DPI)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "12 windows of 1D every 1D, 2021-01-01 to 2021-01-12"
    assert "regime 0: frequency 0.500, 2 episodes, mean 3.00 days, persistence 0.67" in \
        result.output
    out = run / "regimes"
    month = pd.read_csv(out / "frequency_month.csv", index_col=0)
    assert month.columns.tolist() == ["n_windows", "0", "1", "2"]
    assert month.loc[1].tolist() == [12, 6 / 12, 4 / 12, 2 / 12]
    counts = pd.read_csv(out / "transition_counts.csv", index_col=0)
    # Pairs: 0-0 x4, 0-1, 1-0, 0-2, 2-2, 2-1, 1-1 x2.
    assert counts.values.tolist() == [[4, 1, 1], [1, 2, 0], [0, 1, 1]]
    probabilities = pd.read_csv(out / "transition_probabilities.csv", index_col=0)
    np.testing.assert_allclose(np.diag(probabilities.values), [4 / 6, 2 / 3, 1 / 2])
    episodes = pd.read_csv(out / "episodes.csv")
    assert episodes["cluster"].tolist() == [0, 1, 0, 2, 1]
    assert episodes["duration_days"].tolist() == [3.0, 1.0, 3.0, 2.0, 3.0]
    assert episodes["end"].tolist()[0] == "2021-01-04T00:00:00"
    persistence = pd.read_csv(out / "persistence.csv", index_col=0)
    assert persistence["mean_duration_days"].tolist() == [3.0, 2.0, 2.0]
    longest = pd.read_csv(out / "longest_episodes.csv")
    assert longest.loc[0, "start"] == "2021-01-01T00:00:00"
    summary = json.loads((out / "regimes.json").read_text())
    assert summary["window_step"] == "1D" and summary["filters"]["min_duration"] is None
    assert_png(out / "frequencies.png", 12.0, 7.0)
    assert_png(out / "persistence.png", 12.0, 4.0)
    assert_png(out / "transitions.png", 5.0, 4.0)
    assert_png(out / "calendar.png", 11.0, 0.3 + 1.4)
    assert (run / "assignments.csv").read_bytes() == before
    # The run had no assignments.nc: it gets one (the assigned cluster's probability only).
    with xr.open_dataset(run / "assignments.nc") as ds:
        assert ds["cluster"].values.tolist() == clusters
        assert ds["probability"].dims == ("time",)


def test_filters_are_written_beside_the_assignments_never_over_them(tmp_path):
    clusters = [0, 0, 0, 1, 0, 0, 0, 2, 2, 1, 1, 1]
    probabilities = [0.9, 0.8, 0.9, 0.7, 0.9, 0.3, 0.9, 0.8, 0.8, 0.9, 0.9, 0.9]
    run = hand_made_run(tmp_path / "eof", clusters, probabilities)
    before = (run / "assignments.csv").read_bytes()
    result = CliRunner().invoke(cli, ["regimes", str(run), "--min-probability", "0.5",
                                      "--min-duration", "2D", "--no-plots"])
    assert result.exit_code == 0, result.output
    filtered = pd.read_csv(run / "regimes" / "assignments_filtered.csv")
    assert filtered.columns.tolist() == ["time", "cluster", "probability", "regime"]
    assert filtered["cluster"].tolist() == clusters
    # Probability: window 5 (0.3) is no regime. Duration 2D: the 1 at 3 lies between 0 0 0
    # and a one-day 0 (cut by the no-regime window): not two long flanks, so no regime; the
    # one-day 0s at 4 and 6 are no regime too.
    assert filtered["regime"].tolist() == [0, 0, 0, -1, -1, -1, -1, 2, 2, 1, 1, 1]
    assert (run / "assignments.csv").read_bytes() == before
    month = pd.read_csv(run / "regimes" / "frequency_month.csv", index_col=0)
    assert month.columns.tolist() == ["n_windows", "0", "1", "2", "-1"]
    assert month.loc[1, "-1"] == 4 / 12
    with xr.open_dataset(run / "regimes" / "assignments_filtered.nc") as ds:
        assert ds["cluster"].values.tolist() == filtered["regime"].tolist()
        assert ds["raw_cluster"].values.tolist() == clusters
        assert ds["cluster"].attrs["flag_meanings"] == "no_regime regime_0 regime_1 regime_2"
        assert ds.attrs["min_duration"] == "2D"
    assert not list((run / "regimes").glob("*.png"))
    # The folder exists now: a second run is refused in one line, nothing overwritten.
    again = CliRunner().invoke(cli, ["regimes", str(run)])
    assert again.exit_code == 2
    assert again.stderr.strip().splitlines() == [
        f"Error: --out: {run / 'regimes'} already exists; give another --out (nothing is "
        f"overwritten)"]
    bad = CliRunner().invoke(cli, ["regimes", str(run), "--out", str(tmp_path / "x"),
                                   "--min-duration", "3"])
    assert bad.exit_code == 2
    assert bad.stderr.strip() == "Error: --min-duration: '3' needs a unit, like 3D or 36h"
    assert not (tmp_path / "x").exists()
    # A rule for short episodes without the duration that makes them did nothing: refused.
    alone = CliRunner().invoke(cli, ["regimes", str(run), "--out", str(tmp_path / "x"),
                                     "--short-episodes", "no-regime"])
    assert alone.exit_code == 2
    assert alone.stderr.strip() == ("Error: --short-episodes acts on the episodes "
                                    "--min-duration removes: give --min-duration too")
    assert not (tmp_path / "x").exists()


def test_regime_statistics_of_the_tiny_run_match_its_assignments(run_copy):
    result = regime_statistics(run_copy, dpi=DPI)
    table = pd.read_csv(run_copy / "assignments.csv")
    labels = as_labels(table)
    assert result.step == pd.Timedelta("1D")  # windows of 8 three-hourly steps
    pd.testing.assert_frame_equal(result.tables["month"], frequencies(labels, by="month",
                                                                      clusters=2))
    pd.testing.assert_frame_equal(result.tables["transition_counts"],
                                  transitions(labels, clusters=2))
    assert sorted(p.name for p in result.out.glob("*.png")) == [
        "calendar.png", "frequencies.png", "persistence.png", "transitions.png"]


def test_assignments_netcdf_reopens_with_values_units_and_flags(run_copy):
    from keras_dsc.runs.regimes import write_run_assignments_netcdf

    path = run_copy / "assignments.nc"
    path.unlink(missing_ok=True)
    table = pd.read_csv(run_copy / "assignments.csv")
    probabilities = np.stack([1 - table["probability"], table["probability"]], axis=1)
    probabilities[table["cluster"] == 0] = probabilities[table["cluster"] == 0][:, ::-1]
    write_run_assignments_netcdf(run_copy, pd.to_datetime(table["time"]), table["cluster"],
                                 probabilities)
    with xr.open_dataset(path) as ds:
        assert ds["cluster"].dtype == np.int32
        assert ds["cluster"].values.tolist() == table["cluster"].tolist()
        assert ds["cluster"].attrs["flag_meanings"] == "regime_0 regime_1"
        assert ds["cluster"].attrs["flag_values"].tolist() == [0, 1]
        assert ds["probability"].dims == ("time", "regime")
        np.testing.assert_allclose(ds["probability"].values[np.arange(6), table["cluster"]],
                                   table["probability"], rtol=1e-6)
        assert ds["probability"].attrs["units"] == "1"
        starts = pd.to_datetime(table["time"]).to_numpy()
        assert (ds["time"].values == starts).all()
        assert (ds["time_bounds"].values[:, 1] - starts == np.timedelta64(1, "D")).all()
        assert ds["time"].attrs["standard_name"] == "time"
        assert ds.attrs["Conventions"] == "CF-1.8"
        assert ds.attrs["fit_n_clusters"] == 2 and ds.attrs["data_window"] == 8
        assert json.loads(ds.attrs["keras_dsc_config"])["fit"]["run_name"] == "tiny"
    with pytest.raises(Exception, match="already exists"):
        from keras_dsc.runs.regimes import write_netcdf

        write_netcdf(assignments_dataset(starts, [0] * 6, None, "1D"), path)


def precipitation_file(path, run, seed=0, with_lsm=True):
    """Hourly `tp` on a 1-degree grid unlike the run's (other region, other size), +1 mm over
    a box in the windows of regime 1, and a land-sea mask."""
    assignments = pd.read_csv(run / "assignments.csv")
    starts = pd.to_datetime(assignments["time"])
    hours = pd.date_range(starts.iloc[0], periods=len(starts) * 24, freq="1h")
    rng = np.random.default_rng(seed)
    latitude = np.arange(46.0, 35.0, -1.0)
    longitude = np.arange(-36.0, -21.0, 1.0)
    tp = 1e-3 * rng.random((hours.size, latitude.size, longitude.size))
    planted = np.zeros((latitude.size, longitude.size), bool)
    planted[3:6, 4:9] = True
    in_regime_1 = np.repeat(assignments["cluster"].to_numpy() == 1, 24)
    tp[np.ix_(in_regime_1, planted.any(1), planted.any(0))] += 1.0
    lsm = np.zeros((hours.size, latitude.size, longitude.size), "float32")
    lsm[:, :3, :4] = 1.0
    variables = {"tp": (("valid_time", "latitude", "longitude"), tp.astype("float32"),
                        {"units": "mm", "long_name": "Total precipitation"})}
    if with_lsm:
        variables["lsm"] = (("valid_time", "latitude", "longitude"), lsm,
                            {"units": "(0 - 1)", "long_name": "Land-sea mask"})
    xr.Dataset(variables, coords={"valid_time": hours, "latitude": latitude,
                                  "longitude": longitude}).to_netcdf(path)
    return path, planted


def test_composites_of_a_field_that_was_not_clustered(run_copy, tmp_path):
    path, planted = precipitation_file(tmp_path / "precip_2021.nc", run_copy)
    result = CliRunner().invoke(cli, ["composites", str(run_copy), "--data", str(path),
                                      "--variables", "tp", "--level", "0.001",
                                      "--dpi", str(DPI)])
    assert result.exit_code == 0, result.output
    counts = pd.read_csv(run_copy / "assignments.csv")["cluster"].value_counts().sort_index()
    assert result.output.splitlines() == [
        f"windows per regime: 0:{counts[0]}, 1:{counts[1]}", f"wrote {run_copy / 'composites-tp'}"]
    out = run_copy / "composites-tp"
    with xr.open_dataset(out / "composites.nc") as ds:
        assert ds["tp"].dims == ("cluster", "latitude", "longitude")
        assert ds["tp"].shape == (2, 11, 15)  # the field's own grid
        assert ds["tp"].attrs["units"] == "mm"
        assert ds["tp"].attrs["long_name"] == "mean anomaly of Total precipitation in each regime"
        assert ds["count"].values.tolist() == [counts[0], counts[1]]
        significant = ds["tp_significant"].values
        assert significant.dtype == bool
        assert significant[1][planted].all() and not significant[1][~planted].any()
        share = counts[1] / counts.sum()
        np.testing.assert_allclose(ds["tp"].values[1][planted], 1.0 - share, atol=1e-3)
        assert ds["latitude"].attrs["units"] == "degrees_north"
        assert ds.attrs["test"] == "t-test" and ds.attrs["significance_level"] == 0.001
        assert ds.attrs["window_length"] == "1D"
    table = pd.read_csv(out / "composite_counts.csv")
    assert table.to_dict("list") == {"cluster": [0, 1], "count": [counts[0], counts[1]]}
    aspect = grid_aspect(np.arange(46.0, 35.0, -1.0), np.arange(-36.0, -21.0, 1.0))
    assert_png(out / "composites.png", *map_layout(2, 1, aspect)["figsize"])


def test_composites_leave_out_windows_the_field_covers_in_part_and_say_what_they_did(
        run_copy, tmp_path):
    # An hourly field without the mornings (00-05 UTC) of the first three days, in a model's
    # noleap calendar: those days are not averaged over their afternoons (the diurnal cycle
    # would pass for a regime's anomaly), and both that and the calendar are said.
    path, _ = precipitation_file(tmp_path / "precip.nc", run_copy, with_lsm=False)
    with xr.open_dataset(path) as ds:
        ds = ds.load()
    hours = pd.DatetimeIndex(ds["valid_time"].values)
    ds = ds.isel(valid_time=~((hours < hours[0] + pd.Timedelta("3D")) & (hours.hour < 6)))
    ds["valid_time"].encoding = {"units": "hours since 2000-01-01", "calendar": "noleap"}
    ds.to_netcdf(tmp_path / "mornings.nc")
    result = CliRunner().invoke(cli, ["composites", str(run_copy), "--data",
                                      str(tmp_path / "mornings.nc"), "--variables", "tp",
                                      "--no-plots", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if line.startswith("note: ")]
    assert any("calendar 'noleap'" in line for line in notes), notes
    assert any(line.endswith(": 3 windows holding only some of their time steps in the field "
                             "left out (not averaged over part of their span)")
               for line in notes), notes
    with xr.open_dataset(tmp_path / "out" / "composites.nc") as written:
        assert written.attrs["partial_windows_left_out"] == 3
        assert "calendar 'noleap'" in written.attrs["notes"]
        windows = len(pd.read_csv(run_copy / "assignments.csv"))
        assert int(written["count"].sum()) == written.attrs["n_windows"] == windows - 3


def test_composites_of_the_runs_own_data_bootstrap_and_refusals(run_copy, tmp_path):
    ds, out = composites_run(run_copy, variables=["sst"], test="bootstrap", n_resamples=50,
                             plots=False)
    assert out == run_copy / "composites-sst"
    assert ds.attrs["n_resamples"] == 50
    assert np.isnan(ds["sst"].values[0]).any()  # land stays missing
    again = CliRunner().invoke(cli, ["composites", str(run_copy), "--variables", "sst"])
    assert again.exit_code == 2 and "already exists" in again.stderr
    missing = CliRunner().invoke(cli, ["composites", str(run_copy), "--variables", "tp"])
    assert missing.exit_code == 2
    assert missing.stderr.strip().splitlines()[0].endswith(
        "variable 'tp' not found; available: u10, v10, t2m, sst, sp, slhf, sshf")
    late = tmp_path / "late.nc"
    precipitation_file(late, run_copy, with_lsm=False)
    with xr.open_dataset(late) as field:
        field = field.assign_coords(valid_time=field.valid_time + np.timedelta64(900, "D"))
        field.load().to_netcdf(tmp_path / "later.nc")
    outside = CliRunner().invoke(cli, ["composites", str(run_copy), "--data",
                                       str(tmp_path / "later.nc"), "--variables", "tp"])
    assert outside.exit_code == 2
    assert f"{tmp_path / 'later.nc'}: its times (" in outside.stderr
    assert "fall in none of the windows" in outside.stderr
    assert not (run_copy / "composites-tp").exists()
    # The refused file is closed at once, though the refusal (its traceback) is still held, as
    # a notebook holds the last one: left open, the bundled HDF5 failed to read the built-in
    # cube ("NetCDF: HDF error") when it was opened next.
    assert outside.exc_info is not None and open_descriptors(tmp_path / "later.nc") == 0


def open_descriptors(path):
    """How many of this process's file descriptors are open on `path` (Linux)."""
    if not pathlib.Path("/proc/self/fd").is_dir():
        pytest.skip("no /proc/self/fd to count open files with")
    target = os.path.realpath(path)
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.path.realpath(f"/proc/self/fd/{fd}") == target
        except OSError:  # closed while listing
            pass
    return count


def test_an_opened_cube_closes_its_files(tmp_path):
    from keras_dsc.data import era5
    from tests.helpers.era5_files import write_era5

    path = write_era5(tmp_path / "era5.nc")
    cube = era5.open_cube(str(path))
    assert open_descriptors(path) >= 1
    cube.close()  # it closed nothing: the Dataset it returns is derived from the opened one
    assert open_descriptors(path) == 0


def cf_tables(folder):
    """Minimal CF tables for the checker, offline: the standard names these files use."""
    names = {"time": "s", "latitude": "degree_north", "longitude": "degree_east"}
    entries = "".join(f'<entry id="{n}"><canonical_units>{u}</canonical_units></entry>'
                      for n, u in names.items())
    standard = folder / "standard-names.xml"
    standard.write_text(f"<standard_name_table><version_number>1</version_number>"
                        f"<last_modified>2024-01-01</last_modified>{entries}"
                        f"</standard_name_table>")
    empty = folder / "empty.xml"
    empty.write_text("<table><version_number>1</version_number><date>2024-01-01</date></table>")
    return standard, empty


def test_netcdf_outputs_pass_the_cf_checker(run_copy, tmp_path):
    try:
        from cfchecker.cfchecks import CFChecker
    except (ImportError, OSError, FileNotFoundError) as error:  # cfunits needs UDUNITS-2
        pytest.skip(f"the CF checker does not run here ({error})")
    path, _ = precipitation_file(tmp_path / "precip.nc", run_copy)
    regime_statistics(run_copy, min_probability=0.55, plots=False)
    composites_run(run_copy, data=str(path), variables=["tp"], plots=False)
    standard, empty = cf_tables(tmp_path)
    for name in ("assignments.nc", "regimes/assignments_filtered.nc",
                 "composites-tp/composites.nc"):
        checker = CFChecker(cfStandardNamesXML=str(standard), cfAreaTypesXML=str(empty),
                            cfRegionNamesXML=str(empty), version="1.8", silent=True)
        checker.checker(str(run_copy / name))
        totals = checker.get_total_counts()
        assert (totals["FATAL"], totals["ERROR"], totals["WARN"]) == (0, 0, 0), (
            name, checker.all_messages)


def test_a_shortened_assignments_csv_is_refused_not_trusted(run_copy):
    """Frequencies and durations of a quarter of the windows would be silently wrong."""
    path = run_copy / "assignments.csv"
    windows = json.loads((run_copy / "config.json").read_text())["data"]["windowing"]["windows"]
    table = pd.read_csv(path)
    assert len(table) == windows  # as fit wrote it: regimes reads it
    assert CliRunner().invoke(cli, ["regimes", str(run_copy), "--no-plots"]).exit_code == 0
    table.iloc[:3].to_csv(path, index=False)
    result = CliRunner().invoke(cli, ["regimes", str(run_copy), "--no-plots", "--out",
                                      str(run_copy / "again")])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: {path}: 3 rows, but the run made {windows} windows (config.json); the file "
        f"was shortened or replaced"]
    assert not (run_copy / "again").exists()


def regimes_refusal(run_copy):
    """`regimes` on the run: refused with exit status 2 in one line, nothing written."""
    result = CliRunner().invoke(cli, ["regimes", str(run_copy), "--no-plots", "--out",
                                      str(run_copy / "again")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert not (run_copy / "again").exists()
    (line,) = result.stderr.strip().splitlines()
    return line


def cluster_at_row_4(cluster):
    def edit(table):
        table["cluster"] = table["cluster"].astype(object)
        table.loc[2, "cluster"] = cluster
        return "row 4 has cluster ", "not one of the run's clusters (0.."
    return edit


def a_day_later(table):
    table["time"] = (pd.to_datetime(table["time"]) + pd.Timedelta("1D")).dt.strftime(
        "%Y-%m-%dT%H:%M:%S")
    return f"row {len(table) + 1} starts at ", "outside the run's data ("


def probability_at_row_4(probability):
    def edit(table):
        table["probability"] = table["probability"].astype(object)
        table.loc[2, "probability"] = probability
        given = "no probability" if probability is None else f"probability {probability}"
        return f"row 4 has {given}", ", not a number in 0..1"
    return edit


def seven_hours_later_at_row_4(table):
    # Off the run's time steps (it passed: episode durations were computed from it).
    table.loc[2, "time"] = (pd.Timestamp(table.loc[2, "time"]) + pd.Timedelta("7h")).isoformat()
    return "row 4 starts at ", "not a time step of the run's data (every "


def in_another_utc_offset(table):
    # The same instants written in UTC+05:00 (a TypeError traceback before): read in UTC.
    table["time"] = (pd.to_datetime(table["time"]).dt.tz_localize("UTC")
                     .dt.tz_convert("Etc/GMT-5").map(lambda t: t.isoformat()))


@pytest.mark.parametrize("edit", [cluster_at_row_4(7), cluster_at_row_4(-5),
                                  cluster_at_row_4("NAO+"), a_day_later,
                                  probability_at_row_4("high"), probability_at_row_4(1.7),
                                  probability_at_row_4(None), seven_hours_later_at_row_4],
                         ids=["cluster 7", "cluster -5", "text", "a day later",
                              "probability text", "probability 1.7", "no probability",
                              "off the time steps"])
def test_an_edited_assignments_csv_is_refused_naming_the_file_and_row(run_copy, edit):
    # Was: "labels: regime 7 is not one of the clusters [0, 1, 2]", naming neither the file
    # nor anything the user gave; every window a day later passed (the row count matched)
    # and the regimes were reported a day off.
    path = run_copy / "assignments.csv"
    table = pd.read_csv(path)
    row, why = edit(table)
    table.to_csv(path, index=False)
    line = regimes_refusal(run_copy)
    assert line.startswith(f"Error: {path}: {row}"), line
    assert why in line and line.endswith("the file was edited or replaced")


def test_window_starts_in_another_utc_offset_are_read_in_utc(run_copy):
    path = run_copy / "assignments.csv"
    table = pd.read_csv(path)
    original = read_assignments_table(run_copy)
    in_another_utc_offset(table)
    assert table["time"].iloc[0].endswith("+05:00")
    table.to_csv(path, index=False)
    pd.testing.assert_frame_equal(read_assignments_table(run_copy), original)
    result = CliRunner().invoke(cli, ["regimes", str(run_copy), "--no-plots", "--out",
                                      str(run_copy / "again")])
    assert result.exit_code == 0, result.output


def test_an_assignments_csv_in_another_encoding_is_refused_in_one_line(run_copy):
    # Re-saved by a spreadsheet in Latin-1, with a degree sign: it was a UnicodeDecodeError.
    path = run_copy / "assignments.csv"
    path.write_bytes(path.read_bytes().replace(b"cluster", b"cluster \xb0", 1))
    line = regimes_refusal(run_copy)
    assert line.startswith(f"Error: {path}: not a readable CSV file ("), line


@pytest.mark.parametrize("damage", ["twice", "blank"])
def test_a_window_start_twice_or_blank_names_the_file_and_row(run_copy, damage):
    path = run_copy / "assignments.csv"
    table = pd.read_csv(path)
    if damage == "twice":
        table.loc[4, "time"] = table.loc[3, "time"]
        expected = (f"the window starting at {pd.Timestamp(table.loc[3, 'time']).isoformat()} "
                    f"appears twice")
    else:
        table.loc[4, "time"] = None
        expected = "row 6 has no time"
    table.to_csv(path, index=False)
    for command in (["regimes", str(run_copy), "--no-plots"],
                    ["composites", str(run_copy), "--no-plots", "--variables", "t2m"]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 2, result.output
        assert result.stderr.strip().splitlines() == [f"Error: {path}: {expected}"]
    assert sorted(p.name for p in run_copy.iterdir() if p.name.startswith(
        ("regimes", "composites"))) == []


def test_an_undeclared_fill_value_is_refused_not_averaged_in(run_copy, tmp_path):
    """A 1e30 in the field would make a regime's mean anomaly ~1e28 (issue 11, reliability)."""
    clean, _ = precipitation_file(tmp_path / "clean.nc", run_copy, with_lsm=False)
    with xr.open_dataset(clean) as field:
        field = field.load()
    field["tp"][30, 2, 3] = 1e30
    path = tmp_path / "filled.nc"
    field.to_netcdf(path)
    before = snapshot(run_copy)
    refused = CliRunner().invoke(cli, ["composites", str(run_copy), "--data", str(path),
                                       "--no-plots"])
    assert refused.exit_code == 2, refused.output
    assert refused.stderr.strip().splitlines() == [
        f"Error: {path}: variable 'tp' has 1 value beyond any physical range (-0.1..3000 mm), "
        f"the first at {pd.Timestamp(field.valid_time.values[30]).isoformat()} (1e+30); if "
        f"such values stand for missing data, pass --treat-as-missing 1e+30"]
    assert snapshot(run_copy) == before
    masked = CliRunner().invoke(cli, ["composites", str(run_copy), "--data", str(path),
                                      "--no-plots", "--treat-as-missing", "1e30"])
    assert masked.exit_code == 0, masked.output
    with xr.open_dataset(run_copy / "composites-tp" / "composites.nc") as ds:
        assert np.isfinite(ds["tp"].values).all()
        assert float(abs(ds["tp"]).max()) < 1.0


def test_a_field_coarser_than_the_windows_is_refused_naming_the_file(run_copy, tmp_path):
    """Monthly means composited on daily windows would put each month's mean in the regime of
    its first day only (issue 11, reliability)."""
    starts = pd.to_datetime(pd.read_csv(run_copy / "assignments.csv")["time"])
    months = pd.date_range(end=starts.iloc[-1], periods=6, freq="MS")  # the run's and before
    tp = np.random.default_rng(0).random((months.size, 4, 5)).astype("float32")
    path = tmp_path / "tp_monthly.nc"
    xr.Dataset({"tp": (("valid_time", "latitude", "longitude"), tp, {"units": "mm"})},
               coords={"valid_time": months, "latitude": [40.0, 39.0, 38.0, 37.0],
                       "longitude": [-30.0, -29.0, -28.0, -27.0, -26.0]}).to_netcdf(path)
    before = snapshot(run_copy)
    refused = CliRunner().invoke(cli, ["composites", str(run_copy), "--data", str(path),
                                       "--no-plots"])
    assert refused.exit_code == 2, refused.output
    assert refused.stderr.strip().splitlines() == [
        f"Error: {path}: its time step (31 days) is longer than the windows (1 day): each "
        f"window would hold one of its values or none; give the field at the windows' step "
        f"or finer"]
    assert snapshot(run_copy) == before
