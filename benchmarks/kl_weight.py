"""The KL weight `gamma` of DSC's joint training, measured on the harder built-in case and on
the real evaluation set, over seeds.

Every training is `fit`'s own (`keras_dsc.runs.fit.train_method` with every default of
`FitOptions` but `gamma`, `n_clusters` and the seed); the ARI is against the planted regimes
(the harder built-in case of the README: 240 days, 5 regimes of strength 0.45, episodes of 2-5
days) or against the climate-index labels of `benchmarks.real_data --prepare DIR`. One JSON
line per training, then the mean ± sd per gamma and case.

Usage (from the repository root):

    python -m benchmarks.kl_weight --gammas 0.1,1 --seeds 0,1,2,3,4
    python -m benchmarks.real_data --prepare /tmp/real
    python -m benchmarks.kl_weight --gammas 0.1,1 --seeds 0,1,2,3,4 --real /tmp/real
"""

import argparse
import json
import time

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from keras_dsc.data import DataOptions, prepare_data
from keras_dsc.runs.fit import train_method
from keras_dsc.runs.options import FitOptions
from keras_dsc.training.hardware import hardware_settings

HARD_CASE = DataOptions(days=240, n_regimes=5, regime_strength=0.45, episode_days=(2, 5))


def cases(real):
    """`(name, windows, labels, k)` of the harder built-in case, or of the real set in `real`."""
    if real is None:
        windows = prepare_data(HARD_CASE).windows
        yield "hard_case", windows, np.asarray(windows.labels), 5
        return
    with open(f"{real}/datasets.json", encoding="utf-8") as handle:
        summary = json.load(handle)
    for name, info in summary.items():
        options = DataOptions(data=[info["file"]], variables=(info["variable"],), window=1,
                              resample="none")
        windows = prepare_data(options).windows
        labels = pd.read_csv(f"{real}/{name}_labels.csv")["label"].to_numpy()
        if len(labels) != len(windows):
            raise SystemExit(f"{name}: {len(labels)} labels for {len(windows)} samples")
        yield name, windows, labels, info["k"]


def train_and_score(windows, labels, fit_options, hardware, **row):
    """One training by `fit`'s own `train_method` with `fit_options` (its seed); prints and
    returns its JSON row: the keys of `row`, the seed, the ARI against `labels`, the seconds."""
    started = time.time()
    _, result = train_method(windows, fit_options, fit_options.seed, hardware, verbose=0)
    row = {**row, "seed": fit_options.seed,
           "ari": round(adjusted_rand_score(labels, result.labels), 4),
           "seconds": round(time.time() - started)}
    print(json.dumps(row), flush=True)
    return row


def print_table(rows, by):
    """The mean, sd and count of the ARI of `rows` per value of the columns `by`."""
    table = pd.DataFrame(rows).groupby(by, sort=False)["ari"]
    print(table.agg(["mean", "std", "count"]).round(3).to_string())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gammas", default="0.1,1")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--real", metavar="DIR", help="the prepared real evaluation set "
                        "(benchmarks.real_data --prepare DIR) instead of the harder case")
    args = parser.parse_args()
    gammas = [float(g) for g in args.gammas.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    hardware = hardware_settings()
    rows = []
    for name, windows, labels, k in cases(args.real):
        for seed in seeds:
            for gamma in gammas:
                options = FitOptions(n_clusters=k, gamma=gamma, seed=seed, plots=False)
                rows.append(train_and_score(windows, labels, options, hardware, case=name,
                                            gamma=gamma))
    print_table(rows, ["case", "gamma"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
