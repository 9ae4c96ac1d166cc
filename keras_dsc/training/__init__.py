"""Training: the DSC procedure (pre-training, k-means initialisation, joint training)."""

from keras_dsc.training.procedure import (
    TrainingResult,
    embed,
    has_decoder,
    initialise_centres,
    train_dsc,
)
