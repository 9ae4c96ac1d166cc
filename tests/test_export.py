"""Tests for keras_dsc.runs.export: the SavedModel for TF Serving, its layout, assets and signature."""

import importlib.util
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from keras_dsc.errors import DataError
from keras_dsc.runs.export import METADATA_FILE, export_run, next_version
from keras_dsc.runs.predict import SavedModelAssigner, open_for_model
from keras_dsc.data.preprocessing import CubePreprocessor
from tests.helpers.serving_run import VARIABLES, make_run, write_data

REPO = pathlib.Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One tiny run and its export (version 1): (run_dir, version_dir, data_path, cube)."""
    folder = tmp_path_factory.mktemp("export")
    data_path = write_data(folder / "era5.nc")
    run_dir, windows, cube = make_run(folder / "run", data_path)
    assert windows.sample_shape == (8, 5, 6, 5)
    version_dir = export_run(run_dir, out=folder / "saved_models")
    return run_dir, version_dir, data_path, cube


def physical_windows(version_dir, data_path):
    """The test data's windows in physical units, as keras_dsc cuts them."""
    assigner = SavedModelAssigner(version_dir)
    cube, _ = open_for_model(data_path, assigner.metadata)
    with cube:
        return assigner.windows(cube)[:]


def test_layout_and_assets(exported):
    run_dir, version_dir, _, _ = exported
    assert version_dir == run_dir.parent / "saved_models" / "dsc" / "1"
    assert (version_dir / "saved_model.pb").is_file()
    assert (version_dir / "variables" / "variables.index").is_file()
    assert not [p for p in version_dir.parent.iterdir() if p.name.startswith(".")]
    metadata = json.loads((version_dir / "assets" / METADATA_FILE).read_text())
    prep = CubePreprocessor.load(run_dir)
    assert metadata["variables"] == list(VARIABLES)
    assert metadata["units"] == prep.units and metadata["units"][2] == "K"
    assert metadata["latitudes"] == prep.latitudes and metadata["longitudes"] == prep.longitudes
    assert metadata["window"] == 8 and metadata["time_step"] == "3h" and metadata["stride"] == 8
    assert metadata["method"] == "zscore"
    assert metadata["offset"] == prep.offset and metadata["scale"] == prep.scale
    assert metadata["n_clusters"] == 2 and metadata["latent_dim"] == 4
    assert metadata["inputs"] == {"windows": {
        "dtype": "float32", "shape": [None, 8, 5, 6, 5],
        "dims": ["batch", "time", "latitude", "longitude", "variable"]}}


def test_separate_process_without_keras_dsc_gives_the_same_clusters(exported, tmp_path):
    import keras

    import keras_dsc.models  # noqa: F401

    run_dir, version_dir, data_path, _ = exported
    raw = physical_windows(version_dir, data_path)
    raw[1, 2, 0, 0, :] = np.nan  # a whole missing grid point, on top of sst over land
    raw[3, :, 1, 2, 1] = np.nan
    assert np.isnan(raw).any() and np.nanmax(np.abs(raw)) > 1e4  # physical units (Pa)
    np.save(tmp_path / "raw.npy", raw)
    script = (
        "import sys\n"
        "import numpy as np, tensorflow as tf\n"
        "loaded = tf.saved_model.load(sys.argv[1])\n"
        "out = loaded.signatures['serving_default'](windows=tf.constant(np.load(sys.argv[2])))\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'keras_dsc'], 'imported'\n"
        "np.savez(sys.argv[3], **{k: v.numpy() for k, v in out.items()})\n"
        "print('keras_dsc' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(version_dir), str(tmp_path / "raw.npy"),
         str(tmp_path / "out.npz")],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"
    served = np.load(tmp_path / "out.npz")

    model = keras.saving.load_model(run_dir / "model.keras")
    prep = CubePreprocessor.load(run_dir)
    normalised = (raw - np.float32(prep.offset)) / np.float32(prep.scale)
    local = model.assignment_model(normalised.astype("float32"), training=False)
    probabilities = np.asarray(local["probabilities"])
    assert served["cluster"].dtype == np.int64 and served["cluster"].shape == (len(raw),)
    assert served["probabilities"].dtype == np.float32
    assert served["probabilities"].shape == (len(raw), 2)
    assert served["embedding"].shape == (len(raw), 4)
    np.testing.assert_array_equal(served["cluster"], probabilities.argmax(axis=1))
    np.testing.assert_allclose(served["probabilities"], probabilities, atol=1e-5, rtol=0)
    np.testing.assert_allclose(served["embedding"], np.asarray(local["embedding"]), atol=1e-5)
    assert np.isfinite(served["probabilities"]).all()


def _saved_model_cli():
    found = shutil.which("saved_model_cli")
    if found:
        return [found]
    return [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]


@pytest.mark.slow  # a second TensorFlow process (~10 s); the quick tests check the same specs
def test_saved_model_cli_lists_the_signature(exported):
    _, version_dir, _, _ = exported
    done = subprocess.run([*_saved_model_cli(), "show", "--all", "--dir", str(version_dir)],
                          env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    block = done.stdout.split("signature_def['serving_default']:")[1].split("signature_def[")[0]
    inputs, outputs = block.split("contains the following output(s):")
    tensors = {}
    for text in (inputs, outputs):
        for name, dtype, shape in re.findall(
                r"\['(\w+)'\] tensor_info:\s+dtype: (\w+)\s+shape: \(([-\d, ]*)\)", text):
            tensors[name] = (dtype, shape)
    assert re.findall(r"inputs\['(\w+)'\]", inputs) == ["windows"]
    assert tensors == {
        "windows": ("DT_FLOAT", "-1, 8, 5, 6, 5"),
        "cluster": ("DT_INT64", "-1"),
        "probabilities": ("DT_FLOAT", "-1, 2"),
        "embedding": ("DT_FLOAT", "-1, 4"),
    }
    assert "tensorflow/serving/predict" in block


def test_versions_are_never_overwritten_unless_asked(exported, tmp_path):
    run_dir, _, _, _ = exported
    out = tmp_path / "models"
    first = export_run(run_dir, out=out, name="regimes")
    second = export_run(run_dir, out=out, name="regimes")
    assert (first.name, second.name) == ("1", "2")
    assert next_version(out / "regimes") == 3
    (first / "marker").write_text("old")
    with pytest.raises(DataError, match=r"version 1: .* already exists; pass overwrite"):
        export_run(run_dir, out=out, name="regimes", version=1)
    assert (first / "marker").exists()
    again = export_run(run_dir, out=out, name="regimes", version=1, overwrite=True)
    assert again == first and not (first / "marker").exists()
    assert (first / "saved_model.pb").is_file()
    (out / "regimes" / "7").mkdir()  # a version number given by hand earlier
    assert next_version(out / "regimes") == 8


@pytest.mark.slow  # an export in a second process (~10 s), killed midway
def test_interrupted_export_leaves_no_version(exported, tmp_path):
    run_dir, _, _, _ = exported
    out = tmp_path / "models"
    script = ("import sys\nfrom keras_dsc.runs.export import export_run\n"
              "export_run(sys.argv[1], out=sys.argv[2])\n")
    process = subprocess.Popen([sys.executable, "-c", script, str(run_dir), str(out)],
                               cwd=REPO, env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    parent = out / "dsc"
    try:
        deadline = time.monotonic() + 300
        while process.poll() is None and time.monotonic() < deadline:
            if parent.is_dir() and any(p.name.startswith(".tmp-") for p in parent.iterdir()):
                break
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL  # killed, not finished
    left = sorted(p.name for p in parent.iterdir())
    assert left and all(name.startswith(".tmp-") for name in left)  # the half-written export
    assert not [name for name in left if name.isdigit()]

    version_dir = export_run(run_dir, out=out)
    assert version_dir == parent / "1"
    assert sorted(p.name for p in parent.iterdir()) == ["1"]  # the abandoned folder is gone
    assert (version_dir / "assets" / METADATA_FILE).is_file()


def test_design_matrix_follows_the_calendar():
    """The graph's calendar gives the preprocessor's design: leap years, year ends, centuries."""
    import pandas as pd
    import tensorflow as tf

    from keras_dsc.runs.export import design_matrix
    from keras_dsc.data.preprocessing import HARMONICS, HOURS, _design

    times = pd.DatetimeIndex([
        "1800-01-01T00:00", "1899-12-31T23:00", "1900-03-01T06:00", "1969-12-31T21:00",
        "1970-01-01T00:00", "2000-02-29T12:00", "2000-12-31T23:00", "2021-01-01T03:00",
        "2024-12-31T15:00", "2100-03-01T09:00", "2399-12-31T18:00"])
    seconds = np.asarray(times.values, "datetime64[s]").astype("int64")
    terms = list(HARMONICS + HOURS)
    graph = design_matrix(tf.constant(seconds.reshape(11, 1)), terms).numpy()
    assert graph.shape == (11, 1, len(terms))
    np.testing.assert_allclose(graph[:, 0], _design(times, terms), atol=2e-6, rtol=0)
    assert graph[:, 0, len(HARMONICS):].sum(axis=1).tolist() == [1.0] * 11  # one hour each
    with pytest.raises(tf.errors.InvalidArgumentError, match="start_time before 1800"):
        design_matrix(tf.constant([[-5364662401]], tf.int64), terms)  # 1799-12-31T23:59:59


@pytest.fixture(scope="module")
def exported_anomalies(tmp_path_factory):
    """A tiny run trained on anomalies and its export: (run_dir, version_dir, data_path)."""
    folder = tmp_path_factory.mktemp("export_anomalies")
    data_path = write_data(folder / "era5.nc")
    with warnings.catch_warnings():  # six days: "the annual harmonics need a year of data"
        warnings.filterwarnings("ignore", "anomalies. the training data spans")
        run_dir, _, _ = make_run(folder / "run", data_path, anomalies=True)
    return run_dir, export_run(run_dir, out=folder / "saved_models"), data_path


@pytest.mark.filterwarnings("ignore:anomalies. the training data spans")
def test_anomalies_run_is_served_with_its_start_times(exported_anomalies, tmp_path):
    """The export subtracts the climatology in its graph: the same clusters as the run folder."""
    import tensorflow as tf

    from keras_dsc.runs.predict import RunAssigner, predict

    run_dir, version_dir, data_path = exported_anomalies
    metadata = json.loads((version_dir / "assets" / METADATA_FILE).read_text())
    assert metadata["anomalies"] is True
    assert metadata["inputs"]["start_time"] == {
        "dtype": "int64", "shape": [None], "dims": ["batch"],
        "units": "seconds since 1970-01-01T00:00:00 UTC"}

    assigner = RunAssigner(run_dir)
    cube, _ = open_for_model(data_path, metadata)
    with cube:  # nothing lazy outlives the file
        windows = assigner.windows(cube)
        normalised = windows[:]
        starts = np.asarray(windows.start_times, "datetime64[s]").astype("int64")
    local = assigner.model.assignment_model(normalised, training=False)
    raw = physical_windows(version_dir, data_path)
    assert raw.shape == normalised.shape and np.nanmax(np.abs(raw)) > 1e4  # Pa, not anomalies

    signature = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    served = signature(windows=tf.constant(raw), start_time=tf.constant(starts))
    np.testing.assert_allclose(served["probabilities"].numpy(),
                               np.asarray(local["probabilities"]), atol=1e-4, rtol=0)
    np.testing.assert_allclose(served["embedding"].numpy(), np.asarray(local["embedding"]),
                               atol=1e-3, rtol=1e-4)
    # The climatology matters: the same windows dated half a year later are other anomalies.
    shifted = signature(windows=tf.constant(raw),
                        start_time=tf.constant(starts + 182 * 86400 + 3 * 3600))
    assert np.abs(shifted["embedding"].numpy() - served["embedding"].numpy()).max() > 1e-2
    with pytest.raises(tf.errors.InvalidArgumentError, match="start_time after 2399"):
        signature(windows=tf.constant(raw[:1]), start_time=tf.constant([13569465600]))  # 2400

    # Before the calendar, on the days of the year the climatology was fitted on (1-6 Jan).
    early = write_data(tmp_path / "era5_1799.nc", start="1799-12-31")
    with pytest.raises(DataError, match=r"^data: the model refused the windows: start_time "
                                        r"before 1800-01-01$") as error:
        predict(version_dir, early)
    assert "\n" not in str(error.value)

    through_export = predict(version_dir, data_path)
    through_run = predict(run_dir, data_path)
    assert through_export["time"].tolist() == through_run["time"].tolist()
    assert through_export["cluster"].tolist() == through_run["cluster"].tolist()
    np.testing.assert_allclose(through_export["probability"], through_run["probability"],
                               atol=1e-4)


@pytest.mark.filterwarnings("ignore:anomalies. the training data spans")
def test_data_at_hours_of_day_the_diurnal_cycle_was_not_fitted_at_is_refused(
        exported_anomalies, tmp_path):
    """3-hourly means stamped at 01:30, 04:30, ... (MERRA-2's way) against a model trained on
    00:00, 03:00, ...: its diurnal cycle is 0 at those hours and would stay in the anomalies."""
    from keras_dsc.data import DataOptions, prepare_data
    from keras_dsc.runs.predict import predict

    run_dir, version_dir, data_path = exported_anomalies
    metadata = json.loads((version_dir / "assets" / METADATA_FILE).read_text())
    assert metadata["hours_of_day"] == [0, 3, 6, 9, 12, 15, 18, 21]
    shifted = write_data(tmp_path / "merra_like.nc", n_times=16, start="2021-01-02 01:30",
                         freq="3h")
    for model in (run_dir, version_dir):
        with pytest.raises(DataError, match=r"16 of 16 time steps \(the first 2021-01-02 "
                                            r"01:30\) lie at hours of day the model's diurnal "
                                            r"cycle was not fitted at \(it knows 00, 03, 06, 09, "
                                            r"12, 15, 18, 21 UTC\)") as error:
            predict(model, shifted)
        assert str(shifted) in str(error.value) and "\n" not in str(error.value)
    # `evaluate` prepares new data through the run's preprocessor: refused the same way.
    preprocessor = CubePreprocessor.load(run_dir)
    with pytest.raises(DataError, match="lie at hours of day the model's diurnal cycle"):
        prepare_data(DataOptions(data=[str(shifted)], resample="3h", window=8), preprocessor)
    assert len(predict(run_dir, write_data(tmp_path / "aligned.nc", n_times=16,
                                           start="2021-01-02", freq="3h"))) == 2


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "a/b"}, r"name: 'a/b'"),
    ({"name": ""}, r"name"),
    ({"version": 0}, r"version must be a positive integer below 2\*\*63 \(TF Serving reads "
                     r"versions as 64-bit integers\), got 0"),
    ({"version": "2"}, r"version must be a positive integer"),
    ({"version": 2**63}, r"version must be a positive integer below 2\*\*63 .*, got "
                         r"9223372036854775808$"),  # written, then unservable (a probe)
])
def test_bad_options(exported, tmp_path, kwargs, message):
    run_dir, _, _, _ = exported
    with pytest.raises(DataError, match=message):
        export_run(run_dir, out=tmp_path, **kwargs)


def test_bad_run_folders(exported, tmp_path):
    _, version_dir, _, _ = exported
    with pytest.raises(DataError, match=r"run folder not found"):
        export_run(tmp_path / "nope", out=tmp_path)
    with pytest.raises(DataError,
                       match=r"is an exported SavedModel, not a run folder \(model.keras is missing"):
        export_run(version_dir, out=tmp_path)
    with pytest.raises(DataError, match=r"not a run folder written by fit \(model.keras is missing"):
        export_run(tmp_path, out=tmp_path)


# --- The README's client -----------------------------------------------------------------------

def load_client():
    spec = importlib.util.spec_from_file_location("serving_client",
                                                  REPO / "examples" / "serving_client.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_shows_the_client_and_the_docker_command():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Serving", 1)[1].split("\n## ", 1)[0]
    assert ("docker run -p 8501:8501 -v $PWD/saved_models/dsc:/models/dsc "
            "-e MODEL_NAME=dsc tensorflow/serving") in section
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    client = (REPO / "examples" / "serving_client.py").read_text()
    assert any(block.strip() in client and len(block) > 1000 for block in blocks)
    body = json.loads(re.findall(r"```json\n(.*?)```", section, re.S)[0])
    assert body["signature_name"] == "serving_default"
    assert list(body["inputs"]) == ["windows", "start_time"]


class _FakeServing(BaseHTTPRequestHandler):
    """TF Serving's REST predict in the columnar format, over the loaded SavedModel."""

    signature = None

    def do_POST(self):  # noqa: N802 (http.server's name)
        import tensorflow as tf

        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        specs = self.signature.structured_input_signature[1]
        inputs = {k: tf.constant(v, specs[k].dtype) for k, v in request["inputs"].items()}
        outputs = self.signature(**inputs)
        answer = json.dumps({"outputs": {k: v.numpy().tolist() for k, v in outputs.items()}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("kind, inputs", [("exported", {"windows"}),
                                           ("exported_anomalies", {"windows", "start_time"})])
def test_client_request_matches_the_signature(kind, inputs, request, tmp_path):
    import tensorflow as tf

    version_dir, data_path = request.getfixturevalue(kind)[1:3]
    # The client opens its own copy: reopening the very file that earlier tests in this process
    # opened through keras_dsc crashed HDF5 (netCDF4) here, as a client never does.
    data_path = shutil.copy(data_path, tmp_path / "client.nc")
    client = load_client()
    metadata = json.loads((version_dir / "assets" / METADATA_FILE).read_text())
    windows, times = client.load_windows(data_path, metadata)
    body = json.loads(client.request_body(windows, times, metadata))

    signature = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    specs = signature.structured_input_signature[1]
    assert body["signature_name"] == "serving_default"
    assert set(body["inputs"]) == set(specs) == inputs
    if "start_time" in inputs:  # the windows' first steps, 3-hourly data cut into days
        assert body["inputs"]["start_time"] == [1609459200 + 86400 * i for i in range(6)]
        assert specs["start_time"].dtype == tf.int64
    spec = specs["windows"]
    values = np.asarray(body["inputs"]["windows"], dtype=spec.dtype.as_numpy_dtype)
    assert spec.dtype == tf.float32 and values.dtype == np.float32
    assert values.ndim == 5 and spec.shape.is_compatible_with(values.shape)
    assert values.shape == (6, 8, 5, 6, 5) and np.isnan(values).any()  # sst over land
    expected = physical_windows(version_dir, data_path)
    np.testing.assert_allclose(values, expected, rtol=1e-6)
    np.testing.assert_array_equal(np.isnan(values), np.isnan(expected))
    assert str(times[1])[:10] == "2021-01-02"

    _FakeServing.signature = signature
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeServing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/models/dsc:predict"
        clusters, probabilities = client.predict(client.request_body(windows, times, metadata),
                                                 url)
    finally:
        server.shutdown()
        server.server_close()
    direct = signature(**{k: tf.constant(v, specs[k].dtype) for k, v in body["inputs"].items()})
    assert clusters == direct["cluster"].numpy().tolist()
    np.testing.assert_allclose(probabilities, direct["probabilities"].numpy(), atol=1e-6)


@pytest.mark.filterwarnings("ignore:anomalies. the training data spans")
def test_days_of_the_year_the_climatology_never_saw_are_refused(exported_anomalies, tmp_path):
    # Trained on six days of January: in July its seasonal cycle is an extrapolation, and the
    # anomalies (and so the regimes) of July days would be wrong. Refused, by the run folder
    # and by the export alike; January days of another year are assigned.
    from keras_dsc.runs.predict import predict

    run_dir, version_dir, _ = exported_anomalies
    assert json.loads((version_dir / "assets" / METADATA_FILE).read_text())["season"] == [
        [0.0, 8.0], [363.25, 365.25]]
    july = write_data(tmp_path / "era5_july.nc", start="2021-07-01")
    for model in (run_dir, version_dir):
        with pytest.raises(DataError, match=r"era5_july.nc: 144 of 144 time steps \(the first "
                                            r"2021-07-01 00:00\) lie outside the part of the "
                                            r"year the model's climatology was fitted on "
                                            r"\(30 Dec-9 Jan\)"):
            predict(model, july)
    from keras_dsc.data import DataOptions
    from keras_dsc.runs.evaluate import evaluate_run

    with pytest.raises(DataError, match=r"era5_july.nc: 48 of 48 time steps .* \(30 Dec-9 "):
        evaluate_run(run_dir, DataOptions(data=str(july), window=8))
    table = predict(version_dir, write_data(tmp_path / "era5_2023.nc", start="2023-01-02"))
    assert len(table) == 6 and set(table["cluster"]) <= {0, 1}
