"""Keras models of keras_dsc."""

from keras_dsc.models.deep_clustering import DeepClusteringModel
from keras_dsc.models.dsc import DSC
