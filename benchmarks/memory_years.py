"""Peak memory of training from a 1-year and a 4-year hourly record (NetCDF or Zarr), same grid.

Training must stream: the peak resident memory of training on four years of hourly data must
stay within 1.3 times that on one year. The script

1. writes the keras_dsc synthetic ERA5-form cube (41 x 41 points, 7 variables, hourly) as one
   file per length: `years_1.nc` (2021) and `years_4.nc` (2021-2024, 1461 days), each year
   generated separately and the 4-year file written from them chunk by chunk, so that writing
   never holds four years in memory either;
2. trains on each file in its own process, with hourly windows of one day (`resample=None`,
   `window=24`: 365 and 1461 windows of shape (24, 41, 41, 7)), streaming from the file
   (`DataOptions.stream=True`), one epoch of pre-training and one of joint training, a small
   model: the child runs `keras_dsc.runs.fit.fit_run`, what `python cli.py fit` runs, except that
   by default it leaves out the final clustering scores (`--scores` keeps them: `score_run`
   flattens at most `keras_dsc.runs.fit.SCORE_BYTES` of windows, a random subset on long records);
   With `--source zarr` the records are Zarr stores instead, `years_1.zarr` and `years_4.zarr`,
   in the analysis-ready ERA5 layout of ARCO-ERA5 (long variable names, `time`, longitude
   0..360, consolidated metadata), written year by year from the same yearly NetCDF parts with
   one day (24 steps) per chunk (ARCO-ERA5 has one step per chunk; a day keeps the benchmark's
   store to some ten thousand files), and training reads them through `open_cube`'s Zarr path;
3. prints every child's peak resident set size (`ru_maxrss` of exactly that child, read with
   `os.wait4`), its wall time, and the ratio; the exit status is 1 when the ratio exceeds
   `--max-ratio`.

Usage (from the repository root; about 2 GB of files go to --folder):

    python -m benchmarks.memory_years
    python -m benchmarks.memory_years --folder /tmp/mem --keep --scores
    python -m benchmarks.memory_years --source zarr --parallel
"""

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIRST_YEAR = 2021
DATA = {"resample": None, "window": 24, "stream": True}
FIT = {"n_clusters": 6, "steps": 1, "pretrain_steps": 1, "batch_size": 16, "filters": (4, 8),
       "latent_dim": 8, "update_interval": 100000, "plots": False}


def write_years(folder, years):
    """`years_<years>.nc`: the synthetic cube from Jan 1st 2021, one generated year at a time."""
    import pandas as pd
    import xarray as xr

    from keras_dsc.data.synthetic import write_cube

    path = folder / f"years_{years}.nc"
    if path.exists():
        return path
    parts = []
    for k in range(years):
        year = FIRST_YEAR + k
        part = folder / f"part_{year}.nc"
        if not part.exists():
            days = (pd.Timestamp(f"{year + 1}-01-01") - pd.Timestamp(f"{year}-01-01")).days
            write_cube(part, days=days, start=f"{year}-01-01", seed=k)
        parts.append(part)
    if years == 1:
        shutil.copyfile(parts[0], path)
        return path
    with xr.open_mfdataset(parts, combine="nested", concat_dim="valid_time",
                           data_vars="minimal", coords="minimal", compat="override",
                           chunks={"valid_time": 24 * 31}) as ds:
        encoding = {name: {"zlib": False} for name in ds.data_vars}
        encoding["valid_time"] = {"units": "seconds since 1970-01-01", "dtype": "int64",
                                  "calendar": "proleptic_gregorian"}
        partial = folder / f"years_{years}.nc.partial"
        ds.to_netcdf(partial, engine="netcdf4", encoding=encoding)
    os.replace(partial, path)
    return path


def write_zarr_years(folder, years):
    """`years_<years>.zarr`: the yearly NetCDF parts appended one year at a time into a store
    in the ARCO-ERA5 layout (one day per chunk), never more than a month in memory."""
    import numpy as np
    import xarray as xr

    from keras_dsc.data.era5_names import SHORT_TO_LONG

    path = folder / f"years_{years}.zarr"
    if path.exists():
        return path
    partial = folder / f"years_{years}.zarr.partial"
    shutil.rmtree(partial, ignore_errors=True)
    for k in range(years):
        year = FIRST_YEAR + k
        part = folder / f"part_{year}.nc"
        if not part.exists():
            write_years_part(folder, year, k)
        with xr.open_dataset(part, chunks={"valid_time": 24 * 31}) as ds:
            ds = ds.drop_vars([n for n in ("regime", "expver", "number") if n in ds.variables])
            ds = ds.rename({"valid_time": "time", **{n: SHORT_TO_LONG[n] for n in ds.data_vars
                                                    if n in SHORT_TO_LONG}})
            lon360 = np.mod(ds["longitude"].values, 360.0)
            ds = ds.assign_coords(longitude=("longitude", lon360, ds["longitude"].attrs))
            ds = ds.isel(longitude=np.argsort(lon360))
            ds = ds.astype("float32").chunk({"time": 24 * 31, "latitude": -1, "longitude": -1})
            for name in ds.data_vars:
                ds[name].encoding = {"chunks": (24, ds.sizes["latitude"], ds.sizes["longitude"])}
            if k == 0:
                ds["time"].encoding = {"units": "hours since 1900-01-01", "dtype": "int64"}
                ds.to_zarr(partial, mode="w", consolidated=True, zarr_format=2)
            else:
                for name in ds.variables:
                    ds[name].encoding = {}
                ds.to_zarr(partial, append_dim="time", consolidated=True)
    os.replace(partial, path)
    return path


def write_years_part(folder, year, k):
    """`part_<year>.nc`: one year of the synthetic cube (seed `k`)."""
    import pandas as pd

    from keras_dsc.data.synthetic import write_cube

    days = (pd.Timestamp(f"{year + 1}-01-01") - pd.Timestamp(f"{year}-01-01")).days
    return write_cube(folder / f"part_{year}.nc", days=days, start=f"{year}-01-01", seed=k)


def train(path, out, run_name, scores):
    """The child: `fit_run` on `path`, streaming; without `scores`, no final scores."""
    import numpy as np

    from keras_dsc.runs import fit as runs
    from keras_dsc.data import DataOptions

    if not scores:  # only the cluster sizes, which the summary prints
        runs.score_run = lambda windows, labels, **kwargs: {
            "cluster_sizes": dict(enumerate(np.bincount(labels).tolist()))}
    runs.fit_run(DataOptions(data=str(path), **DATA),
                 runs.FitOptions(out=str(out), run_name=run_name, **FIT), verbose=0)


def peak_memory_of_training(path, out, run_name, scores):
    """Trains on `path` in a child process; returns (peak RSS in MiB, wall s)."""
    return finish_training(start_training(path, out, run_name, scores))


def start_training(path, out, run_name, scores):
    """Starts the child that trains on `path`; returns what `finish_training` needs."""
    command = [sys.executable, "-m", "benchmarks.memory_years", "--child", str(path), "--folder", str(out),
               "--run-name", run_name] + (["--scores"] if scores else [])
    started = time.time()
    output = tempfile.TemporaryFile(mode="w+")
    child = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT,
                             text=True)
    return path, child, output, started


def finish_training(started_training):
    """Waits for a child of `start_training`; returns (peak RSS in MiB, wall s)."""
    path, child, handle, started = started_training
    _, status, usage = os.wait4(child.pid, 0)
    handle.seek(0)
    output = handle.read()
    handle.close()
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.time() - started
    if child.returncode != 0:
        sys.exit(f"training on {path} failed ({child.returncode}):\n{output[-3000:]}")
    shown = [line for line in output.splitlines() if line.startswith(("data:", "clusters"))]
    print("   " + "\n   ".join(shown))
    return usage.ru_maxrss / 1024.0, wall  # ru_maxrss is in KiB on Linux


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=None,
                        help="Where the NetCDF files and runs go. Default: a temporary folder.")
    parser.add_argument("--keep", action="store_true", help="Keep the folder afterwards.")
    parser.add_argument("--scores", action="store_true",
                        help="Also compute the final clustering scores, as cli.py fit does.")
    parser.add_argument("--max-ratio", type=float, default=1.3)
    parser.add_argument("--source", choices=("netcdf", "zarr"), default="netcdf",
                        help="Read the records from NetCDF files or Zarr stores (ARCO-ERA5 "
                        "layout).")
    parser.add_argument("--parallel", action="store_true",
                        help="Train on both records at once (each child's own peak is measured; "
                        "faster on a busy machine, with memory for both).")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--run-name", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        train(args.child, args.folder, args.run_name, args.scores)
        return 0

    folder = pathlib.Path(args.folder or tempfile.mkdtemp(prefix="keras_dsc_memory_"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        write = write_zarr_years if args.source == "zarr" else write_years
        paths = {}
        for years in (1, 4):
            started = time.time()
            paths[years] = path = write(folder, years)
            size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if \
                path.is_dir() else path.stat().st_size
            print(f"{path.name}: {size / 2**20:.0f} MiB (ready in {time.time() - started:.0f} s)")
        print(f"training: {DATA}, {FIT}, scores {'on' if args.scores else 'off'}")
        results = {}
        children = {}
        for years in (1, 4):
            path = paths[years]
            run_name = f"run_{years}y_{'scores_' if args.scores else ''}{int(time.time())}"
            children[years] = start_training(path, folder / "runs", run_name, args.scores)
            if not args.parallel:
                results[years] = finish_training(children[years])
        for years in (1, 4):
            if years not in results:
                results[years] = finish_training(children[years])
            rss, wall = results[years]
            print(f"{years} year(s): peak RSS {rss:.0f} MiB, wall {wall:.0f} s")
            results[years] = rss
        ratio = results[4] / results[1]
        verdict = "OK" if ratio <= args.max_ratio else "FAIL"
        print(f"ratio 4 years / 1 year: {ratio:.3f} (limit {args.max_ratio}) {verdict}")
        return 0 if ratio <= args.max_ratio else 1
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
