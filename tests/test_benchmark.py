import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from keras_dsc.cli import cli
from keras_dsc.runs.benchmark import (
    METHOD_NAMES,
    BenchmarkSize,
    check_methods,
    paired_tests,
    run_benchmark,
    summarise,
    to_markdown,
    window1_options,
)
from keras_dsc.data import DataOptions, prepare_data
from keras_dsc.errors import DataError, OptionError
from keras_dsc.runs.options import FitOptions


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("KERAS_DSC_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def records(method, label, aris, silhouettes=None, status="ok"):
    silhouettes = silhouettes or [0.1] * len(aris)
    return [{"method": method, "label": label, "seed": seed, "status": status,
             "wall_time_s": 2.0 + seed, "cpu_time_s": 1.0, "ari": ari, "silhouette_cosine": s}
            for seed, (ari, s) in enumerate(zip(aris, silhouettes))]


def test_paired_tests():
    # Five seeds, the reference better on every one: the smallest two-sided Wilcoxon p.
    p_wilcoxon, p_ttest = paired_tests([0.9, 0.8, 0.85, 0.95, 0.7], [0.5, 0.6, 0.4, 0.55, 0.3])
    assert p_wilcoxon == pytest.approx(0.0625)
    assert p_ttest < 0.01
    assert paired_tests([0.5, 0.6], [0.5, 0.6]) == (1.0, 1.0)
    assert np.isnan(paired_tests([0.5], [0.4])[0])
    assert paired_tests([0.6, 0.7, 0.8], [0.5, 0.6, 0.7])[1] == 0.0  # constant difference


def test_summarise_means_stds_and_tests():
    rows = (records("kmeans", "k-means", [0.5, 0.6, 0.4, 0.55, 0.3])
            + records("dsc", "keras_dsc DSC", [0.9, 0.8, 0.85, 0.95, 0.7])
            + [{"method": "dsc_window1", "label": "DSC, window 1", "seed": None,
                "status": "1 samples of shape (1, 9, 9, 2) are fewer than the 3 clusters"}])
    table = summarise(rows).set_index("method")
    assert list(table.index) == ["kmeans", "dsc", "dsc_window1"]
    assert table.loc["kmeans", "ari_mean"] == pytest.approx(0.47)
    assert table.loc["kmeans", "ari_std"] == pytest.approx(np.std([0.5, 0.6, 0.4, 0.55, 0.3],
                                                                  ddof=1))
    assert table.loc["kmeans", "wall_time_s_mean"] == pytest.approx(4.0)
    assert table.loc["kmeans", "difference_mean"] == pytest.approx(0.84 - 0.47)
    assert table.loc["kmeans", "p_wilcoxon"] == pytest.approx(0.0625)
    assert table.loc["kmeans", "test_metric"] == "ari"
    assert np.isnan(table.loc["dsc", "p_wilcoxon"])
    assert table.loc["dsc_window1", "n_seeds"] == 0
    assert "fewer than the 3 clusters" in table.loc["dsc_window1", "status"]

    markdown = to_markdown(table.reset_index(), notes=["a note"])
    lines = markdown.splitlines()
    assert lines[0].startswith("| method | ARI ↑ |")
    assert "| k-means | 0.470 ± 0.120 |" in markdown
    assert "not run: 1 samples" in markdown
    assert "0.0625" in markdown and "- a note" in markdown


def test_summarise_tests_silhouette_without_reference_labels():
    rows = (records("kmeans", "k-means", [np.nan] * 3, [0.2, 0.25, 0.3])
            + records("dsc", "keras_dsc DSC", [np.nan] * 3, [0.4, 0.3, 0.5]))
    table = summarise(rows).set_index("method")
    assert table.loc["kmeans", "test_metric"] == "silhouette_cosine"
    assert table.loc["kmeans", "difference_mean"] == pytest.approx(0.15)
    assert "ARI" not in to_markdown(table.reset_index()).splitlines()[0]


def test_check_methods():
    assert [m.name for m in check_methods("dsc,kmeans")] == ["kmeans", "dsc"]
    assert len(check_methods(None)) == len(METHOD_NAMES) == 15
    with pytest.raises(DataError, match="methods: unknown method svm"):
        check_methods("kmeans,svm")
    # fit's spelling of a method is its row's name too (it was refused).
    assert [m.name for m in check_methods("eof-kmeans, dsc-skip")] == ["eof_kmeans", "dsc_skip"]
    assert FitOptions(method="eof_kmeans").method == "eof-kmeans"


def test_window1_data_averages_each_window():
    # Four days: daily anomalies of fewer are refused (the climatology would absorb them).
    options = DataOptions(days=4)
    prepared = prepare_data(options)
    one = window1_options(options, prepared)
    assert (one.window, one.resample) == (1, "86400s")  # 8 three-hourly steps: daily means
    daily = prepare_data(one)
    assert len(daily.windows) == len(prepared.windows) == 4
    np.testing.assert_array_equal(daily.windows.labels, prepared.windows.labels)


def test_cli_benchmark_writes_table(tmp_path):
    result = CliRunner().invoke(cli, ["benchmark", "--days", "3", "--seeds", "2", "--methods",
                                      "kmeans,agglomerative", "--n-clusters", "2",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    [folder] = tmp_path.iterdir()
    table = pd.read_csv(folder / "benchmark.csv")
    assert list(table["method"]) == ["kmeans", "agglomerative"]
    assert (table["n_seeds"] == 2).all()
    assert len(pd.read_csv(folder / "benchmark_seeds.csv")) == 4
    assert "| k-means |" in result.output and "| agglomerative (Ward) |" in result.output


def test_more_clusters_than_windows_is_refused_before_anything_is_written(tmp_path):
    # Every method's row said "not run" and the command exited 0 (found by a probe).
    with pytest.raises(OptionError, match="n_clusters 3 is more than the 2 windows of the"):
        run_benchmark(DataOptions(days=2), seeds=1, methods="kmeans,dsc", n_clusters=3,
                      out=tmp_path, echo=lambda line: None)
    assert list(tmp_path.iterdir()) == []


def test_too_few_clusters_are_refused_before_the_data_is_read(tmp_path):
    unreadable = tmp_path / "data" / "not_netcdf.nc"
    unreadable.parent.mkdir()
    unreadable.write_text("not a NetCDF file")
    out = tmp_path / "out"
    with pytest.raises(OptionError, match="n_clusters must be at least 2, got 1"):
        run_benchmark(DataOptions(data=[str(unreadable)]), seeds=1, methods="kmeans",
                      n_clusters=1, out=out, echo=lambda line: None)
    with pytest.raises(DataError, match="not_netcdf.nc"):  # what k = 2 meets: the data read
        run_benchmark(DataOptions(data=[str(unreadable)]), seeds=1, methods="kmeans",
                      n_clusters=2, out=out, echo=lambda line: None)
    assert not out.exists()


def test_cli_benchmark_bad_input(tmp_path):
    result = CliRunner().invoke(cli, ["benchmark", "--methods", "nope", "--days", "2",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--methods: unknown method nope" in result.output


TINY = BenchmarkSize(steps=2, pretrain_steps=2, batch_size=2, filters=(2,), latent_dim=2,
                     baseline_filters=(2,), lstm_units=2, dec_hidden=(4,),
                     published_width=1 / 64, published_iterations=2, kmeans_n_init=2)


@pytest.mark.slow
def test_quick_benchmark_every_method_has_a_row(tmp_path):
    table, csv_path, md_path = run_benchmark(DataOptions(days=4), seeds=2, quick=True,
                                             n_clusters=2, size=TINY, out=tmp_path,
                                             echo=lambda line: None)
    assert list(table["method"]) == list(METHOD_NAMES)
    assert (table["status"] == "ok").all(), table[["method", "status"]]
    assert (table["n_seeds"] == 2).all()
    assert table["ari_mean"].notna().all()
    assert table.loc[table["method"] != "dsc", "p_ttest"].notna().all()
    markdown = md_path.read_text()
    for label in table["label"]:
        assert f"| {label} |" in markdown
    assert pd.read_csv(csv_path).shape[0] == len(METHOD_NAMES)



def test_window1_rows_are_scored_against_the_labels_at_their_own_samples(tmp_path):
    # Daily windows every other day (--stride 16 of 3-hourly steps) and labels per day: the
    # window-1 rows have a sample per day, twice the windows. They lost the labels (ARI "-")
    # while the notes said ARI/NMI were against them, "on the same samples".
    rng = np.random.default_rng(0)
    steps = pd.date_range("2020-01-01", periods=12 * 8, freq="3h")
    days = steps.normalize().unique()
    labels = (np.arange(len(days)) // 2) % 2  # two days each: both in the windows
    pattern = np.linspace(-1.0, 1.0, 4 * 5).reshape(4, 5)
    msl = (101300 + 800 * np.where(labels[days.get_indexer(steps.normalize())], 1, -1)
           [:, None, None] * pattern + rng.normal(0, 100, (len(steps), 4, 5)))
    data = tmp_path / "msl.nc"
    import xarray as xr

    xr.Dataset({"msl": (("valid_time", "latitude", "longitude"), msl.astype("float32"),
                        {"units": "Pa"})},
               coords={"valid_time": steps, "latitude": [50.0, 49.0, 48.0, 47.0],
                       "longitude": [0.0, 1.0, 2.0, 3.0, 4.0]}).to_netcdf(data)
    pd.DataFrame({"time": days.strftime("%Y-%m-%d"), "label": labels}).to_csv(
        tmp_path / "labels.csv", index=False)
    table, _, md_path = run_benchmark(
        DataOptions(data=str(data), stride=16, anomalies=False), seeds=1,
        methods="kmeans,dsc_published", n_clusters=2, size=TINY, out=tmp_path / "out",
        echo=lambda line: None, labels_csv=tmp_path / "labels.csv")
    assert table["ari_mean"].notna().all(), table[["method", "ari_mean"]]
    text = md_path.read_text()
    assert ("Window-1 rows are trained and scored on the cube averaged over each window's "
            "span, one sample per span (12 samples, where the windows, with their stride, are "
            "6): their ARI/NMI against the label at each sample's start.") in text
