"""era5_cube dataset: ERA5 single-level NetCDF files as windows for keras_dsc."""
