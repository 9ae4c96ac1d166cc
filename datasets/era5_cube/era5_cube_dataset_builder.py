"""era5_cube: ERA5 single-level NetCDF files cut into windows of (time, lat, lon, variable).

The builder reads the NetCDF files a user downloaded from the Copernicus Climate Data Store
(manual download) with `keras_dsc.data.era5.open_cube`, selects the config's variables and region,
optionally averages in time, and writes one example per window of consecutive time steps:

- `cube`: float32 `(window, latitude, longitude, variable)` in physical units (ERA5 units, as
  the files give them), 0 where the data is missing; zlib-compressed;
- `mask`: bool, same shape, True where the value is valid (False: NaN in the files, e.g. `sst`
  over land);
- `start_time`: int64, the window's first time step in seconds since 1970-01-01 UTC;
- `index`: int64, the window number (0, 1, ...): examples are stored in time order
  (`disable_shuffling`), so example `i` has `index == i`;
- `regime`: int64, the ground-truth label at the window's first step when the files carry a
  `regime` variable (the keras_dsc synthetic cube does), else -1.

Normalisation is not applied here: the dataset stays in physical units, and the per-variable
statistics of the whole cube (mean, std, min, max over all time steps and grid points, NaN
skipped) are stored in the dataset metadata (`metadata.json`) with the variable names, units,
grid and time step. `keras_dsc.data.tfds` builds the model's normaliser from them, so training
needs no extra pass over the data.
"""

import dataclasses
from typing import Optional

import numpy as np
import tensorflow_datasets.public_api as tfds

PAPER_VARIABLES = ("u10", "v10", "t2m", "sst", "sp", "slhf", "sshf")
PAPER_REGION = (43.0, -33.0, 33.0, -23.0)  # north, west, south, east (the CDS order)
_BLOCK_BYTES = 64 * 2**20  # windows read from the files at a time, in float32 bytes


@dataclasses.dataclass
class Era5CubeConfig(tfds.core.BuilderConfig):
  """How the files are cut into examples.

  Attributes:
    variables: ERA5 short names, in the order of the last axis.
    region: `(north, west, south, east)` in degrees, or None for the files' whole grid.
    resample: pandas frequency of the time means (`"1D"`), or None to keep the files' step.
    window: time steps per example.
    stride: steps between window starts; None for `window` (windows do not overlap).
  """

  variables: tuple = PAPER_VARIABLES
  region: Optional[tuple] = PAPER_REGION
  resample: Optional[str] = None
  window: int = 1
  stride: Optional[int] = None


class Builder(tfds.core.GeneratorBasedBuilder):
  """DatasetBuilder for era5_cube."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [
      Era5CubeConfig(
          name="paper",
          description=(
              "The DSC paper's setup: u10 v10 t2m sst sp slhf sshf over 43-33N 33-23W, daily "
              "means, one day per example."
          ),
          resample="1D",
          window=1,
      ),
      Era5CubeConfig(
          name="hourly24",
          description=(
              "Hourly steps of the same variables and region, 24 consecutive hours (one day) "
              "per example."
          ),
          resample=None,
          window=24,
      ),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Put ERA5 hourly single-level NetCDF files (*.nc) covering the region 43N 33W 33N 23W in the
  manual dir (`--manual_dir`, default `~/tensorflow_datasets/downloads/manual/`). Any number of
  files is accepted (one per year, or the CDS's separate files of instantaneous and accumulated
  variables); together they must hold the variables u10 v10 t2m sst sp slhf sshf.

  Either fill in the Copernicus Climate Data Store form of "ERA5 hourly data on single levels
  from 1940 to present" (https://cds.climate.copernicus.eu/datasets/reanalysis-era5-single-levels:
  product type Reanalysis; the 7 variables 10m u/v wind components, 2m temperature, sea surface
  temperature, surface pressure, surface latent and sensible heat flux; the years, all months,
  days and hours; sub-region 43, -33, 33, -23; format NetCDF, unarchived), or, with a CDS
  account and its key in ~/.cdsapirc and `pip install cdsapi`, run from the keras_dsc checkout:

    python cli.py download --variables u10,v10,t2m,sst,sp,slhf,sshf \\
        --region 43,-33,33,-23 --years 2021 --target <manual_dir>/era5_2021.nc
  """

  def _info(self) -> tfds.core.DatasetInfo:
    config = self.builder_config
    # The grid size depends on the files (resolution, region): None until they are read.
    shape = (config.window, None, None, len(config.variables))
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "cube": tfds.features.Tensor(
                shape=shape,
                dtype=np.float32,
                encoding=tfds.features.Encoding.ZLIB,
                doc="Window in physical units (time, latitude, longitude, variable); 0 "
                "where missing.",
            ),
            "mask": tfds.features.Tensor(
                shape=shape,
                dtype=np.bool_,
                encoding=tfds.features.Encoding.ZLIB,
                doc="True where the cube value is valid.",
            ),
            "start_time": tfds.features.Scalar(
                dtype=np.int64, doc="First time step, seconds since 1970-01-01 UTC."
            ),
            "index": tfds.features.Scalar(
                dtype=np.int64, doc="Window number, in time order."
            ),
            "regime": tfds.features.Scalar(
                dtype=np.int64, doc="Ground-truth label when the files have one, else -1."
            ),
        }),
        supervised_keys=None,
        homepage=(
            "https://cds.climate.copernicus.eu/datasets/reanalysis-era5-single-levels"
        ),
        disable_shuffling=True,
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    files = _netcdf_files(dl_manager.manual_dir)
    windows, cube = self._open(files)
    self.info.metadata.update(_describe(cube, windows, files, self.builder_config))
    return {"train": self._generate_examples(windows)}

  def _open(self, files):
    """The config's lazy cube from `files`, and its `WindowedCube` (physical units)."""
    from keras_dsc.data import era5  # pylint: disable=g-import-not-at-top
    from keras_dsc.data.windows import WindowedCube  # pylint: disable=g-import-not-at-top

    config = self.builder_config
    cube = era5.open_cube(
        [str(path) for path in files], list(config.variables), config.region
    )
    if config.resample:
      cube = era5.resample_time(cube, config.resample)
    array = cube.to_dataarray(dim="variable").transpose(
        "time", "latitude", "longitude", "variable"
    )
    labels = None
    if "regime" in cube.coords:
      labels = np.asarray(cube["regime"].values)
    return WindowedCube(array, config.window, config.stride, labels=labels), cube

  def _generate_examples(self, windows):
    """Yields (index, example) in time order, reading a block of windows at a time."""
    starts = windows.start_times.astype("datetime64[s]").astype(np.int64)
    labels = windows.labels
    block = max(1, _BLOCK_BYTES // (4 * int(np.prod(windows.sample_shape))))
    for first in range(0, len(windows), block):
      values = windows[first : first + block]
      for offset, value in enumerate(values):
        i = first + offset
        valid = np.isfinite(value)
        yield i, {
            "cube": np.where(valid, value, np.float32(0)).astype(np.float32),
            "mask": valid,
            "start_time": int(starts[i]),
            "index": i,
            "regime": -1 if labels is None else int(labels[i]),
        }


def _netcdf_files(manual_dir):
  """The `*.nc` files of the manual dir, sorted; an error naming what is there otherwise."""
  from keras_dsc.errors import DataError  # pylint: disable=g-import-not-at-top

  manual_dir = tfds.core.Path(manual_dir)
  files = sorted(path for path in manual_dir.glob("*.nc") if path.is_file())
  if not files:
    present = sorted(path.name for path in manual_dir.iterdir())
    raise DataError(
        f"{manual_dir}: no NetCDF (*.nc) file found (found: "
        f"{', '.join(present) or 'nothing'}); it needs ERA5 files holding "
        f"{', '.join(PAPER_VARIABLES)}: see era5_cube's MANUAL_DOWNLOAD_INSTRUCTIONS"
    )
  return files


def _describe(cube, windows, files, config):
  """The metadata stored with the dataset: grid, units, time step and statistics."""
  import dask  # pylint: disable=g-import-not-at-top
  from keras_dsc.data.time_axis import time_step_text  # pylint: disable=g-import-not-at-top

  variables = list(config.variables)
  reductions = []
  for name in variables:
    values = cube[name].astype("float64")
    reductions.append(
        (values.mean(), values.std(), values.min(), values.max(), values.count())
    )
  (computed,) = dask.compute(reductions)
  statistics = {}
  for name, (mean, std, low, high, count) in zip(variables, computed):
    statistics[name] = {
        "mean": float(mean),
        "std": float(std),
        "min": float(low),
        "max": float(high),
        "count": int(count),
    }
  times = cube.indexes["time"]
  return {
      "variables": variables,
      "units": [cube[name].attrs.get("units") for name in variables],
      "latitudes": [float(v) for v in cube["latitude"].values],
      "longitudes": [float(v) for v in cube["longitude"].values],
      "time_step": time_step_text(times),
      "time_start": str(times[0]),
      "time_end": str(times[-1]),
      "n_time_steps": int(len(times)),
      "window": windows.window,
      "stride": windows.stride,
      "resample": config.resample,
      "region": None if config.region is None else list(config.region),
      "files": [path.name for path in files],
      "has_regime": windows.labels is not None,
      "statistics": statistics,
  }

