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
                     "building that TFDS dataset once", "full fit, 8 daily windows"):
        assert expected in done.stdout, (expected, done.stdout)


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
