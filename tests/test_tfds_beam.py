"""The era5_cube build with Apache Beam: the statistics combine, and a real `tfds build` run by
the DirectRunner's worker processes against the plain build."""

import json
import os
import pathlib
import subprocess

import numpy as np
import pytest

from keras_dsc.data.tfds import open_tfds
from keras_dsc.data.tfds_build import final_statistics, merge_partials, partial_statistics
from tests.helpers import console_script
from tests.test_tfds import DAYS, ROOT, build, write_manual_dir

BEAM_OPTIONS = "runner=DirectRunner,direct_num_workers=2,direct_running_mode=multi_processing"


def _values():
    """(time, lat, lon, variable) with NaN, a large offset with a small spread, and a variable
    that is entirely NaN."""
    rng = np.random.default_rng(0)
    values = rng.normal(size=(37, 3, 4, 4))
    values[..., 1] = 101000.0 + 0.01 * values[..., 1]  # catastrophic for sum of squares
    values[rng.random(values.shape) < 0.2] = np.nan
    values[..., 3] = np.nan
    return values.astype("float32")


def test_merged_partials_equal_numpy_over_the_whole_array():
    from keras_dsc.data.tfds_beam import StatisticsCombineFn

    values = _values()
    names = ["a", "b", "c", "d"]
    cuts = [0, 1, 2, 10, 11, 30, 37]  # uneven blocks, one of a single step
    parts = [partial_statistics(values[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
    combine = StatisticsCombineFn(names)  # as Beam runs it: inputs, then accumulators merged
    accumulators = [combine.create_accumulator(), combine.create_accumulator()]
    for i, part in enumerate(parts[::-1]):
        accumulators[i % 2] = combine.add_input(accumulators[i % 2], part)
    from_beam = combine.extract_output(combine.merge_accumulators(accumulators))
    in_python = final_statistics(merge_partials(parts), names)
    flat = values.astype("float64").reshape(-1, 4)
    for j, name in enumerate(names[:3]):
        for stats in (from_beam, in_python):
            np.testing.assert_allclose(stats[name]["mean"], np.nanmean(flat[:, j]), rtol=1e-12)
            np.testing.assert_allclose(stats[name]["std"], np.nanstd(flat[:, j]), rtol=1e-9)
            assert stats[name]["min"] == np.nanmin(flat[:, j])
            assert stats[name]["max"] == np.nanmax(flat[:, j])
            assert stats[name]["count"] == np.isfinite(flat[:, j]).sum()
    empty = from_beam["d"]
    assert empty["count"] == 0 and np.isnan([empty[k] for k in ("mean", "std", "min", "max")]).all()


def _examples(folder):
    import tensorflow_datasets as tfds

    builder = tfds.builder_from_directory(str(folder))
    return list(builder.as_dataset(split="train", shuffle_files=False).as_numpy_iterator())


@pytest.mark.slow  # a Beam build by two worker processes (about 30 s against 14 s plain)
def test_tfds_build_with_beam_equals_the_plain_build(tmp_path):
    manual = write_manual_dir(tmp_path / "manual")
    plain = pathlib.Path(str(build("hourly24", manual, tmp_path / "plain").data_dir))
    data_dir = tmp_path / "beam"
    done = subprocess.run(
        [console_script("tfds"), "build", os.path.join(ROOT, "datasets", "era5_cube"),
         "--config", "hourly24", "--manual_dir", str(manual), "--data_dir", str(data_dir),
         "--num_shards", "2", f"--beam_pipeline_options={BEAM_OPTIONS}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    folder = data_dir / "era5_cube" / "hourly24" / "1.0.0"
    info = json.loads((folder / "dataset_info.json").read_text())
    assert sorted(int(n) for n in info["splits"][0]["shardLengths"]) == [1, 2]  # two shards

    expected, got = _examples(plain), _examples(folder)
    assert [e["index"] for e in got] == list(range(DAYS))  # in window order across the shards
    for a, b in zip(expected, got):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(b[key], a[key])

    meta_plain = json.loads((plain / "metadata.json").read_text())
    meta_beam = json.loads((folder / "metadata.json").read_text())
    stats_plain, stats_beam = meta_plain.pop("statistics"), meta_beam.pop("statistics")
    assert meta_plain.pop("beam_runner") is None and meta_beam.pop("beam_runner") == "DirectRunner"
    assert meta_beam == meta_plain
    assert stats_beam.keys() == stats_plain.keys()
    for name, figures in stats_plain.items():
        assert stats_beam[name]["count"] == figures["count"]
        for key in ("mean", "std", "min", "max"):
            np.testing.assert_allclose(stats_beam[name][key], figures[key], rtol=1e-9)

    windows = open_tfds("tfds:era5_cube/hourly24", data_dir)  # as fit --data tfds: reads it
    reference = open_tfds("tfds:era5_cube/hourly24", tmp_path / "plain")
    np.testing.assert_array_equal(windows.start_times, reference.start_times)
    np.testing.assert_allclose(windows[np.arange(DAYS)], reference[np.arange(DAYS)],
                               rtol=1e-6, equal_nan=True)
