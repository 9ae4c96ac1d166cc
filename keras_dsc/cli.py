"""The keras_dsc command line (`keras-dsc`, `python -m keras_dsc`, `python cli.py`).

It only parses options and calls the library. The data and training options are built from
the fields of `keras_dsc.data.DataOptions` and `keras_dsc.runs.options.FitOptions` (names, types,
defaults and help), and the library's `OptionError`s, which name fields, are reported with the
flags that set them.
"""

import dataclasses
import functools
import os
import sys
import types
import typing

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

import click

from keras_dsc.data import DataOptions
from keras_dsc.errors import DataError, OptionError
from keras_dsc.runs.options import FitOptions


def flag(name):
    """The command-line flag of an option name: `n_clusters` -> `--n-clusters`."""
    return "--" + name.replace("_", "-")


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
        except OptionError as error:
            flags = self.flags()
            click.echo("Error: " + error.spelled(
                lambda name: flag(name) if flag(name) in flags else name), err=True)
            sys.exit(2)
        except DataError as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(2)
        sys.exit(code or 0)

    def flags(self):
        """Every option flag of every command."""
        return {opt for command in self.commands.values() for param in command.params
                for opt in getattr(param, "opts", ()) + getattr(param, "secondary_opts", ())}


def _base_type(annotation):
    """`(type, optional)` of a field annotation: `int | None` -> `(int, True)`."""
    args = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        inner = [a for a in args if a is not type(None)]
        return inner[0], len(inner) < len(args)
    return annotation, False


def _parse(name, annotation, default, text):
    """The value of field `name` from its command-line text (comma-separated for tuples)."""
    kind, optional = _base_type(annotation)
    if isinstance(text, tuple):  # a repeatable option, given 0, 1 or more times
        text = paths_given(text)
        if not isinstance(text, str):
            return default if text is None else text
    if text is None:
        return default
    if isinstance(text, str) and text.strip().lower() == "none" and optional:
        return None
    if typing.get_origin(kind) is not tuple:
        return text
    items = typing.get_args(kind)
    convert = items[0]
    parts = [part.strip() for part in str(text).split(",")]
    try:
        values = tuple(convert(part) for part in parts)
    except ValueError:
        raise OptionError(f"{{{name}}}: {text!r} is not a comma-separated list of "
                          f"{convert.__name__} values", name) from None
    return values  # the dataclass checks the count


def paths_given(values):
    """The value of a repeatable `--data`: `None` when not given, one text, or a list.

    Example:

    >>> paths_given(()), paths_given(("a.nc",)), paths_given(("a.nc", "b.nc"))
    (None, 'a.nc', ['a.nc', 'b.nc'])
    """
    if not values:
        return None
    return values[0] if len(values) == 1 else list(values)


def _click_option(field, annotation):
    """The click option of one dataclass field."""
    kind, optional = _base_type(annotation)
    default = field.default
    help_text = field.metadata.get("help")
    if field.metadata.get("repeatable"):
        return click.option(flag(field.name), multiple=True, help=help_text)
    if kind is bool:
        return click.option(f"{flag(field.name)}/--no-{field.name.replace('_', '-')}",
                            default=default, show_default=default is not None, help=help_text)
    if default == "auto":  # 'auto' or a value: the dataclass parses the text
        return click.option(flag(field.name), default=default, show_default=True,
                            help=help_text)
    if typing.get_origin(kind) is tuple or kind is object:
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        return click.option(flag(field.name), default=None, show_default=False,
                            help=help_text + (f"  [default: {shown}]" if shown is not None
                                              else ""))
    if kind is str and optional and default is not None:  # 'none' must stay expressible
        return click.option(flag(field.name), default=default, show_default=True,
                            help=help_text)
    return click.option(flag(field.name), default=default, type=kind,
                        show_default=default is not None, help=help_text)


def dataclass_options(cls, into, names=None):
    """Adds one option per command-line field of the dataclass `cls` to a click command.

    The command receives the options as ONE instance of `cls`, keyword `into`; the values it
    checks itself (`__post_init__`) are refused there, naming the field.

    Args:
        cls: a dataclass whose fields carry `metadata={"help": ..., "cli": ...}`.
        into: the keyword under which the command receives the instance.
        names: the fields to offer, in order; `None` for every field with `cli` true.
    """
    hints = typing.get_type_hints(cls)
    chosen = [f for f in dataclasses.fields(cls)
              if (f.name in names if names is not None else f.metadata.get("cli", True))]

    def decorate(function):
        @functools.wraps(function)
        def wrapper(**kwargs):
            values = {f.name: _parse(f.name, hints[f.name], f.default, kwargs.pop(f.name))
                      for f in chosen}
            return function(**{into: cls(**values)}, **kwargs)

        for field in reversed(chosen):
            wrapper = _click_option(field, hints[field.name])(wrapper)
        return wrapper

    return decorate


def given(name):
    """Whether the user set the option `name` of the running command on the command line."""
    source = click.get_current_context().get_parameter_source(name)
    return source not in (click.core.ParameterSource.DEFAULT, None)


def given_options(instance):
    """The fields of the dataclass `instance` the user set on the command line, as a dict."""
    return {f.name: getattr(instance, f.name) for f in dataclasses.fields(instance)
            if given(f.name)}


@click.group(cls=OneLineErrors)
def cli():
    """keras_dsc: Deep Spatiotemporal Clustering of climate data cubes."""


@cli.command()
@dataclass_options(DataOptions, into="data")
@dataclass_options(FitOptions, into="fit_options")
def fit(data, fit_options):
    """Train DSC and write a run folder (model, assignments, scores, history).

    The run is written into the hidden <out>/.<run-name>.partial and renamed into place when
    complete; --resume continues a killed run from its last completed epoch."""
    from keras_dsc.runs.fit import fit_run

    fit_run(data, fit_options, echo=click.echo,
            given={"data": given_options(data), "fit": given_options(fit_options)})


@cli.command()
@dataclass_options(DataOptions, into="data")
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
@click.option("--labels", "labels_csv", default=None,
              help="CSV of reference labels (columns time,label or time,cluster; integers or "
              "names of classes) for ARI/NMI. "
              "Default: the data's planted regimes, if any.")
def benchmark(data, seeds, quick, methods, n_clusters, out, labels_csv):
    """Compare DSC with every baseline over seeds; write benchmark.csv and benchmark.md."""
    from keras_dsc.runs.benchmark import QUICK, QUICK_SEEDS, run_benchmark

    if quick and not given("seeds"):
        seeds = QUICK_SEEDS
    if quick and data.builtin and not given("days"):
        data = dataclasses.replace(data, days=QUICK.days)
    _, csv_path, md_path = run_benchmark(data, seeds=seeds, quick=quick, out=out,
                                         methods=methods, n_clusters=n_clusters,
                                         echo=click.echo, labels_csv=labels_csv)
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
@click.option("--model", required=True,
              help="A run folder or an exported SavedModel version folder.")
@click.option("--data", required=True, multiple=True, help="NetCDF file or glob, on the "
              "model's grid; repeat it for several files (or quote a glob). With an ensemble "
              "dimension 'number' and/or a forecast-time axis (step, forecast_period) every "
              "member and forecast is assigned.")
@click.option("--out", required=True, help="CSV to write: time,cluster,probability (after "
              "number[,forecast_reference_time] for ensembles, whose member counts per time go "
              "to <out>_counts.csv).")
@click.option("--batch-size", default=64, show_default=True, type=int)
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@click.option("--treat-as-missing", default=None,
              help="Values read as missing, e.g. 1e30 for an undeclared fill value.")
@click.option("--select", default=None,
              help="NAME=VALUE: one value of an extra dimension of the files, e.g. "
              "pressure_level=500 (comma-separated for several). Default: the run's own.")
def predict(model, data, out, batch_size, overwrite, treat_as_missing, select):
    """Assign every window of new data to a cluster of a trained model."""
    from keras_dsc.runs.predict import counts_path
    from keras_dsc.runs.predict import predict as predict_clusters

    missing = DataOptions(treat_as_missing=_csv(treat_as_missing, float,
                                                "--treat-as-missing")).treat_as_missing
    table = predict_clusters(model, paths_given(data), out=out, batch_size=batch_size,
                             overwrite=overwrite, treat_as_missing=missing,
                             select=_csv(select))
    sizes = table["cluster"].value_counts().sort_index()
    click.echo(f"{len(table)} windows; clusters: "
               + ", ".join(f"{k}:{n}" for k, n in sizes.items()))
    if table.attrs.get("dropped"):
        click.echo(table.attrs["dropped"])
    for note in dict.fromkeys(table.attrs.get("notes") or ()):
        click.echo(f"note: {note}")
    click.echo(f"wrote {out}")
    if "number" in table.columns:
        click.echo(f"{table['number'].nunique()} members; members per regime and time: wrote "
                   f"{counts_path(out)}")


@cli.command()
@click.argument("run_dir")
@click.option("--dpi", default=100, show_default=True, type=click.IntRange(10, 600),
              help="Pixels per inch of the PNG files.")
@click.option("--overwrite", is_flag=True, help="Redraw figures the run folder already holds.")
def plot(run_dir, dpi, overwrite):
    """Draw a run's figures: composites, calendar, latent space, training curves (PNG)."""
    from keras_dsc.runs.figures import plot_run

    for path in plot_run(run_dir, dpi=dpi, overwrite=overwrite):
        click.echo(f"wrote {path}")


def _filter_options(function):
    """The filters of the regime commands: --min-probability, --min-duration, --short-episodes."""
    function = click.option(
        "--short-episodes", type=click.Choice(["merge", "no-regime"]), default=None,
        help="What --min-duration does with a short episode: merge (one between two long "
        "episodes of one regime takes that regime, any other becomes no regime) or no-regime "
        "(every one becomes no regime). Default: merge.")(function)
    function = click.option(
        "--min-duration", default=None, help="Episodes shorter than this (3D, 36h) are "
        "removed (see --short-episodes). Default: none.")(function)
    function = click.option(
        "--min-probability", default=None, type=float, help="Windows whose cluster's "
        "probability is below this are no regime. Default: none.")(function)
    return function


@cli.command()
@click.argument("run_dir")
@_filter_options
@click.option("--out", default=None, help="Folder to write. Default: RUN_DIR/regimes.")
@click.option("--plots/--no-plots", default=True, show_default=True, help="Draw the figures.")
@click.option("--dpi", default=100, show_default=True, type=click.IntRange(10, 600),
              help="Pixels per inch of the PNG files.")
def regimes(run_dir, min_probability, min_duration, short_episodes, out, plots, dpi):
    """Regime statistics of a run: frequencies, persistence, transitions (CSV, PNG, JSON).

    Works on any run folder with assignments.csv, config.json and preprocessing.json, and
    writes a new folder inside it; the run's own files are never changed.
    """
    from keras_dsc.runs.regimes import regime_statistics, summary_lines

    result = regime_statistics(run_dir, out=out, min_probability=min_probability,
                               min_duration=min_duration, short_episodes=short_episodes,
                               plots=plots, dpi=dpi)
    for line in summary_lines(result):
        click.echo(line)
    click.echo(f"wrote {len(result.files)} files into {result.out}")


@cli.command()
@click.argument("run_dir")
@click.option("--data", multiple=True, help="NetCDF file or glob of the field, on any grid "
              "that covers the run's times; repeat it for several files (or quote a glob). "
              "Default: the run's own data files.")
@click.option("--variables", default=None, help="Comma-separated variables to composite "
              "(clustered or not, e.g. tp). Default: all of the file's.")
@click.option("--region", default=None, help="N,W,S,E in degrees. Default: the file's grid "
              "(the run's region for its own files).")
@click.option("--test", type=click.Choice(["t-test", "bootstrap", "none"]), default="t-test",
              show_default=True, help="Significance test per grid point.")
@click.option("--level", default=0.05, show_default=True, type=float,
              help="Significance level.")
@click.option("--n-resamples", default=1000, show_default=True, type=int,
              help="Random composites of the bootstrap.")
@click.option("--climatology", type=click.Choice(["month", "all"]), default="month",
              show_default=True, help="Anomalies from the mean of the windows of the same "
              "calendar month, or of all windows.")
@click.option("--correction", type=click.Choice(["none", "fdr"]), default="none",
              show_default=True, help="fdr: Benjamini-Hochberg over each map's points.")
@_filter_options
@click.option("--out", default=None,
              help="Folder to write. Default: RUN_DIR/composites-<variables>.")
@click.option("--plots/--no-plots", default=True, show_default=True, help="Draw the maps.")
@click.option("--projection", type=click.Choice(["auto", "cartopy", "none"]), default="auto",
              show_default=True, help="Map axes: cartopy's PlateCarree when installed (auto).")
@click.option("--dpi", default=100, show_default=True, type=click.IntRange(10, 600),
              help="Pixels per inch of the PNG file.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the bootstrap.")
@click.option("--treat-as-missing", default=None,
              help="Values read as missing, e.g. 1e30 for an undeclared fill value. Default: "
              "the run's own setting for its own files.")
def composites(run_dir, data, variables, region, test, level, n_resamples, climatology,
               correction, min_probability, min_duration, short_episodes, out, plots,
               projection, dpi, seed, treat_as_missing):
    """Mean anomaly of any field in each regime, with significance (composites.nc, maps)."""
    from keras_dsc.runs.regimes import composites_run

    if region is not None:
        region = DataOptions(region=_csv(region, float, "--region")).region
    if treat_as_missing is not None:
        treat_as_missing = DataOptions(treat_as_missing=_csv(
            treat_as_missing, float, "--treat-as-missing")).treat_as_missing
    dataset, folder = composites_run(
        run_dir, data=paths_given(data), variables=_csv(variables), region=region,
        test=None if test == "none" else test, level=level, n_resamples=n_resamples,
        climatology=climatology, correction=correction, min_probability=min_probability,
        min_duration=min_duration, short_episodes=short_episodes, out=out, plots=plots,
        dpi=dpi, projection=projection, seed=seed, treat_as_missing=treat_as_missing)
    for note in str(dataset.attrs.get("notes") or "").splitlines():
        click.echo(f"note: {note}")
    counts = ", ".join(f"{c}:{n}" for c, n in zip(dataset["cluster"].values,
                                                  dataset["count"].values))
    click.echo(f"windows per regime: {counts}")
    click.echo(f"wrote {folder}")


@cli.command()
@click.argument("run_dir")
@dataclass_options(DataOptions, into="data")
@click.option("--labels", "labels_csv", default=None,
              help="CSV of reference labels (columns time,cluster or time,label; integers or "
              "names of classes) for ARI/NMI. "
              "Default: the data's planted regimes, if any.")
@click.option("--features", type=click.Choice(["input", "latent"]), default="input",
              show_default=True, help="Score the flattened normalised input windows (as the "
              "paper) or the model's latent vectors.")
@click.option("--out", default=None, help="Metrics JSON file. Default: RUN_DIR/evaluation.json.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
def evaluate(run_dir, data, labels_csv, features, out, overwrite):
    """Score a trained run on its own data, or on other data given with --data.

    Data options left out are the run's own (other --data keeps its variables, region,
    resampling and window).
    """
    import pathlib

    from keras_dsc.runs.evaluate import (
        check_evaluation_out,
        evaluate_run,
        evaluation_data_options,
        format_scores,
        write_evaluation,
    )

    given = given_options(data)
    options = evaluation_data_options(run_dir, **given) if given else None
    out = out or pathlib.Path(run_dir) / "evaluation.json"
    if pathlib.Path(run_dir).is_dir():  # a missing run folder is refused by evaluate_run
        check_evaluation_out(out, overwrite)
    result = evaluate_run(run_dir, options, labels_csv=labels_csv, features=features)
    click.echo(format_scores(result))
    path = write_evaluation(result, out, overwrite=overwrite)
    click.echo(f"wrote {path}")


@cli.command("select-k")
@dataclass_options(DataOptions, into="data")
@click.option("--k-min", default=2, show_default=True, type=int)
@click.option("--k-max", default=12, show_default=True, type=int)
@click.option("--full-runs", is_flag=True, help="Train DSC fully for every k and score each "
              "clustering on the normalised input windows (slow). Default: k-means on the "
              "latent space of one pre-trained autoencoder.")
@dataclass_options(FitOptions, into="fit_options",
                   names=("pretrain_steps", "steps", "batch_size", "latent_dim", "filters",
                          "learning_rate", "seed", "out", "run_name"))
def select_k_command(data, k_min, k_max, full_runs, fit_options):
    """Score k = K_MIN..K_MAX, write k_selection.csv/.png and recommend a k."""
    from keras_dsc.runs.select_k import select_k

    select_k(data, fit_options, k_min, k_max, full_runs=full_runs, echo=click.echo,
             verbose="auto")


def _csv(text, convert=str, option=""):
    if text is None or text == "":
        return None
    try:
        return tuple(convert(part.strip()) for part in str(text).split(","))
    except ValueError:
        raise DataError(f"{option}: {text!r} is not a comma-separated list of numbers") from None


@cli.command()
@click.option("--variables", required=True,
              help="Comma-separated ERA5 short names (u10,v10,t2m,sst,sp,slhf,sshf) or CDS names.")
@click.option("--region", default=None,
              help="N,W,S,E in degrees, e.g. 43,-33,33,-23. Default: the whole globe.")
@click.option("--years", required=True, help="Years, e.g. 2021 or 2018,2019 or 2018-2021.")
@click.option("--months", default=None, help="Months 1-12, e.g. 1,2,12. Default: all.")
@click.option("--days", default=None, help="Days of the month 1-31. Default: all.")
@click.option("--hours", default=None, help="Hours 0-23, e.g. 0,6,12,18. Default: all.")
@click.option("--target", default=None, help="NetCDF file to write (required unless --dry-run); "
              "downloaded to TARGET.partial, checked to open as NetCDF, then renamed.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --target file.")
@click.option("--dry-run", is_flag=True, help="Print the request as JSON; send nothing.")
def download(variables, region, years, months, days, hours, target, overwrite, dry_run):
    """Download ERA5 hourly single-level data from the Copernicus CDS (needs cdsapi and a key)."""
    import json

    from keras_dsc.data.download import build_cds_request, submit

    area = DataOptions(region=_csv(region, float, "--region")).region
    dataset, request = build_cds_request(
        _csv(variables), area, _int_ranges(years, "--years"), _int_ranges(months, "--months"),
        _int_ranges(days, "--days"), _int_ranges(hours, "--hours"))
    if dry_run:
        click.echo(json.dumps({"dataset": dataset, "request": request, "target": target},
                              indent=2))
        return
    if not target:
        raise DataError("--target: give the NetCDF file to write (or --dry-run)")
    submit(dataset, request, target, overwrite=overwrite)  # blocks while the CDS serves it
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
