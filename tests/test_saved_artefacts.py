"""Files written by an earlier keras_dsc (tests/data/legacy, before the layout moved) still load
and predict exactly as they did."""

import pathlib

import numpy as np
import pandas as pd

from keras_dsc.data import era5
from keras_dsc.data.windows import WindowedCube
from keras_dsc.runs import run_folder
from keras_dsc.runs.predict import predict

LEGACY = pathlib.Path(__file__).parent / "data" / "legacy"


def test_an_old_run_folder_loads_and_gives_the_same_outputs():
    model = run_folder.load_model(LEGACY / "run")
    preprocessor = run_folder.read_preprocessor(LEGACY / "run")
    cube = era5.resample_time(era5.open_cube(str(LEGACY / "era5_tiny.nc")), "3h")
    windows = WindowedCube(preprocessor.transform(cube), window=8)
    outputs = model.assignment_model.predict(windows[np.arange(len(windows))], verbose=0)
    np.testing.assert_allclose(outputs["probabilities"],
                               np.load(LEGACY / "expected_probabilities.npy"), atol=1e-6)
    np.testing.assert_allclose(outputs["embedding"],
                               np.load(LEGACY / "expected_embedding.npy"), atol=1e-6)


def test_an_old_run_folder_and_its_old_export_predict_the_same_table():
    expected = pd.read_csv(LEGACY / "expected_assignments.csv")
    for model in (LEGACY / "run", LEGACY / "export" / "dsc" / "1"):
        table = predict(model, str(LEGACY / "era5_tiny.nc"))
        assert table["time"].tolist() == expected["time"].tolist(), model
        assert table["cluster"].tolist() == expected["cluster"].tolist(), model
        np.testing.assert_allclose(table["probability"], expected["probability"], atol=2e-6)
