"""Every benchmark runs as `python -m benchmarks.<name>` from the repository root."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if p.stem != "__init__")


def test_the_benchmarks_folder_is_a_package_of_scripts():
    assert (ROOT / "benchmarks" / "__init__.py").is_file()
    assert len(SCRIPTS) >= 5


@pytest.mark.parametrize("name", SCRIPTS)
def test_runs_as_a_module(name):
    done = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"benchmarks.{name}" in done.stdout or "usage" in done.stdout.lower(), done.stdout


@pytest.mark.slow
def test_train_step_benchmark_runs_at_its_tiny_size():
    done = subprocess.run([sys.executable, "-m", "benchmarks.train_step", "--quick",
                           "--full-fit"], cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-3000:]
    for expected in ("numpy float32 matmul", "DSC: ", "DSC (previous decoder)", "data path",
                     "NetCDF file, streamed", "NetCDF file, prepared once in memory",
                     "NetCDF file, prepared once into a mapped file",
                     "preparing the lazy NetCDF cube once", "TFDS era5_cube/hourly24",
                     "building that TFDS dataset once", "full fit, 8 daily windows",
                     "the bound on any ConvLSTM2D in the default DSC step"):
        assert expected in done.stdout, (expected, done.stdout)


@pytest.mark.slow
def test_the_gpu_benchmark_runs_under_jax_in_both_dtypes_at_its_tiny_size():
    # What a GPU machine runs (its image has JAX, not TensorFlow), here on the CPU.
    done = subprocess.run([sys.executable, "-m", "benchmarks.train_step", "--quick",
                           "--dtypes", "float32,mixed_bfloat16"], cwd=ROOT, capture_output=True,
                          text=True, timeout=900,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
                               "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "backend jax" in done.stdout, done.stdout
    for dtype in ("float32", "mixed_bfloat16"):
        row = next(line for line in done.stdout.splitlines()
                   if line.startswith("DSC: ") and line.split(", ")[-1].startswith(dtype))
        ratio = float(row.split()[-1].rstrip("x"))
        assert ratio > 0, row  # both layers measured, their samples/s a finite ratio


def test_the_centroid_ceiling_is_the_nearest_true_mean():
    import numpy as np

    from benchmarks.clustering_ceiling import nearest_true_centre

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 6)
    features = rng.normal(size=(18, 4)) + 0.8 * labels[:, None]
    for leave_one_out in (False, True):
        expected = []
        for i, x in enumerate(features):
            keep = np.arange(18) != i if leave_one_out else np.ones(18, bool)
            means = [features[keep & (labels == j)].mean(axis=0) for j in range(3)]
            expected.append(int(np.argmin([((m - x) ** 2).sum() for m in means])))
        assert nearest_true_centre(features, labels, leave_one_out).tolist() == expected
    # Leaving the window out can only move it away from its own regime's mean.
    assert (nearest_true_centre(features, labels, True) == labels).sum() <= (
        nearest_true_centre(features, labels) == labels).sum()


def test_the_supervised_bound_trains_on_other_cubes_of_the_same_kind(tmp_path):
    import numpy as np

    from benchmarks.clustering_ceiling import (encoder_classifier, independent_cubes,
                                               supervised_encoder, weighted_features)
    from keras_dsc.data import DataOptions, prepare_data

    cube = dict(days=6, n_regimes=4, regime_strength=0.45, episode_days=(2, 5))
    cubes = independent_cubes(2, tmp_path, **cube)
    own = prepare_data(DataOptions(**cube)).windows
    assert [len(other) for other in cubes] == [6, 6]  # a window a day
    (first, first_labels), (second, _) = (weighted_features(other) for other in cubes)
    own_features, _ = weighted_features(own)
    assert first.shape == own_features.shape and set(first_labels) <= set(range(4))
    # Other seeds: the same kind of windows, not the scored cube's own.
    assert not np.allclose(first, own_features) and not np.allclose(first, second)

    train = np.concatenate([other[np.arange(6)] for other in cubes])
    labels = np.concatenate([other.labels for other in cubes])
    predictions = list(supervised_encoder(train, labels, own, 4, epochs=2))
    model = encoder_classifier(own, 4)
    model(train[:1])
    encoder = {id(w) for w in model.dsc.encoder_blocks[0].trainable_weights}
    assert encoder and encoder <= {id(w) for w in model.trainable_weights}  # the encoder learns
    assert len(predictions) == 2
    assert all(p.shape == (6,) and set(p) <= set(range(4)) for p in predictions)


def test_a_climate_index_box_is_read_in_the_fields_own_longitudes():
    import numpy as np
    import xarray as xr

    from benchmarks.real_data import area_mean

    # A Pacific box across the date line, kept in 0..360 as the loader keeps it, and the same
    # field in -180..180: Nino-3.4 (170W-120W) is the same mean in both.
    longitudes = np.arange(150.0, 250.0, 10.0)
    values = np.random.default_rng(0).normal(size=(4, 3, longitudes.size))
    kept = xr.DataArray(values, name="sst", dims=("time", "latitude", "longitude"),
                        coords={"latitude": [5.0, 0.0, -5.0], "longitude": longitudes})
    western = kept.assign_coords(longitude=(longitudes + 180) % 360 - 180).sortby("longitude")
    nino34 = values[:, :, (longitudes >= 190) & (longitudes <= 240)]
    weights = np.cos(np.deg2rad([5.0, 0.0, -5.0]))[None, :, None]
    expected = (nino34 * weights).sum(axis=(1, 2)) / (weights.sum() * nino34.shape[2])
    for field in (kept, western):
        np.testing.assert_allclose(area_mean(field, 5, -5, -170, -120), expected)
    np.testing.assert_allclose(area_mean(kept), area_mean(western))
    with pytest.raises(ValueError, match="no grid point of 'sst'"):
        area_mean(kept, 5, -5, 0, 40)


def test_the_independent_cube_is_read_as_fit_reads_it(tmp_path):
    import numpy as np
    import xarray as xr

    from benchmarks.independent_cubes import make_cube, write_cube
    from keras_dsc.data import DataOptions, prepare_data

    cube = make_cube(days=24, k=4, strength=1.2, pair=True, seed=0)
    path = write_cube(tmp_path / "cube.nc", cube)
    with xr.open_dataset(path, mask_and_scale=False) as raw:
        assert raw["msl"].dtype == np.int16 and "scale_factor" in raw["msl"].attrs
    windows = prepare_data(DataOptions(data=[str(path)])).windows
    daily = cube["regime"].values[::8]
    assert windows.sample_shape == (8, 29, 41, 5) and len(windows) == 24
    np.testing.assert_array_equal(windows.labels, daily)
    # Episodes of 2-5 days (the last one cut by the record's end), never two in a row alike.
    lengths = np.diff(np.flatnonzero(np.r_[True, daily[1:] != daily[:-1], True]))
    assert (lengths[:-1] >= 2).all() and (lengths <= 5).all()
