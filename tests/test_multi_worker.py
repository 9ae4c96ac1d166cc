"""`fit --distribute multi-worker`: worker processes on 127.0.0.1 train one model.

Each worker is a real `python cli.py fit` process with its own `TF_CONFIG` (the cluster of
127.0.0.1 ports and its index in it), as a cluster manager would start them; TensorFlow's
`MultiWorkerMirroredStrategy` connects them over gRPC. Worker 0, the chief, writes the run
folder; the others leave nothing. The same global batch in one process gives the same labels.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from benchmarks.scaling import free_ports
from keras_dsc.runs import run_folder
from keras_dsc.training.workers import worker_task
from keras_dsc.errors import OptionError
from tests.helpers.cli_run import ROOT, refused, run_cli

TINY = ["--days", "12", "--filters", "2", "--latent-dim", "4", "--n-clusters", "2",
        "--batch-size", "4", "--pretrain-steps", "12", "--steps", "12", "--tol", "0",
        "--update-interval", "3", "--no-plots", "--seed", "1"]
"""12 daily windows at global batch 4 (2 per worker): 3 steps an epoch, 4 epochs a phase."""


def tf_config(ports, index):
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def start_workers(args, n=2):
    """Starts `n` `cli.py fit ARGS --distribute multi-worker` processes; returns them."""
    ports = free_ports(n)
    return [subprocess.Popen([sys.executable, "cli.py", "fit", *map(str, args),
                              "--distribute", "multi-worker"], cwd=ROOT, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
                                  "KERAS_BACKEND": "tensorflow",
                                  "TF_CONFIG": tf_config(ports, i)})
            for i in range(n)]


def finish(workers, timeout=600):
    """Waits for every worker (killing all at the timeout); returns `[(code, out, err)]`."""
    deadline = time.monotonic() + timeout
    done = []
    try:
        for process in workers:
            out, err = process.communicate(timeout=max(1, deadline - time.monotonic()))
            done.append((process.returncode, out, err))
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
    return done


def test_tf_config_is_read_and_checked():
    assert worker_task({"TF_CONFIG": tf_config([2000, 2001, 2002], 2)}) == (2, 3)
    for bad in (None, "", "{}", "not json", tf_config([2000], 1),
                json.dumps({"cluster": {"worker": ["h:1"]}, "task": {"type": "ps", "index": 0}})):
        with pytest.raises(OptionError, match="TF_CONFIG"):
            worker_task({} if bad is None else {"TF_CONFIG": bad})
    chief = json.dumps({"cluster": {"worker": ["h:1"], "chief": ["h:2"]},
                        "task": {"type": "worker", "index": 0}})
    with pytest.raises(OptionError, match="only 'worker' tasks"):
        worker_task({"TF_CONFIG": chief})


def test_multi_worker_refusals_are_one_line(tmp_path):
    done = run_cli("fit", "--days", "2", "--distribute", "multi-worker", "--out", tmp_path,
                   env={"TF_CONFIG": None, "KERAS_BACKEND": "tensorflow"})
    refused(done, "--distribute multi-worker needs TF_CONFIG")
    done = run_cli("fit", "--days", "2", "--distribute", "multi-worker", "--out", tmp_path,
                   env={"TF_CONFIG": "{\"cluster\": 1}", "KERAS_BACKEND": "tensorflow"})
    refused(done, "--distribute multi-worker: TF_CONFIG", "expected TF_CONFIG=")
    done = run_cli("fit", "--days", "2", "--distribute", "multi-worker", "--out", tmp_path,
                   env={"TF_CONFIG": tf_config([2000, 2001], 0), "KERAS_BACKEND": "jax"})
    refused(done, "--distribute multi-worker", "MultiWorkerMirroredStrategy", "tensorflow")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The same run without a strategy, in one process: the labels to agree with."""
    out = tmp_path_factory.mktemp("one")
    done = run_cli("fit", *TINY, "--out", out, "--run-name", "one",
                   env={"KERAS_BACKEND": "tensorflow"})
    assert done.returncode == 0, done.stderr[-3000:]
    return out / "one"


@pytest.mark.slow  # three small trainings, two of them in two processes each: about 2 minutes
def test_two_workers_train_one_model(one_process, tmp_path):
    (chief, *_), (worker, *_) = done = finish(start_workers([*TINY, "--out", tmp_path,
                                                             "--run-name", "r"]))
    assert chief == 0 and worker == 0, [d[2][-3000:] for d in done]
    assert "distribute: multi-worker over 2 devices" in done[0][1]
    assert "worker 1 of 2: trained with the others" in done[1][1]
    # Only the chief's run is left: the worker's scratch run is gone.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
    run = tmp_path / "r"
    hardware = json.loads((run / "config.json").read_text())["hardware"]
    assert (hardware["workers"], hardware["worker"], hardware["replicas"]) == (2, 0, 2)
    ours = pd.read_csv(run / "assignments.csv")
    theirs = pd.read_csv(one_process / "assignments.csv")
    assert (ours["cluster"] == theirs["cluster"]).all(), (ours, theirs)
    # Two replicas of 2 windows sum the gradients of one device's batch of 4: the same loss
    # curve but for the summation's round-off, which Adam's steps magnify as they add up (on
    # the run that set these bounds: the first epoch within a relative 8e-5, the eighth,
    # after 24 steps, within 7e-3).
    loss = [pd.read_csv(r / "history.csv")["loss"].to_numpy() for r in (run, one_process)]
    assert len(loss[0]) == len(loss[1]) == 8
    np.testing.assert_allclose(loss[0][0], loss[1][0], rtol=1e-3)
    np.testing.assert_allclose(loss[0], loss[1], rtol=2e-2)


def saved_epoch(partial):
    """The last joint-training epoch end a worker's partial folder has saved, or None."""
    path = partial / run_folder.STATE_FOLDER / "seed-1" / "joint" / "state.npz"
    if not path.is_file():
        return None
    with np.load(path) as saved:
        return json.loads(str(saved["meta"]))["keras_epoch"]


@pytest.mark.slow  # two-worker runs killed and resumed: about 2 minutes
def test_killed_workers_resume_to_the_same_labels(one_process, tmp_path):
    args = [*TINY, "--out", tmp_path, "--run-name", "k"]
    workers = start_workers(args)
    partials = [tmp_path / ".k.partial", tmp_path / ".k.worker-1.partial"]
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and all(w.poll() is None for w in workers):
        epochs = [saved_epoch(p) for p in partials]
        if None not in epochs and min(epochs) >= 5 and len(set(epochs)) == 1:
            for process in workers:  # both at the same epoch end, in the joint phase
                os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    codes = [w.wait(timeout=60) for w in workers]
    assert codes == [-signal.SIGKILL] * 2, [w.stderr.read()[-2000:] for w in workers]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in partials)
    # Each worker is started again with the same options and --resume (the name is the run's).
    done = finish(start_workers([*TINY, "--out", tmp_path, "--resume", "k"]))
    assert [d[0] for d in done] == [0, 0], [d[2][-3000:] for d in done]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k"]
    ours = pd.read_csv(tmp_path / "k" / "assignments.csv")
    theirs = pd.read_csv(one_process / "assignments.csv")
    assert (ours["cluster"] == theirs["cluster"]).all(), (ours, theirs)
