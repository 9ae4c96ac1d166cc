"""Data I/O: ERA5 files, the built-in cube and TFDS datasets in, normalised windows out."""

from keras_dsc.data.options import BUILTIN, DataOptions, PreparedData, describe_data
from keras_dsc.data.prepare import builtin_cube_path, cache_dir, open_data, prepare_data
