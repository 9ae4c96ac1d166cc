"""Shared pytest setup of the tests and of the doctests of keras_dsc.

TensorFlow's start-up logs are quiet; generated built-in cubes go to a per-session cache. Every
doctest runs in a fresh temporary folder, so that examples write files as written
(`model.save("dsc.keras")`) without touching the checkout, and the examples of the commands
that read a run folder find one as `run_dir` (a copy of `tiny_run`).
"""

import os
import shutil
import tempfile

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Generated built-in cubes go to a per-session folder, never to the user's ~/.cache.
os.environ.setdefault("KERAS_DSC_CACHE", tempfile.mkdtemp(prefix="keras_dsc_test_cache_"))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A trained run folder, built once per session: 6 days of the built-in cube (6 windows of
    8 three-hourly steps), DSC with one ConvLSTM level of 2 filters, latent 4, k=2, one epoch of
    each phase, no figures. Tests that write into a run folder should copy it first."""
    from keras_dsc.data import DataOptions
    from keras_dsc.runs.fit import fit_run
    from keras_dsc.runs.options import FitOptions

    options = FitOptions(filters=(2,), latent_dim=4, steps=1, pretrain_steps=1, n_clusters=2,
                         plots=False, out=str(tmp_path_factory.mktemp("runs")), run_name="tiny")
    return fit_run(DataOptions(days=6), options, echo=lambda line: None, verbose=0)


@pytest.fixture(autouse=True)
def _doctests_in_a_temporary_folder(request):
    if type(request.node).__name__ != "DoctestItem":
        return
    tmp_path = request.getfixturevalue("tmp_path")
    request.getfixturevalue("monkeypatch").chdir(tmp_path)
    if "run_dir" in (request.node.dtest.docstring or ""):
        run_dir = tmp_path / "dsc-run"
        shutil.copytree(request.getfixturevalue("tiny_run"), run_dir)
        request.getfixturevalue("doctest_namespace")["run_dir"] = run_dir
