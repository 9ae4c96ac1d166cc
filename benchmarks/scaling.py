"""Data-parallel training on 1 and 2 local devices, the time in target updates, the Zarr read rate.

The script

1. trains the same small DSC on the same synthetic windows (3 planted clusters) with the same
   global batch, in a fresh process per configuration: no strategy on one device, and
   `--distribute mirrored` (TensorFlow's MirroredStrategy) over 2 logical CPU devices (one CPU
   split with `tf.config.set_logical_device_configuration`; on a machine with GPUs, pass
   `--gpus` to use them instead), and `--distribute multi-worker` (MultiWorkerMirroredStrategy)
   in 2 worker processes on 127.0.0.1, one device each, connected by `TF_CONFIG`;
2. prints, per configuration, the training rate in samples/s (training steps x global batch
   over the wall time of `train_dsc` less the time in target-distribution updates), the time in
   those updates (P over the whole data set, on the host), and the final labels;
3. writes the same hourly record (`--days`, 41 x 41 points, 4 variables) as NetCDF and as a
   Zarr store in the ARCO-ERA5 layout, and prints how fast `open_cube` reads each, whole.

Logical CPU devices and worker processes on one host share the machine's cores: they show
that training on two devices gives the labels of one, not that it is faster; the speed-up
needs real devices (`--gpus`) or hosts.

Usage (from the repository root):

    python -m benchmarks.scaling
    python -m benchmarks.scaling --steps 40 --days 60
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
engine, devices, gpus, steps, batch = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", \\
    int(sys.argv[4]), int(sys.argv[5])
import tensorflow as tf
if not gpus and engine != "multi-worker":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
import keras
import numpy as np
from keras_dsc import DSC, train_dsc
from keras_dsc.training import callbacks
from keras_dsc.training.hardware import Distribution

spent = [0.0, 0]
update = callbacks.TargetDistributionUpdate._update
def timed(self):
    started = time.perf_counter()
    try:
        return update(self)
    finally:
        spent[0] += time.perf_counter() - started
        spent[1] += 1
callbacks.TargetDistributionUpdate._update = timed

rng = np.random.default_rng(0)
centres = 3.0 * rng.normal(size=(3, 8, 16, 16, 3))
n = 96
windows = (centres[np.arange(n) % 3] + 0.3 * rng.normal(size=(n, 8, 16, 16, 3))).astype("float32")
distribution = Distribution(engine)  # first: a multi-worker strategy starts TensorFlow's runtime
keras.utils.set_random_seed(0)
with distribution:
    model = DSC(input_shape=windows.shape[1:], n_clusters=3, filters=(8, 16), latent_dim=8)
    started = time.perf_counter()
    result = train_dsc(model, windows, batch_size=batch, pretrain_steps=steps, steps=steps,
                       update_interval=5, tol=0.0, verbose=0)
    wall = time.perf_counter() - started
trained = result.stopping["pretraining"]["steps"] + result.stopping["joint"]["steps"]
print("RESULT " + json.dumps({
    "engine": engine, "replicas": distribution.replicas, "devices": distribution.devices,
    "wall_s": wall, "updates": spent[1], "update_s": spent[0], "steps": trained,
    "samples_per_s": trained * batch / max(wall - spent[0], 1e-9),
    "labels": result.labels.tolist(), "loss": [float(v) for v in result.history["loss"]]}))
"""


def train(engine, devices, gpus, steps, batch, workers=1):
    """One configuration in fresh processes (`workers` of them, joined by `TF_CONFIG`);
    returns the chief's result dict, with `worker_labels`, every worker's labels."""
    command = [sys.executable, "-c", CHILD, engine, str(devices), "1" if gpus else "0",
               str(steps), str(batch)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    ports = free_ports(workers)
    processes = []
    for index in range(workers):
        if workers > 1:
            env["TF_CONFIG"] = json.dumps({
                "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
                "task": {"type": "worker", "index": index}})
        processes.append(subprocess.Popen(command, cwd=ROOT, env=dict(env), text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    results = []
    for process in processes:
        out, err = process.communicate(timeout=1800)
        if process.returncode != 0:
            for other in processes:
                other.kill()
            sys.exit(f"{engine} on {devices} devices failed:\n{err[-3000:]}")
        line = [x for x in out.splitlines() if x.startswith("RESULT ")][-1]
        results.append(json.loads(line[len("RESULT "):]))
    chief = results[0]
    chief["worker_labels"] = [r["labels"] for r in results]
    return chief


def free_ports(n):
    """`n` free TCP ports of 127.0.0.1."""
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def read_rates(folder, days):
    """Seconds and MB/s of reading the same record whole from NetCDF and from Zarr."""
    import numpy as np
    import pandas as pd
    import xarray as xr

    from keras_dsc.data.era5 import open_cube
    from keras_dsc.data.era5_names import SHORT_TO_LONG

    times = pd.date_range("2021-01-01", periods=24 * days, freq="1h")
    lat = np.linspace(43.0, 33.0, 41)
    lon = np.linspace(-33.0, -23.0, 41)
    rng = np.random.default_rng(0)
    names = ("u10", "v10", "t2m", "sp")
    base = {"u10": 0.0, "v10": 0.0, "t2m": 290.0, "sp": 101000.0}
    units = {"u10": "m s**-1", "v10": "m s**-1", "t2m": "K", "sp": "Pa"}
    data = {name: (("valid_time", "latitude", "longitude"),
                   (base[name] + rng.normal(size=(len(times), 41, 41))).astype("float32"),
                   {"units": units[name]}) for name in names}
    ds = xr.Dataset(data, coords={"valid_time": times, "latitude": lat, "longitude": lon})
    nc = folder / "record.nc"
    ds.to_netcdf(nc)
    arco = ds.rename({"valid_time": "time", **{n: SHORT_TO_LONG[n] for n in names}})
    arco = arco.assign_coords(longitude=np.mod(arco.longitude.values, 360.0))
    store = folder / "record.zarr"
    arco.to_zarr(store, mode="w", consolidated=True, zarr_format=2,
                 encoding={SHORT_TO_LONG[n]: {"chunks": (1, 41, 41)} for n in names})
    nbytes = sum(v.nbytes for v in ds.data_vars.values())
    rates = {}
    for path in (nc, store):  # imports (zarr, netCDF4) and first opens are not counted
        open_cube(path, variables=["t2m"]).close()
    for label, path in (("netcdf", nc), ("zarr", store)):
        started = time.perf_counter()
        cube = open_cube(path, variables=list(names)).load()
        seconds = time.perf_counter() - started
        rates[label] = {"seconds": seconds, "MB_per_s": nbytes / 1e6 / seconds,
                        "steps_per_s": cube.sizes["time"] / seconds}
    return nbytes, rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10,
                        help="Steps of pre-training and of joint training.")
    parser.add_argument("--batch-size", type=int, default=16, help="The global batch.")
    parser.add_argument("--days", type=int, default=30, help="Days of the read-rate record.")
    parser.add_argument("--gpus", action="store_true",
                        help="Use the machine's GPUs instead of logical CPU devices.")
    args = parser.parse_args()
    results = [train("none", 2, args.gpus, args.steps, args.batch_size),
               train("mirrored", 2, args.gpus, args.steps, args.batch_size),
               train("multi-worker", 1, args.gpus, args.steps, args.batch_size, workers=2)]
    for r in results:
        print(f"{r['engine']:>12} on {r['replicas']} device(s) {r['devices'] or ''}: "
              f"{r['samples_per_s']:.1f} samples/s over {r['steps']} steps, "
              f"{r['updates']} target updates in {r['update_s']:.1f} s "
              f"(of {r['wall_s']:.1f} s); loss {[round(v, 4) for v in r['loss']]}")
        print(f"          labels {''.join(map(str, r['labels']))}")
    for r in results[1:]:
        same = all(labels == results[0]["labels"] for labels in r["worker_labels"])
        print(f"same labels with {r['engine']} on {r['replicas']} devices as on 1 "
              f"(every worker's): {same}")
    with tempfile.TemporaryDirectory(prefix="keras_dsc_scaling_") as folder:
        nbytes, rates = read_rates(pathlib.Path(folder), args.days)
    for label, rate in rates.items():
        print(f"read {nbytes / 1e6:.0f} MB ({args.days} days hourly, 41 x 41, 4 variables) "
              f"from {label}: {rate['seconds']:.2f} s, {rate['MB_per_s']:.0f} MB/s, "
              f"{rate['steps_per_s']:.0f} steps/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
