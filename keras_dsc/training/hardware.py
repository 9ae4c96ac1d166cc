"""Settings that fit the hardware: XLA compilation and mixed precision, by backend and device.

Measured, not assumed: on CPU under TensorFlow `jit_compile=True` makes ConvLSTM2D training
20-40x slower and bfloat16 runs no faster than float32, so both stay off there; JAX always
compiles (Keras' non-compiled JAX path runs op by op) and accelerators gain from both.
"""

import os

from keras_dsc.errors import OptionError

CHOICES = ("auto", "on", "off")
MIXED_POLICY = "mixed_bfloat16"


def accelerator():
    """The kind of device the Keras backend computes on: `"gpu"`, `"tpu"` or `"cpu"`.

    Example:

    >>> accelerator() in ("cpu", "gpu", "tpu")
    True
    """
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        for kind in ("GPU", "TPU"):
            if tf.config.list_logical_devices(kind):
                return kind.lower()
        return "cpu"
    if backend == "jax":
        import jax

        platform = jax.devices()[0].platform
        return "gpu" if platform in ("gpu", "cuda", "rocm") else platform
    if backend == "torch":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    return "cpu"


def resolve_jit_compile(jit_compile):
    """`jit_compile` as a bool: a bool as it is; `"auto"`, `"on"`, `"off"` as `hardware_settings`
    resolves them."""
    if isinstance(jit_compile, bool):
        return jit_compile
    return hardware_settings(jit_compile=jit_compile)["jit_compile"]


def hardware_settings(jit_compile="auto", mixed_precision="auto"):
    """The training settings for this machine: `"auto"` chooses by backend and device.

    Args:
        jit_compile: `"auto"` (on for JAX and accelerators, off for TensorFlow on CPU),
            `"on"` or `"off"`.
        mixed_precision: `"auto"` (`mixed_bfloat16` on accelerators, float32 on CPU), `"on"`
            or `"off"`.

    Returns:
        A JSON-ready dict: `backend`, `device`, `jit_compile` (bool), `dtype_policy`
        (`"float32"` or `"mixed_bfloat16"`), `threads` (TensorFlow's intra- and inter-op
        thread counts, 0 meaning "all cores"; `None` on other backends), `cpu_count`.

    Example:

    >>> settings = hardware_settings(jit_compile="off", mixed_precision="off")
    >>> settings["jit_compile"], settings["dtype_policy"]
    (False, 'float32')
    """
    for name, value in (("jit_compile", jit_compile), ("mixed_precision", mixed_precision)):
        if value not in CHOICES:
            raise OptionError(f"{{{name}}} must be one of {', '.join(CHOICES)}, got {value!r}",
                              name)
    import keras

    backend = keras.backend.backend()
    device = accelerator()
    accelerated = device != "cpu"
    jit = {"auto": backend == "jax" or accelerated, "on": True, "off": False}[jit_compile]
    mixed = {"auto": accelerated, "on": True, "off": False}[mixed_precision]
    threads = None
    if backend == "tensorflow":
        import tensorflow as tf

        threads = {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                   "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}
    return {
        "backend": backend,
        "device": device,
        "jit_compile": bool(jit),
        "dtype_policy": MIXED_POLICY if mixed else "float32",
        "threads": threads,
        "cpu_count": os.cpu_count(),
    }


DISTRIBUTE = ("none", "mirrored", "data-parallel", "multi-worker")
"""The engines of data-parallel training (`FitOptions.distribute`): on this machine's devices,
or in several worker processes (`keras_dsc.training.workers`)."""

ENGINE_BACKEND = {"mirrored": "tensorflow", "data-parallel": "jax", "multi-worker": "tensorflow"}
"""The Keras backend each engine runs on."""


def configured_backend():
    """The Keras backend that `import keras` will choose, read without importing Keras (and so
    TensorFlow): `$KERAS_BACKEND`, else the `backend` of `keras.json` (in `$KERAS_HOME` or
    `~/.keras`), else `"tensorflow"`. Once Keras is imported, its own answer."""
    import sys

    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    import json

    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as handle:
            return json.load(handle).get("backend") or "tensorflow"
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def check_distribute(distribute, backend=None):
    """Refuses an engine of `distribute` that the Keras backend does not run.

    `mirrored` is `tf.distribute.MirroredStrategy` (TensorFlow); `data-parallel` is Keras'
    `keras.distribution.DataParallel`, which Keras 3 implements for JAX only (its TensorFlow
    version is a prototype marked "do not use"); `multi-worker` is TensorFlow's
    `MultiWorkerMirroredStrategy`, and needs `TF_CONFIG` (`keras_dsc.training.workers`).

    Args:
        distribute: one of `DISTRIBUTE`.
        backend: the Keras backend; defaults to `configured_backend()`.

    Raises:
        OptionError: an unknown engine, or one for another backend (one line).

    Example:

    >>> check_distribute("mirrored", backend="tensorflow")
    >>> check_distribute("data-parallel", backend="tensorflow")
    Traceback (most recent call last):
    ...
    keras_dsc.errors.OptionError: distribute data-parallel is Keras' DataParallel for the JAX backend, but the backend is tensorflow: use distribute mirrored, or KERAS_BACKEND=jax
    """
    if distribute not in DISTRIBUTE:
        raise OptionError(f"{{distribute}} must be one of {', '.join(DISTRIBUTE)}, got "
                          f"{distribute!r}", "distribute")
    if distribute == "none":
        return
    backend = backend or configured_backend()
    wanted = ENGINE_BACKEND[distribute]
    if backend != wanted:
        other = {"tensorflow": "mirrored", "jax": "data-parallel"}.get(backend)
        instead = f"use {{distribute}} {other}, or " if other else ""
        what = {"mirrored": "TensorFlow's MirroredStrategy",
                "multi-worker": "TensorFlow's MultiWorkerMirroredStrategy",
                "data-parallel": "Keras' DataParallel for the JAX backend"}[distribute]
        raise OptionError(f"{{distribute}} {distribute} is {what}, but the backend is "
                          f"{backend}: {instead}KERAS_BACKEND={wanted}", "distribute")
    if distribute == "multi-worker":
        from keras_dsc.training.workers import worker_task

        worker_task()


def local_devices(distribute):
    """The devices an engine trains on: every GPU (or TPU) of the machine, else every CPU
    device (one, unless split into logical devices); `[]` for `"none"`."""
    if distribute == "none":
        return []
    if distribute == "mirrored":
        import tensorflow as tf

        for kind in ("GPU", "TPU", "CPU"):
            found = tf.config.list_logical_devices(kind)
            if found:
                return [device.name for device in found]
        return []
    import keras

    return list(keras.distribution.list_devices())


class Distribution:
    """Data-parallel training on this machine's devices, as one object: a context manager in
    which the model is built, compiled and trained.

    `"mirrored"`: `tf.distribute.MirroredStrategy` over `local_devices`: every variable is
    mirrored, each global batch is split across the replicas and the gradients are summed
    (the train step divides its per-replica mean loss by the number of replicas, so the sum is
    the global mean). `"data-parallel"`: `keras.distribution.DataParallel` (JAX): the batch is
    sharded across the devices in one SPMD program. `"multi-worker"`:
    `tf.distribute.MultiWorkerMirroredStrategy` over the workers of `TF_CONFIG` (this process's
    devices; the variables mirrored on every worker, the gradients all-reduced across them).
    `"none"`: the default, nothing changes.

    Args:
        distribute: one of `DISTRIBUTE`.

    Example:

    >>> with Distribution("none") as distribution:
    ...     distribution.replicas
    1
    """

    def __init__(self, distribute="none"):
        check_distribute(distribute)
        self.distribute = distribute
        self._scope = None
        self._engine = None
        if distribute == "multi-worker":  # first: before anything starts TensorFlow's runtime
            from keras_dsc.training.workers import multi_worker_strategy, worker_task

            self.worker, self.workers = worker_task()
            self._engine = multi_worker_strategy()
            self.devices = list(self._engine.extended.worker_devices)
            return
        self.devices = local_devices(distribute)
        if distribute == "mirrored":
            import tensorflow as tf

            self._engine = tf.distribute.MirroredStrategy(self.devices)
        elif distribute == "data-parallel":
            import keras

            self._engine = keras.distribution.DataParallel(devices=self.devices)

    worker = 0
    """This process's index among the workers (0: the chief)."""
    workers = 1
    """How many worker processes train together."""

    @property
    def replicas(self):
        """How many devices share each batch (on all the workers together)."""
        if self.distribute == "multi-worker":
            return int(self._engine.num_replicas_in_sync)
        return max(1, len(self.devices))

    def describe(self):
        """A JSON-ready dict: `distribute`, `replicas`, `devices` (this process's), and with
        several workers `worker` and `workers`."""
        described = {"distribute": self.distribute, "replicas": self.replicas,
                     "devices": list(self.devices)}
        if self.distribute == "multi-worker":
            described.update(worker=self.worker, workers=self.workers)
        return described

    def __enter__(self):
        if self._engine is not None:
            self._scope = self._engine.scope()
            self._scope.__enter__()
        return self

    def __exit__(self, *exc):
        if self._scope is not None:
            scope, self._scope = self._scope, None
            return scope.__exit__(*exc)
        return False
