"""A fixed linear projection of flattened windows: weighting, centring and EOF components."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_dsc")
class Projection(keras.layers.Layer):
    """Projects flat feature vectors onto fixed components: `((x * weights) - offset) @ components`.

    The encoder of the classical regime recipes: `weights` are the area weights of every
    feature (sqrt(cos(latitude)) for an EOF analysis on a regular grid, or 1), `offset` the
    mean of the weighted training features and `components` the leading EOFs as columns (the
    principal components are then the output). With `n_components=None` there is no
    projection: the output is the weighted, centred features themselves (k-means on the
    fields). None of the weights trains: they are set from a fitted decomposition, for
    example `layer.components.assign(pca.components_.T)`.

    Args:
        n_components: int, the number of components, or `None` for no projection.
            Defaults to `None`.
        **kwargs: other keyword arguments of `keras.layers.Layer`.

    Call arguments:
        inputs: a 2-D tensor `(batch, features)`.

    Input shape:
        `(batch, features)`.

    Output shape:
        `(batch, n_components)`, or `(batch, features)` without components.

    Example:

    >>> import numpy as np
    >>> layer = Projection(2)
    >>> tuple(layer(np.ones((3, 5), "float32")).shape)
    (3, 2)
    """

    def __init__(self, n_components=None, **kwargs):
        super().__init__(**kwargs)
        self.n_components = None if n_components is None else int(n_components)
        if self.n_components is not None and self.n_components < 1:
            raise ValueError(f"n_components must be positive, got {n_components}")

    def build(self, input_shape):
        n = input_shape[-1]
        self.feature_weights = self.add_weight(
            name="feature_weights", shape=(n,), initializer="ones", trainable=False)
        self.offset = self.add_weight(name="offset", shape=(n,), initializer="zeros",
                                      trainable=False)
        self.components = None
        if self.n_components is not None:
            self.components = self.add_weight(
                name="components", shape=(n, self.n_components), initializer="zeros",
                trainable=False)

    def call(self, inputs):
        x = inputs * self.feature_weights - self.offset
        return x if self.components is None else ops.matmul(x, self.components)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1] if self.n_components is None
                else self.n_components)

    def get_config(self):
        config = super().get_config()
        config.update({"n_components": self.n_components})
        return config
