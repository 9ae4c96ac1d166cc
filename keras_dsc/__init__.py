"""keras_dsc: Deep Spatiotemporal Clustering of multivariate climate data cubes with Keras 3.

Every name below is imported from its module on first use, so `import keras_dsc` (and, say,
`keras_dsc.DataOptions`) does not pay for importing TensorFlow. ARCHITECTURE.md says where each
piece lives.

keras_dsc's Keras layers and models are registered with Keras as soon as Keras is imported
(or at once, when it already is): after `import keras_dsc`,
`keras.saving.load_model("run/model.keras")` finds the `DSC` class without `custom_objects`.
"""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

from keras_dsc.errors import DataError, OptionError

__version__ = "0.1.0"

_LAZY = {
    # Keras layers and models.
    "ClusteringLayer": "keras_dsc.layers.clustering",
    "ConvLSTMEncoderBlock": "keras_dsc.layers.convlstm_blocks",
    "ConvLSTMDecoderBlock": "keras_dsc.layers.convlstm_blocks",
    "ConvLSTM2D": "keras_dsc.layers.conv_lstm",
    "DSC": "keras_dsc.models.dsc",
    "CentroidModel": "keras_dsc.models.centroids",
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


_SERIALIZABLE = ("keras_dsc.layers", "keras_dsc.models", "keras_dsc.models.baselines")
"""The modules whose import registers keras_dsc's classes with Keras (`package="keras_dsc"`)."""


def _register_with_keras():
    """Imports the modules that register keras_dsc's Keras classes (Keras is imported)."""
    try:
        for name in _SERIALIZABLE:
            importlib.import_module(name)
    except Exception as error:  # never break `import keras` for the user
        warnings.warn(f"keras_dsc could not register its Keras classes ({error}); load "
                      f"models with keras_dsc.runs.run_folder.load_model", stacklevel=2)


class _RegisteringLoader(importlib.abc.Loader):
    """Keras's own loader, which registers keras_dsc's classes once Keras is loaded."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _register_with_keras()

    def __getattr__(self, name):  # resources, is_package, ...: Keras's loader answers
        return getattr(self._loader, name)


class _WhenKerasIsImported(importlib.abc.MetaPathFinder):
    """A one-shot import hook: Keras, when imported, is loaded by `_RegisteringLoader`.

    Keras only imports the modules of its own packages when it deserialises, so the classes
    of a `.keras` file must be registered before `keras.saving.load_model`; this registers
    them without importing Keras (and TensorFlow) at `import keras_dsc`.
    """

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        sys.meta_path[:] = [f for f in sys.meta_path if f is not self]
        spec = importlib.util.find_spec("keras")
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


if "keras" in sys.modules:
    _register_with_keras()
elif not any(isinstance(f, _WhenKerasIsImported) for f in sys.meta_path):
    sys.meta_path.insert(0, _WhenKerasIsImported())
