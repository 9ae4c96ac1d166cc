"""Writes the tiny NetCDF files of `dummy_data/` that the builder test reads as its manual dir.

Two files in the form of a current CDS ERA5 download (`valid_time`, latitude descending, an
`expver` coordinate, packed int16 `t2m`/`sst`/`sp`, NaN `sst` over a land patch), split the way
the CDS splits them: instantaneous variables in one file, accumulated fluxes in the other. The
grid is 4 x 4 points at 0.25 degrees in the north-west corner of the paper's region and the
record two days of hourly data, so both configs give 2 examples:

- `paper`: daily means, window 1 -> 2 windows of shape (1, 4, 4, 7);
- `hourly24`: hourly steps, window 24 -> 2 windows of shape (24, 4, 4, 7).

Run from the repository root: `python datasets/era5_cube/dummy_data/make_dummy_data.py`.
"""

import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # the repository root, for tests/era5_files.py

from tests.helpers.era5_files import write_era5  # noqa: E402

GRID = {"n_times": 48, "nlat": 4, "nlon": 4, "start": "2021-01-01", "freq": "1h", "seed": 0,
        "north": 43.0, "west": -33.0, "resolution": 0.25}
FILES = {
    "era5_2021_instant.nc": ("u10", "v10", "t2m", "sst", "sp"),
    "era5_2021_accum.nc": ("slhf", "sshf"),
}


def main():
    for name, variables in FILES.items():
        write_era5(HERE / name, variables=variables, **GRID)
        print(f"wrote {HERE / name} ({(HERE / name).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
