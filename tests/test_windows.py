"""Tests of keras_dsc.data.windows.WindowedCube."""

import dask.array
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from keras_dsc.data.era5 import open_cube
from keras_dsc.errors import DataError
from keras_dsc.data.preprocessing import CubePreprocessor
from keras_dsc.data.windows import WindowedCube, flatten_features
from tests.helpers.era5_files import land_mask, regimes, write_era5


def numbered(n_times=60, nlat=3, nlon=4, nvar=2):
    """A numpy-backed cube whose value at time t is t (so windows are easy to recognise)."""
    values = np.broadcast_to(np.arange(n_times, dtype="float64")[:, None, None, None],
                             (n_times, nlat, nlon, nvar)).copy()
    return xr.DataArray(values, dims=("time", "latitude", "longitude", "variable"), coords={
        "time": pd.date_range("2021-01-01", periods=n_times, freq="1h"),
        "latitude": np.linspace(43, 42, nlat), "longitude": np.linspace(-33, -32, nlon),
        "variable": [f"v{i}" for i in range(nvar)]})


def test_windows_shapes_and_indexing():
    cube = WindowedCube(numbered(60), window=5)
    assert len(cube) == 12 and cube.stride == 5
    assert cube.sample_shape == (5, 3, 4, 2)
    one = cube[3]
    assert one.shape == (5, 3, 4, 2) and one.dtype == np.float32
    np.testing.assert_array_equal(one[:, 0, 0, 0], [15, 16, 17, 18, 19])
    np.testing.assert_array_equal(cube[-1][:, 0, 0, 0], np.arange(55, 60))
    some = cube[np.array([11, 0, 0])]
    assert some.shape == (3, 5, 3, 4, 2)
    np.testing.assert_array_equal(some[:, 0, 0, 0, 0], [55, 0, 0])
    np.testing.assert_array_equal(cube[2:8:3][:, 0, 0, 0, 0], [10, 25])
    mask = np.zeros(12, bool)
    mask[[1, 4]] = True
    np.testing.assert_array_equal(cube[mask][:, 0, 0, 0, 0], [5, 20])
    assert cube[[]].shape == (0, 5, 3, 4, 2)
    assert len(list(cube)) == 12
    with pytest.raises(IndexError):
        cube[12]
    with pytest.raises(IndexError):
        cube[[0, 12]]


def test_stride_and_start_times():
    array = numbered(60)
    cube = WindowedCube(array, window=24, stride=12)
    assert len(cube) == 4  # starts 0, 12, 24, 36
    np.testing.assert_array_equal(cube.start_times, array.time.values[[0, 12, 24, 36]])
    np.testing.assert_array_equal(cube[1][:, 0, 0, 0], np.arange(12, 36))
    assert cube.variables == ["v0", "v1"]
    np.testing.assert_array_equal(cube.latitudes, array.latitude.values)
    np.testing.assert_array_equal(cube.longitudes, array.longitude.values)
    assert cube.labels is None


def test_labels_from_regime_or_given():
    array = numbered(30).assign_coords(regime=("time", np.arange(30) // 10))
    cube = WindowedCube(array, window=4, stride=5)
    np.testing.assert_array_equal(cube.labels, [0, 0, 1, 1, 2, 2])
    own = WindowedCube(numbered(30), window=4, stride=5, labels=np.arange(30) % 2)
    np.testing.assert_array_equal(own.labels, [0, 1, 0, 1, 0, 1])
    with pytest.raises(DataError, match="labels: expected one label per time step"):
        WindowedCube(numbered(30), window=4, labels=[1, 2])


@pytest.mark.parametrize("kwargs, option", [
    ({"window": 0}, "window"), ({"window": -3}, "window"), ({"window": 2.5}, "window"),
    ({"window": 61}, "window 61 is longer than the series (60"),
    ({"window": 5, "stride": 0}, "stride")])
def test_bad_window_or_stride(kwargs, option):
    with pytest.raises(DataError) as info:
        WindowedCube(numbered(60), **kwargs)
    assert option in str(info.value) and "\n" not in str(info.value)


def test_indexing_computes_only_the_requested_windows():
    computed = []

    def block(block_id=None):
        computed.append(block_id[0])
        return np.full((10, 3, 4, 2), block_id[0], dtype="float32")

    lazy = dask.array.map_blocks(block, chunks=((10,) * 6, (3,), (4,), (2,)), dtype="float32")
    array = numbered(60).copy(data=lazy)
    # Without valid_steps, the cube reads every step once to find windows entirely missing.
    WindowedCube(array, window=5)
    assert sorted(computed) == [0, 1, 2, 3, 4, 5]
    computed.clear()
    valid = np.ones(60, bool)
    cube = WindowedCube(array, window=5, valid_steps=valid)
    assert computed == []
    np.testing.assert_array_equal(cube[3][:, 0, 0, 0], np.full(5, 1.0))
    assert computed == [1]
    computed.clear()
    cube[[0, 11]]
    assert sorted(computed) == [0, 5]
    computed.clear()
    straddling = WindowedCube(array, window=5, stride=3, valid_steps=valid)
    straddling[3]  # steps 9..13
    assert sorted(computed) == [0, 1]


def test_lazy_files_to_windows(tmp_path):
    for day in (1, 2, 3):
        write_era5(tmp_path / f"era5_{day}.nc", n_times=24, nlat=5, nlon=6, regime=True,
                   start=f"2021-01-0{day}", variables=["u10", "t2m", "sst"])
    ds = open_cube(str(tmp_path / "era5_*.nc"))
    x = CubePreprocessor().fit(ds).transform(ds)
    assert isinstance(x.data, dask.array.Array)
    cube = WindowedCube(x, window=24)
    eager = WindowedCube(x.load(), window=24)
    assert len(cube) == 3
    np.testing.assert_array_equal(cube[1], eager[1])
    np.testing.assert_array_equal(cube.labels, regimes(24)[[0, 0, 0]])
    assert np.isnan(cube[0][..., 2][:, land_mask(5, 6)]).all()


def test_flatten_features_replaces_nan():
    array = numbered(20).copy()
    array[:, 1, 2, 0] = np.nan
    cube = WindowedCube(array, window=4, stride=2)
    features = flatten_features(cube, batch=3)
    assert features.shape == (9, 4 * 3 * 4 * 2) and features.dtype == np.float32
    assert not np.isnan(features).any()
    expected = np.nan_to_num(cube[np.arange(9)].reshape(9, -1))
    np.testing.assert_array_equal(features, expected)
    assert (features == 0).sum() >= 9 * 4
    np.testing.assert_array_equal(cube.flatten_features(batch=100), features)
    some = cube.flatten_features(batch=2, indices=[7, 0, 3])  # only these, in this order
    np.testing.assert_array_equal(some, features[[7, 0, 3]])
