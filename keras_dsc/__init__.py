"""keras_dsc: Deep Spatiotemporal Clustering of multivariate climate data cubes with Keras 3.

The Keras pieces are imported on first use, so `import keras_dsc.metrics` (say) does not pay
for importing TensorFlow.
"""

import importlib

from keras_dsc.errors import DataError

__version__ = "0.1.0"

_LAZY = {
    "ClusteringLayer": "keras_dsc.layers.clustering",
    "ConvLSTMEncoderBlock": "keras_dsc.layers.convlstm_blocks",
    "ConvLSTMDecoderBlock": "keras_dsc.layers.convlstm_blocks",
    "ConvLSTM2D": "keras_dsc.layers.conv_lstm",
    "DSC": "keras_dsc.models.dsc",
    "TargetDistributionUpdate": "keras_dsc.callbacks",
    "WindowBatches": "keras_dsc.batches",
    "train_dsc": "keras_dsc.training",
    "target_distribution": "keras_dsc.target",
}

__all__ = ["DataError", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'keras_dsc' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
