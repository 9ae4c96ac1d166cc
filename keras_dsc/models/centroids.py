"""The classical regime recipes as a Keras model: a fixed linear encoder, nearest centroids."""

import keras

from keras_dsc.layers.projection import Projection
from keras_dsc.models.deep_clustering import DeepClusteringModel

METHODS = ("kmeans", "eof-kmeans", "som")


@keras.saving.register_keras_serializable(package="keras_dsc")
class CentroidModel(DeepClusteringModel):
    """k-means on the fields, EOF + k-means or a SOM, as a model that assigns windows.

    The window (normalised anomalies, NaN filled with 0) is flattened, weighted by area,
    centred and projected onto fixed EOFs (`Projection`; no projection for k-means on the
    fields); the `ClusteringLayer` then holds the centroids (k-means centres or SOM nodes) in
    that space. Its Student's t assignment is largest for the nearest centroid, so the
    predicted cluster is the nearest centroid's, as in the classical recipe. Nothing trains:
    `keras_dsc.training.classical.fit_centroid_model` sets the weights. Being a Keras model
    like `DSC`, it saves as `.keras`, exports for TF Serving and predicts through the same
    code.

    Args:
        input_shape: tuple `(time, lat, lon, variables)`, the shape of one window.
        n_clusters: int, the number of centroids.
        n_components: int, the number of EOFs, or `None` (k-means on the fields).
        method: `"kmeans"`, `"eof-kmeans"` or `"som"`, what fitted the centroids (kept in the
            config for the record). Defaults to `"eof-kmeans"`.
        alpha: float, degrees of freedom of the Student's t kernel. Defaults to `1.0`.
        **kwargs: other keyword arguments of `keras.Model`.

    Call arguments:
        inputs: a 5-D tensor `(batch, time, lat, lon, variables)`, NaN where missing.

    Output shape:
        A dict: `"embedding"` `(batch, n_components or features)` (the principal components)
        and `"probabilities"` `(batch, n_clusters)`.

    Example:

    >>> import numpy as np
    >>> model = CentroidModel(input_shape=(1, 4, 5, 2), n_clusters=3, n_components=2)
    >>> tuple(model(np.zeros((6, 1, 4, 5, 2), "float32"))["probabilities"].shape)
    (6, 3)
    """

    def __init__(self, input_shape, n_clusters, n_components=None, method="eof-kmeans",
                 alpha=1.0, **kwargs):
        kwargs.pop("gamma", None)  # nothing trains: no clustering loss
        super().__init__(input_shape, n_clusters, alpha=alpha, gamma=0.0, **kwargs)
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        self.method = method
        self.n_components = None if n_components is None else int(n_components)
        self.flatten = keras.layers.Flatten(name="flatten")
        self.projection = Projection(self.n_components, name="projection")
        self.build_assignment_model()

    def encode(self, inputs, training=None):
        return self.projection(self.flatten(self.fill_missing(inputs))), None

    def get_config(self):
        config = super().get_config()
        config.pop("gamma", None)
        config.update({"n_components": self.n_components, "method": self.method})
        return config
