"""keras_dsc command line: `python cli.py fit`, and more. Parses options, calls the library."""

import functools
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

import click

from keras_dsc.data import DataOptions
from keras_dsc.errors import DataError
from keras_dsc.runs.fit import FitOptions

DEFAULT_DATA = DataOptions()
DEFAULT_FIT = FitOptions()
DEFAULT_FILTERS = ",".join(str(f) for f in DEFAULT_FIT.filters)


class OneLineErrors(click.Group):
    """A click group whose usage errors and `DataError`s print one line and exit with status 2."""

    def main(self, *args, **kwargs):
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.exceptions.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        except click.ClickException as error:
            click.echo(f"Error: {error.format_message()}", err=True)
            sys.exit(error.exit_code)
        except DataError as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(2)
        sys.exit(code or 0)


def _csv(text, convert=str, option=""):
    if text is None or text == "":
        return None
    try:
        return tuple(convert(part.strip()) for part in str(text).split(","))
    except ValueError:
        raise DataError(f"{option}: {text!r} is not a comma-separated list of numbers") from None


def _region(text):
    """`--region N,W,S,E` as four floats, or None."""
    region = _csv(text, float, "--region")
    if region is not None and len(region) != 4:
        raise DataError(f"--region: expected N,W,S,E (four numbers), got {text!r}")
    return region


def data_options(function):
    """The data options every command shares; they arrive as one `DataOptions` named `data`."""

    @click.option("--data", default=None, help="NetCDF file, glob or 'tfds:era5_cube/<config>'. "
                  "Default: the built-in synthetic ERA5-form cube.")
    @click.option("--days", default=DEFAULT_DATA.days, show_default=True, type=int,
                  help="Length of the built-in cube in days.")
    @click.option("--variables", default=None, help="Comma-separated variable names, e.g. "
                  "u10,v10,t2m,sst,sp,slhf,sshf. Default: all.")
    @click.option("--region", default=None, help="N,W,S,E in degrees (the CDS order), "
                  "e.g. 43,-33,33,-23. Default: the whole grid.")
    @click.option("--time-range", default=None, help="START,END dates, e.g. 2021-01-01,2021-06-30.")
    @click.option("--resample", default=DEFAULT_DATA.resample, show_default=True,
                  help="Time means at this step (3h, 1D, ...); 'none' keeps the data's step.")
    @click.option("--window", default=DEFAULT_DATA.window, show_default=True, type=int,
                  help="Time steps per sample (8 three-hourly steps = one day; 1 = the paper).")
    @click.option("--stride", default=None, type=int,
                  help="Steps between window starts. Default: the window length.")
    @click.option("--anomalies/--no-anomalies", default=None,
                  help="Remove the fitted seasonal and diurnal cycles first.  [default: "
                  "anomalies, except for tfds: data]")
    @click.option("--normalization", type=click.Choice(["zscore", "minmax"]),
                  default=DEFAULT_DATA.normalization, show_default=True)
    @click.option("--tfds-data-dir", default=None, help="TFDS data dir of --data tfds:... "
                  "Default: $TFDS_DATA_DIR, else ~/tensorflow_datasets.")
    @functools.wraps(function)
    def wrapper(data, days, variables, region, time_range, resample, window, stride, anomalies,
                normalization, tfds_data_dir, **kwargs):
        options = DataOptions(
            data=data,
            days=days,
            variables=_csv(variables),
            region=_region(region),
            time_range=_csv(time_range),
            resample=None if str(resample).lower() in ("none", "") else resample,
            window=window,
            stride=stride,
            anomalies=anomalies,
            normalization=normalization,
            tfds_data_dir=tfds_data_dir,
        )
        if options.time_range is not None and len(options.time_range) != 2:
            raise DataError(f"--time-range: expected START,END, got {time_range!r}")
        return function(data=options, **kwargs)

    return wrapper


@click.group(cls=OneLineErrors)
def cli():
    """keras_dsc: Deep Spatiotemporal Clustering of climate data cubes."""


@cli.command()
@data_options
@click.option("--n-clusters", default=DEFAULT_FIT.n_clusters, show_default=True, type=int,
              help="Number of clusters k.")
@click.option("--epochs", default=DEFAULT_FIT.epochs, show_default=True, type=int,
              help="Epoch limit of joint (reconstruction + clustering) training.")
@click.option("--pretrain-epochs", default=DEFAULT_FIT.pretrain_epochs, show_default=True,
              type=int,
              help="Epochs of autoencoder pre-training (0: none, as the paper).")
@click.option("--batch-size", default=DEFAULT_FIT.batch_size, show_default=True, type=int)
@click.option("--gamma", default=DEFAULT_FIT.gamma, show_default=True, type=float,
              help="Weight of the KL clustering loss.")
@click.option("--update-interval", default=DEFAULT_FIT.update_interval, show_default=True,
              type=int,
              help="Training steps between recomputations of the target distribution P.")
@click.option("--tol", default=DEFAULT_FIT.tol, show_default=True, type=float,
              help="Stop when the fraction of samples changing cluster falls below this.")
@click.option("--latent-dim", default=DEFAULT_FIT.latent_dim, show_default=True, type=int)
@click.option("--filters", default=DEFAULT_FILTERS, show_default=True,
              help="ConvLSTM2D filters, one per depth level.")
@click.option("--skip/--no-skip", default=DEFAULT_FIT.skip, show_default=True,
              help="U-net skip connections (off: the bottleneck must carry the information).")
@click.option("--learning-rate", default=DEFAULT_FIT.learning_rate, show_default=True, type=float)
@click.option("--seed", default=DEFAULT_FIT.seed, show_default=True, type=int)
@click.option("--out", default="saved_models", show_default=True, help="Parent output folder.")
@click.option("--run-name", default=None, help="Run folder name. Default: dsc-<timestamp>.")
@click.option("--plots/--no-plots", default=True, show_default=True, help="Write PNG figures.")
def fit(data, filters, **options):
    """Train DSC and write a run folder (model, assignments, scores, history)."""
    from keras_dsc.runs.fit import fit_run

    fit_options = FitOptions(filters=_csv(filters, int, "--filters"), **options)
    fit_run(data, fit_options, echo=click.echo)


@cli.command()
@data_options
@click.option("--seeds", default=5, show_default=True, type=int,
              help="Seeds per method (0, 1, ...); --quick: 3 unless given.")
@click.option("--quick", is_flag=True,
              help="Small sizes for a CPU (and a 120-day built-in cube unless --days is given).")
@click.option("--methods", default=None,
              help="Comma-separated subset, e.g. kmeans,dsc. Default: all.")
@click.option("--n-clusters", default=None, type=int,
              help="k. Default: the number of planted regimes, else 6.")
@click.option("--out", default="saved_models", show_default=True,
              help="Parent folder of the new benchmark-<timestamp> folder.")
def benchmark(data, seeds, quick, methods, n_clusters, out):
    """Compare DSC with every baseline over seeds; write benchmark.csv and benchmark.md."""
    import dataclasses

    from keras_dsc.runs.benchmark import QUICK, QUICK_SEEDS, run_benchmark

    context = click.get_current_context()
    default = click.core.ParameterSource.DEFAULT
    if quick and context.get_parameter_source("seeds") == default:
        seeds = QUICK_SEEDS
    if quick and data.builtin and context.get_parameter_source("days") == default:
        data = dataclasses.replace(data, days=QUICK.days)
    _, csv_path, md_path = run_benchmark(data, seeds=seeds, quick=quick, out=out,
                                         methods=methods, n_clusters=n_clusters,
                                         echo=click.echo)
    click.echo(md_path.read_text())
    click.echo(f"wrote {csv_path} and {md_path}")


@cli.command()
@click.argument("run_dir")
@click.option("--name", default="dsc", show_default=True,
              help="Model name: the folder under --out (TF Serving's MODEL_NAME).")
@click.option("--version", default=None, type=int,
              help="Version number. Default: the next free one.")
@click.option("--out", default="saved_models", show_default=True,
              help="Parent folder of the exported models.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --version.")
def export(run_dir, name, version, out, overwrite):
    """Export a run as a SavedModel for TF Serving: <out>/<name>/<version>/."""
    from keras_dsc.runs.export import export_run

    path = export_run(run_dir, out=out, name=name, version=version, overwrite=overwrite)
    click.echo(f"wrote {path}")


@cli.command()
@click.option("--model", "model_path", required=True,
              help="A run folder or an exported SavedModel version folder.")
@click.option("--data", required=True, help="NetCDF file or glob, on the model's grid.")
@click.option("--out", required=True, help="CSV to write: time,cluster,probability.")
@click.option("--batch-size", default=64, show_default=True, type=int)
def predict(model_path, data, out, batch_size):
    """Assign every window of new data to a cluster of a trained model."""
    from keras_dsc.runs.predict import predict as predict_clusters

    table = predict_clusters(model_path, data, out=out, batch_size=batch_size)
    sizes = table["cluster"].value_counts().sort_index()
    click.echo(f"{len(table)} windows; clusters: "
               + ", ".join(f"{k}:{n}" for k, n in sizes.items()))
    click.echo(f"wrote {out}")


_DATA_OPTION_FIELDS = ("data", "days", "variables", "region", "time_range", "resample", "window",
                       "stride", "anomalies", "normalization", "tfds_data_dir")


def _explicit_data_options(data):
    """The fields of `data` (a `DataOptions`) the user gave on the command line, as a dict."""
    context = click.get_current_context()
    default = click.core.ParameterSource.DEFAULT
    return {name: getattr(data, name) for name in _DATA_OPTION_FIELDS
            if context.get_parameter_source(name) not in (default, None)}


@cli.command()
@click.argument("run_dir")
@click.option("--dpi", default=100, show_default=True, type=click.IntRange(10, 600),
              help="Pixels per inch of the PNG files.")
def plot(run_dir, dpi):
    """Draw a run's figures: composites, calendar, latent space, training curves (PNG)."""
    from keras_dsc.runs.figures import plot_run

    for path in plot_run(run_dir, dpi=dpi):
        click.echo(f"wrote {path}")


@cli.command()
@click.argument("run_dir")
@data_options
@click.option("--labels", "labels_csv", default=None,
              help="CSV of reference labels (columns time,cluster or time,label) for ARI/NMI. "
              "Default: the data's planted regimes, if any.")
@click.option("--features", type=click.Choice(["input", "latent"]), default="input",
              show_default=True, help="Score the flattened normalised input windows (as the "
              "paper) or the model's latent vectors.")
@click.option("--out", default=None, help="Metrics JSON file. Default: RUN_DIR/evaluation.json.")
def evaluate(run_dir, data, labels_csv, features, out):
    """Score a trained run on its own data, or on other data given with --data.

    Data options left out are the run's own (other --data keeps its variables, region,
    resampling and window).
    """
    import pathlib

    from keras_dsc.runs.evaluate import (
        evaluate_run,
        evaluation_data_options,
        format_scores,
        write_evaluation,
    )

    given = _explicit_data_options(data)
    options = evaluation_data_options(run_dir, **given) if given else None
    result = evaluate_run(run_dir, options, labels_csv=labels_csv, features=features)
    click.echo(format_scores(result))
    path = write_evaluation(result, out or pathlib.Path(run_dir) / "evaluation.json")
    click.echo(f"wrote {path}")


@cli.command("select-k")
@data_options
@click.option("--k-min", default=2, show_default=True, type=int)
@click.option("--k-max", default=12, show_default=True, type=int)
@click.option("--full-runs", is_flag=True, help="Train DSC fully for every k and score each "
              "clustering on the normalised input windows (slow). Default: k-means on the "
              "latent space of one pre-trained autoencoder.")
@click.option("--pretrain-epochs", default=DEFAULT_FIT.pretrain_epochs, show_default=True,
              type=int,
              help="Epochs of autoencoder pre-training.")
@click.option("--epochs", default=DEFAULT_FIT.epochs, show_default=True, type=int,
              help="Joint training epochs of each full run.")
@click.option("--batch-size", default=DEFAULT_FIT.batch_size, show_default=True, type=int)
@click.option("--latent-dim", default=DEFAULT_FIT.latent_dim, show_default=True, type=int)
@click.option("--filters", default=DEFAULT_FILTERS, show_default=True,
              help="ConvLSTM2D filters, one per depth level.")
@click.option("--seed", default=DEFAULT_FIT.seed, show_default=True, type=int)
@click.option("--out", default="saved_models", show_default=True, help="Parent output folder.")
@click.option("--run-name", default=None, help="Output folder name. Default: "
              "select-k-<timestamp>.")
def select_k_command(data, k_min, k_max, full_runs, filters, **options):
    """Score k = K_MIN..K_MAX, write k_selection.csv/.png and recommend a k."""
    from keras_dsc.runs.select_k import select_k

    fit_options = FitOptions(filters=_csv(filters, int, "--filters"), **options)
    select_k(data, fit_options, k_min, k_max, full_runs=full_runs, echo=click.echo,
             verbose="auto")


@cli.command()
@click.option("--variables", required=True,
              help="Comma-separated ERA5 short names (u10,v10,t2m,sst,sp,slhf,sshf) or CDS names.")
@click.option("--region", default=None,
              help="N,W,S,E in degrees, e.g. 43,-33,33,-23. Default: the whole globe.")
@click.option("--years", required=True, help="Years, e.g. 2021 or 2018,2019 or 2018-2021.")
@click.option("--months", default=None, help="Months 1-12, e.g. 1,2,12. Default: all.")
@click.option("--days", default=None, help="Days of the month 1-31. Default: all.")
@click.option("--hours", default=None, help="Hours 0-23, e.g. 0,6,12,18. Default: all.")
@click.option("--target", default=None, help="NetCDF file to write (required unless --dry-run).")
@click.option("--dry-run", is_flag=True, help="Print the request as JSON; send nothing.")
def download(variables, region, years, months, days, hours, target, dry_run):
    """Download ERA5 hourly single-level data from the Copernicus CDS (needs cdsapi and a key)."""
    import json

    from keras_dsc.data.download import build_cds_request, submit

    area = _region(region)
    dataset, request = build_cds_request(
        _csv(variables), area, _int_ranges(years, "--years"), _int_ranges(months, "--months"),
        _int_ranges(days, "--days"), _int_ranges(hours, "--hours"))
    if dry_run:
        click.echo(json.dumps({"dataset": dataset, "request": request, "target": target},
                              indent=2))
        return
    if not target:
        raise DataError("--target: give the NetCDF file to write (or --dry-run)")
    submit(dataset, request, target)  # blocks while the CDS queues and serves the request
    click.echo(f"wrote {target}")


def _int_ranges(text, option):
    """'2018,2020-2021' -> (2018, 2020, 2021); None for no value."""
    values = []
    for part in _csv(text) or ():
        low, dash, high = part.partition("-")
        try:
            values += list(range(int(low), int(high) + 1)) if dash and low else [int(part)]
        except ValueError:
            raise DataError(f"{option}: {part!r} is not a whole number or a range "
                            f"like 2018-2021") from None
    return tuple(values) or None


if __name__ == "__main__":
    cli()
