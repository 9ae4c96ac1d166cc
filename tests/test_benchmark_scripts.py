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
