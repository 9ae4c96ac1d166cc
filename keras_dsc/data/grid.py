"""The horizontal grid: comparing latitude/longitude axes and describing them in messages."""

import numpy as np

TOLERANCE = 1e-4
"""Degrees (about 10 m) within which two grid coordinates count as the same point: above the
rounding of coordinates stored in float32 (up to 1.5e-5 degrees at 360), far below any grid
spacing."""


def same_axis(given, expected, tolerance=TOLERANCE):
    """Whether two coordinate axes have the same length and values (within `tolerance`).

    Example:

    >>> same_axis([43.0, 42.75], [43.0, 42.7500000001]), same_axis([43.0], [43.0, 42.75])
    (True, False)
    """
    given = np.asarray(given, dtype="float64")
    expected = np.asarray(expected, dtype="float64")
    return given.shape == expected.shape and bool(
        np.allclose(given, expected, rtol=0.0, atol=tolerance))


def positions_of(expected, given, tolerance=TOLERANCE):
    """The positions in axis `given` of every point of axis `expected`, consecutive (a region
    inside a larger grid of the same spacing), or `None` when a point is missing or the
    points are not consecutive in `given` (a finer grid: its points are not the model's
    cells).

    Example:

    >>> positions_of([42.5, 42.0], [43.0, 42.5, 42.0, 41.5]).tolist()
    [1, 2]
    >>> positions_of([42.4], [43.0, 42.5]) is None
    True
    >>> positions_of([43.0, 42.0], [43.0, 42.5, 42.0]) is None  # every other point
    True
    """
    given = np.asarray(given, dtype="float64")
    expected = np.asarray(expected, dtype="float64")
    if not given.size:
        return None
    nearest = np.abs(expected[:, None] - given[None, :]).argmin(axis=1)
    if not np.allclose(given[nearest], expected, rtol=0.0, atol=tolerance):
        return None
    if nearest.size > 1 and not (np.diff(nearest) == 1).all():
        return None
    return nearest


def cut_to_grid(ds, latitudes, longitudes):
    """Data on a model's grid: as given, or cut from a larger grid that holds its every point
    (the same spacing, see `positions_of`).

    Args:
        ds: an `xarray.Dataset` with `latitude` and `longitude` coordinates.
        latitudes, longitudes: the model's axes.

    Returns:
        `(ds, cuts, mismatch)`: the data (cut where it could be), one text per axis cut, and
        `None`, or `(axis, given, expected)` of the first axis that neither is the model's nor
        holds it.

    Example:

    >>> import xarray as xr
    >>> ds = xr.Dataset(coords={"latitude": [44.0, 43.0, 42.0], "longitude": [0.0, 1.0]})
    >>> cut, cuts, mismatch = cut_to_grid(ds, [43.0, 42.0], [0.0, 1.0])
    >>> cut.latitude.values.tolist(), cuts, mismatch
    ([43.0, 42.0], ["the latitudes given (3 points from 44 to 42) hold the model's (2 points from 43 to 42): cut to them"], None)
    """
    cuts = []
    for axis, expected in (("latitude", latitudes), ("longitude", longitudes)):
        given = ds[axis].values
        if same_axis(given, expected):
            continue
        positions = positions_of(expected, given)
        if positions is None:
            return ds, cuts, (axis, given, np.asarray(expected))
        ds = ds.isel({axis: positions})
        cuts.append(f"the {axis}s given ({axis_text(given)}) hold the model's "
                    f"({axis_text(expected)}): cut to them")
    return ds, cuts, None


def axis_text(values):
    """A coordinate axis in a message: `"41 points from 43 to 33"`.

    Example:

    >>> axis_text([43.0, 42.75, 42.5])
    '3 points from 43 to 42.5'
    """
    values = np.asarray(values, dtype="float64")
    if values.size == 0:
        return "no points"
    return f"{values.size} points from {values[0]:g} to {values[-1]:g}"


def grid_description(latitudes, longitudes):
    """The grid as the dict run descriptions carry (sizes and bounding box).

    Example:

    >>> grid_description([43.0, 42.75], [-33.0, -32.75, -32.5])["n_longitudes"]
    3
    """
    latitudes = np.asarray(latitudes, dtype="float64")
    longitudes = np.asarray(longitudes, dtype="float64")
    return {
        "n_latitudes": int(latitudes.size),
        "n_longitudes": int(longitudes.size),
        "north": float(latitudes.max()),
        "south": float(latitudes.min()),
        "west": float(longitudes.min()),
        "east": float(longitudes.max()),
    }
