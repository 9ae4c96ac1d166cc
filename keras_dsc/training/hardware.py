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
