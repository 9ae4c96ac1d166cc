"""A tiny trained run folder for the export and predict tests, built in a few seconds.

`fit_run` takes a minute even on tiny data (compiling the ConvLSTM training step alone costs
~15 s on two cores). These tests need a model with fitted cluster centres and its preprocessing
in the run-folder layout, not the training procedure (tested elsewhere; the slow end-to-end test
of test_predict.py exports a run trained by `cli.py fit`), so `make_run` seeds a tiny DSC, sets
its centres by k-means on the latent vectors (`initialise_centres`, the step `train_dsc` takes
before joint training) and writes what `fit_run` writes for a model: `model.keras`,
`preprocessing.json`, `config.json`.
"""

import dataclasses
import json
import pathlib

from tests.era5_files import write_era5

N_TIMES = 24 * 6  # six days of hourly data: six windows of 8 three-hourly steps
GRID = {"nlat": 5, "nlon": 6}
VARIABLES = ("u10", "v10", "t2m", "sst", "sp")  # sst is NaN over land


def write_data(path, n_times=N_TIMES, variables=VARIABLES, seed=0, **grid):
    """An ERA5-form NetCDF file on the test grid (hourly, packed int16, NaN sst over land)."""
    return write_era5(path, n_times=n_times, variables=variables, seed=seed,
                      **{**GRID, **grid})


def make_run(run_dir, data_path, n_clusters=2, anomalies=False, window=8):
    """Fits a tiny DSC's centres on `data_path`, writes a run folder; returns `(run_dir, data)`."""
    import keras

    from keras_dsc.data import DataOptions, prepare_data
    from keras_dsc.models.dsc import DSC
    from keras_dsc.training import initialise_centres

    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True)
    options = DataOptions(data=str(data_path), window=window, anomalies=anomalies)
    data = prepare_data(options)
    keras.utils.set_random_seed(0)
    model = DSC(input_shape=data.windows.sample_shape, n_clusters=n_clusters, filters=(2,),
                latent_dim=4)
    model(data.windows[:1])  # builds the decoder too, so that model.keras holds every weight
    initialise_centres(model, data.windows, batch_size=8, seed=0, n_init=4)
    model.save(run_dir / "model.keras")
    data.preprocessor.save(run_dir)
    config = {"fit": {"n_clusters": n_clusters}, "data": data.description,
              "model": model.get_config()}
    config["data"]["options"] = dataclasses.asdict(options)
    (run_dir / "config.json").write_text(json.dumps(config, default=str))
    return run_dir, data
