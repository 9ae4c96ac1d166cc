"""era5_cube: ERA5 single-level data (NetCDF or Zarr) cut into windows of (time, lat, lon, variable).

The builder reads the NetCDF files a user downloaded from the Copernicus Climate Data Store
(manual download), or analysis-ready Zarr stores (`*.zarr` directories), with
`keras_dsc.data.era5.open_cube`, selects the config's variables and region, optionally averages
in time, and writes one example per window of consecutive time steps:

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
statistics of the whole cube (mean, std, min, max, count over all time steps and grid points,
NaN skipped) are stored in the dataset metadata (`metadata.json`) with the variable names, units,
grid and time step. `keras_dsc.data.tfds` builds the model's normaliser from them, so training
needs no extra pass over the data.

The work comes in blocks (`keras_dsc.data.tfds_build.CubeSource`): blocks of windows give the
examples, blocks of time steps give per-variable partial statistics (count, mean, M2, min, max),
merged with a numerically stable pairwise update. A plain build runs the blocks one after the
other in this process. Given a Beam pipeline (`tfds build --beam_pipeline_options=...`), the
blocks go to Beam workers (`keras_dsc.data.tfds_beam`): each opens the files itself, and the
statistics are a Beam combine whose result `tfds.core.BeamMetadataDict` stores once the pipeline
ran; the metadata's `beam_runner` names the runner (None for a plain build).
"""

import dataclasses
from typing import Optional

import numpy as np
import tensorflow_datasets.public_api as tfds

PAPER_VARIABLES = ("u10", "v10", "t2m", "sst", "sp", "slhf", "sshf")
PAPER_REGION = (43.0, -33.0, 33.0, -23.0)  # north, west, south, east (the CDS order)


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
  Put ERA5 hourly single-level NetCDF files (*.nc), or analysis-ready Zarr stores (*.zarr
  directories, e.g. a cut of ARCO-ERA5), covering the region 43N 33W 33N 23W in the manual
  dir (`--manual_dir`, default `~/tensorflow_datasets/downloads/manual/`). Any number of
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
        metadata=tfds.core.BeamMetadataDict(),
    )

  _beam_runner = None  # set by _download_and_prepare: the Beam runner's name, if any

  def _download_and_prepare(self, dl_manager, download_config):
    self._beam_runner = _beam_runner(download_config)
    return super()._download_and_prepare(dl_manager, download_config)

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    from keras_dsc.data.tfds_build import CubeSource  # pylint: disable=g-import-not-at-top

    config = self.builder_config
    files = _input_files(dl_manager.manual_dir)
    source = CubeSource(tuple(str(path) for path in files), tuple(config.variables),
                        config.region, config.resample, config.window, config.stride)
    windows, cube = source.open()
    self.info.metadata.update(_describe(cube, windows, files, config))
    self.info.metadata["beam_runner"] = self._beam_runner
    if not self._beam_runner:
      self.info.metadata["statistics"] = source.statistics()
    return {"train": self._generate_examples(source)}

  def _generate_examples(self, source):
    """`(index, example)` in time order: a generator, or with Beam a PTransform of workers.

    With Beam the statistics are a combine of the same pipeline: `metadata["statistics"]` is
    its PCollection, which `tfds.core.BeamMetadataDict` writes out once the pipeline ran.
    """
    if not self._beam_runner:
      return (item for block in source.window_blocks() for item in source.examples(block))
    from keras_dsc.data import tfds_beam  # pylint: disable=g-import-not-at-top

    def expand(pbegin):
      examples, statistics = tfds_beam.generate(pbegin, source)
      self.info.metadata["statistics"] = statistics
      return examples

    return tfds.core.lazy_imports.apache_beam.ptransform_fn(expand)()


def _beam_runner(download_config):
  """The name of the Beam runner the build was given (`DirectRunner`, ...), or None."""
  runner, options = download_config.beam_runner, download_config.beam_options
  if runner is None and options is None:
    return None
  if runner is None:
    beam = tfds.core.lazy_imports.apache_beam
    runner = options.view_as(beam.options.pipeline_options.StandardOptions).runner
  if runner is None:
    return "DirectRunner"  # Beam's default
  return runner if isinstance(runner, str) else type(runner).__name__


def _input_files(manual_dir):
  """The `*.nc` files and `*.zarr` stores of the manual dir, sorted; else an error naming
  what is there."""
  from keras_dsc.errors import DataError  # pylint: disable=g-import-not-at-top

  manual_dir = tfds.core.Path(manual_dir)
  files = sorted(
      path for path in manual_dir.iterdir()
      if (path.suffix == ".nc" and path.is_file())
      or (path.suffix == ".zarr" and path.is_dir())
  )
  if not files:
    present = sorted(path.name for path in manual_dir.iterdir())
    raise DataError(
        f"{manual_dir}: no NetCDF file (*.nc) or Zarr store (*.zarr) found (found: "
        f"{', '.join(present) or 'nothing'}); it needs ERA5 data holding "
        f"{', '.join(PAPER_VARIABLES)}: see era5_cube's MANUAL_DOWNLOAD_INSTRUCTIONS"
    )
  return files


def _describe(cube, windows, files, config):
  """The metadata stored with the dataset: grid, units, time step (statistics: apart)."""
  from keras_dsc.data.time_axis import time_step_text  # pylint: disable=g-import-not-at-top

  variables = list(config.variables)
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
  }

