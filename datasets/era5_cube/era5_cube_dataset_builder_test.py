"""era5_cube builder test over the tiny NetCDF files of dummy_data/ (the manual dir)."""

import tensorflow_datasets.public_api as tfds

from . import era5_cube_dataset_builder


class Era5CubeTest(tfds.testing.DatasetBuilderTestCase):
  """Both configs build from dummy_data/: two days give 2 examples each."""

  DATASET_CLASS = era5_cube_dataset_builder.Builder
  SPLITS = {"train": 2}


if __name__ == "__main__":
  tfds.testing.test_main()
