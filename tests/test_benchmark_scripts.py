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
                     "NetCDF file, streamed", "full fit, 8 daily windows"):
        assert expected in done.stdout, (expected, done.stdout)
