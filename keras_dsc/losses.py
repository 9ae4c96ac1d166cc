"""The two DSC losses: masked reconstruction error and the KL clustering loss (`keras.ops`)."""

from keras import ops


def masked_mean_squared_error(inputs, reconstruction, point_weights=None):
    """Mean squared error over the points that are not NaN in `inputs`, optionally weighted.

    Missing points (NaN) are left out of both the sum and the count, so the values the model
    fills in for them never count. With `point_weights` (for example cos(latitude), the area
    of each grid cell) the mean is a weighted mean over the valid points.

    Args:
        inputs: tensor `(batch, ...)`, the data, NaN where missing.
        reconstruction: tensor of the same shape, the model's reconstruction.
        point_weights: optional tensor broadcastable to `inputs`, non-negative.

    Returns:
        A scalar tensor.

    Example:

    >>> import numpy as np
    >>> x = np.array([[0.0, 1.0, np.nan]], "float32")
    >>> float(masked_mean_squared_error(x, np.zeros_like(x)))
    0.5
    >>> float(masked_mean_squared_error(x, np.zeros_like(x), np.array([1.0, 3.0, 1.0])))
    0.75
    """
    valid = ops.logical_not(ops.isnan(inputs))
    filled = ops.where(valid, inputs, ops.zeros_like(inputs))
    weights = ops.cast(valid, reconstruction.dtype)
    if point_weights is not None:
        weights = weights * ops.cast(point_weights, reconstruction.dtype)
    squared = ops.square(ops.cast(filled, reconstruction.dtype) - reconstruction) * weights
    return ops.sum(squared) / ops.maximum(ops.sum(weights), 1.0)


def clustering_kl_divergence(target, probabilities, epsilon=1e-10):
    """KL(P || Q) of the target distribution P and the soft assignments Q, mean over the batch.

    Args:
        target: tensor `(batch, n_clusters)`, rows of the target distribution P.
        probabilities: tensor `(batch, n_clusters)`, the soft assignments Q.
        epsilon: float, floor that keeps the logarithms finite.

    Returns:
        A scalar tensor.
    """
    target = ops.cast(target, probabilities.dtype)
    ratio = ops.log(ops.maximum(target, epsilon)) - ops.log(ops.maximum(probabilities, epsilon))
    return ops.mean(ops.sum(target * ratio, axis=-1))
