"""Resuming a killed training phase: Keras's `BackupAndRestore` and the state it does not keep."""

import hashlib
import json
import os
import random
import shutil
import zipfile
from pathlib import Path

import keras
import numpy as np

from keras_dsc.data.batches import WindowBatches
from keras_dsc.errors import DataError

STATE_FILE = "state.npz"
"""The state of a phase that Keras's backup does not hold, written after it at every epoch end."""

KERAS_WEIGHTS = "latest.weights.h5"
KERAS_METADATA = "training_metadata.json"


def _digest(path):
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


class PhaseBackup:
    """The backup of one training phase (one `model.fit`) in `directory`, so that a killed
    process continues from its last completed epoch with the same result.

    `keras.callbacks.BackupAndRestore` (with `double_checkpoint`) saves the weights and the
    optimizer state at every epoch end and restores them, and the epoch, when `fit` starts
    again. `PhaseBackup` adds, in `state.npz` written atomically after it, what Keras does not
    keep: the step count of the `StepBudget`, the state of `EarlyStopping`, the target
    distribution P and the labels of `TargetDistributionUpdate`, the shuffling state of the
    `WindowBatches` and of Python's `random` (Keras shuffles the batch order with it), the
    per-epoch logs and `arrays` (the k-means labels), with the SHA-256 of the weights they go
    with. A state whose weights were not (or only half) written is matched with Keras's
    previous copy, or else the phase starts again; so the weights, the epoch and the rest
    always come from the same epoch end.

    Args:
        directory: the folder of this phase's backup (created when first saved).

    Attributes:
        state: dict of the last saved epoch end, or `None` (no usable backup: a fresh start).
        history: dict of lists, the phase's per-epoch logs so far.
        arrays: dict of arrays saved with the state.
    """

    def __init__(self, directory):
        self.directory = Path(directory)
        self.history = {}
        self.arrays = {}
        self._objects = {}
        self._saved = None
        self.state = self._read()

    @property
    def epochs(self):
        """Epochs this phase completed before the restart (0 on a fresh start)."""
        return len(next(iter(self.history.values()), [])) if self.state else 0

    @property
    def stopped(self):
        """Whether the phase had ended (a callback stopped it) at its last saved epoch."""
        return bool(self.state and self.state["stopped"])

    def _read(self):
        path = self.directory / STATE_FILE
        if not path.is_file():
            self.wipe()
            return None
        try:
            with np.load(path, allow_pickle=False) as saved:
                state = json.loads(str(saved["meta"]))
                self._saved = {k: saved[k] for k in saved.files if k != "meta"}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            # Written whole and renamed into place, so only a damaged disk or copy leaves it so.
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(
                error).__name__
            raise DataError(f"{path}: the saved state of this training phase cannot be read "
                            f"({reason}); remove {self.directory} to train the phase again "
                            f"from its beginning") from None
        weights = self.directory / KERAS_WEIGHTS
        if _digest(weights) != state["weights_sha256"]:
            previous = Path(f"{weights}.bkp")
            if _digest(previous) != state["weights_sha256"]:
                self.wipe()
                return None
            shutil.copyfile(previous, weights)  # killed while Keras saved the next epoch
        (self.directory / KERAS_METADATA).write_text(
            json.dumps({"epoch": state["keras_epoch"], "batch": 0}))
        self.history = state["history"]
        self.arrays = {k[len("array_"):]: v for k, v in self._saved.items()
                       if k.startswith("array_")}
        return state

    def wipe(self):
        """Forgets the backup (the phase starts from its beginning)."""
        shutil.rmtree(self.directory, ignore_errors=True)
        self.state, self.history, self.arrays = None, {}, {}

    def attach(self, budget=None, plateau=None, update=None, batches=None):
        """Names the objects whose state is saved and restored with the phase.

        Args:
            budget: the phase's `StepBudget`.
            plateau: its `keras.callbacks.EarlyStopping`.
            update: its `TargetDistributionUpdate`.
            batches: the training batches (a `WindowBatches`; other sources are not restored).
        """
        self._objects = {"budget": budget, "plateau": plateau, "update": update,
                         "batches": batches}
        if update is not None and self.state is not None:
            update.skip_first_update = True  # P is restored, not recomputed

    def callbacks(self):
        """`(first, last)`: the callbacks to put first and last in the phase's `fit`."""
        keras_backup = keras.callbacks.BackupAndRestore(str(self.directory),
                                                        double_checkpoint=True,
                                                        delete_checkpoint=False)
        return [keras_backup], [_SaveState(self)]

    def restore(self, model=None):
        """Sets the attached objects (and, given `model`, its weights) to the saved state."""
        if self.state is None:
            return
        if model is not None:
            if model.optimizer is not None and not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
            model.load_weights(self.directory / KERAS_WEIGHTS)
        state, saved, objects = self.state, self._saved, self._objects
        random.setstate((state["random"][0], tuple(state["random"][1]), state["random"][2]))
        if objects.get("budget") is not None:
            objects["budget"].steps = state["budget"]["steps"]
            objects["budget"].stopped = state["budget"]["stopped"]
        if objects.get("plateau") is not None:
            for key, value in state["plateau"].items():
                setattr(objects["plateau"], key, value)
        update = objects.get("update")
        if update is not None:
            update.targets[...] = saved["targets"]
            update.labels = saved["labels"] if "labels" in saved else None
            update.label_change = state["update"]["label_change"]
            update.converged = state["update"]["converged"]
            update._steps = state["update"]["steps"]
        batches = objects.get("batches")
        if isinstance(batches, WindowBatches) and "order" in saved:
            batches._order[...] = saved["order"]
            batches._rng.bit_generator.state = state["batches_rng"]
            batches.epochs_started = state["batches_epochs"]

    def save(self, epoch, logs, stopped):
        """Writes the state of the epoch end `epoch` (after Keras's backup of it)."""
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        objects = self._objects
        state = {
            "keras_epoch": int(epoch) + 1,
            "stopped": bool(stopped),
            "weights_sha256": _digest(self.directory / KERAS_WEIGHTS),
            "history": self.history,
            "random": list(random.getstate()),
        }
        arrays = {f"array_{k}": np.asarray(v) for k, v in self.arrays.items()}
        if objects.get("budget") is not None:
            state["budget"] = {"steps": objects["budget"].steps,
                               "stopped": objects["budget"].stopped}
        if objects.get("plateau") is not None:
            plateau = objects["plateau"]
            best = plateau.best  # None until the check starts (`start_from_epoch`)
            state["plateau"] = {"wait": int(plateau.wait), "stopped_epoch":
                                int(plateau.stopped_epoch),
                                "best": None if best is None else float(best),
                                "best_epoch": int(getattr(plateau, "best_epoch", 0))}
        update = objects.get("update")
        if update is not None:
            state["update"] = {"label_change": float(update.label_change),
                               "converged": bool(update.converged), "steps": update._steps}
            arrays["targets"] = np.asarray(update.targets)
            if update.labels is not None:
                arrays["labels"] = np.asarray(update.labels)
        batches = objects.get("batches")
        if isinstance(batches, WindowBatches):
            arrays["order"] = batches._order
            state["batches_rng"] = batches._rng.bit_generator.state
            state["batches_epochs"] = batches.epochs_started
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.directory / f".{STATE_FILE}.tmp"
        with open(temporary, "wb") as file:
            np.savez(file, meta=np.array(json.dumps(state)), **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.directory / STATE_FILE)
        self.state = state


class _SaveState(keras.callbacks.Callback):
    """Restores a `PhaseBackup` when `fit` starts and saves it at every epoch end (it runs
    last, after `EarlyStopping` has reset itself and Keras's backup has saved the weights)."""

    def __init__(self, backup):
        super().__init__()
        self.backup = backup

    def on_train_begin(self, logs=None):
        self.backup.restore()

    def on_epoch_end(self, epoch, logs=None):
        self.backup.save(epoch, logs, self.model.stop_training)
