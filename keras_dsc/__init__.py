"""keras_dsc: Deep Spatiotemporal Clustering of multivariate climate data cubes with Keras 3."""

from keras_dsc.errors import DataError

__version__ = "0.1.0"
