"""The DEC target distribution P computed from soft assignments Q."""

import numpy as np


def target_distribution(probabilities):
    """Sharpened target distribution `p_ij = (q_ij^2 / f_j) / sum_j'(q_ij'^2 / f_j')`.

    `f_j = sum_i q_ij` is the soft frequency of cluster `j` over ALL the samples given, so call it
    with the soft assignments of the whole data set, not of one batch.

    Args:
        probabilities: array `(n_samples, n_clusters)`, the soft assignments Q.

    Returns:
        float32 array of the same shape whose rows sum to 1.

    Example:

    >>> import numpy as np
    >>> from keras_dsc import target_distribution
    >>> target_distribution(np.array([[0.6, 0.4], [0.5, 0.5]])).round(3)
    array([[0.648, 0.352],
           [0.45 , 0.55 ]], dtype=float32)
    """
    q = np.asarray(probabilities, dtype=np.float64)
    weight = q**2 / q.sum(axis=0)
    return (weight / weight.sum(axis=1, keepdims=True)).astype(np.float32)
