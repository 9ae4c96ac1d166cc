"""Keras layers of keras_dsc."""

from keras_dsc.layers.clustering import ClusteringLayer
from keras_dsc.layers.conv_lstm import ConvLSTM2D
from keras_dsc.layers.convlstm_blocks import ConvLSTMDecoderBlock, ConvLSTMEncoderBlock
from keras_dsc.layers.projection import Projection
