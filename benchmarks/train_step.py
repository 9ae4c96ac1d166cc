"""Speed of the DSC training step: keras_dsc's ConvLSTM2D against the stock layer, the data path,
the machine's own matmul rate, and (on a GPU) the wall time of a full fit.

Prints, in ONE run (so that every speed is a ratio measured under the same conditions):

- the machine: CPU model, cores, numpy float32 matmul GFLOP/s (best of before and after);
- samples/s of the DSC train step with `keras.layers.ConvLSTM2D` and with keras_dsc's fused
  `ConvLSTM2D`, their ratio, the FLOPs per sample counted from the layer shapes, the achieved
  GFLOP/s and its fraction of the matmul rate, for the default model (8-step windows of
  41 x 41 x 7, the `fit` defaults) and for a paper-scale hourly model (24-step windows,
  filters (32, 64)) at batch 16 and 32;
- one ConvLSTM2D layer alone, both implementations (forward, forward + backward);
- the bound on any ConvLSTM2D implementation: the default DSC step with the stock layer against
  the same step with a stand-in that costs nothing in its place (`CostlessRecurrence`), so
  their ratio is the most that any ConvLSTM2D could make that step faster;
- the data path: seconds to fetch one batch of the built-in cube (prepared in memory), of a
  streamed NetCDF file (lazy, read window by window) and of that file prepared once, in memory
  and into a memory-mapped file, against the step time, and the seconds of each one-off
  preparation; and batches of 24-step hourly windows read from the era5_cube TFDS dataset
  (`hourly24`, built from the same cube by the real builder, timed once) against the
  paper-scale step, whose windows have that shape (where tensorflow_datasets is installed);
- with `--dtypes float32,mixed_bfloat16` (for a GPU under `KERAS_BACKEND=jax`), the same steps
  in each dtype policy; with `--full-fit`, the wall time of a whole DSC fit (pre-training and
  joint training with the `fit` defaults, compilation included) on a paper-scale hourly cube
  (365 daily windows of 24 x 41 x 41 x 7).

FLOPs count the convolutions and dense layers from their shapes: `2*k*k*Cin*4F` per output
position and time step for a ConvLSTM2D's input convolution and `2*k*k*F*4F` for its recurrent
one, `2*kernel volume*Cin*Cout` per output position of a Conv3D, `2*in*out` per Dense row; a
training step counts 3 times the forward. Steps of the compared models are interleaved after
warm-up, so a load that comes and goes slows both alike; medians are reported.

Usage, from the repository root (any Keras backend; XLA only where `hardware_settings` says):

    python -m benchmarks.train_step [--quick] [--dtypes float32,mixed_bfloat16] [--full-fit]
"""

import argparse
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import keras
import numpy as np
from keras import ops

from keras_dsc import DSC
from keras_dsc.layers import ConvLSTM2D
from keras_dsc.training.hardware import hardware_settings

IMPLEMENTATIONS = {"keras": keras.layers.ConvLSTM2D, "fused": ConvLSTM2D}
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense bf16 tensor-core peaks


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"
    names = [line.split(":", 1)[1].strip() for line in out.splitlines() if "Model name" in line]
    return names[0] if names else "unknown CPU"


def device_name():
    """The accelerator's name (`NVIDIA H200`) or the CPU's."""
    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "cpu":
            return getattr(device, "device_kind", device.platform)
    return cpu_name()


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


def layer_flops(layer, input_shape):
    """Forward FLOPs per sample of one ConvLSTM2D for inputs `(batch, time, rows, cols, C)`."""
    steps, channels = input_shape[1], input_shape[-1]
    out = layer.compute_output_shape(input_shape)
    positions = out[-3] * out[-2]
    k = layer.kernel_size[0] * layer.kernel_size[1]
    f = layer.filters
    return steps * positions * (2 * k * channels * 4 * f + 2 * k * f * 4 * f)


def model_flops(model):
    """Forward FLOPs per sample of the ConvLSTM2D, Conv3D and Dense layers of `model`."""
    total = 0
    for layer in model._flatten_layers():
        config = layer.get_build_config() if layer.built else None
        if not config or not config.get("input_shape"):
            continue
        shape = tuple(config["input_shape"])
        if isinstance(layer, tuple(IMPLEMENTATIONS.values())):
            total += layer_flops(layer, shape)
        elif isinstance(layer, keras.layers.Conv3D):
            out = layer.compute_output_shape(shape)
            total += 2 * int(np.prod(layer.kernel_size)) * shape[-1] * layer.filters * int(
                np.prod(out[1:-1]))
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * shape[-1] * layer.units * int(np.prod(shape[1:-1]) or 1)
    return total


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


PREVIOUS_DECODER = {"recurrent_decoder": True, "per_step_code": False}
"""The decoder of keras_dsc before this benchmark was written: ConvLSTM2D blocks on one code map
repeated in time."""


def dsc_models(window, filters, dtype="float32", jit_compile=False, **architecture):
    """The DSC of the `fit` defaults with either ConvLSTM2D, compiled as `fit` compiles it."""
    models = {}
    for name in IMPLEMENTATIONS:
        keras.utils.set_random_seed(0)
        models[name] = DSC(input_shape=window, n_clusters=6, filters=filters, convlstm=name,
                           dtype=dtype, **architecture)
        models[name].compile(optimizer="adam", jit_compile=jit_compile)
    return models


def _step_inputs(window, batch):
    """A batch of random windows and a target distribution over 6 clusters (seeded)."""
    rng = np.random.default_rng(0)
    windows = rng.normal(size=(batch, *window)).astype("float32")
    target = rng.random((batch, 6)).astype("float32")
    return windows, target / target.sum(axis=1, keepdims=True)


class CostlessRecurrence(keras.layers.Layer):
    """A stand-in for ConvLSTM2D of the same output shape that costs almost nothing: a tanh of a
    per-point projection (a Dense on the channels), no convolution, no recurrence. A DSC step
    with it is what the step would cost if its ConvLSTM2D layers were free: the most that any
    ConvLSTM2D implementation could make the step faster."""

    def __init__(self, filters, kernel_size=3, padding="same", return_sequences=True, **kwargs):
        super().__init__(name=kwargs.get("name"), dtype=kwargs.get("dtype"))
        self.projection = keras.layers.Dense(filters, activation="tanh", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.projection.build(input_shape)

    def call(self, inputs, training=None):
        return self.projection(inputs)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.projection.units)


def costless_bound(window, filters, batch, warmup, steps, jit_compile=False):
    """Seconds per DSC train step with the stock ConvLSTM2D and with `CostlessRecurrence` in
    its place, interleaved: their ratio bounds what any ConvLSTM2D can gain in the step."""
    from keras_dsc.layers import convlstm_blocks

    windows, target = _step_inputs(window, batch)
    models = {}
    stock_class = convlstm_blocks.convlstm_class
    for name in ("keras", "costless"):
        keras.utils.set_random_seed(0)
        if name == "costless":
            convlstm_blocks.convlstm_class = lambda _: CostlessRecurrence
        try:
            models[name] = DSC(input_shape=window, n_clusters=6, filters=filters,
                               convlstm="keras")
        finally:
            convlstm_blocks.convlstm_class = stock_class
        models[name].compile(optimizer="adam", jit_compile=jit_compile)
    calls = {name: (lambda m=m: m.train_on_batch(windows, target)) for name, m in models.items()}
    return interleaved(calls, warmup, steps)


def bench_dsc(window, filters, batch, warmup, steps, dtype="float32", jit_compile=False,
              architecture=None):
    """The row of one DSC train step (`train_on_batch` with a target distribution)."""
    windows, target = _step_inputs(window, batch)
    models = dsc_models(window, filters, dtype, jit_compile, **(architecture or {}))
    calls = {name: (lambda m=m: m.train_on_batch(windows, target)) for name, m in models.items()}
    seconds = interleaved(calls, warmup, steps)
    flops = 3 * model_flops(models["fused"]) * batch
    label = (f"DSC{' (previous decoder)' if architecture else ''}: {window}, {filters}, "
             f"batch {batch}, {dtype}")
    return (label, batch, seconds, flops)


def _seconds_per_batch(windows, batch, steps):
    """Mean seconds per batch of `fit`'s batches of `windows` (the first, which
    starts the pipeline, not counted)."""
    from keras_dsc.data.batches import window_batches

    batches = window_batches(windows, batch, shuffle=True, seed=0)
    count = min(steps, -(-len(windows) // batch) - 1)
    if hasattr(batches, "as_numpy_iterator"):  # a tf.data.Dataset, read ahead
        iterator = batches.as_numpy_iterator()
    else:  # a WindowBatches
        iterator = (batches[i] for i in range(len(batches)))
    next(iterator)
    start = time.perf_counter()
    for _ in range(count):
        next(iterator)
    return (time.perf_counter() - start) / count


def data_path(days, batch, steps, folder):
    """Seconds per batch fetched by `fit`'s batches: the built-in cube in memory, a NetCDF file
    of the same cube streamed window by window (`stream=True`), and that lazy cube prepared
    once, in memory (what `fit` does when the prepared cube fits in 2 GiB, even if the files
    do not) and into a memory-mapped file in `folder` (what `fit` does beyond 2 GiB). Returns
    `(seconds per batch by source, seconds of each one-off preparation)`."""
    from keras_dsc.data import DataOptions, builtin_cube_path, prepare_data
    from keras_dsc.data.prepare import hold_windows
    from keras_dsc.data.windows import WindowedCube

    builtin = prepare_data(DataOptions(days=days)).windows
    seconds = {"built-in cube, in memory": _seconds_per_batch(builtin, batch, steps)}
    lazy = prepare_data(DataOptions(data=str(builtin_cube_path(days)), stream=True)).windows
    seconds["NetCDF file, streamed"] = _seconds_per_batch(lazy, batch, steps)
    once = {}
    start = time.perf_counter()
    # `compute`, not `load`: `load` would make `lazy` itself an in-memory cube.
    loaded = WindowedCube(lazy.array.compute(), lazy.window, lazy.stride,
                          time_step=lazy.time_step)
    once["in memory"] = time.perf_counter() - start
    seconds["NetCDF file, prepared once in memory"] = _seconds_per_batch(loaded, batch, steps)
    start = time.perf_counter()
    mapped, _ = hold_windows(lazy, pathlib.Path(folder))
    once["into a mapped file"] = time.perf_counter() - start
    seconds["NetCDF file, prepared once into a mapped file"] = _seconds_per_batch(mapped, batch,
                                                                                  steps)
    return seconds, once


def tfds_path(days, batch, steps, folder):
    """Seconds per batch of `fit --data tfds:era5_cube/hourly24`: the built-in cube's NetCDF
    file built into the era5_cube dataset (config `hourly24`: one day of 24 hourly steps per
    example) by the builder in `datasets/`, then read as `fit` reads it (shuffled within its
    buffer, normalised in the tf.data pipeline, two batches read ahead). Returns `(seconds per
    batch, seconds of the build, the window shape)`, or None without tensorflow_datasets (the
    GPU image has no TensorFlow)."""
    try:
        import tensorflow  # noqa: F401  (TFDS builds and reads through TensorFlow)
        import tensorflow_datasets as tfds
    except ImportError:
        return None
    from keras_dsc.data import builtin_cube_path
    from keras_dsc.data.tfds import open_tfds

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "datasets"))
    from era5_cube import era5_cube_dataset_builder

    tfds.disable_progress_bar()
    manual = pathlib.Path(folder) / "tfds_manual"
    manual.mkdir()
    (manual / "cube.nc").symlink_to(builtin_cube_path(days))
    start = time.perf_counter()
    builder = era5_cube_dataset_builder.Builder(config="hourly24",
                                                data_dir=str(pathlib.Path(folder) / "tfds"))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    build = time.perf_counter() - start
    windows = open_tfds("tfds:era5_cube/hourly24", pathlib.Path(folder) / "tfds")
    return _seconds_per_batch(windows, batch, steps), build, windows.sample_shape


def full_fit(days, dtype, jit_compile, seed=0):
    """Wall seconds of a whole `fit` (defaults) on a paper-scale hourly cube, compilation
    included: `days` daily windows of 24 hourly steps of 41 x 41 x 7."""
    from keras_dsc.data import DataOptions, builtin_cube_path, prepare_data
    from keras_dsc.runs.options import FitOptions
    from keras_dsc.training import train_dsc

    builtin_cube_path(days)  # generated before the clock starts
    start = time.perf_counter()
    windows = prepare_data(DataOptions(days=days, resample="1h", window=24)).windows
    options = FitOptions()
    keras.utils.set_random_seed(seed)
    model = DSC(input_shape=windows.sample_shape, n_clusters=options.n_clusters,
                filters=options.filters, latent_dim=options.latent_dim, dtype=dtype)
    result = train_dsc(model, windows, batch_size=options.batch_size,
                       pretrain_steps=options.pretrain_steps, steps=options.steps,
                       learning_rate=options.learning_rate, seed=seed, verbose=0,
                       jit_compile=jit_compile)
    seconds = time.perf_counter() - start
    return seconds, result


HEADER = (
    f"{'':78s} {'keras.layers.ConvLSTM2D':>26s} {'keras_dsc ConvLSTM2D':>26s}  ratio\n"
    f"{'':78s} {'samples/s GFLOP/s %peak':>26s} {'samples/s GFLOP/s %peak':>26s}"
)


def print_row(label, batch, seconds, flops, peak):
    cells = []
    for name in IMPLEMENTATIONS:
        rate = flops / seconds[name] / 1e9
        cells.append(f"{batch / seconds[name]:9.1f} {rate:7.1f} {100 * rate / peak:5.0f}%")
    ratio = seconds["keras"] / seconds["fused"]
    print(f"{label:78s} {cells[0]:>26s} {cells[1]:>26s}  {ratio:4.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument("--dtypes", default="float32",
                        help="comma-separated dtype policies of the DSC rows")
    parser.add_argument("--full-fit", action="store_true",
                        help="also time a whole fit on a paper-scale hourly cube")
    parser.add_argument("--fit-days", type=int, default=365)
    args = parser.parse_args()
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    hardware = hardware_settings()

    if args.quick:
        matmul, layer_cases = (512, 3), [((2, 3, 9, 9, 3), 4)]
        dsc_cases = [((3, 9, 9, 2), (2, 3), 2, 1, 2)]
        layer_warmup, layer_steps, data_days, data_steps = 1, 2, 4, 2
    else:
        matmul = (2048, 5)
        layer_cases = [((16, 8, 44, 44, 7), 8), ((16, 8, 22, 22, 8), 16)]
        dsc_cases = [((8, 41, 41, 7), (8, 16), 16, 2, 7), ((24, 41, 41, 7), (32, 64), 16, 1, 3),
                     ((24, 41, 41, 7), (32, 64), 32, 1, 3)]
        layer_warmup, layer_steps, data_days, data_steps = 2, 7, 365, 23

    print(f"machine: {device_name()}, {os.cpu_count()} CPU cores; Keras {keras.__version__}, "
          f"backend {hardware['backend']} on {hardware['device']}, XLA "
          f"{'on' if hardware['jit_compile'] else 'off'}")
    before = matmul_gflops(*matmul)
    rows = []
    for dtype in dtypes:
        for window, filters, batch, warmup, steps in dsc_cases:
            rows.append(bench_dsc(window, filters, batch, warmup, steps, dtype,
                                  hardware["jit_compile"]))
            print(f"  measured {rows[-1][0]}", file=sys.stderr, flush=True)
    window, filters, batch, warmup, steps = dsc_cases[0]
    rows.append(bench_dsc(window, filters, batch, warmup, steps, dtypes[0],
                          hardware["jit_compile"], PREVIOUS_DECODER))
    bound = costless_bound(window, filters, batch, warmup, steps, hardware["jit_compile"])
    for shape, filters in layer_cases:
        rows += bench_layer(shape, filters, layer_warmup, layer_steps)
        print(f"  measured {rows[-1][0]}", file=sys.stderr, flush=True)
    after = matmul_gflops(*matmul)
    peak = max(before, after)
    print(f"numpy float32 matmul {matmul[0]}^3, best of {matmul[1]}: {before:.1f} GFLOP/s "
          f"before, {after:.1f} after; %peak below is of {peak:.1f}")
    for name, tflops in PEAK_TFLOPS.items():
        if name in device_name():
            print(f"device bf16 tensor peak {tflops:.0f} TFLOP/s: on {name}, divide GFLOP/s "
                  f"by {tflops * 1000:.0f} for its fraction")
    print("times: medians over interleaved steps of the two layers\n")
    print(HEADER)
    for row in rows:
        print_row(*row, peak)
    print(f"\nthe bound on any ConvLSTM2D in the default DSC step ({dsc_cases[0][0]}, "
          f"{dsc_cases[0][1]}, batch {dsc_cases[0][2]}): {bound['keras'] * 1000:.0f} ms per step "
          f"with keras.layers.ConvLSTM2D, {bound['costless'] * 1000:.0f} ms with a stand-in that "
          f"costs nothing (a per-point Dense, no recurrence), so no ConvLSTM2D can make this "
          f"step more than {bound['keras'] / bound['costless']:.2f}x faster than the stock one")

    window, filters, batch = dsc_cases[0][:3]
    step = min(rows[0][2].values())
    with tempfile.TemporaryDirectory() as cache:
        os.environ.setdefault("KERAS_DSC_CACHE", cache)
        fetch, once = data_path(data_days, batch, data_steps, cache)
        tfds_rate = tfds_path(data_days, batch, data_steps, cache)
    print(f"\ndata path (batches of {batch}; the fastest train step above: {step * 1000:.0f} ms)")
    for name, seconds in fetch.items():
        print(f"  {name:46s} {seconds * 1000:8.1f} ms per batch = {100 * seconds / step:5.1f} % "
              f"of the step")
    for where, seconds in once.items():
        print(f"  preparing the lazy NetCDF cube once {where}: {seconds:.2f} s, the time of "
              f"{seconds / step:.1f} train steps")
    if tfds_rate is None:
        print("  TFDS dataset: not measured (tensorflow_datasets or TensorFlow not installed)")
    else:
        seconds, build, shape = tfds_rate
        # The step of the same window shape (the paper-scale rows), else the default one.
        same = [r for r in rows if r[0].startswith(f"DSC: {shape}, ") and r[1] == batch]
        reference, what = ((min(same[0][2].values()), f"the {shape} step above") if same
                           else (step, "the default step"))
        print(f"  {'TFDS era5_cube/hourly24, windows ' + str(shape):46s} {seconds * 1000:8.1f} "
              f"ms per batch = {100 * seconds / reference:5.1f} % of {what} "
              f"({reference * 1000:.0f} ms)")
        print(f"  building that TFDS dataset once ({data_days} examples, the builder in "
              f"datasets/): {build:.1f} s")

    if args.full_fit:
        days = 8 if args.quick else args.fit_days
        for dtype in dtypes:
            seconds, result = full_fit(days, dtype, hardware["jit_compile"])
            print(f"\nfull fit, {days} daily windows of (24, 41, 41, 7), {dtype}: "
                  f"{seconds:.1f} s wall (data preparation and compilation included); "
                  f"pre-training {result.stopping['pretraining']['steps']} steps, joint "
                  f"{result.stopping['joint']['steps']} steps")


if __name__ == "__main__":
    main()
