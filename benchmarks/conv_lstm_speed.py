"""Speed of keras_dsc's ConvLSTM2D against keras.layers.ConvLSTM2D, alone and in DSC training.

Prints, in one run and for both layers: samples/s of one ConvLSTM2D layer (forward, and
forward + backward to the weights), of the DSC train step at the default size (8-step windows
of 41 x 41 x 7, filters (8, 16), batch 16) and at the paper's size (24-step windows,
filters (32, 64)), the ratio of the two, and the GFLOP/s reached by the ConvLSTM2D
convolutions next to this machine's numpy float32 matmul rate. Steps of the two layers are
interleaved after warm-up, so a load that comes and goes slows both alike; the median is
reported.

FLOPs count only the ConvLSTM2D convolutions, from their shapes: `2*k*k*Cin*4F` per output
position and time step for the input convolution and `2*k*k*F*4F` for the recurrent one; a
training step counts 3 times the forward (the gradients w.r.t. inputs and weights each cost
about one forward).

Usage, from the repository root (any Keras backend; XLA is not enabled on TensorFlow):

    python -m benchmarks.conv_lstm_speed [--quick]
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

import keras
import numpy as np
from keras import ops

from keras_dsc import DSC
from keras_dsc.layers import ConvLSTM2D

IMPLEMENTATIONS = {"keras": keras.layers.ConvLSTM2D, "fused": ConvLSTM2D}


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"
    names = [line.split(":", 1)[1].strip() for line in out.splitlines() if "Model name" in line]
    return names[0] if names else "unknown CPU"


def matmul_gflops(n, repeats):
    """Best float32 numpy matmul rate of `repeats` (n x n) @ (n x n) products."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = a.copy()
    a @ b
    best = min(_seconds(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _seconds(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def convlstm_flops(model):
    """Forward FLOPs per sample of every ConvLSTM2D in `model` (either implementation)."""
    total = 0
    for layer in model._flatten_layers():
        if isinstance(layer, tuple(IMPLEMENTATIONS.values())):
            total += layer_flops(layer, layer.get_build_config()["input_shape"])
    return total


def layer_flops(layer, input_shape):
    """Forward FLOPs per sample of one ConvLSTM2D for inputs `(batch, time, rows, cols, C)`."""
    steps, channels = input_shape[1], input_shape[-1]
    out = layer.compute_output_shape(input_shape)
    positions = out[-3] * out[-2]
    k = layer.kernel_size[0] * layer.kernel_size[1]
    f = layer.filters
    return steps * positions * (2 * k * channels * 4 * f + 2 * k * f * 4 * f)


def layer_functions(layer):
    """A forward and a forward + backward function of `layer`, compiled the backend's way."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def forward(x):
            return layer(x)

        @tf.function
        def forward_backward(x):
            with tf.GradientTape() as tape:
                loss = ops.mean(ops.square(layer(x)))
            return tape.gradient(loss, layer.trainable_variables)

        return forward, forward_backward
    if backend == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        fixed = [v.value for v in layer.non_trainable_variables]

        def loss(trainable, x):
            return ops.mean(ops.square(layer.stateless_call(trainable, fixed, x)[0]))

        forward = jax.jit(lambda x: layer.stateless_call(trainable, fixed, x)[0])
        gradients = jax.jit(jax.grad(loss))
        return (
            lambda x: jax.block_until_ready(forward(x)),
            lambda x: jax.block_until_ready(gradients(trainable, x)),
        )
    raise SystemExit(f"this benchmark runs under tensorflow or jax, not {backend}")


def interleaved(functions, warmup, steps):
    """Median seconds of each function, their calls interleaved after `warmup` calls each."""
    for function in functions.values():
        for _ in range(warmup):
            function()
    times = {name: [] for name in functions}
    for _ in range(steps):
        for name, function in functions.items():
            times[name].append(_seconds(function))
    return {name: statistics.median(t) for name, t in times.items()}


def bench_layer(shape, filters, warmup, steps):
    """Rows for one layer alone: forward, and forward + backward to the weights."""
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    layers = {}
    for name, layer_class in IMPLEMENTATIONS.items():
        layers[name] = layer_class(filters, 3, padding="same", return_sequences=True)
        layers[name].build(shape)
    layers["fused"].set_weights(layers["keras"].get_weights())
    functions = {name: layer_functions(layer) for name, layer in layers.items()}
    flops = layer_flops(layers["keras"], shape) * shape[0]
    label = f"layer ConvLSTM2D({filters}) on {shape}"
    rows = []
    for index, kind, factor in [(0, "forward", 1), (1, "forward+backward", 3)]:
        calls = {name: (lambda f=f[index]: f(x)) for name, f in functions.items()}
        seconds = interleaved(calls, warmup, steps)
        rows.append((f"{label}, {kind}", shape[0], seconds, factor * flops))
    return rows


def bench_dsc(window, filters, batch, warmup, steps):
    """The row of one DSC train step (`train_on_batch` with a target distribution)."""
    rng = np.random.default_rng(0)
    windows = rng.normal(size=(batch, *window)).astype("float32")
    target = rng.random((batch, 6)).astype("float32")
    target /= target.sum(axis=1, keepdims=True)
    models = {}
    for name in IMPLEMENTATIONS:
        keras.utils.set_random_seed(0)
        models[name] = DSC(input_shape=window, n_clusters=6, filters=filters, convlstm=name)
        models[name].compile(optimizer="adam")
    calls = {name: (lambda m=m: m.train_on_batch(windows, target)) for name, m in models.items()}
    seconds = interleaved(calls, warmup, steps)
    flops = 3 * convlstm_flops(models["fused"]) * batch
    label = f"DSC train step: windows {window}, filters {filters}, batch {batch}"
    return (label, batch, seconds, flops)


HEADER = (
    f"{'':72s} {'keras.layers.ConvLSTM2D':>26s} {'keras_dsc ConvLSTM2D':>26s}  ratio\n"
    f"{'':72s} {'samples/s GFLOP/s %peak':>26s} {'samples/s GFLOP/s %peak':>26s}"
)


def print_row(label, batch, seconds, flops, peak):
    cells = []
    for name in IMPLEMENTATIONS:
        rate = flops / seconds[name] / 1e9
        cells.append(f"{batch / seconds[name]:9.1f} {rate:7.1f} {100 * rate / peak:5.0f}%")
    ratio = seconds["keras"] / seconds["fused"]
    print(f"{label:72s} {cells[0]:>26s} {cells[1]:>26s}  {ratio:4.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a few seconds")
    args = parser.parse_args()

    if args.quick:
        matmul, layer_cases = (512, 3), [((2, 3, 9, 9, 3), 4)]
        dsc_cases = [((3, 9, 9, 2), (2, 3), 2, 1, 2)]
        layer_warmup, layer_steps = 1, 2
    else:
        matmul = (2048, 5)
        layer_cases = [((16, 8, 44, 44, 7), 8), ((16, 8, 22, 22, 8), 16)]
        dsc_cases = [((8, 41, 41, 7), (8, 16), 16, 2, 7), ((24, 41, 41, 7), (32, 64), 16, 1, 3)]
        layer_warmup, layer_steps = 2, 7

    print(
        f"machine: {cpu_name()}, {os.cpu_count()} CPU cores; Keras {keras.__version__}, "
        f"backend {keras.backend.backend()}"
    )
    # A load elsewhere on the machine slows the matmul too (OpenBLAS threads suffer most):
    # measured before and after the rest, the better of the two is the machine's rate.
    before = matmul_gflops(*matmul)
    rows = []
    for shape, filters in layer_cases:
        rows += bench_layer(shape, filters, layer_warmup, layer_steps)
        print(f"  measured {rows[-1][0]}", file=sys.stderr, flush=True)
    for window, filters, batch, warmup, steps in dsc_cases:
        rows.append(bench_dsc(window, filters, batch, warmup, steps))
        print(f"  measured {rows[-1][0]}", file=sys.stderr, flush=True)
    after = matmul_gflops(*matmul)
    peak = max(before, after)
    print(
        f"numpy float32 matmul {matmul[0]}^3, best of {matmul[1]}: {before:.1f} GFLOP/s before, "
        f"{after:.1f} after; %peak below is of {peak:.1f}"
    )
    print("times: medians over interleaved steps of the two layers\n")
    print(HEADER)
    for row in rows:
        print_row(*row, peak)


if __name__ == "__main__":
    main()
