"""Serving throughput on CPU: windows per second through an exported SavedModel's signature.

Trains the default model for a few steps on the built-in cube (the weights do not change the
cost), exports it as `python cli.py export` does, loads the SavedModel with TensorFlow alone (as
TF Serving does: no keras_dsc in the graph), and times the `serving_default` signature on
windows in physical units (with their start times: the default run is trained on anomalies,
so the graph also computes the climatology) at batch 1 and batch 32, after warm-up. Prints
windows/s and ms per call (medians), and the CPU it ran on.

    python -m benchmarks.serving [--days 40] [--calls 30] [--quick]
"""

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

from benchmarks.train_step import cpu_name


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="a tiny model, a few calls")
    args = parser.parse_args()

    import tensorflow as tf

    from keras_dsc.data import DataOptions, prepare_data
    from keras_dsc.runs.export import export_run, read_metadata
    from keras_dsc.runs.fit import fit_run
    from keras_dsc.runs.options import FitOptions

    days, calls = (8, 3) if args.quick else (args.days, args.calls)
    extra = dict(filters=(2,), latent_dim=4) if args.quick else {}
    with tempfile.TemporaryDirectory() as folder:
        options = FitOptions(n_clusters=6, pretrain_steps=2, steps=2, plots=False, out=folder,
                             run_name="serve", **extra)
        run_dir = fit_run(DataOptions(days=days), options, echo=lambda line: None, verbose=0)
        version = export_run(run_dir, out=os.path.join(folder, "models"))
        metadata = read_metadata(version)
        data = prepare_data(DataOptions(days=days))
        cube = data.cube[metadata["variables"]].to_dataarray("variable").transpose(
            "time", "latitude", "longitude", "variable").values.astype("float32")
        window = metadata["window"]
        windows = np.stack([cube[s:s + window] for s in range(0, len(cube) - window + 1,
                                                             window)])
        starts = (data.cube["time"].values[::window][:len(windows)]
                  .astype("datetime64[s]").astype("int64"))
        serve = tf.saved_model.load(str(version)).signatures["serving_default"]
        print(f"machine: {cpu_name()}, {os.cpu_count()} CPU cores; TensorFlow {tf.__version__}; "
              f"windows {tuple(windows.shape[1:])}, default model, anomalies in the graph")
        print(f"{'batch':>6} {'ms per call':>12} {'windows/s':>10}")
        for batch in (1, 32):
            index = np.arange(batch) % len(windows)
            inputs = {"windows": tf.constant(windows[index])}
            if "start_time" in metadata["inputs"]:
                inputs["start_time"] = tf.constant(starts[index])
            for _ in range(3):
                serve(**inputs)
            seconds = []
            for _ in range(calls):
                start = time.perf_counter()
                serve(**inputs)
                seconds.append(time.perf_counter() - start)
            median = statistics.median(seconds)
            print(f"{batch:>6} {median * 1000:>12.1f} {batch / median:>10.1f}")


if __name__ == "__main__":
    main()
