"""Keras models of keras_dsc (importing this package registers all of them for loading)."""

from keras_dsc.models import baselines
from keras_dsc.models.centroids import CentroidModel
from keras_dsc.models.deep_clustering import DeepClusteringModel
from keras_dsc.models.dsc import DSC
