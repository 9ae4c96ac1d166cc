"""keras_dsc: Deep Spatiotemporal Clustering of multivariate climate data cubes with Keras 3.

Every name below is imported from its module on first use, so `import keras_dsc` (and, say,
`keras_dsc.DataOptions`) does not pay for importing TensorFlow. ARCHITECTURE.md says where each
piece lives.
"""

import importlib

from keras_dsc.errors import DataError, OptionError

__version__ = "0.1.0"

_LAZY = {
    # Keras layers and models.
    "ClusteringLayer": "keras_dsc.layers.clustering",
    "ConvLSTMEncoderBlock": "keras_dsc.layers.convlstm_blocks",
    "ConvLSTMDecoderBlock": "keras_dsc.layers.convlstm_blocks",
    "ConvLSTM2D": "keras_dsc.layers.conv_lstm",
    "DSC": "keras_dsc.models.dsc",
    # Training.
    "TargetDistributionUpdate": "keras_dsc.training.callbacks",
    "target_distribution": "keras_dsc.training.target",
    "train_dsc": "keras_dsc.training.procedure",
    # Data.
    "DataOptions": "keras_dsc.data.options",
    "WindowBatches": "keras_dsc.data.batches",
    "prepare_data": "keras_dsc.data.prepare",
    # Scores.
    "cluster_scores": "keras_dsc.scoring.metrics",
    # Runs (what the command line does).
    "FitOptions": "keras_dsc.runs.options",
    "fit_run": "keras_dsc.runs.fit",
    # Weather regimes, xarray in and out (scikit-learn's conventions).
    "RegimeModel": "keras_dsc.runs.regime_model",
}

__all__ = ["DataError", "OptionError", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'keras_dsc' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
