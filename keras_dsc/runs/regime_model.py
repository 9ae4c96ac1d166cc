"""`RegimeModel`: weather regimes in the habits of xarray and scikit-learn users.

A thin face on the code paths of the command line: `fit` is `keras_dsc.runs.fit.fit_run` (or
another method's run, see `METHODS`), `predict` is `keras_dsc.runs.predict.predict`, and the
statistics are `keras_dsc.regimes`. Inputs and outputs are xarray (and pandas) objects; the
fitted model is a run folder, saved and loaded as one.
"""

import pathlib
import shutil
import tempfile

import numpy as np
import pandas as pd
import xarray as xr
from sklearn.base import BaseEstimator, ClusterMixin

from keras_dsc import regimes as stats
from keras_dsc.data.options import DataOptions
from keras_dsc.errors import DataError, OptionError
from keras_dsc.runs import options as fit_methods
from keras_dsc.runs import run_folder
from keras_dsc.runs.options import FitOptions

_DATA_PARAMS = ("variables", "region", "time_range", "resample", "window", "stride",
                "anomalies", "normalization")
_FIT_PARAMS = ("n_clusters", "pretrain_steps", "steps", "batch_size", "gamma",
               "update_interval", "tol", "latent_dim", "filters", "skip", "learning_rate",
               "area_weighting", "n_eofs", "explained_variance", "init", "n_init", "seed",
               "plots", "tensorboard")


def _fit_run(data_options, fit_options, echo, verbose):
    from keras_dsc.runs.fit import fit_run

    return fit_run(data_options, fit_options, echo=echo, verbose=verbose)


METHODS = dict.fromkeys(fit_methods.METHODS, _fit_run)
"""The clustering methods `RegimeModel` fits, by name: `fit(data_options, fit_options, echo,
verbose)` returning the run folder written. Another method plugs in with `register_method`."""


def register_method(name, fit):
    """Makes a clustering method available to `RegimeModel(method=name)`.

    Args:
        name: str, the method's name (`"eof-kmeans"`).
        fit: a function `(data_options, fit_options, echo, verbose) -> run_dir` that writes a
            run folder with `assignments.csv`, `config.json` and `preprocessing.json` (and,
            for `predict`, what `keras_dsc.runs.predict.load_assigner` reads).
    """
    METHODS[str(name)] = fit


class RegimeModel(ClusterMixin, BaseEstimator):
    """Weather regimes of a data cube: fit on an xarray Dataset, predict, analyse, save.

    Parameters are those of `keras_dsc.DataOptions` and `keras_dsc.FitOptions` of the same
    names (`python cli.py fit --help` lists them), plus `method` and `verbose`. `fit` returns
    the model itself; fitted attributes end in `_`: `run_dir_` (the run folder, temporary
    until `save`), `labels_` (the regime of every training window, an `xarray.DataArray`) and
    `n_clusters_`.

    Args:
        n_clusters: int, the number of regimes.
        method: the clustering method, a name in `METHODS` (`"dsc"`, `"eof-kmeans"`,
            `"kmeans"`, `"som"`: those of `fit --method`).
        variables, region, time_range, resample, window, stride, anomalies, normalization:
            the data options (see `keras_dsc.DataOptions`).
        pretrain_steps, steps, batch_size, gamma, update_interval, tol, latent_dim, filters,
            skip, learning_rate, area_weighting, n_eofs, explained_variance, init, n_init,
            seed: the training options (see `keras_dsc.FitOptions`).
        plots: write the run's figures and regime statistics into the run folder.
        tensorboard: write TensorBoard logs into the run folder.
        verbose: Keras' verbosity while training (0: silent, and no summary printed).

    Example (`run_dir`: a run folder written by `fit`, `python cli.py fit` or `save`):

    >>> from keras_dsc.data.synthetic import make_cube
    >>> model = RegimeModel.load(run_dir)
    >>> model.get_params()["n_clusters"], model.labels_.dims
    (2, ('time',))
    >>> labels = model.predict(make_cube(days=3, start="2024-01-01", seed=1))
    >>> labels.dims, labels.sizes["time"], labels.attrs["flag_meanings"]
    (('time',), 3, 'regime_0 regime_1')
    >>> model.frequencies(model.labels_, by="season").index.tolist()
    ['DJF']
    >>> model.save("my_regimes").name
    'my_regimes'
    """

    def __init__(self, n_clusters=FitOptions.n_clusters, method=FitOptions.method,
                 variables=None, region=None, time_range=None, resample=DataOptions.resample,
                 window=DataOptions.window, stride=None, anomalies=None,
                 normalization=DataOptions.normalization,
                 pretrain_steps=FitOptions.pretrain_steps, steps=FitOptions.steps,
                 batch_size=FitOptions.batch_size, gamma=FitOptions.gamma,
                 update_interval=FitOptions.update_interval, tol=FitOptions.tol,
                 latent_dim=FitOptions.latent_dim, filters=FitOptions.filters,
                 skip=FitOptions.skip, learning_rate=FitOptions.learning_rate,
                 area_weighting=FitOptions.area_weighting, n_eofs=None,
                 explained_variance=FitOptions.explained_variance, init=FitOptions.init,
                 n_init=FitOptions.n_init, seed=FitOptions.seed, plots=False,
                 tensorboard=False, verbose=0):
        self.n_clusters = n_clusters
        self.method = method
        self.variables = variables
        self.region = region
        self.time_range = time_range
        self.resample = resample
        self.window = window
        self.stride = stride
        self.anomalies = anomalies
        self.normalization = normalization
        self.pretrain_steps = pretrain_steps
        self.steps = steps
        self.batch_size = batch_size
        self.gamma = gamma
        self.update_interval = update_interval
        self.tol = tol
        self.latent_dim = latent_dim
        self.filters = filters
        self.skip = skip
        self.learning_rate = learning_rate
        self.area_weighting = area_weighting
        self.n_eofs = n_eofs
        self.explained_variance = explained_variance
        self.init = init
        self.n_init = n_init
        self.seed = seed
        self.plots = plots
        self.tensorboard = tensorboard
        self.verbose = verbose

    def _options(self, data, out, run_name):
        """The `DataOptions` and `FitOptions` the parameters make (validated)."""
        if self.method not in METHODS:
            raise OptionError(f"{{method}} must be one of {', '.join(sorted(METHODS))}, got "
                              f"{self.method!r}", "method")
        data_options = DataOptions(data=data, **{name: getattr(self, name)
                                                 for name in _DATA_PARAMS})
        fit_options = FitOptions(out=str(out), run_name=run_name, method=self.method,
                                 **{name: getattr(self, name) for name in _FIT_PARAMS})
        return data_options, fit_options

    def fit(self, X, y=None):
        """Fits the regimes on a data cube and keeps the run folder (temporary until `save`).

        Args:
            X: an `xarray.Dataset` in ERA5's form or any other that
                `keras_dsc.data.era5.open_cube` reads (`xarray.open_mfdataset("era5_*.nc")`),
                or NetCDF paths.
            y: ignored (scikit-learn's convention).

        Returns:
            The model itself.
        """
        self._folder = tempfile.TemporaryDirectory(prefix="keras_dsc_regimes_")
        data_options, fit_options = self._options(X, self._folder.name, "run")
        echo = print if self.verbose else (lambda line: None)
        run_dir = METHODS[self.method](data_options, fit_options, echo, self.verbose)
        self._fitted(pathlib.Path(run_dir))
        return self

    def _fitted(self, run_dir):
        self.run_dir_ = run_dir
        table = run_folder.read_assignments_table(run_dir)
        config = run_folder.read_config(run_dir)
        self.n_clusters_ = int(((config.get("fit") or {}).get("n_clusters"))
                               or table["cluster"].max() + 1)
        self.labels_ = labels_array(table, self.n_clusters_)

    def _check_fitted(self):
        if not hasattr(self, "run_dir_"):
            raise DataError("RegimeModel: not fitted yet; call fit or RegimeModel.load first")

    def predict(self, X):
        """The regime of every window of new data (reanalysis, forecast or ensemble).

        Args:
            X: an `xarray.Dataset` or NetCDF paths on the model's grid, with the model's
                variables; an ensemble dimension `number` and forecast-time axes are
                assigned member by member (see `keras_dsc.runs.predict.predict`).

        Returns:
            An `xarray.DataArray` named `cluster` on the window start times (`time`; also
            `number` for ensembles and `forecast_reference_time` for forecasts, -1 where a
            forecast has no such window), with CF flag attributes and a `probability`
            coordinate.
        """
        from keras_dsc.runs.predict import predict

        self._check_fitted()
        return labels_array(predict(self.run_dir_, X), self.n_clusters_)

    def _series(self, labels):
        self._check_fitted()
        labels = self.labels_ if labels is None else labels
        if isinstance(labels, xr.DataArray) and labels.ndim > 1:
            raise DataError(f"labels: one sequence at a time; select a member, e.g. "
                            f"labels.sel(number=0) (dimensions {tuple(labels.dims)})")
        return stats.as_labels(labels)

    def frequencies(self, labels=None, by="month", normalize=True):
        """`keras_dsc.regimes.frequencies` of `labels` (default: the training labels)."""
        return stats.frequencies(self._series(labels), by=by, clusters=self.n_clusters_,
                                 normalize=normalize)

    def persistence(self, labels=None):
        """`keras_dsc.regimes.persistence` of `labels` (default: the training labels)."""
        step, _ = self._timing()
        return stats.persistence(self._series(labels), step=step, clusters=self.n_clusters_)

    def transitions(self, labels=None, normalize=True):
        """`keras_dsc.regimes.transitions` of `labels` (probabilities by default)."""
        step, _ = self._timing()
        return stats.transitions(self._series(labels), step=step, clusters=self.n_clusters_,
                                 normalize=normalize)

    def _timing(self):
        from keras_dsc.runs.regimes import window_timing

        self._check_fitted()
        return window_timing(self.run_dir_, run_folder.read_config(self.run_dir_),
                             self.labels_["time"].values)

    def composites(self, X, labels=None, variables=None, **kwargs):
        """The mean anomaly of any field in each regime, with significance.

        Args:
            X: an `xarray.Dataset` (ERA5's form or any `keras_dsc.data.era5.open_cube`
                reads) or NetCDF paths, on any grid covering the labels' times.
            labels: the regimes (default: the training labels).
            variables: the variables to composite; `None`: all.
            **kwargs: `test`, `level`, `n_resamples`, `climatology`, `correction`, `seed`
                of `keras_dsc.regimes.composites`.

        Returns:
            The `xarray.Dataset` of `keras_dsc.regimes.composites` (what `composites.nc`
            holds).
        """
        from keras_dsc.data import era5

        _, length = self._timing()
        field = era5.open_cube(X, variables)
        return stats.composites(field, self._series(labels), window=length,
                                clusters=self.n_clusters_,
                                name=era5.sources_text(field, "X"), **kwargs)

    def save(self, path):
        """Copies the run folder to `path` (refused when it exists). Returns its path."""
        self._check_fitted()
        path = run_folder.check_free(path, "path")
        shutil.copytree(self.run_dir_, path)
        return path

    @classmethod
    def load(cls, path):
        """A fitted `RegimeModel` from a run folder (`fit`, `python cli.py fit` or `save`).

        The parameters come from the run's `config.json`; the folder is used in place.
        """
        path = run_folder.check_run_dir(path, (run_folder.CONFIG_FILE,
                                               run_folder.ASSIGNMENTS_FILE))
        config = run_folder.read_config(path)
        known = set(_DATA_PARAMS) | set(_FIT_PARAMS)
        params = {k: v for k, v in ((config.get("data") or {}).get("options") or {}).items()
                  if k in known}
        params.update({k: v for k, v in (config.get("fit") or {}).items() if k in known})
        for name in ("filters", "region", "variables", "time_range"):
            if isinstance(params.get(name), list):
                params[name] = tuple(params[name])
        params["method"] = (config.get("fit") or {}).get("method", "dsc")
        model = cls(**params)
        model._fitted(path)
        return model


def labels_array(table, n_clusters):
    """A table of assignments (`assignments.csv`, `predict`'s) as an `xarray.DataArray`.

    Args:
        table: a `pandas.DataFrame` with `time`, `cluster`, `probability` (and `number`,
            `forecast_reference_time` for ensembles and forecasts).
        n_clusters: int, the number of regimes (for the flag attributes).

    Returns:
        An int32 `xarray.DataArray` named `cluster` on `time` (after
        `forecast_reference_time` and `number` when present; -1 where missing), with
        `flag_values`, `flag_meanings` and a float `probability` coordinate.

    Example:

    >>> table = pd.DataFrame({"time": ["2021-01-01", "2021-01-02"], "cluster": [1, 0],
    ...                       "probability": [0.8, 0.6]})
    >>> array = labels_array(table, 2)
    >>> array.values.tolist(), array["probability"].values.tolist()
    ([1, 0], [0.8, 0.6])
    """
    table = table.copy()
    table["time"] = pd.to_datetime(table["time"])
    keys = [k for k in ("forecast_reference_time", "number") if k in table.columns]
    if "forecast_reference_time" in keys:
        table["forecast_reference_time"] = pd.to_datetime(table["forecast_reference_time"])
    frame = table.set_index([*keys, "time"])
    clusters = frame["cluster"].to_xarray()
    array = clusters.fillna(stats.NO_REGIME).astype(np.int32)
    if "probability" in frame.columns:
        array = array.assign_coords(probability=frame["probability"].to_xarray())
    values = list(range(int(n_clusters)))
    meanings = [f"regime_{k}" for k in values]
    if (array.values == stats.NO_REGIME).any():
        values, meanings = [stats.NO_REGIME, *values], ["no_regime", *meanings]
    array.attrs = {"long_name": "weather regime (cluster) of the window starting at time",
                   "flag_values": np.asarray(values, np.int32),
                   "flag_meanings": " ".join(meanings)}
    array.name = "cluster"
    return array
