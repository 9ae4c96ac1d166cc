"""Training: the DSC procedure (pre-training, k-means initialisation, joint training).

`train_dsc`, `pretrain`, `initialise_centres`, `embed`, `has_decoder` and `TrainingResult` live
in `keras_dsc.training.procedure` and are imported from there on first use, so that reading the
names of the training logs below does not import TensorFlow.
"""

import importlib

HISTORY_FILE = "history.csv"
"""The per-epoch log of both phases that `train_dsc(log_dir=...)` writes (`CSVLogger`)."""

CHECKPOINT_FILE = "checkpoint.keras"
"""The latest model that `train_dsc(log_dir=...)` keeps while training (`ModelCheckpoint`)."""

_PROCEDURE = ("TrainingResult", "embed", "fresh_optimizer", "has_decoder", "initialise_centres",
              "pretrain", "train_dsc")


def __getattr__(name):
    if name in _PROCEDURE:
        return getattr(importlib.import_module("keras_dsc.training.procedure"), name)
    raise AttributeError(f"module 'keras_dsc.training' has no attribute {name!r}")
