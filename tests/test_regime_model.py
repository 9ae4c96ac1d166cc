"""keras_dsc.RegimeModel: scikit-learn's conventions, xarray in and out, the CLI's code paths."""

import dataclasses
import inspect
import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from sklearn.base import clone

from keras_dsc import RegimeModel
from keras_dsc.data import DataOptions
from keras_dsc.data.synthetic import make_cube, write_cube
from keras_dsc.errors import DataError, OptionError
from keras_dsc.runs.options import FitOptions
from keras_dsc.runs.predict import predict


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    return shutil.copytree(tiny_run, tmp_path / "run")


def test_parameters_follow_scikit_learn_and_the_library_options():
    model = RegimeModel(n_clusters=4, window=1, resample="1D")
    params = model.get_params()
    assert params["n_clusters"] == 4 and params["method"] == "dsc"
    assert clone(model).get_params() == params
    assert model.set_params(steps=3) is model and model.steps == 3
    # Every parameter but method and verbose is an option of the same name and default
    # (but plots: the API draws no figures unless asked).
    fields = {f.name: f.default for cls in (DataOptions, FitOptions)
              for f in dataclasses.fields(cls)}
    for name, parameter in inspect.signature(RegimeModel).parameters.items():
        if name in ("method", "verbose"):
            continue
        assert name in fields, name
        if name != "plots":
            assert parameter.default == fields[name], name
    assert RegimeModel().plots is False
    data, fit = model._options(make_cube(days=2), "/tmp/out", "r")
    assert data.window == 1 and data.resample == "1D" and fit.n_clusters == 4
    assert fit.steps == 3 and fit.out == "/tmp/out" and not data.builtin


def test_unknown_methods_and_bad_values_are_option_errors():
    with pytest.raises(OptionError, match="method must be one of dsc, eof-kmeans, kmeans, som, "
                       "got 'pca'") as error:
        RegimeModel(method="pca").fit(make_cube(days=2))
    assert error.value.option == "method"
    with pytest.raises(OptionError, match="n_clusters must be at least 2"):
        RegimeModel(n_clusters=1).fit(make_cube(days=2))
    with pytest.raises(DataError, match="not fitted yet"):
        RegimeModel().predict(make_cube(days=2))


def test_a_loaded_run_predicts_xarray_as_the_command_line_does(run_copy, tmp_path):
    model = RegimeModel.load(run_copy)
    assert model.n_clusters == 2 and model.window == 8 and model.filters == (2,)
    assert model.labels_.dims == ("time",) and model.labels_.sizes["time"] == 6
    new = make_cube(days=4, start="2024-01-01", seed=1)
    labels = model.predict(new)
    table = predict(run_copy, write_cube(tmp_path / "new.nc", days=4, start="2024-01-01",
                                         seed=1))
    assert labels.values.tolist() == table["cluster"].tolist()
    np.testing.assert_allclose(labels["probability"].values, table["probability"], rtol=1e-5)
    assert (labels["time"].values == pd.to_datetime(table["time"]).values).all()
    assert labels.attrs["flag_values"].tolist() == [0, 1]
    # The statistics take the labels as they come.
    assert model.frequencies(labels, by="month").columns.tolist() == [0, 1]
    assert model.transitions(labels).shape == (2, 2)
    assert model.persistence().index.tolist() == [0, 1]
    # Composites of a field given as an xarray Dataset (ERA5's form, valid_time).
    composites = model.composites(make_cube(days=6), variables=["t2m"])
    assert composites["t2m"].dims == ("cluster", "latitude", "longitude")
    assert composites["count"].sum() == 6


def test_ensembles_come_back_on_number_and_time(run_copy):
    model = RegimeModel.load(run_copy)
    members = [make_cube(days=3, start="2024-01-01", seed=s).drop_vars("number")
               for s in (1, 2)]
    ensemble = xr.concat(members, dim="number").assign_coords(number=[0, 1])
    labels = model.predict(ensemble)
    assert labels.dims == ("number", "time") and labels.shape == (2, 3)
    assert labels.sel(number=1).values.tolist() == model.predict(members[1]).values.tolist()
    with pytest.raises(DataError, match="one sequence at a time"):
        model.frequencies(labels)
    assert model.frequencies(labels.sel(number=0), by="all").shape == (1, 2)


def test_save_copies_the_run_and_refuses_an_existing_folder(run_copy, tmp_path):
    model = RegimeModel.load(run_copy)
    saved = model.save(tmp_path / "saved")
    assert (saved / "model.keras").is_file()
    assert RegimeModel.load(saved).get_params() == model.get_params()
    with pytest.raises(OptionError, match="already exists"):
        model.save(saved)


@pytest.mark.slow
def test_fit_on_an_xarray_dataset_end_to_end(tmp_path):
    ds = make_cube(days=6)
    model = RegimeModel(n_clusters=2, filters=(2,), latent_dim=4, steps=2, pretrain_steps=2)
    assert model.fit(ds) is model
    assert model.labels_.sizes["time"] == 6 and model.n_clusters_ == 2
    config = (model.run_dir_ / "config.json").read_text()
    assert "an xarray Dataset given in memory" in config
    assert model.predict(ds).values.tolist() == model.labels_.values.tolist()
    saved = model.save(tmp_path / "regimes")
    assert RegimeModel.load(saved).predict(ds).values.tolist() == model.labels_.values.tolist()
