"""Keras layers of keras_dsc."""

from keras_dsc.layers.clustering import ClusteringLayer
from keras_dsc.layers.convlstm_blocks import ConvLSTMDecoderBlock, ConvLSTMEncoderBlock
