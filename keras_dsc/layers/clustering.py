"""The clustering layer: Student's t soft assignment of latent vectors to learnable centres."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_dsc")
class ClusteringLayer(keras.layers.Layer):
    """Soft-assigns latent vectors to cluster centres with a Student's t kernel.

    The soft assignment of sample `i` to cluster `j` is, as in DEC (Xie et al., 2016) and DSC
    (Faruque et al., 2023):

    `q_ij = (1 + ||z_i - mu_j||^2 / alpha) ** (-(alpha + 1) / 2)`, normalised over `j`.

    The centres `mu_j` are the layer's only weight (`centres`, shape `(n_clusters, latent_dim)`).
    They can be set after construction, for example from k-means centres, with
    `layer.centres.assign(kmeans.cluster_centers_)`. The maths is done in log space, so far-away
    samples do not underflow to an all-zero row.

    Args:
        n_clusters: int, the number of clusters `k`.
        alpha: float, degrees of freedom of the Student's t kernel. Defaults to `1.0`.
        centres_initializer: initializer of the centres. Defaults to `"glorot_uniform"`.
        **kwargs: other keyword arguments of `keras.layers.Layer` (`name`, `dtype`, ...).

    Call arguments:
        inputs: latent vectors, a tensor of shape `(batch, latent_dim)`.

    Input shape:
        2-D tensor `(batch, latent_dim)`, any `latent_dim`.

    Output shape:
        2-D tensor `(batch, n_clusters)` whose rows sum to 1.

    Example:

    >>> import numpy as np
    >>> from keras_dsc import ClusteringLayer
    >>> layer = ClusteringLayer(n_clusters=3)
    >>> q = layer(np.zeros((4, 8), "float32"))
    >>> tuple(q.shape)
    (4, 3)

    References:
        - [Xie et al., 2016. Unsupervised Deep Embedding for Clustering Analysis](
          https://arxiv.org/abs/1511.06335)
        - [Faruque et al., 2023. Deep Spatiotemporal Clustering](
          https://arxiv.org/abs/2304.14541)
    """

    def __init__(self, n_clusters, alpha=1.0, centres_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if int(n_clusters) < 1:
            raise ValueError(f"n_clusters must be at least 1, got {n_clusters}")
        if float(alpha) <= 0:
            raise ValueError(f"alpha must be positive, got {alpha}")
        self.n_clusters = int(n_clusters)
        self.alpha = float(alpha)
        self.centres_initializer = keras.initializers.get(centres_initializer)

    def build(self, input_shape):
        self.centres = self.add_weight(
            name="centres",
            shape=(self.n_clusters, input_shape[-1]),
            initializer=self.centres_initializer,
        )

    def call(self, inputs):
        squared_distance = ops.sum(
            ops.square(ops.expand_dims(inputs, 1) - ops.expand_dims(self.centres, 0)), axis=-1
        )
        log_kernel = -(self.alpha + 1.0) / 2.0 * ops.log1p(squared_distance / self.alpha)
        return ops.softmax(log_kernel, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_clusters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "n_clusters": self.n_clusters,
                "alpha": self.alpha,
                "centres_initializer": keras.initializers.serialize(self.centres_initializer),
            }
        )
        return config
