"""Data I/O: ERA5 files, the built-in cube and TFDS datasets in, normalised windows out."""

from keras_dsc.data.prepare import (
    BUILTIN,
    DataOptions,
    PreparedData,
    builtin_cube_path,
    cache_dir,
    grid_description,
    open_data,
    prepare_data,
)
