"""The real-data evaluation set, and every method of `fit` measured on it.

Real gridded fields that ship inside packages on the package index (so they are obtainable
offline here), each with reference labels from a standard, documented climate-index recipe,
never from a clustering:

| name | file (package) | data | k | reference labels |
|---|---|---|---|---|
| nao_djf | hgt_djf.nc (eofs) | NCEP/NCAR reanalysis, DJF-mean 500 hPa height, 20-90N 80W-40E, 65 winters | 2 | the NAO index: PC1 of the sqrt(cos(lat))-weighted DJF anomalies (Hurrell's EOF definition), positive phase where the Icelandic centre is low; label = its sign |
| enso_ndjfm | sst_ndjfm_anom.nc (eofs) | observed NDJFM-mean SST anomalies, Pacific, 50 winters | 3 | Nino-3.4: the area-weighted mean anomaly over 5S-5N, 170W-120W; El Nino above +0.5 K, La Nina below -0.5 K, else neutral (NOAA's thresholds) |
| enso_monthly | ostia_monthly.nc (iris-sample-data) | OSTIA analysis, monthly SST, 5S-5N around the globe, 54 months | 3 | Nino-3.4 monthly anomaly (from the record's own calendar-month means), the same +-0.5 K thresholds |
| warming_e1 | E1_north_america.nc (iris-sample-data) | HadCM3 climate model, annual-mean air temperature, North America, 1860-2099, E1 scenario | 4 | warming level of the area-weighted domain mean above its 1860-1899 mean: below 0.5 K, 0.5-1.5, 1.5-2.5, above 2.5 K |
| warming_a1b | A1B_north_america.nc (iris-sample-data) | the same, A1B scenario | 4 | the same levels |

`python -m benchmarks.real_data --prepare DIR` writes every dataset's reference labels to
`DIR/<name>_labels.csv` (columns `time,label`, one row per sample, on the times keras_dsc's
loader reads) and `DIR/datasets.json` (the file, variable, k, recipe and class counts).
`python -m benchmarks.real_data --run DIR [--seeds 5] [--methods ...]` then runs
`python cli.py benchmark --data FILE --labels DIR/<name>_labels.csv --window 1 --resample none
--n-clusters k` for each dataset (every sample is one time step, the default anomalies on) and
prints one table: the mean and standard deviation of the ARI over seeds per method and
dataset, and the paired tests of keras_dsc DSC against EOF + k-means.

Needs the `evaluation` extra: `pip install -e ".[evaluation]"` (eofs, iris-sample-data).
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pandas as pd

ROOT = pathlib.Path(__file__).resolve().parent.parent
METHODS = "kmeans,eof_kmeans,som,agglomerative,dsc"


def files():
    """The data files of the evaluation set, from the installed packages."""
    try:
        import eofs.examples
        import iris_sample_data
    except ImportError:
        sys.exit("the evaluation set needs its packages: pip install -e \".[evaluation]\"")
    iris = pathlib.Path(iris_sample_data.__file__).parent / "sample_data"
    return {
        "nao_djf": (eofs.examples.example_data_path("hgt_djf.nc"), "z"),
        "enso_ndjfm": (eofs.examples.example_data_path("sst_ndjfm_anom.nc"), "sst"),
        "enso_monthly": (str(iris / "ostia_monthly.nc"), "surface_temperature"),
        "warming_e1": (str(iris / "E1_north_america.nc"), "air_temperature"),
        "warming_a1b": (str(iris / "A1B_north_america.nc"), "air_temperature"),
    }


def area_mean(field, north=90, south=-90, west=-180, east=180):
    """The cos(latitude)-weighted mean over a box, per time. `west` and `east` are in
    -180..180; the field may keep its longitudes in either convention (a Pacific box across
    the date line is kept in 0..360). A box with no grid point in it is refused."""
    longitudes = field["longitude"].values
    if east - west >= 360:
        inside = np.ones(longitudes.shape, bool)
    else:
        inside = (longitudes - west) % 360 <= (east - west) % 360
    box = field.sel(latitude=slice(north, south)).isel(longitude=np.flatnonzero(inside))
    if box.sizes["latitude"] == 0 or box.sizes["longitude"] == 0:
        raise ValueError(f"no grid point of {field.name!r} in {south}..{north} N, "
                         f"{west}..{east} E")
    weights = np.cos(np.deg2rad(box["latitude"]))
    return box.weighted(weights).mean(("latitude", "longitude")).values


def nino34_classes(index):
    """2 El Nino (> +0.5 K), 0 La Nina (< -0.5 K), 1 neutral."""
    return np.where(index > 0.5, 2, np.where(index < -0.5, 0, 1))


def reference_labels(name, field):
    """The labels of the dataset `name` from its field (time, latitude, longitude)."""
    if name == "nao_djf":
        anomaly = field - field.mean("time")
        weights = np.sqrt(np.cos(np.deg2rad(anomaly["latitude"].values)))[:, None]
        flat = (anomaly.values * weights).reshape(len(anomaly["time"]), -1)
        _, _, vt = np.linalg.svd(flat - flat.mean(axis=0), full_matrices=False)
        pc1 = flat @ vt[0]
        eof = vt[0].reshape(anomaly.shape[1:])
        north = anomaly["latitude"].values >= 55
        if eof[north].mean() > 0:  # positive NAO: low heights near Iceland
            pc1 = -pc1
        return (pc1 > 0).astype(int), "sign of PC1 of the weighted DJF Z500 anomalies"
    if name == "enso_ndjfm":
        return nino34_classes(area_mean(field, 5, -5, -170, -120)), "Nino-3.4 +-0.5 K"
    if name == "enso_monthly":
        box = area_mean(field, 5, -5, -170, -120)
        months = pd.DatetimeIndex(field["time"].values).month
        climatology = pd.Series(box).groupby(months).transform("mean").values
        return nino34_classes(box - climatology), "Nino-3.4 monthly anomaly +-0.5 K"
    if name.startswith("warming"):
        mean = area_mean(field)
        years = pd.DatetimeIndex(field["time"].values).year
        warming = mean - mean[(years >= 1860) & (years < 1900)].mean()
        return (np.digitize(warming, [0.5, 1.5, 2.5]),
                "warming above 1860-1899: <0.5, 0.5-1.5, 1.5-2.5, >2.5 K")
    raise KeyError(name)


def prepare(folder):
    """Writes the labels of every dataset and `datasets.json` into `folder`."""
    from keras_dsc.data.era5 import open_cube

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    summary = {}
    for name, (path, variable) in files().items():
        field = open_cube(path, variables=[variable])[variable].load()
        labels, recipe = reference_labels(name, field)
        times = pd.to_datetime(field["time"].values).strftime("%Y-%m-%dT%H:%M:%S")
        pd.DataFrame({"time": times, "label": labels}).to_csv(folder / f"{name}_labels.csv",
                                                               index=False)
        counts = np.bincount(labels).tolist()
        if min(counts) == 0:  # a recipe that finds no sample of a class is broken
            raise SystemExit(f"{name}: no sample in class {counts.index(0)} of {recipe}")
        summary[name] = {"file": path, "variable": variable, "k": len(counts),
                         "samples": int(len(labels)), "grid": list(field.shape[1:]),
                         "recipe": recipe, "class_counts": counts}
        print(f"{name:14s} {len(labels):4d} samples of {tuple(field.shape[1:])}, k = "
              f"{len(counts)}, classes {counts}: {recipe}")
    (folder / "datasets.json").write_text(json.dumps(summary, indent=2))
    return summary


def run(folder, seeds, methods, extra):
    """Runs the benchmark command on every dataset; prints and returns the combined table."""
    folder = pathlib.Path(folder)
    summary = json.loads((folder / "datasets.json").read_text())
    tables = []
    for name, info in summary.items():
        out = folder / f"benchmark_{name}"
        command = [sys.executable, str(ROOT / "cli.py"), "benchmark", "--data", info["file"],
                   "--variables", info["variable"], "--labels",
                   str(folder / f"{name}_labels.csv"), "--window", "1", "--resample", "none",
                   "--n-clusters", str(info["k"]), "--seeds", str(seeds), "--methods", methods,
                   "--out", str(out), *extra]
        print("$", " ".join(command), flush=True)
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        latest = sorted(out.glob("benchmark-*"))[-1]
        seeds_table = pd.read_csv(latest / "benchmark_seeds.csv")
        seeds_table["dataset"] = name
        tables.append(seeds_table)
    everything = pd.concat(tables)
    everything.to_csv(folder / "real_data_seeds.csv", index=False)
    print(markdown(everything))
    return everything


def markdown(per_seed):
    """The ARI per method and dataset (mean ± sd over seeds), and DSC against EOF + k-means."""
    from scipy import stats

    ok = per_seed[per_seed["status"] == "ok"]
    datasets = list(dict.fromkeys(ok["dataset"]))
    labels = dict(zip(ok["method"], ok["label"]))
    lines = ["| method | " + " | ".join(datasets) + " |", "|---|" + "---|" * len(datasets)]
    for method in dict.fromkeys(ok["method"]):
        cells = []
        for dataset in datasets:
            ari = ok[(ok["method"] == method) & (ok["dataset"] == dataset)]["ari"]
            cells.append(f"{ari.mean():.3f} ± {ari.std(ddof=1):.3f}" if len(ari) > 1
                         else f"{ari.mean():.3f}" if len(ari) else "-")
        lines.append(f"| {labels[method]} | " + " | ".join(cells) + " |")
    lines += ["", "| dataset | DSC − EOF + k-means (ARI, mean over seeds) | p (paired t-test) | "
              "p (Wilcoxon) |", "|---|---|---|---|"]
    for dataset in datasets:
        frame = ok[ok["dataset"] == dataset].pivot_table(index="seed", columns="method",
                                                        values="ari")
        if not {"dsc", "eof_kmeans"} <= set(frame.columns):
            continue
        difference = frame["dsc"] - frame["eof_kmeans"]
        if len(difference) > 1 and not np.allclose(difference, difference.iloc[0]):
            p_t = stats.ttest_rel(frame["dsc"], frame["eof_kmeans"]).pvalue
            p_w = stats.wilcoxon(frame["dsc"], frame["eof_kmeans"]).pvalue
        else:
            p_t = p_w = float("nan")
        lines.append(f"| {dataset} | {difference.mean():+.3f} | {p_t:.3g} | {p_w:.3g} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepare", metavar="DIR", help="write the labels into DIR")
    parser.add_argument("--run", metavar="DIR", help="run every method on the prepared set")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--methods", default=METHODS)
    args, extra = parser.parse_known_args()
    if not (args.prepare or args.run):
        parser.print_help()
        return
    if args.prepare:
        prepare(args.prepare)
    if args.run:
        run(args.run, args.seeds, args.methods, extra)


if __name__ == "__main__":
    main()
