"""Peak memory of training from a 1-year and a 4-year hourly NetCDF file of the same grid.

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
3. prints every child's peak resident set size (`ru_maxrss` of exactly that child, read with
   `os.wait4`), its wall time, and the ratio; the exit status is 1 when the ratio exceeds
   `--max-ratio`.

Usage (from the repository root; about 2 GB of files go to --folder):

    python -m benchmarks.memory_years
    python -m benchmarks.memory_years --folder /tmp/mem --keep --scores
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
    command = [sys.executable, "-m", "benchmarks.memory_years", "--child", str(path), "--folder", str(out),
               "--run-name", run_name] + (["--scores"] if scores else [])
    started = time.time()
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
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
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--run-name", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        train(args.child, args.folder, args.run_name, args.scores)
        return 0

    folder = pathlib.Path(args.folder or tempfile.mkdtemp(prefix="keras_dsc_memory_"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for years in (1, 4):
            started = time.time()
            path = write_years(folder, years)
            print(f"{path.name}: {path.stat().st_size / 2**20:.0f} MiB "
                  f"(ready in {time.time() - started:.0f} s)")
        print(f"training: {DATA}, {FIT}, scores {'on' if args.scores else 'off'}")
        results = {}
        for years in (1, 4):
            path = folder / f"years_{years}.nc"
            run_name = f"run_{years}y_{'scores_' if args.scores else ''}{int(time.time())}"
            rss, wall = peak_memory_of_training(path, folder / "runs", run_name, args.scores)
            results[years] = rss
            print(f"{years} year(s): peak RSS {rss:.0f} MiB, wall {wall:.0f} s")
        ratio = results[4] / results[1]
        verdict = "OK" if ratio <= args.max_ratio else "FAIL"
        print(f"ratio 4 years / 1 year: {ratio:.3f} (limit {args.max_ratio}) {verdict}")
        return 0 if ratio <= args.max_ratio else 1
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
