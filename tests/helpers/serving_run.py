"""A tiny trained run folder for the export and predict tests, built in a few seconds.

`fit_run` takes a minute even on tiny data (compiling the ConvLSTM training step alone costs
~15 s on two cores). These tests need a model with fitted cluster centres and its preprocessing
in the run-folder layout, not the training procedure (tested elsewhere; the slow end-to-end test
of test_predict.py exports a run trained by `cli.py fit`), so `make_run` seeds a tiny DSC, sets
its centres by k-means on the latent vectors (`initialise_centres`, the step `train_dsc` takes
before joint training) and writes what `fit_run` writes for a model: `model.keras`,
`preprocessing.json`, `config.json`.
"""

import json
import pathlib

from tests.helpers.era5_files import write_era5

N_TIMES = 24 * 6  # six days of hourly data: six windows of 8 three-hourly steps
GRID = {"nlat": 5, "nlon": 6}
VARIABLES = ("u10", "v10", "t2m", "sst", "sp")  # sst is NaN over land


def write_data(path, n_times=N_TIMES, variables=VARIABLES, seed=0, **grid):
    """An ERA5-form NetCDF file on the test grid (hourly, packed int16, NaN sst over land)."""
    return write_era5(path, n_times=n_times, variables=variables, seed=seed,
                      **{**GRID, **grid})


def make_run(run_dir, data_path, n_clusters=2, anomalies=False, window=8):
    """Fits a tiny DSC's centres on `data_path` and writes a run folder.

    Returns:
        `(run_dir, windows, cube)`: the folder, the normalised `WindowedCube` and the 3-hourly
        cube in physical units.
    """
    import keras

    from keras_dsc.data import era5
    from keras_dsc.models.dsc import DSC
    from keras_dsc.data.preprocessing import CubePreprocessor
    from keras_dsc.training import initialise_centres
    from keras_dsc.data.windows import WindowedCube

    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True)
    cube = era5.resample_time(era5.open_cube(str(data_path)), "3h")
    preprocessor = CubePreprocessor("zscore", anomalies).fit(cube)
    windows = WindowedCube(preprocessor.transform(cube), window)
    keras.utils.set_random_seed(0)
    model = DSC(input_shape=windows.sample_shape, n_clusters=n_clusters, filters=(2,),
                latent_dim=4)
    model(windows[:1])  # builds the decoder too, so that model.keras holds every weight
    initialise_centres(model, windows, batch_size=8, seed=0, n_init=4)
    model.save(run_dir / "model.keras")
    preprocessor.save(run_dir)
    options = {"resample": "3h", "window": window, "stride": None, "region": None,
               "anomalies": anomalies}
    config = {"fit": {"n_clusters": n_clusters}, "data": {"options": options},
              "model": model.get_config()}
    (run_dir / "config.json").write_text(json.dumps(config, default=str))
    return run_dir, windows, cube
