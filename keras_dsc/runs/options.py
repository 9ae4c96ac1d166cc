"""The options of a training run (`FitOptions`, validated) and the model and training they make."""

import dataclasses
import math
import numbers
import re

from keras_dsc.data.options import option
from keras_dsc.errors import OptionError

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

    n_clusters: int = option(6, "Number of clusters k.")
    epochs: int = option(20, "Epoch limit of joint (reconstruction + clustering) training.")
    pretrain_epochs: int = option(15, "Epochs of autoencoder pre-training (0: none, as the "
                                  "paper).")
    batch_size: int = option(16, "Windows per training batch.")
    gamma: float = option(0.1, "Weight of the KL clustering loss.")
    update_interval: int = option(20, "Training steps between recomputations of the target "
                                  "distribution P.")
    tol: float = option(0.001, "Stop when the fraction of samples changing cluster falls below "
                        "this.")
    latent_dim: int = option(16, "Size of the latent vector.")
    filters: tuple[int, ...] = option((8, 16), "ConvLSTM2D filters, one per depth level.")
    skip: bool = option(False, "U-net skip connections (off: the bottleneck must carry the "
                        "information).")
    recurrent_decoder: bool = option(True, "ConvLSTM2D decoder blocks (off: per-step Conv2D).",
                                     cli=False)
    learning_rate: float = option(2e-3, "Adam's learning rate.")
    seed: int = option(0, "Seed of Keras, NumPy, the shuffling and k-means.")
    out: str = option("saved_models", "Parent output folder.")
    run_name: str | None = option(None, "Run folder name. Default: dsc-<timestamp>.")
    plots: bool = option(True, "Write PNG figures and the regime statistics.")
    tensorboard: bool = option(False, "Write TensorBoard logs into the run folder (logs/): "
                               "both phases, label change and cluster sizes per epoch.")

    def __post_init__(self):
        self.n_clusters = _integer(self, "n_clusters", 2, "at least 2")
        self.epochs = _integer(self, "epochs", 1, "positive")
        self.pretrain_epochs = _integer(self, "pretrain_epochs", 0, "0 or more")
        self.batch_size = _integer(self, "batch_size", 1, "positive")
        self.update_interval = _integer(self, "update_interval", 1, "positive")
        self.latent_dim = _integer(self, "latent_dim", 1, "positive")
        self.seed = _integer(self, "seed", 0, "0 or more")
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
        self.out = str(self.out)
        if self.tensorboard:
            import importlib.util

            if importlib.util.find_spec("tensorboard") is None:
                raise OptionError("{tensorboard} needs the tensorboard package: pip install "
                                  "tensorboard (or the tensorboard extra of keras_dsc)",
                                  "tensorboard")

    def check_samples(self, n_samples):
        """Raises `OptionError` when the data has fewer samples than clusters."""
        if self.n_clusters > n_samples:
            raise OptionError(f"{{n_clusters}} {self.n_clusters} is more than the {n_samples} "
                              f"samples of the data", "n_clusters")


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


def build_dsc(sample_shape, n_clusters, fit_options):
    """A `keras_dsc.DSC` with the architecture options of `fit_options` (a `FitOptions`)."""
    from keras_dsc.models.dsc import DSC

    return DSC(
        input_shape=tuple(sample_shape),
        n_clusters=n_clusters,
        filters=tuple(fit_options.filters),
        latent_dim=fit_options.latent_dim,
        skip=fit_options.skip,
        recurrent_decoder=fit_options.recurrent_decoder,
        gamma=fit_options.gamma,
    )


def train_with_options(model, windows, fit_options, log_dir=None, verbose="auto"):
    """`keras_dsc.train_dsc` with the training options of `fit_options` (a `FitOptions`).

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
        pretrain_epochs=fit_options.pretrain_epochs,
        epochs=fit_options.epochs,
        update_interval=fit_options.update_interval,
        tol=fit_options.tol,
        learning_rate=fit_options.learning_rate,
        seed=fit_options.seed,
        log_dir=log_dir,
        callbacks=callbacks,
        verbose=verbose,
    )
