"""Multi-worker training: the worker cluster of `TF_CONFIG`, its chief, and what the chief shares.

`fit --distribute multi-worker` trains one model in several processes, on one host or many,
with TensorFlow's `tf.distribute.MultiWorkerMirroredStrategy`: each process is told the cluster
and its own place in it by the `TF_CONFIG` environment variable (what cluster managers such as
Kubernetes' TFJob or Vertex AI set), every variable is mirrored on every worker and the
gradients are all-reduced at each step. Worker 0 is the chief: it alone writes the run folder.
"""

import functools
import json
import os

from keras_dsc.errors import OptionError


def worker_task(environ=None):
    """This process's place in the cluster that `TF_CONFIG` describes.

    Args:
        environ: the environment to read; defaults to `os.environ`.

    Returns:
        `(index, n_workers)`: this worker's index (0 is the chief) and the number of workers.

    Raises:
        OptionError: naming `distribute`, when `TF_CONFIG` is missing or does not name a
            cluster of workers and this process's task in it (one line).

    Example:

    >>> config = {"cluster": {"worker": ["127.0.0.1:2000", "127.0.0.1:2001"]},
    ...           "task": {"type": "worker", "index": 1}}
    >>> worker_task({"TF_CONFIG": json.dumps(config)})
    (1, 2)
    """
    environ = os.environ if environ is None else environ
    text = environ.get("TF_CONFIG")
    example = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:port", "host2:port"]}, '
               '"task": {"type": "worker", "index": 0}}\'')
    if not text:
        raise OptionError(f"{{distribute}} multi-worker needs TF_CONFIG, the cluster and this "
                          f"worker's task in it, e.g. {example}", "distribute")
    try:
        config = json.loads(text)
        workers = config["cluster"]["worker"]
        task = config["task"]
        index = int(task["index"])
        if task["type"] != "worker" or not 0 <= index < len(workers) or not all(
                isinstance(w, str) and ":" in w for w in workers):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise OptionError(f"{{distribute}} multi-worker: TF_CONFIG {text!r} is not a cluster "
                          f"of workers with this worker's task in it; expected {example}",
                          "distribute") from None
    if set(config["cluster"]) - {"worker"}:
        raise OptionError(f"{{distribute}} multi-worker: TF_CONFIG names "
                          f"{sorted(set(config['cluster']) - {'worker'})}; only 'worker' tasks "
                          f"are trained (worker 0 is the chief)", "distribute")
    return index, len(workers)


@functools.lru_cache(maxsize=None)
def multi_worker_strategy():
    """The process's one `tf.distribute.MultiWorkerMirroredStrategy` (TensorFlow configures its
    collectives once per process, so every training of the process shares it)."""
    import tensorflow as tf

    return tf.distribute.MultiWorkerMirroredStrategy()


def broadcast_from_chief(array):
    """The chief's `array` on every worker (an all-reduce in which only the chief's copy
    counts); `array` itself when training does not span workers.

    Under multi-worker training, what each worker computes on the host (the k-means centres,
    the target distribution P, the labels that decide the stop) is replaced by the chief's, so
    that all workers go on from the same values even where floating point would differ
    between hosts.

    Args:
        array: a NumPy array (int or float), the same shape on every worker.

    Returns:
        A NumPy array of `array`'s shape and dtype.
    """
    from keras_dsc.models.deep_clustering import across_workers  # imports Keras

    if not across_workers():
        return array
    import numpy as np
    import tensorflow as tf

    array = np.asarray(array)
    strategy = tf.distribute.get_strategy()

    def chief_only():
        context = tf.distribute.get_replica_context()
        mine = tf.constant(array, tf.float64)
        keep = tf.cast(context.replica_id_in_sync_group == 0, tf.float64)
        return context.all_reduce("SUM", mine * keep)

    # In a `tf.function`: TensorFlow warns that the strategy's `run` is slow done eagerly.
    shared = strategy.experimental_local_results(tf.function(
        lambda: strategy.run(chief_only))())[0]
    return shared.numpy().astype(array.dtype)


def barrier():
    """Returns once every worker of the cluster has called it (so that none ends while the
    others still run: the chief's coordination service reports a worker gone as a crash)."""
    import numpy as np

    with multi_worker_strategy().scope():
        broadcast_from_chief(np.zeros(1))
