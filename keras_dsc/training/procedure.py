"""The full DSC training procedure: pre-training, k-means initialisation, joint training."""

import dataclasses
from pathlib import Path

import keras
import numpy as np
from sklearn.cluster import KMeans

from keras_dsc.data.batches import window_batches
from keras_dsc.training import CHECKPOINT_FILE, HISTORY_FILE
from keras_dsc.training.hardware import resolve_jit_compile
from keras_dsc.training.workers import broadcast_from_chief
from keras_dsc.training.callbacks import (
    MissingLabelChange,
    StepBudget,
    TargetDistributionUpdate,
    soft_assignments,
)


@dataclasses.dataclass
class TrainingResult:
    """What `train_dsc` returns.

    Attributes:
        labels: int array `(n_samples,)`, the cluster of every window.
        probabilities: float32 array `(n_samples, n_clusters)`, the soft assignments Q.
        initial_labels: int array, the k-means clusters of the pre-trained embedding.
        history: dict of lists, the per-epoch logs of both phases (pre-training first).
        converged: bool, whether the label change fell below `tol` within the step budget.
        stopping: dict, per phase (`"pretraining"`, `"joint"`): `steps` taken, `budget` and
            `reason`, what ended it (`"budget"`, `"plateau"`, `"converged"`, `"none"`); a
            joint phase ended by its budget adds `last_label_change`, the fraction of samples
            that changed cluster at its last update of P (the partition was still moving).
        details: dict, facts of other methods' fits (the EOFs a classical recipe kept, ...).
    """

    labels: np.ndarray
    probabilities: np.ndarray
    initial_labels: np.ndarray
    history: dict
    converged: bool
    stopping: dict = dataclasses.field(default_factory=dict)
    details: dict = dataclasses.field(default_factory=dict)


def embed(model, windows, batch_size):
    """Latent vectors of every window, in order (encoder only, no decoder).

    Args:
        model: a `keras_dsc.DSC` model.
        windows: the window source (see `keras_dsc.WindowBatches`).
        batch_size: int, windows per prediction batch.

    Returns:
        float32 array `(n_samples, latent_dim)`.
    """
    batches = window_batches(windows, batch_size)
    return model.assignment_model.predict(batches, verbose=0)["embedding"]


def whiten_latent(model, embedding, labels):
    """Rescales `model`'s latent space so that the partition `labels` scatters alike in every
    direction within its clusters; returns the embedding in the new coordinates.

    The encoder's last layer is multiplied by the inverse square root of the pooled
    within-cluster covariance of `embedding` (scaled to keep the total variance) and the
    decoder's first layer by its inverse, so the reconstruction is unchanged while the
    clustering layer's Student's t kernel, which weighs every latent direction alike, measures
    distances as a Gaussian mixture with a shared covariance does (see
    `keras_dsc.training.start.refine_by_mixture`).
    """
    from keras_dsc.training.start import within_cluster_covariance

    mean = broadcast_from_chief(embedding.mean(axis=0).astype("float32")).astype("float64")
    _, within = within_cluster_covariance(embedding, labels, int(labels.max()) + 1)
    values, vectors = np.linalg.eigh(within)
    transform = vectors @ np.diag(values ** -0.5) @ vectors.T
    transform *= np.sqrt(embedding.var(axis=0).sum() / max(
        float(((embedding - mean) @ transform).var(axis=0).sum()), 1e-12))
    transform = broadcast_from_chief(transform.astype("float32")).astype("float64")
    kernel, bias = (np.asarray(w, "float64") for w in model.to_latent.get_weights())
    model.to_latent.set_weights([(kernel @ transform).astype("float32"),
                                 ((bias - mean) @ transform).astype("float32")])
    kernel, bias = (np.asarray(w, "float64") for w in model.from_latent.get_weights())
    model.from_latent.set_weights([(np.linalg.inv(transform) @ kernel).astype("float32"),
                                   (bias + mean @ kernel).astype("float32")])
    return (embedding - mean) @ transform


def initialise_centres(model, windows, batch_size, seed=0, n_init=20, labels=None,
                       whiten=False):
    """Sets the clustering layer's centres from the current embedding.

    By default the centres are the k-means centres of the embedding (DEC's and the DSC
    paper's initialisation). Given a partition of the windows (`labels`, for example EOF +
    k-means on the input fields), the centres are instead the mean embedding of each of its
    clusters, so that joint training starts from that partition.

    Args:
        model: a `keras_dsc.DSC` model.
        windows: the window source.
        batch_size: int, windows per prediction batch.
        seed: int, k-means `random_state`.
        n_init: int, k-means restarts.
        labels: optional int array `(n_samples,)`, the partition to start from.
        whiten: bool, with `labels`: first rescale the latent space by the partition's
            within-cluster covariance (`whiten_latent`). Defaults to `False`.

    Returns:
        int array `(n_samples,)`, the initial labels.
    """
    embedding = embed(model, windows, batch_size).astype("float64")
    if labels is None:
        kmeans = KMeans(model.n_clusters, n_init=n_init, random_state=seed)
        labels = kmeans.fit_predict(embedding)
        centres = kmeans.cluster_centers_
    else:
        labels = np.asarray(labels)
        if whiten:
            embedding = whiten_latent(model, embedding, labels)
        centres = np.stack([embedding[labels == k].mean(axis=0) if np.any(labels == k)
                            else embedding.mean(axis=0) for k in range(model.n_clusters)])
    # Once, and broadcast: under multi-worker training every worker takes the chief's centres.
    model.clustering.centres.assign(broadcast_from_chief(centres.astype("float32")))
    return broadcast_from_chief(labels)


def has_decoder(model):
    """Whether a `DeepClusteringModel` reconstructs its input (overrides `decode`)."""
    from keras_dsc.models.deep_clustering import DeepClusteringModel

    return type(model).decode is not DeepClusteringModel.decode


def train_dsc(
    model,
    windows,
    batch_size=16,
    pretrain_steps=240,
    steps=480,
    update_interval=20,
    tol=0.001,
    learning_rate=2e-3,
    seed=0,
    kmeans_n_init=20,
    optimizer=None,
    plateau_delta=0.002,
    plateau_patience=3,
    log_dir=None,
    callbacks=(),
    verbose="auto",
    jit_compile="auto",
    initial_partition=None,
    backup_dir=None,
    whiten_latent=False,
):
    """Trains a DSC model with the full deep-clustering procedure, all through `model.fit`.

    1. Autoencoder pre-training (reconstruction only), for at most `pretrain_steps` training
       steps; it stops earlier once the reconstruction loss has improved by less than
       `plateau_delta` for `plateau_patience` epochs (`keras.callbacks.EarlyStopping`), but
       never before half that budget.
       Skipped for encoder-only models (no `decode`), which have nothing to reconstruct.
    2. k-means (scikit-learn, `kmeans_n_init` seeded restarts) on the latent vectors sets the
       clustering centres.
    3. Joint training of reconstruction + `gamma` * KL(P || Q) for at most `steps` steps:
       `TargetDistributionUpdate` recomputes P over the whole data set every
       `update_interval` steps and stops training when the fraction of changed labels falls
       below `tol`.

    The budgets are counted in training steps, not epochs, so that a short record and a long
    one get the same amount of training (a record of 50 windows at batch 16 would otherwise
    get 4 steps an epoch). `result.stopping` says what ended each phase.

    `keras.callbacks.TerminateOnNaN` guards both phases. With `log_dir`, `CSVLogger` writes
    `history.csv` (both phases; `label_change` is NaN while pre-training) and
    `ModelCheckpoint` keeps the latest model in `checkpoint.keras`.

    Args:
        model: a `keras_dsc.DSC` model.
        windows: the window source (NumPy array or `keras_dsc.data.windows.WindowedCube`).
        batch_size: int. Defaults to `16`.
        pretrain_steps: int, the step budget of pre-training (0 skips it). Defaults to `240`.
        steps: int, the step budget of joint training. Defaults to `480`.
        update_interval: int, training steps between target updates, at most one epoch's.
            Defaults to `20`.
        tol: float, the label-change fraction that stops joint training. Defaults to `0.001`.
        learning_rate: float, Adam's learning rate. Defaults to `2e-3`.
        seed: int, seeds Keras, NumPy, the shuffling and k-means. Defaults to `0`.
        kmeans_n_init: int, k-means restarts. Defaults to `20`.
        optimizer: optional Keras optimizer (instance, name or config dict) used instead of
            `Adam(learning_rate)`; each phase gets a fresh copy of it. Defaults to `None`.
        plateau_delta: float, the least improvement of the (normalised) reconstruction loss
            per epoch that keeps pre-training going. Defaults to `0.002`.
        plateau_patience: int, epochs without that improvement before pre-training stops.
            Defaults to `3`.
        log_dir: optional folder for `history.csv` and `checkpoint.keras`.
        callbacks: extra Keras callbacks for both phases.
        verbose: `fit`'s verbosity. Defaults to `"auto"`.
        jit_compile: XLA compilation of the training steps: a bool, or `"auto"`, `"on"`,
            `"off"` (see `keras_dsc.training.hardware.hardware_settings`: auto is off for
            TensorFlow on CPU, on for JAX and accelerators). Defaults to `"auto"`.
        initial_partition: optional int array `(n_samples,)`: the joint phase starts from the
            centres of this partition in the latent space (`initialise_centres(labels=...)`)
            instead of k-means on the latent vectors. Defaults to `None`.
        whiten_latent: bool, with `initial_partition`: rescale the latent space by that
            partition's within-cluster covariance first (`whiten_latent`). Defaults to
            `False`.
        backup_dir: optional folder where each phase backs itself up at every epoch end
            (`keras_dsc.training.resume.PhaseBackup`: `keras.callbacks.BackupAndRestore` and
            the state Keras does not keep). Called again with the same arguments after the
            process was killed, `train_dsc` continues from the last completed epoch of the
            phase it was in (a finished pre-training is not redone, the k-means labels are
            reloaded) and returns the same result as a run never stopped. Defaults to `None`.

    Returns:
        A `TrainingResult`.

    Example:

    >>> import numpy as np
    >>> from keras_dsc import DSC
    >>> windows = np.random.default_rng(0).normal(size=(12, 2, 6, 6, 1)).astype("float32")
    >>> model = DSC(input_shape=windows.shape[1:], n_clusters=3, filters=(2,), latent_dim=2)
    >>> result = train_dsc(model, windows, batch_size=4, pretrain_steps=3, steps=3,
    ...                    verbose=0)
    >>> result.labels.shape, result.stopping["pretraining"]["steps"]
    ((12,), 3)
    """
    keras.utils.set_random_seed(seed)
    jit_compile = resolve_jit_compile(jit_compile)
    n_samples = len(windows)
    steps_per_epoch = -(-n_samples // batch_size)
    # P is refreshed at least once an epoch, however small the data set.
    update_interval = min(update_interval, steps_per_epoch)
    guards = [keras.callbacks.TerminateOnNaN(), *callbacks]
    pre_backup = joint_backup = None
    if backup_dir is not None:
        from keras_dsc.training.resume import PhaseBackup

        if not model.built:  # BackupAndRestore restores into a built model
            model(np.asarray(windows[np.arange(1)], dtype="float32"))
        pre_backup = PhaseBackup(Path(backup_dir) / "pretraining")
        joint_backup = PhaseBackup(Path(backup_dir) / "joint")
        if not pre_backup.stopped and pretrain_steps > 0 and has_decoder(model):
            joint_backup.wipe()  # the joint phase never starts before pre-training ended
    loggers = []
    if log_dir is not None:
        log_dir = Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        kept = (pre_backup.epochs + joint_backup.epochs) if pre_backup is not None else 0
        _keep_rows(log_dir / HISTORY_FILE, kept)
        loggers = [
            keras.callbacks.CSVLogger(str(log_dir / HISTORY_FILE), append=True),
            keras.callbacks.ModelCheckpoint(str(log_dir / CHECKPOINT_FILE)),
        ]
    history = {}

    def record(logs):
        for key, values in logs.items():
            history.setdefault(key, []).extend(values)

    # 1. Autoencoder pre-training, within its step budget, until the reconstruction plateaus.
    logs, stopped = pretrain(model, windows, batch_size, pretrain_steps, learning_rate, seed,
                             optimizer, plateau_delta, plateau_patience,
                             callbacks=[MissingLabelChange(), *guards, *loggers], verbose=verbose,
                             jit_compile=jit_compile, backup=pre_backup)
    record(logs)
    stopping = {"pretraining": stopped}
    done_epochs = len(history.get("loss", []))

    # 2. k-means on the embedding initialises the centres (a resumed joint phase has them).
    if joint_backup is not None and "initial_labels" in joint_backup.arrays:
        initial_labels = joint_backup.arrays["initial_labels"]
    else:
        initial_labels = initialise_centres(model, windows, batch_size, seed, kmeans_n_init,
                                            initial_partition, whiten=whiten_latent)
        if joint_backup is not None:
            joint_backup.arrays["initial_labels"] = initial_labels

    # 3. Joint training against the global target distribution, within its step budget.
    model.clustering.trainable = True
    # The centres' trainability changed: the assignment model's predict function, compiled
    # while they were frozen, is made again (JAX under a `keras.distribution` fixes the
    # shardings of the trainable and non-trainable variables in it).
    model.assignment_model.predict_function = None
    model.compile(optimizer=fresh_optimizer(optimizer, learning_rate), jit_compile=jit_compile)
    targets = np.zeros((n_samples, model.n_clusters), dtype="float32")
    update = TargetDistributionUpdate(windows, targets, update_interval, tol, batch_size)
    budget = StepBudget(steps)
    if steps > 0:
        joint_batches = window_batches(windows, batch_size, shuffle=True, seed=seed + 1,
                                       targets=targets)
        joint_batches, steps_per_epoch, first, last = _phase_batches(
            joint_batches, joint_backup, budget=budget, update=update)
        if joint_backup is not None and joint_backup.stopped:
            joint_backup.restore(model)  # it had ended: nothing is left to train
            record(joint_backup.history)
        else:
            fitted = model.fit(
                joint_batches,
                epochs=done_epochs + _epochs_for(steps, n_samples, batch_size),
                initial_epoch=done_epochs,
                steps_per_epoch=steps_per_epoch,
                shuffle=_keras_shuffles(joint_batches),
                callbacks=[*first, budget, update, *guards, *loggers, *last],
                verbose=verbose,
            )
            model._initial_epoch = None  # set by BackupAndRestore; not for a later fit
            record(joint_backup.history if joint_backup is not None else fitted.history)
    stopping["joint"] = {"steps": budget.steps, "budget": int(steps),
                         "reason": "converged" if update.converged else
                         "budget" if budget.steps else "none"}
    if stopping["joint"]["reason"] == "budget" and np.isfinite(update.label_change):
        # Still moving when the budget ran out: how much, at the last update of P.
        stopping["joint"]["last_label_change"] = round(update.label_change, 4)

    probabilities = soft_assignments(model, windows, batch_size)
    return TrainingResult(
        labels=probabilities.argmax(axis=1),
        probabilities=probabilities,
        initial_labels=initial_labels,
        history=history,
        converged=update.converged,
        stopping=stopping,
    )


def fresh_optimizer(optimizer=None, learning_rate=2e-3):
    """A new optimizer for a training phase: `Adam(learning_rate)`, or a fresh copy of `optimizer`.

    Args:
        optimizer: `None`, a Keras optimizer instance (copied from its config, so no state is
            shared between phases), a name or a config dict.
        learning_rate: float, Adam's learning rate when `optimizer` is None.
    """
    if optimizer is None:
        return keras.optimizers.Adam(learning_rate)
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer.__class__.from_config(optimizer.get_config())
    return keras.optimizers.get(optimizer)


def pretrain(model, windows, batch_size=16, steps=240, learning_rate=2e-3, seed=0,
             optimizer=None, plateau_delta=0.002, plateau_patience=3, callbacks=(),
             verbose="auto", jit_compile="auto", backup=None):
    """Autoencoder pre-training: the reconstruction loss only, through `model.fit`.

    Trains for at most `steps` steps, and stops earlier once the reconstruction loss has
    improved by less than `plateau_delta` for `plateau_patience` epochs
    (`keras.callbacks.EarlyStopping`), never before half the budget. The clustering centres
    take no part in the loss, so they are frozen. A model without a decoder (`has_decoder`)
    has nothing to reconstruct and is only compiled.

    Args:
        model: a `keras_dsc` deep clustering model.
        windows: the window source.
        batch_size: int. Defaults to `16`.
        steps: int, the step budget (0: none). Defaults to `240`.
        learning_rate: float, Adam's learning rate. Defaults to `2e-3`.
        seed: int, seed of the shuffling. Defaults to `0`.
        optimizer: optional optimizer instead of Adam (see `fresh_optimizer`).
        plateau_delta: float, the least improvement of the reconstruction loss per epoch.
            Defaults to `0.002`.
        plateau_patience: int, epochs without it before stopping. Defaults to `3`.
        callbacks: more Keras callbacks of the `fit`.
        verbose: `fit`'s verbosity. Defaults to `"auto"`.
        jit_compile: a bool or `"auto"`/`"on"`/`"off"`, XLA compilation of the training
            step (`keras_dsc.training.hardware.hardware_settings`). Defaults to `"auto"`.
        backup: optional `keras_dsc.training.resume.PhaseBackup`: the phase backs itself up
            at every epoch end and, when it holds a backup, continues from it (or, if the
            phase had ended, only reloads its weights). Defaults to `None`.

    Returns:
        `(history, stopping)`: the dict of per-epoch logs (empty when nothing was trained) and
        `{"steps", "budget", "reason"}` with `reason` `"budget"`, `"plateau"` or `"none"`.
    """
    model.clustering.trainable = False
    model.compile(optimizer=fresh_optimizer(optimizer, learning_rate),
                  jit_compile=resolve_jit_compile(jit_compile))
    stopping = {"steps": 0, "budget": int(steps), "reason": "none"}
    if steps <= 0 or not has_decoder(model):
        return {}, stopping
    budget = StepBudget(steps)
    # Never before half the budget: a record of 50 samples (4 steps an epoch) would otherwise
    # stop after a dozen steps, when the latent space has not formed yet.
    plateau = keras.callbacks.EarlyStopping(
        monitor="reconstruction_loss", mode="min", min_delta=plateau_delta,
        patience=plateau_patience,
        start_from_epoch=_epochs_for(steps // 2, len(windows), batch_size))
    batches = window_batches(windows, batch_size, shuffle=True, seed=seed)
    batches, steps_per_epoch, first, last = _phase_batches(batches, backup, budget=budget,
                                                           plateau=plateau)
    if backup is not None and backup.stopped:
        backup.restore(model)  # pre-training had ended: only its weights are reloaded
        history = backup.history
    else:
        fitted = model.fit(batches, epochs=_epochs_for(steps, len(windows), batch_size),
                           steps_per_epoch=steps_per_epoch, shuffle=_keras_shuffles(batches),
                           callbacks=[*first, budget, plateau, *callbacks, *last],
                           verbose=verbose)
        model._initial_epoch = None  # set by BackupAndRestore; not for the joint phase
        history = backup.history if backup is not None else fitted.history
    stopping.update(steps=budget.steps,
                    reason="plateau" if plateau.stopped_epoch > 0 and not budget.stopped
                    else "budget")
    return history, stopping


def _keep_rows(path, rows):
    """Keeps the header and the first `rows` rows of the CSV log `path` (all of it gone when
    `rows` is 0): a resumed run logs again the epochs after its last backup."""
    path = Path(path)
    if rows <= 0 or not path.is_file():
        path.unlink(missing_ok=True)
        return
    lines = path.read_bytes().splitlines(keepends=True)  # CSVLogger ends its lines with \r\n
    path.write_bytes(b"".join(lines[:rows + 1]))


def _epochs_for(steps, n_samples, batch_size):
    """The epochs that cover `steps` training steps (a `StepBudget` cuts the last one)."""
    return -(-int(steps) // -(-int(n_samples) // int(batch_size)))


def _phase_batches(batches, backup, **state):
    """`(batches as fit trains on them, their steps_per_epoch, first callbacks, last
    callbacks)` of one phase: with a `PhaseBackup`, it is told the phase's `state` (budget,
    plateau or update) and the batches before they are served, and its callbacks go first
    and last."""
    first = last = []
    if backup is not None:
        backup.attach(batches=batches, **state)
        first, last = backup.callbacks()
    return (*_served(batches), first, last)


def _served(batches):
    """`(what fit trains on, steps_per_epoch)`: with TensorFlow, a `WindowBatches` through
    `synchronous_batches` (no read-ahead: each batch takes the target distribution as it is
    at that step), repeated, with its batches per epoch, so that `fit` keeps one iterator for
    every epoch (a new iterator each epoch stalled the first step of many epochs by 4-5 s
    on 2 CPU cores: up to a third of the quick start's training time)."""
    from keras_dsc.data.batches import WindowBatches, synchronous_batches

    if isinstance(batches, WindowBatches) and keras.backend.backend() == "tensorflow":
        return synchronous_batches(batches).repeat(), len(batches)
    return batches, None


def _keras_shuffles(batches):
    """`fit`'s `shuffle`: Keras also shuffles a `PyDataset`'s batch order; a `tf.data` pipeline
    shuffles itself (and Keras warns when asked to)."""
    return isinstance(batches, keras.utils.PyDataset)
