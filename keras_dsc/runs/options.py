"""The options of a training run (`FitOptions`, validated) and the model and training they make."""

import dataclasses
import math
import numbers
import re

import numpy as np

from keras_dsc.data.options import option
from keras_dsc.errors import OptionError
from keras_dsc.training.hardware import CHOICES, DISTRIBUTE, check_distribute

METHODS = ("dsc", "eof-kmeans", "kmeans", "som")
"""The clusterings `fit` offers: the deep model and the classical recipes it is measured against."""

INITS = ("auto", "eof", "latent")
"""The partitions DSC's joint training can start from (`keras_dsc.training.start`)."""

RUN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
"""A run name is one path component: letters, digits, `_`, `.` and `-`, not starting with `.`."""


@dataclasses.dataclass
class FitOptions:
    """Model and training hyperparameters of a run, and where it is written.

    Attributes mirror `keras_dsc.DSC` and `keras_dsc.train_dsc`; `out` is the parent folder and
    `run_name` the run's folder inside it (`None`: a time stamp). The options check themselves
    when made: a bad value raises `keras_dsc.errors.OptionError` naming the field.

    Example:

    >>> FitOptions(n_clusters=4).n_clusters
    4
    >>> FitOptions(tol=2)
    Traceback (most recent call last):
    ...
    keras_dsc.errors.OptionError: tol must be a fraction in 0..1, got 2
    """

    method: str = option("dsc", "The clustering: dsc (the deep model), eof-kmeans (k-means on "
                         "the leading EOFs, the classical weather-regime recipe), kmeans "
                         "(k-means on the fields) or som (a self-organising map on the EOFs).")
    n_clusters: int = option(6, "Number of clusters k (SOM nodes for som).")
    pretrain_steps: int = option(240, "Step budget of autoencoder pre-training (0: none, as "
                                 "the paper); it stops earlier when the reconstruction "
                                 "plateaus.")
    steps: int = option(480, "Step budget of joint (reconstruction + clustering) training; "
                        "it stops earlier when fewer than --tol of the samples change cluster.")
    batch_size: int = option(16, "Windows per training batch.")
    gamma: float = option(1.0, "Weight of the KL clustering loss (1: the paper's 1:1 with the "
                         "reconstruction).")
    update_interval: int = option(20, "Training steps between recomputations of the target "
                                  "distribution P.")
    tol: float = option(0.001, "Stop when the fraction of samples changing cluster falls below "
                        "this.")
    latent_dim: int = option(16, "Size of the latent vector.")
    filters: tuple[int, ...] = option((8, 16), "ConvLSTM2D filters, one per depth level.")
    skip: bool = option(False, "U-net skip connections (off: the bottleneck must carry the "
                        "information).")
    recurrent_decoder: bool = option(False, "ConvLSTM2D decoder blocks (off: per-step "
                                     "Conv2D).", cli=False)
    per_step_code: bool = option(True, "The decoder starts from one code map per time step "
                                 "(off: one map repeated in time).", cli=False)
    learning_rate: float = option(2e-3, "Adam's learning rate.")
    jit_compile: str = option("auto", "XLA compilation: auto (on for JAX and GPUs, off for "
                              "TensorFlow on CPU, where it is slower), on or off.")
    mixed_precision: str = option("auto", "mixed_bfloat16 training: auto (on for GPUs and TPUs, "
                                  "off on CPU), on or off; losses and assignments stay "
                                  "float32.")
    distribute: str = option("none", "Data-parallel training: none, mirrored (TensorFlow's "
                             "MirroredStrategy on this machine's devices), data-parallel "
                             "(Keras' DataParallel, JAX) or multi-worker (TensorFlow's "
                             "MultiWorkerMirroredStrategy over the workers of TF_CONFIG; worker "
                             "0 writes the run); --batch-size is the global batch, split "
                             "across the devices.")
    area_weighting: bool = option(True, "Weight grid cells by their area, cos(latitude), in the "
                                  "loss, the EOFs and k-means and the scores.")
    n_eofs: int | None = option(None, "EOFs kept by eof-kmeans and som. Default: the fewest "
                                "that explain --explained-variance.")
    explained_variance: float = option(0.9, "Variance the EOFs keep when --n-eofs is not given.")
    seed: int = option(0, "Seed of Keras, NumPy, the shuffling and k-means.")
    init: str = option("auto", "The partition DSC's joint training starts from: auto (k-means "
                       "on the 2k leading EOFs, each standardised, where they hold clusters "
                       "by the gap statistic, refined by a Gaussian mixture with a shared "
                       "covariance on the 6k leading EOFs; otherwise eof), eof (EOF + k-means "
                       "on the input "
                       "windows) or latent (k-means on the pre-trained latent vectors, as DEC "
                       "and the paper).")
    n_init: int = option(1, "Seeds to train (seed, seed+1, ...); the run keeps the most compact "
                         "partition and reports how well the seeds agree (stability).")
    out: str = option("saved_models", "Parent output folder.")
    run_name: str | None = option(None, "Run folder name. Default: dsc-<timestamp>.")
    plots: bool = option(True, "Write PNG figures and the regime statistics.")
    resume: str | None = option(None, "Continue the run that a killed fit left unfinished: "
                                "its name (in --out) or the path of its folder. It keeps the "
                                "options it was started with and ends with the same "
                                "assignments as a run never stopped.")
    tensorboard: bool = option(False, "Write TensorBoard logs into the run folder (logs/): "
                               "both phases, label change and cluster sizes per epoch.")

    def __post_init__(self):
        if isinstance(self.method, str):  # eof_kmeans, as benchmark spells its rows
            self.method = self.method.strip().replace("_", "-")
        self.n_clusters = _integer(self, "n_clusters", 2, "at least 2")
        self.pretrain_steps = _integer(self, "pretrain_steps", 0, "0 or more")
        self.steps = _integer(self, "steps", 1, "positive")
        self.batch_size = _integer(self, "batch_size", 1, "positive")
        self.update_interval = _integer(self, "update_interval", 1, "positive")
        self.latent_dim = _integer(self, "latent_dim", 1, "positive")
        self.seed = _integer(self, "seed", 0, "0 or more")
        self.n_init = _integer(self, "n_init", 1, "positive")
        self.gamma = _number(self, "gamma", lambda v: v >= 0, "must not be negative")
        self.tol = _number(self, "tol", lambda v: 0 <= v <= 1, "must be a fraction in 0..1")
        self.learning_rate = _number(self, "learning_rate", lambda v: v > 0, "must be positive")
        filters = (self.filters,) if isinstance(self.filters, numbers.Integral) else self.filters
        if (isinstance(filters, str) or not filters or not all(
                isinstance(f, numbers.Integral) and not isinstance(f, bool) and f >= 1
                for f in filters)):
            raise OptionError(f"{{filters}} must be positive integers, one per depth level, "
                              f"got {self.filters}", "filters")
        self.filters = tuple(int(f) for f in filters)
        if self.run_name is not None and not RUN_NAME.match(str(self.run_name)):
            raise OptionError(f"{{run_name}}: {self.run_name!r} must be one folder name of "
                              f"letters, digits, '_', '.' and '-'", "run_name")
        for name in ("jit_compile", "mixed_precision"):
            if getattr(self, name) not in CHOICES:
                raise OptionError(f"{{{name}}} must be one of {', '.join(CHOICES)}, got "
                                  f"{getattr(self, name)!r}", name)
        check_distribute(self.distribute)
        if self.distribute != "none" and self.method != "dsc":
            raise OptionError(f"{{distribute}} {self.distribute} trains the deep model only; "
                              f"{{method}} {self.method} has no network to distribute",
                              "distribute", "method")
        if self.init not in INITS:
            raise OptionError(f"{{init}} must be one of {', '.join(INITS)}, got "
                              f"{self.init!r}", "init")
        if self.method not in METHODS:
            raise OptionError(f"{{method}} must be one of {', '.join(METHODS)}, got "
                              f"{self.method!r}", "method")
        if self.n_eofs is not None:
            self.n_eofs = _integer(self, "n_eofs", 1, "positive")
        self.explained_variance = _number(self, "explained_variance", lambda v: 0 < v <= 1,
                                          "must be in (0, 1]")
        self.out = str(self.out)
        if self.resume is not None and not str(self.resume).strip():
            raise OptionError("{resume} must name a run, got an empty name", "resume")
        if self.tensorboard:
            import importlib.util

            if importlib.util.find_spec("tensorboard") is None:
                raise OptionError("{tensorboard} needs the tensorboard package: pip install "
                                  "tensorboard (or the tensorboard extra of keras_dsc)",
                                  "tensorboard")

    def check_samples(self, n_samples, latitudes=None):
        """Raises `OptionError` when the data has fewer samples than clusters, or when area
        weighting would weigh every grid row by 0 (`latitudes` all at a pole)."""
        if self.n_clusters > n_samples:
            raise OptionError(f"{{n_clusters}} {self.n_clusters} is more than the {n_samples} "
                              f"samples of the data", "n_clusters")
        if self.area_weighting and latitudes is not None and len(latitudes) and np.all(
                np.cos(np.deg2rad(np.asarray(latitudes, "float64"))) < 1e-6):
            raise OptionError(f"{{area_weighting}}: every latitude of the data lies at a pole "
                              f"({', '.join(f'{v:g}' for v in np.unique(latitudes))}), where "
                              f"a grid cell's area, cos(latitude), is 0; choose a {{region}} "
                              f"with other latitudes or pass --no-area-weighting",
                              "area_weighting", "region")


def _integer(options, name, low, text):
    value = getattr(options, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise OptionError(f"{{{name}}} must be {text}, got {value!r}", name)
    return int(value)


def _number(options, name, ok, text):
    value = getattr(options, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            math.isfinite(value) and ok(value)):
        raise OptionError(f"{{{name}}} {text}, got {value!r}", name)
    return float(value)


def build_dsc(sample_shape, n_clusters, fit_options, dtype_policy="float32", latitudes=None):
    """A `keras_dsc.DSC` with the architecture options of `fit_options` (a `FitOptions`),
    computing in `dtype_policy` (`keras_dsc.training.hardware.hardware_settings` chooses);
    with `area_weighting` and the window's `latitudes`, its reconstruction error weighs every
    grid row by cos(latitude) (normalised to a mean of 1)."""
    from keras_dsc.models.dsc import DSC

    latitude_weights = None
    if fit_options.area_weighting and latitudes is not None:
        area = np.clip(np.cos(np.deg2rad(np.asarray(latitudes, "float64"))), 0.0, None)
        latitude_weights = tuple(float(w) for w in area / area.mean())

    return DSC(
        input_shape=tuple(sample_shape),
        n_clusters=n_clusters,
        filters=tuple(fit_options.filters),
        latent_dim=fit_options.latent_dim,
        skip=fit_options.skip,
        recurrent_decoder=fit_options.recurrent_decoder,
        per_step_code=fit_options.per_step_code,
        gamma=fit_options.gamma,
        dtype=dtype_policy,
        latitude_weights=latitude_weights,
    )


def train_with_options(model, windows, fit_options, log_dir=None, verbose="auto",
                       jit_compile="auto", initial_partition=None, backup_dir=None,
                       whiten_latent=False):
    """`keras_dsc.train_dsc` with the training options of `fit_options` (a `FitOptions`);
    `backup_dir` and `whiten_latent` are `train_dsc`'s (the backups `fit --resume` continues
    from; the latent space rescaled by the start partition).

    With `fit_options.tensorboard` and a `log_dir`, TensorBoard logs go to
    `<log_dir>/logs/` (`keras_dsc.runs.tensorboard.tensorboard_callbacks`).
    """
    from keras_dsc.training import train_dsc

    callbacks = []
    if fit_options.tensorboard and log_dir is not None:
        from keras_dsc.runs.tensorboard import tensorboard_callbacks

        callbacks = tensorboard_callbacks(log_dir, windows, fit_options.batch_size)

    return train_dsc(
        model, windows,
        batch_size=fit_options.batch_size,
        pretrain_steps=fit_options.pretrain_steps,
        steps=fit_options.steps,
        update_interval=fit_options.update_interval,
        tol=fit_options.tol,
        learning_rate=fit_options.learning_rate,
        seed=fit_options.seed,
        log_dir=log_dir,
        callbacks=callbacks,
        verbose=verbose,
        jit_compile=jit_compile,
        initial_partition=initial_partition,
        backup_dir=backup_dir,
        whiten_latent=whiten_latent,
    )
