"""Never losing work (issue 12): the atomic run folder and `fit --resume` of a killed run.

The quick tests check the partial folder (hidden, renamed into place when complete) and the
one-line refusals; the slow ones kill a real `python cli.py fit` with SIGKILL, once in each
training phase, resume it, and compare its assignments with a run never stopped.
"""

import dataclasses
import fcntl
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pandas as pd
import pytest

from keras_dsc.data import DataOptions
from keras_dsc.runs import run_folder
from keras_dsc.runs.options import FitOptions
from tests.helpers.cli_run import ROOT, refused, run_cli, snapshot

TINY = dict(filters=(2,), latent_dim=4, n_clusters=2, plots=False, pretrain_steps=2, steps=2,
            batch_size=2)


def test_a_run_is_written_hidden_and_renamed_into_place(tmp_path):
    from keras_dsc.runs.fit import fit_run

    seen = {}

    def echo(line):
        if line.startswith("data:"):  # training has not begun: the claim is made
            seen["listing"] = sorted(p.name for p in tmp_path.iterdir())
            partial = tmp_path / ".r.partial"
            seen["inside"] = sorted(p.name for p in partial.iterdir())

    run = fit_run(DataOptions(days=4), FitOptions(**TINY, out=str(tmp_path), run_name="r"),
                  echo=echo, verbose=0)
    assert seen["listing"] == [".r.partial"]
    assert seen["inside"] == [run_folder.LOCK_FILE, run_folder.STATE_FOLDER]
    assert run == tmp_path / "r"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
    names = {p.name for p in run.iterdir()}
    assert {"model.keras", "assignments.csv", "config.json", "history.csv"} <= names
    assert not names & {run_folder.LOCK_FILE, run_folder.STATE_FOLDER, "checkpoint.keras"}
    assert json.loads((run / "config.json").read_text())["fit"]["run_name"] == "r"


def leftover(out, name="r", **fit):
    """A partial folder as a killed `fit` leaves it: its lock file (free) and saved options."""
    partial = out / f".{name}.partial"
    (partial / run_folder.STATE_FOLDER).mkdir(parents=True)
    (partial / run_folder.LOCK_FILE).touch()
    (partial / "history.csv").write_text("epoch,loss\n0,1.0\n")
    options = FitOptions(**{**TINY, **fit}, out=str(out), run_name=name)
    (partial / run_folder.STATE_FOLDER / run_folder.RUN_OPTIONS_FILE).write_text(json.dumps(
        {"fit": dataclasses.asdict(options), "data": dataclasses.asdict(DataOptions(days=4))},
        default=str))
    return partial


def test_a_leftover_partial_folder_is_refused_pointing_to_resume(tmp_path):
    partial = leftover(tmp_path)
    before = snapshot(tmp_path)
    line = refused(run_cli("fit", "--days", "4", "--out", tmp_path, "--run-name", "r"),
                   "--run-name", str(partial), "not finished", "fit --resume r")
    assert snapshot(tmp_path) == before
    # While a fit holds its lock, the name is being written: no --resume offered.
    with open(partial / run_folder.LOCK_FILE) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        busy = refused(run_cli("fit", "--days", "4", "--out", tmp_path, "--run-name", "r"),
                       "--run-name", "being written by another fit")
        also = refused(run_cli("fit", "--resume", "r", "--out", tmp_path),
                       "--resume", "being written by another fit")
    assert "--resume" not in busy and line != busy and also
    assert snapshot(tmp_path) == before


def test_resume_refusals_are_one_line(tmp_path):
    refused(run_cli("fit", "--resume", "nothing", "--out", tmp_path), "--resume",
            "no unfinished run nothing", str(tmp_path / ".nothing.partial"))
    leftover(tmp_path, steps=7)
    before = snapshot(tmp_path)
    refused(run_cli("fit", "--resume", "r", "--out", tmp_path, "--steps", "8"),
            "--steps 8 contradicts the run being resumed, which was started with 7",
            "leave --steps out")
    refused(run_cli("fit", "--resume", tmp_path / "r", "--days", "5"), "--days 5 contradicts")
    assert snapshot(tmp_path) == before


# The slow tests: a real SIGKILL in each phase, then fit --resume.

KILLABLE = ["--days", "12", "--filters", "2", "--latent-dim", "4", "--n-clusters", "3",
            "--batch-size", "2", "--update-interval", "3", "--tol", "0", "--no-plots",
            "--pretrain-steps", "60", "--steps", "60", "--seed", "3"]
"""12 windows at batch 2: 6 steps an epoch, 10 epochs of pre-training, 10 of joint training
(--tol 0: no early convergence), long enough to be killed in the middle of either phase."""


def saved_state(partial, phase):
    """The last epoch end saved by `phase` ('pretraining' or 'joint'), or None."""
    path = partial / run_folder.STATE_FOLDER / "seed-3" / phase / "state.npz"
    if not path.is_file():
        return None
    with np.load(path) as saved:  # written whole by os.replace: never half-read
        return json.loads(str(saved["meta"]))


def kill_during(out, name, phase, epochs):
    """Starts `cli.py fit`, SIGKILLs it once `phase` has saved `epochs` epoch ends; returns
    the partial folder and the state it was killed at."""
    partial = out / f".{name}.partial"
    process = subprocess.Popen([sys.executable, "cli.py", "fit", *KILLABLE, "--out", str(out),
                                "--run-name", name], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    deadline = time.monotonic() + 600
    state = None
    while process.poll() is None and time.monotonic() < deadline:
        state = saved_state(partial, phase)
        if state is not None and state["keras_epoch"] >= epochs:
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    code = process.wait(timeout=60)
    assert code == -signal.SIGKILL, (code, process.stderr.read()[-2000:])
    assert not (out / name).exists()
    state = saved_state(partial, phase)
    assert state is not None and not state["stopped"], state  # killed within the phase
    return partial, state


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    done = run_cli("fit", *KILLABLE, "--out", out, "--run-name", "whole")
    assert done.returncode == 0, done.stderr[-2000:]
    return out / "whole"


@pytest.mark.slow
@pytest.mark.parametrize("phase, epochs", [("pretraining", 3), ("joint", 13)])
def test_resume_after_kill_gives_the_uninterrupted_assignments(uninterrupted, tmp_path, phase,
                                                               epochs):
    partial, state = kill_during(tmp_path, "killed", phase, epochs)
    if phase == "joint":  # pre-training had ended and is not redone
        assert saved_state(partial, "pretraining")["stopped"]
    # What a killed run leaves: the hidden partial folder only.
    assert [p.name for p in tmp_path.iterdir()] == [partial.name]
    line = refused(run_cli("fit", *KILLABLE, "--out", tmp_path, "--run-name", "killed"),
                   "fit --resume killed")
    assert "not finished" in line
    done = run_cli("fit", "--resume", "killed", "--out", tmp_path, "--seed", "3")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resuming {tmp_path / 'killed'}" in done.stdout
    resumed = tmp_path / "killed"
    assert not partial.exists()
    expected = pd.read_csv(uninterrupted / "assignments.csv")
    got = pd.read_csv(resumed / "assignments.csv")
    differ = int((expected["cluster"] != got["cluster"]).sum())
    print(f"{phase}: killed after {state['keras_epoch']} epochs; windows that differ after "
          f"resume: {differ}")
    assert differ == 0
    pd.testing.assert_frame_equal(expected, got)  # the probabilities too
    # The whole history, as if never stopped (the killed epoch is logged once).
    assert (resumed / "history.csv").read_bytes() == (uninterrupted / "history.csv").read_bytes()
    metrics = [json.loads((run / "metrics.json").read_text()) for run in (uninterrupted, resumed)]
    assert metrics[0]["stopping"] == metrics[1]["stopping"]
    assert metrics[0]["epochs_run"] == metrics[1]["epochs_run"] == 20


class Interrupt(keras.callbacks.Callback):
    """Raises at the end of epoch `epoch`, before that epoch's backup is saved (as a kill
    there would leave it)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError(f"interrupted at epoch {epoch}")


@pytest.mark.slow
@pytest.mark.parametrize("epoch", [11, 16])  # pre-training watched for a plateau; joint
def test_resume_in_process_keeps_early_stopping_and_the_budgets(tmp_path, epoch):
    """`train_dsc(backup_dir=...)` called again after an interruption (in pre-training, which
    ends on a plateau of `EarlyStopping`, or in joint training) returns what an uninterrupted
    training returns: the state of `EarlyStopping` and of the budgets survived."""
    from keras_dsc import DSC
    from keras_dsc.training import train_dsc

    windows = np.random.default_rng(0).normal(size=(12, 2, 6, 6, 1)).astype("float32")

    def train(backup, callbacks=()):
        keras.utils.set_random_seed(0)
        model = DSC(input_shape=windows.shape[1:], n_clusters=3, filters=(2,), latent_dim=2)
        return train_dsc(model, windows, batch_size=4, pretrain_steps=60, steps=24,
                         update_interval=2, tol=0, plateau_delta=0.02, plateau_patience=2,
                         backup_dir=backup, callbacks=callbacks, verbose=0)

    whole = train(tmp_path / "whole")
    assert whole.stopping["pretraining"]["reason"] == "plateau"
    pretraining_epochs = whole.stopping["pretraining"]["steps"] // 3
    # The plateau is watched from epoch 10 (half the budget), pre-training ends at epoch 13.
    assert (epoch < pretraining_epochs) == (epoch == 11), whole.stopping
    with pytest.raises(RuntimeError, match="interrupted"):
        train(tmp_path / "cut", [Interrupt(epoch)])
    resumed = train(tmp_path / "cut")
    assert resumed.stopping == whole.stopping
    np.testing.assert_array_equal(resumed.labels, whole.labels)
    np.testing.assert_array_equal(resumed.probabilities, whole.probabilities)
    np.testing.assert_array_equal(resumed.initial_labels, whole.initial_labels)
    pd.testing.assert_frame_equal(pd.DataFrame(resumed.history), pd.DataFrame(whole.history))


def test_a_damaged_phase_state_is_refused_naming_it(tmp_path):
    """Found by a probe: a truncated state.npz ended `fit --resume` in a BadZipFile traceback."""
    from keras_dsc.errors import DataError
    from keras_dsc.training.resume import STATE_FILE, PhaseBackup

    folder = tmp_path / "pretraining"
    folder.mkdir()
    np.savez(folder / STATE_FILE, meta=np.array(json.dumps({"stopped": False})))
    (folder / STATE_FILE).write_bytes((folder / STATE_FILE).read_bytes()[:40])
    with pytest.raises(DataError) as error:
        PhaseBackup(folder)
    assert str(error.value) == (
        f"{folder / STATE_FILE}: the saved state of this training phase cannot be read (File "
        f"is not a zip file); remove {folder} to train the phase again from its beginning")
    assert (folder / STATE_FILE).is_file()  # nothing removed on the user's behalf
