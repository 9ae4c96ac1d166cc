"""Reading ERA5 from analysis-ready Zarr stores (the ARCO-ERA5 layout), as NetCDF files are read.

The stores are written by `tests.helpers.era5_files.write_zarr` in the layout of Google's
ARCO-ERA5: long variable names, `time`, latitude descending, longitude 0..360, a `level`
dimension, one time step per chunk, consolidated metadata.
"""

import json
import subprocess
import sys

import dask.array
import numpy as np
import pandas as pd
import pytest

from keras_dsc.data import DataOptions
from keras_dsc.data.era5 import is_zarr_store, open_cube
from keras_dsc.data.era5_names import LONG_TO_SHORT, SHORT_TO_LONG, long_name, short_name
from keras_dsc.data.prepare import open_data, prepare_data
from keras_dsc.errors import DataError, OptionError
from tests.helpers.cli_run import ROOT
from tests.helpers.era5_files import _grid, fields, level_fields, write_at, write_zarr
from tests.test_era5 import assert_canonical, raises_one_line

GRID = {"nlat": 5, "nlon": 8, "north": 43.0, "west": -1.0}  # longitude -1..0.75: across 0


def store(tmp_path, name="era5.zarr", **kwargs):
    return write_zarr(tmp_path / name, **{"n_times": 24, **GRID, **kwargs})


def test_one_table_both_ways():
    assert all(LONG_TO_SHORT[long] == short for short, long in SHORT_TO_LONG.items())
    assert len(LONG_TO_SHORT) == len(SHORT_TO_LONG)
    assert short_name("10m_u_component_of_wind") == "u10" and short_name("u10") == "u10"
    assert long_name("geopotential") == "geopotential" and long_name("z") == "geopotential"
    assert short_name("tas") == "tas" and long_name("tas") is None


def test_store_is_recognised(tmp_path):
    path = store(tmp_path)
    assert is_zarr_store(path) and is_zarr_store("gs://bucket/era5.zarr")
    plain = tmp_path / "plain_dir"
    plain.mkdir()
    (plain / ".zmetadata").write_text("{}")
    assert is_zarr_store(plain)
    assert not is_zarr_store(tmp_path / "era5.nc") and not is_zarr_store(tmp_path / "nothing")


@pytest.mark.parametrize("long_names", [True, False])
def test_short_and_long_names_give_the_same_cube(tmp_path, long_names):
    path = store(tmp_path, long_names=long_names)
    short = open_cube(path, variables=["t2m", "u10", "v10"])
    long = open_cube(path, variables=["2m_temperature", "10m_u_component_of_wind", "v10"])
    assert_canonical(short, ["t2m", "u10", "v10"])  # the cube names variables by short names
    assert_canonical(long, ["t2m", "u10", "v10"])
    for name in ("t2m", "u10", "v10"):
        np.testing.assert_array_equal(short[name].values, long[name].values)
    assert short.t2m.attrs["units"] == "K"
    everything = open_cube(path, variables=None, select={"level": 500})
    assert sorted(everything.data_vars) == ["sp", "t", "t2m", "u10", "v10", "z"]


def test_zarr_v3_and_unconsolidated_stores_open(tmp_path):
    v3 = store(tmp_path, "v3.zarr", zarr_format=3)
    plain = store(tmp_path, "plain.zarr", consolidated=False)
    reference = open_cube(store(tmp_path), variables=["t2m"]).t2m.values
    for path in (v3, plain):
        np.testing.assert_array_equal(open_cube(path, variables=["t2m"]).t2m.values, reference)


def test_canonical_grid_and_values(tmp_path):
    path = store(tmp_path)
    ds = open_cube(path, variables=["t2m", "sp"])
    lat, lon = _grid(GRID["nlat"], GRID["nlon"], GRID["north"], GRID["west"], 0.25)
    np.testing.assert_allclose(ds.latitude.values, lat)
    np.testing.assert_allclose(ds.longitude.values, lon)  # 0..360 back to -180..180, sorted
    want = fields(pd.date_range("2021-01-01", periods=24, freq="1h"), lat, lon, ("t2m", "sp"))
    for name in ("t2m", "sp"):
        np.testing.assert_array_equal(ds[name].values, want[name].astype("float32"))


def test_level_selection(tmp_path):
    path = store(tmp_path)
    ds = open_cube(path, variables=["temperature", "z", "t2m"], select={"level": "500"})
    assert_canonical(ds, ["t", "z", "t2m"])
    lat, lon = _grid(GRID["nlat"], GRID["nlon"], GRID["north"], GRID["west"], 0.25)
    want = level_fields(pd.date_range("2021-01-01", periods=24, freq="1h"), lat, lon,
                        (1000, 850, 500))
    np.testing.assert_array_equal(ds.t.values, want["t"][:, 2].astype("float32"))
    np.testing.assert_array_equal(ds.z.values, want["z"][:, 2].astype("float32"))
    with pytest.raises(OptionError) as info:
        open_cube(path, variables=["t"])
    assert "extra dimension 'level' of size 3" in str(info.value) and "era5.zarr" in str(
        info.value)
    with pytest.raises(OptionError) as info:
        open_cube(path, variables=["t"], select={"level": "700"})
    assert "level=700 not found" in str(info.value) and "1000, 850, 500" in str(info.value)


def test_region_and_time_range_are_cut(tmp_path):
    path = store(tmp_path, n_times=72)
    ds = open_cube(path, variables=["t2m"], region=(42.75, -0.5, 42.25, 0.25),
                   time_range=("2021-01-02", "2021-01-02"))
    assert ds.sizes == {"time": 24, "latitude": 3, "longitude": 4}
    np.testing.assert_allclose(ds.longitude.values, [-0.5, -0.25, 0.0, 0.25])
    assert str(ds.time.values[0]).startswith("2021-01-02T00")
    full = open_cube(path, variables=["t2m"])
    np.testing.assert_array_equal(
        ds.t2m.values, full.t2m.sel(time="2021-01-02").isel(latitude=slice(1, 4),
                                                            longitude=slice(2, 6)).values)
    # Only the selection is in dask's graph: 24 steps of 3 x 4 points, nothing else.
    assert isinstance(ds.t2m.data, dask.array.Array) and ds.t2m.data.nbytes == 24 * 12 * 4
    with pytest.raises(OptionError) as info:
        open_cube(path, variables=["t2m"], time_range=("2022-01-01", None))
    assert "era5.zarr" in str(info.value) and "holds no time step" in str(info.value)


def test_values_equal_the_netcdf_path(tmp_path):
    times = pd.date_range("2021-01-01", periods=48, freq="1h")
    zarr_path = store(tmp_path, n_times=48, variables=("u10", "t2m", "sp"))
    nc_path = write_at(tmp_path / "era5.nc", times, nlat=GRID["nlat"], nlon=GRID["nlon"],
                       variables=("u10", "t2m", "sp"), north=GRID["north"], west=GRID["west"])
    from_zarr = open_cube(zarr_path, variables=["10m_u_component_of_wind", "t2m", "sp"])
    from_nc = open_cube(nc_path, variables=["u10", "2m_temperature", "sp"])
    for name in ("u10", "t2m", "sp"):
        np.testing.assert_array_equal(from_zarr[name].values, from_nc[name].values)
    # The whole preparation too: the same windows, normalisation and time choices.
    prepared = [prepare_data(DataOptions(data=str(p), variables=("u10", "t2m", "sp")))
                for p in (zarr_path, nc_path)]
    np.testing.assert_array_equal(prepared[0].windows.flatten_features(),
                                  prepared[1].windows.flatten_features())
    assert prepared[0].description["time"] == prepared[1].description["time"]
    assert prepared[0].description["source"] == "Zarr store"


def test_missing_variable_is_one_line_naming_the_store(tmp_path):
    path = store(tmp_path)
    message = raises_one_line(lambda: open_cube(path, variables=["t2m", "total_precipitation"]),
                              str(path), "'tp' not found", "t2m")
    assert "available" in message
    raises_one_line(lambda: open_cube(tmp_path / "absent.zarr"), "absent.zarr",
                    "Zarr store not found")
    folder = tmp_path / "not_a_store"
    folder.mkdir()
    raises_one_line(lambda: open_cube(folder), "not_a_store", "neither a NetCDF file nor a Zarr")
    broken = tmp_path / "broken.zarr"
    broken.mkdir()
    raises_one_line(lambda: open_cube(broken), "broken.zarr", "not a readable Zarr store")


def test_url_without_its_filesystem_names_the_option_and_extra(tmp_path):
    import fsspec

    try:
        fsspec.get_filesystem_class("gs")
    except ImportError:
        pass
    else:
        pytest.skip("gcsfs is installed here")
    with pytest.raises(OptionError) as info:
        open_cube("gs://gcp-public-data-arco-era5/ar/era5.zarr", variables=["t2m"])
    assert info.value.option == "data"
    text = info.value.spelled(lambda name: "--" + name)
    assert "\n" not in text and text.startswith("--data gs://")
    assert "gcsfs" in text and "keras_dsc[gcs]" in text


def test_value_and_time_checks_apply_to_zarr(tmp_path):
    def fill(short, values):
        if short == "sp":
            values[5, 1, 1] = 1e30  # an undeclared fill value
        return values

    bad = store(tmp_path, "bad.zarr", put=fill)
    message = raises_one_line(lambda: open_data(DataOptions(data=str(bad), variables=("sp",))),
                              "bad.zarr", "sp")
    assert "1e+30" in message or "1e30" in message
    cube, _ = open_data(DataOptions(data=str(bad), variables=("sp",), treat_as_missing=(1e30,),
                                    resample=None))
    assert int(cube.sp.isnull().sum()) == 1
    # Mixed steps: refused naming the store and the first irregular time.
    times = pd.date_range("2021-01-01", periods=24, freq="3h").append(
        pd.date_range("2021-01-04", periods=24, freq="1h"))
    mixed = store(tmp_path, "mixed.zarr", times=times, n_times=None)
    message = raises_one_line(lambda: open_data(DataOptions(data=str(mixed), variables=("t2m",))),
                              "mixed.zarr", "irregular time axis", "2021-01-04")
    # A gap: windows are never cut across it.
    gap = pd.date_range("2021-01-01", periods=48, freq="1h").append(
        pd.date_range("2021-01-04", periods=48, freq="1h"))
    prepared = prepare_data(DataOptions(data=str(store(tmp_path, "gap.zarr", times=gap,
                                                       n_times=None)),
                                        variables=("t2m",), resample=None, window=24))
    assert len(prepared.windows) == 4


@pytest.mark.slow  # about 45 s on 2 busy CPU cores
def test_fit_from_a_zarr_store_on_the_command_line(tmp_path):
    path = store(tmp_path, n_times=4 * 24)
    proc = subprocess.run(
        [sys.executable, "cli.py", "fit", "--data", str(path),
         "--variables", "t2m,10m_u_component_of_wind,geopotential", "--select", "level=500",
         "--filters", "2", "--latent-dim", "4", "--steps", "2", "--pretrain-steps", "2",
         "--n-clusters", "2", "--batch-size", "2", "--no-plots", "--out", str(tmp_path),
         "--run-name", "r"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["data"]["variables"] == ["t2m", "u10", "z"]
    assert config["data"]["source"] == "Zarr store"
    assignments = pd.read_csv(tmp_path / "r" / "assignments.csv")
    assert len(assignments) == 4  # 4 days of 3-hourly means, windows of 8 steps
    # A missing variable: one line, exit status 2, naming the store.
    refused = subprocess.run(
        [sys.executable, "cli.py", "fit", "--data", str(path), "--variables", "tp",
         "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in refused.stderr
    assert str(path) in lines[0] and "'tp' not found" in lines[0]


GC_CHECK = """
import gc, sys, threading, time, weakref
from keras_dsc.data.era5 import open_cube
open_cube(sys.argv[1], variables=["t2m"]).t2m.values
assert gc.get_threshold()[0] >= 2**30, gc.get_threshold()  # no automatic collection
assert any(t.name == "keras_dsc_gc" and t.is_alive() for t in threading.enumerate())

class Node:
    pass

node = Node()
node.self = node  # a reference cycle: only the collector frees it
gone = weakref.ref(node)
del node
deadline = time.time() + 20
while gone() is not None and time.time() < deadline:
    kept = [[] for _ in range(3000)]  # live objects: the counts pass the thresholds
    time.sleep(0.05)
assert gone() is None, "the cycle was never collected"
print("collected")
"""


def test_garbage_is_collected_off_zarrs_io_thread(tmp_path):
    """zarr reads every chunk on one event-loop thread; the cyclic garbage collection, which
    may finalise a tf.data iterator whose reads wait on that thread, runs in its own. Checked
    in a fresh process: what the collector does must not depend on the tests run before."""
    done = subprocess.run([sys.executable, "-c", GC_CHECK, str(store(tmp_path))], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "collected", done.stderr[-2000:]


@pytest.mark.slow  # TensorFlow and a tiny training, streamed from the store
def test_training_streams_from_a_zarr_store(tmp_path):
    from keras_dsc import DSC, train_dsc

    prepared = prepare_data(DataOptions(data=str(store(tmp_path, n_times=6 * 24)),
                                        variables=("t2m", "u10"), stream=True))
    assert prepared.windows.array.chunks  # lazy: read window by window
    model = DSC(input_shape=prepared.windows.sample_shape, n_clusters=2, filters=(2,),
                latent_dim=2)
    result = train_dsc(model, prepared.windows, batch_size=2, pretrain_steps=3, steps=3,
                       update_interval=1, verbose=0)
    assert result.labels.shape == (6,)
