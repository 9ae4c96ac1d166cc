"""Batches for fit and predict: in memory (WindowBatches) and read ahead (streamed_batches)."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from keras_dsc.data.batches import WindowBatches, streamed_batches, window_batches
from keras_dsc.data.windows import DIMS, WindowedCube


def lazy_cube(n_times=40):
    values = np.arange(n_times * 2 * 3 * 1, dtype="float32").reshape(n_times, 2, 3, 1)
    array = xr.DataArray(values, dims=DIMS, coords={
        "time": np.arange(n_times).astype("datetime64[h]").astype("datetime64[ns]"),
        "variable": ["t2m"]})
    return WindowedCube(array.chunk({"time": 4}), window=2)


def epoch(batches):
    return [batch for batch in batches.as_numpy_iterator()]


def test_a_lazy_cube_is_read_ahead_and_an_in_memory_one_is_not():
    lazy = lazy_cube()
    in_memory = WindowedCube(lazy.array.compute(), window=2)
    assert not isinstance(window_batches(lazy, 4), WindowBatches)
    assert isinstance(window_batches(in_memory, 4), WindowBatches)
    assert isinstance(window_batches(in_memory[np.arange(5)], 4), WindowBatches)


def test_without_shuffling_the_batches_are_those_of_window_batches():
    cube = lazy_cube()
    streamed = epoch(streamed_batches(cube, 6))
    in_memory = WindowBatches(cube, 6)
    assert len(streamed) == len(in_memory) == 4
    for i, batch in enumerate(streamed):
        np.testing.assert_array_equal(batch, in_memory[i])


def test_shuffled_epochs_cover_every_window_once_differ_and_repeat_with_the_seed():
    cube = lazy_cube()
    first = streamed_batches(cube, 6, shuffle=True, seed=3)
    epochs = [np.concatenate(epoch(first))[:, 0, 0, 0, 0] for _ in range(2)]
    every = np.sort(cube[np.arange(len(cube))][:, 0, 0, 0, 0])
    for order in epochs:
        np.testing.assert_array_equal(np.sort(order), every)
    assert not np.array_equal(epochs[0], epochs[1])
    again = np.concatenate(epoch(streamed_batches(cube, 6, shuffle=True, seed=3)))
    np.testing.assert_array_equal(again[:, 0, 0, 0, 0], epochs[0])


def test_targets_are_read_when_a_batch_is_taken_not_when_it_is_read_ahead():
    cube = lazy_cube()
    targets = np.zeros((len(cube), 2), "float32")
    iterator = iter(streamed_batches(cube, 5, targets=targets, parallel=2))
    _, y = next(iterator)
    assert np.all(y.numpy() == 0)
    targets[...] = 1.0  # as TargetDistributionUpdate does, in place, between two steps
    _, y = next(iterator)
    assert np.all(y.numpy() == 1)  # the next batch sees the update, although it was read ahead


def test_files_too_large_to_load_whose_prepared_cube_fits_are_served_from_memory(
        tmp_path, monkeypatch):
    from keras_dsc.data import DataOptions, era5, prepare, prepare_data
    from keras_dsc.data.synthetic import write_cube

    path = str(write_cube(tmp_path / "era5.nc", days=6, seed=1))  # hourly; prepared at 3 h
    streamed = prepare_data(DataOptions(data=path, stream=True)).windows
    with era5.open_cube(path) as raw:  # the size `open_data` decides loading by
        raw_bytes = sum(v.nbytes for v in raw.data_vars.values())
    prepared_bytes = streamed.array.nbytes
    assert prepared_bytes < raw_bytes
    monkeypatch.setattr(prepare, "IN_MEMORY_LIMIT", (prepared_bytes + raw_bytes) // 2)
    auto = prepare_data(DataOptions(data=path)).windows
    assert auto.array.chunks is None  # loaded once, after resampling and normalisation
    assert isinstance(window_batches(auto, 4), WindowBatches)
    rows = np.arange(len(auto))
    np.testing.assert_allclose(auto[rows], streamed[rows], rtol=0, atol=1e-6)
    monkeypatch.setattr(prepare, "IN_MEMORY_LIMIT", prepared_bytes - 1)
    assert prepare_data(DataOptions(data=path)).windows.array.chunks  # streams still


def test_a_lazy_cube_too_large_for_memory_is_prepared_once_into_a_mapped_file(tmp_path):
    from keras_dsc.data import DataOptions, prepare_data
    from keras_dsc.data.prepare import PREPARED_WINDOWS_FILE, hold_windows
    from keras_dsc.data.synthetic import write_cube
    from keras_dsc.errors import DataError

    path = str(write_cube(tmp_path / "era5.nc", days=6, seed=1))
    streamed = prepare_data(DataOptions(data=path, stream=True)).windows
    folder = tmp_path / "state"
    held, where = hold_windows(streamed, folder)
    assert (folder / PREPARED_WINDOWS_FILE).exists() and str(folder) in where
    assert isinstance(held.array.data, np.memmap) and held.array.chunks is None
    assert isinstance(window_batches(held, 4), WindowBatches)  # no dask per batch
    rows = np.arange(len(streamed))
    np.testing.assert_array_equal(held[rows], streamed[rows])
    assert held.report == streamed.report and len(held) == len(streamed)
    np.testing.assert_array_equal(held.start_times, streamed.start_times)
    with pytest.raises(DataError, match="exists"):  # never written over
        streamed.on_disk(folder / PREPARED_WINDOWS_FILE)
    kept, where = hold_windows(streamed, tmp_path / "other", stream=True)
    assert kept is streamed and "streamed" in where and not (tmp_path / "other").exists()
    in_memory = WindowedCube(streamed.array.load(), streamed.window)
    assert hold_windows(in_memory, tmp_path / "x")[0] is in_memory


def test_a_disk_without_room_for_the_prepared_cube_keeps_it_streaming(tmp_path, monkeypatch):
    import collections
    import shutil

    from keras_dsc.data.prepare import hold_windows

    lazy = lazy_cube()
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage(10**9, 10**9, 100))
    kept, where = hold_windows(lazy, tmp_path)
    assert kept is lazy and "does not fit" in where and str(tmp_path) in where
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()

    def full_disk(self, path):  # the disk fills up while the file is written
        path.write_bytes(b"\x93NUMPY")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(WindowedCube, "on_disk", full_disk)
    kept, where = hold_windows(lazy, tmp_path)
    assert kept is lazy and "No space left on device" in where
    assert list(tmp_path.iterdir()) == []  # the partial file is not left behind


def test_fit_trains_a_cube_too_large_for_memory_from_a_mapped_file_and_removes_it(
        tmp_path, monkeypatch):
    from keras_dsc.data import DataOptions, prepare
    from keras_dsc.data.synthetic import write_cube
    from keras_dsc.runs.fit import fit_run
    from keras_dsc.runs.options import FitOptions

    path = str(write_cube(tmp_path / "era5.nc", days=6, seed=1))
    options = dict(filters=(2,), latent_dim=4, n_clusters=2, plots=False, pretrain_steps=2,
                   steps=2, batch_size=2, out=str(tmp_path / "runs"))
    lines = []
    in_memory = fit_run(DataOptions(data=path), FitOptions(**options, run_name="memory"),
                        echo=lines.append, verbose=0)
    assert "windows held in memory" in lines
    monkeypatch.setattr(prepare, "IN_MEMORY_LIMIT", 1000)  # below even the prepared cube
    seen = []

    def echo(line):
        if line.startswith("windows prepared once into"):
            seen.extend(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.npy"))
        lines.append(line)

    mapped = fit_run(DataOptions(data=path), FitOptions(**options, run_name="mapped"),
                     echo=echo, verbose=0)
    assert seen == [f"runs/.mapped.partial/training_state/{prepare.PREPARED_WINDOWS_FILE}"]
    assert list(tmp_path.rglob("*.npy")) == []  # removed with the training state
    config = json.loads((mapped / "config.json").read_text())
    assert config["data"]["windows_held"].startswith("windows prepared once into")
    first = pd.read_csv(in_memory / "assignments.csv")
    second = pd.read_csv(mapped / "assignments.csv")
    pd.testing.assert_frame_equal(first, second)  # the same windows, the same training


def test_select_k_pretrains_a_cube_too_large_for_memory_from_a_mapped_file(tmp_path,
                                                                           monkeypatch):
    from keras_dsc.data import DataOptions, prepare
    from keras_dsc.data.synthetic import write_cube
    from keras_dsc.runs.options import FitOptions
    from keras_dsc.runs.select_k import PREPARED_FOLDER, select_k

    path = str(write_cube(tmp_path / "era5.nc", days=8, seed=1))
    options = dict(pretrain_steps=2, filters=(2,), latent_dim=4, batch_size=2,
                   out=str(tmp_path / "runs"))
    in_memory = select_k(DataOptions(data=path), FitOptions(**options, run_name="memory"),
                         k_min=2, k_max=3, echo=lambda line: None)
    monkeypatch.setattr(prepare, "IN_MEMORY_LIMIT", 1000)
    lines = []
    mapped = select_k(DataOptions(data=path), FitOptions(**options, run_name="mapped"),
                      k_min=2, k_max=3, echo=lines.append)
    assert any(line.startswith("windows prepared once into") and PREPARED_FOLDER in line
               for line in lines), lines
    assert not (mapped["out_dir"] / PREPARED_FOLDER).exists()
    assert list(tmp_path.rglob("*.npy")) == []
    # The same table but for rounding: the statistics of a lazy cube are summed chunk by chunk.
    pd.testing.assert_frame_equal(in_memory["table"], mapped["table"], rtol=1e-4)
