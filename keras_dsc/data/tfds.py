"""Training windows streamed from a prepared TFDS dataset (`datasets/era5_cube`) through tf.data.

`fit --data tfds:era5_cube/paper` reads the dataset that `tfds build datasets/era5_cube` wrote
under the TFDS data dir (`--tfds-data-dir`, else `$TFDS_DATA_DIR`, else
`~/tensorflow_datasets`). It needs only the prepared files, not the builder code: the dataset is
opened with `tfds.builder_from_directory`.

The dataset holds windows in physical units, a validity mask and, in its metadata, the
per-variable statistics computed when it was built. `TfdsWindows` turns those into a fitted
`CubePreprocessor` (saved with the model like any other), and normalises each window inside the
`tf.data` pipeline: only a shuffle buffer and a few batches are ever in memory, however many
years the dataset covers.
"""

import dataclasses
import math
import os
import pathlib

import numpy as np

from keras_dsc.data.grid import same_axis
from keras_dsc.data.options import (
    TFDS_PREFIX as PREFIX,
    DataOptions,
    PreparedData,
    describe_data,
    is_tfds_spec,
)
from keras_dsc.data.preprocessing import CubePreprocessor
from keras_dsc.data.windows import window_positions
from keras_dsc.errors import DataError, OptionError

DEFAULT_CONFIG = "paper"
SPLIT = "train"
_SHUFFLE_BUFFER_BYTES = 64 * 2**20


def parse_spec(data):
    """Splits `"tfds:NAME[/CONFIG][:VERSION]"` into `(name, config, version)`.

    Args:
        data: the `--data` value (or a one-element list holding it).

    Returns:
        `(name, config, version)`: config defaults to `"paper"`, version to None (the newest).

    Example:

    >>> parse_spec("tfds:era5_cube/hourly24:1.0.0")
    ('era5_cube', 'hourly24', '1.0.0')
    """
    if isinstance(data, (list, tuple)) and len(data) == 1:
        data = data[0]
    text = str(data)[len(PREFIX):] if str(data).startswith(PREFIX) else str(data)
    body, _, version = text.partition(":")
    name, _, config = body.partition("/")
    if not name or "/" in config or (":" in text and not version):
        raise OptionError(f"{{data}} {data}: expected tfds:NAME/CONFIG[:VERSION], "
                          f"e.g. tfds:era5_cube/paper", "data")
    return name, config or DEFAULT_CONFIG, version or None


def data_dir(path=None):
    """The TFDS data dir: `path`, else `$TFDS_DATA_DIR`, else `~/tensorflow_datasets`."""
    path = path or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    return pathlib.Path(os.path.expanduser(str(path)))


def dataset_dir(data, tfds_data_dir=None):
    """The folder of a prepared dataset, `<data_dir>/<name>/<config>/<version>`.

    Args:
        data: `"tfds:NAME/CONFIG[:VERSION]"`.
        tfds_data_dir: the TFDS data dir, or None for `data_dir()`'s default.

    Returns:
        A `pathlib.Path` holding `dataset_info.json`.

    Raises:
        DataError: no prepared dataset there (saying how to build it).
    """
    name, config, version = parse_spec(data)
    root = data_dir(tfds_data_dir)
    folder = root / name / config
    if version is None:
        prepared = [p for p in folder.glob("*") if (p / "dataset_info.json").is_file()]
        prepared = sorted(prepared, key=lambda p: _version_key(p.name))
        if prepared:
            return prepared[-1]
    elif (folder / version / "dataset_info.json").is_file():
        return folder / version
    where = folder / version if version else folder
    raise OptionError(
        f"{{data}} {PREFIX}{name}/{config}: no prepared dataset in {where}; build it with "
        f"'tfds build datasets/{name} --config {config} --manual_dir <NetCDF folder> "
        f"--data_dir {root}' (or set {{tfds_data_dir}} / TFDS_DATA_DIR)", "data", "tfds_data_dir"
    )


def preprocessor_from_metadata(metadata, method="zscore"):
    """A fitted `CubePreprocessor` from the statistics an era5_cube dataset stores.

    Args:
        metadata: the dataset's metadata dict (`variables`, `units`, `latitudes`,
            `longitudes`, `time_step`, `statistics: {variable: {mean, std, min, max}}`).
        method: `"zscore"` (offset mean, scale std) or `"minmax"` (offset min, scale
            max - min); a constant variable gets scale 1, as `CubePreprocessor.fit` does.

    Returns:
        A fitted `CubePreprocessor` (no anomalies).
    """
    prep = CubePreprocessor(method, anomalies=False)
    try:
        variables = list(metadata["variables"])
        stats = [metadata["statistics"][name] for name in variables]
        prep.units = list(metadata["units"])
        prep.latitudes = [float(v) for v in metadata["latitudes"]]
        prep.longitudes = [float(v) for v in metadata["longitudes"]]
        prep.time_step = metadata["time_step"]
    except (KeyError, TypeError) as error:
        raise DataError(f"dataset metadata: {error} is missing (was the dataset built by "
                        f"datasets/era5_cube?)") from None
    offset, scale = [], []
    for name, stat in zip(variables, stats):
        low = stat["mean"] if method == "zscore" else stat["min"]
        spread = stat["std"] if method == "zscore" else stat["max"] - stat["min"]
        if low is None or not math.isfinite(low):
            raise DataError(f"dataset metadata: variable {name!r} is entirely NaN")
        offset.append(float(low))
        scale.append(float(spread) if math.isfinite(spread) and spread > 0 else 1.0)
    prep.variables, prep.offset, prep.scale = variables, offset, scale
    return prep


class TfdsWindows:
    """Normalised windows of a prepared era5_cube dataset, streamed through `tf.data`.

    A window source for `keras_dsc.train_dsc`: it has `len()`, `sample_shape`, `variables`,
    `latitudes`, `longitudes`, `start_times` and `labels` like `keras_dsc.data.windows.WindowedCube`,
    and a `batches(...)` method that `keras_dsc.data.batches.window_batches` calls instead of
    building a `WindowBatches`: training and prediction read the TFRecord files in order and
    normalise each window in the pipeline, so memory stays bounded by the shuffle buffer
    (about 64 MB of windows; training shuffles within it, not globally) and a few batches.

    Args:
        builder: a TFDS builder of a prepared era5_cube dataset (`tfds.builder_from_directory`).
        preprocessor: a fitted `CubePreprocessor` on the dataset's variables and grid (no
            anomalies); `None` builds one from the dataset metadata.
        method: normalisation when `preprocessor` is None: `"zscore"` or `"minmax"`.
        split: the split to read. Defaults to `"train"`.

    Example (needs the dataset prepared by `tfds build datasets/era5_cube --config paper`,
    see datasets/era5_cube/README.md; tests/test_tfds.py runs the same on dummy data):

    >>> windows = open_tfds("tfds:era5_cube/paper", "~/tensorflow_datasets")  # doctest: +SKIP
    >>> len(windows), windows.sample_shape  # doctest: +SKIP
    (365, (1, 41, 41, 7))
    >>> result = train_dsc(DSC(windows.sample_shape, 7), windows)  # doctest: +SKIP
    """

    def __init__(self, builder, preprocessor=None, method="zscore", split=SPLIT):
        self.builder = builder
        self.split = split
        self.metadata = dict(builder.info.metadata or {})
        if preprocessor is None:
            preprocessor = preprocessor_from_metadata(self.metadata, method)
        self.preprocessor = preprocessor
        self._check_preprocessor()
        try:
            self._length = int(builder.info.splits[split].num_examples)
        except KeyError:
            raise DataError(f"{builder.data_dir}: the dataset has no split {split!r}") from None
        self.window = int(self.metadata.get("window", builder.info.features["cube"].shape[0]))
        self.stride = int(self.metadata.get("stride") or self.window)
        self._scanned = None

    def __len__(self):
        return self._length

    def __repr__(self):
        return (f"TfdsWindows({len(self)} windows of shape {self.sample_shape} from "
                f"{self.builder.data_dir})")

    @property
    def sample_shape(self):
        """(window, latitude, longitude, variable)."""
        return (self.window, len(self.preprocessor.latitudes),
                len(self.preprocessor.longitudes), len(self.preprocessor.variables))

    @property
    def variables(self):
        return list(self.preprocessor.variables)

    @property
    def latitudes(self):
        return np.asarray(self.preprocessor.latitudes)

    @property
    def longitudes(self):
        return np.asarray(self.preprocessor.longitudes)

    @property
    def start_times(self):
        """numpy datetime64[s] array: the first time step of every window, in order."""
        return self._scan()[0]

    @property
    def labels(self):
        """int array of ground-truth labels, or None when the files carried none."""
        return self._scan()[1]

    def batches(self, batch_size, shuffle=False, seed=0, targets=None):
        """A `tf.data.Dataset` of normalised batches, for `fit` and `predict`.

        Args:
            batch_size: int, windows per batch.
            shuffle: shuffle (seeded, reshuffled every epoch) within a buffer of about 64 MB.
            seed: int, the shuffle seed.
            targets: optional float32 array `(n_windows, n_clusters)`, the target
                distribution P; each batch then carries `targets[index]` as `y`, read when
                the batch is taken, so in-place updates reach the following batches.

        Returns:
            A `tf.data.Dataset` of `x` float32 `(batch,) + sample_shape` (NaN where missing),
            or of `(x, y)` with targets; without shuffling, windows come in index order.
        """
        import tensorflow as tf

        ds = self._examples()
        if shuffle:
            window_bytes = 5 * int(np.prod(self.sample_shape))  # float32 cube + bool mask
            buffer = min(len(self), max(4 * int(batch_size), _SHUFFLE_BUFFER_BYTES // window_bytes))
            ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
        offset = tf.constant(self.preprocessor.offset, tf.float32)
        scale = tf.constant(self.preprocessor.scale, tf.float32)
        shape = self.sample_shape

        def normalise(example):
            x = (example["cube"] - offset) / scale
            x = tf.where(example["mask"], x, tf.constant(np.nan, tf.float32))
            x = tf.ensure_shape(x, shape)
            return x, example["index"]

        ds = ds.map(normalise, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.batch(int(batch_size)).prefetch(2)
        if targets is None:
            ds = ds.map(lambda x, index: x)
        else:
            n_clusters = targets.shape[1]

            def rows(index):  # reads the live array: updates reach the next batch
                return np.asarray(targets[index], dtype="float32")

            def with_targets(x, index):
                y = tf.numpy_function(rows, [index], tf.float32, stateful=True)
                y.set_shape((None, n_clusters))
                return x, y

            ds = ds.map(with_targets)
        options = tf.data.Options()
        options.experimental_optimization.inject_prefetch = False  # targets read on demand
        options.deterministic = True
        return ds.with_options(options)

    def __getitem__(self, index):
        """Normalised windows by number (one ordered read over the span they cover).

        Meant for a few windows (figures, checks); training uses `batches`.
        """
        single = isinstance(index, (int, np.integer))
        positions = window_positions(index, len(self))
        out = np.empty((positions.size,) + self.sample_shape, dtype="float32")
        if positions.size:
            first, last = int(positions.min()), int(positions.max())
            span = self.batches(64).unbatch().skip(first).take(last - first + 1)
            block = np.stack([np.asarray(x) for x in span.as_numpy_iterator()])
            out[:] = block[positions - first]
        return out[0] if single else out

    def flatten_features(self, batch=64, indices=None):
        """Windows flattened to (n, window*lat*lon*variable) float32, NaN replaced by 0.

        One ordered pass over the dataset; `indices` (a 1-D integer array) keeps only those
        windows, in that order. Defaults to every window.
        """
        positions = (np.arange(len(self)) if indices is None
                     else window_positions(indices, len(self)))
        out = np.empty((positions.size, int(np.prod(self.sample_shape))), dtype="float32")
        start = 0
        for x in self.batches(batch).as_numpy_iterator():
            rows = np.flatnonzero((positions >= start) & (positions < start + len(x)))
            block = x[positions[rows] - start]
            out[rows] = np.nan_to_num(block.reshape(len(rows), -1), nan=0.0)
            start += len(x)
        return out

    def _examples(self, skip_arrays=False):
        import tensorflow_datasets as tfds

        decoders = None
        if skip_arrays:
            decoders = {"cube": tfds.decode.SkipDecoding(), "mask": tfds.decode.SkipDecoding()}
        return self.builder.as_dataset(split=self.split, shuffle_files=False,
                                       decoders=decoders)

    def _scan(self):
        """One pass over the scalar features (arrays left undecoded): times and labels."""
        if self._scanned is None:
            ds = self._examples(skip_arrays=True).map(
                lambda e: (e["index"], e["start_time"], e["regime"]))
            rows = list(ds.as_numpy_iterator())
            index, seconds, regime = ([np.asarray(c) for c in zip(*rows)] if rows
                                      else [np.zeros(0, "int64")] * 3)
            if not np.array_equal(index, np.arange(len(self))):
                raise DataError(f"{self.builder.data_dir}: the examples are not stored in "
                                f"window order (was the dataset built with shuffling?)")
            times = seconds.astype("datetime64[s]")
            labels = regime.astype("int64") if self.metadata.get("has_regime") else None
            self._scanned = (times, labels)
        return self._scanned

    def _check_preprocessor(self):
        prep, meta = self.preprocessor, self.metadata
        if prep.anomalies:
            raise _no_anomalies()
        for key in ("variables", "latitudes", "longitudes"):
            given, expected = meta.get(key), getattr(prep, key)
            same = given is not None and (list(given) == list(expected) if key == "variables"
                                          else same_axis(given, expected))
            if not same:
                raise DataError(f"{self.builder.data_dir}: the dataset's {key} differ from the "
                                f"preprocessor's ({_short(given)} vs {_short(expected)})")


def open_tfds(data, tfds_data_dir=None, preprocessor=None, method="zscore"):
    """Opens a prepared era5_cube dataset as a `TfdsWindows` window source.

    Args:
        data: `"tfds:era5_cube/CONFIG[:VERSION]"`.
        tfds_data_dir: the TFDS data dir; None for `$TFDS_DATA_DIR` or `~/tensorflow_datasets`.
        preprocessor: a fitted `CubePreprocessor` to apply (a trained model's); None builds one
            from the dataset's statistics.
        method: `"zscore"` or `"minmax"`, when `preprocessor` is None.

    Returns:
        A `TfdsWindows`.
    """
    import tensorflow_datasets as tfds

    folder = dataset_dir(data, tfds_data_dir)
    builder = tfds.builder_from_directory(str(folder))
    return TfdsWindows(builder, preprocessor, method)


def prepare_tfds(options, preprocessor=None):
    """`keras_dsc.data.prepare_data` for `--data tfds:...`: a `PreparedData` without a cube.

    The dataset's config fixes the variables, region, time step and window: the data options
    that would change them must keep their defaults (or repeat the dataset's values).

    Args:
        options: a `keras_dsc.data.DataOptions` whose `data` is `"tfds:NAME/CONFIG"`.
        preprocessor: a fitted `CubePreprocessor` (a trained model's), or None.

    Returns:
        A `keras_dsc.data.PreparedData` whose `windows` is a `TfdsWindows` and `cube` None.
    """
    if options.anomalies:
        raise _no_anomalies()
    windows = open_tfds(options.data, getattr(options, "tfds_data_dir", None), preprocessor,
                        options.normalization)
    meta = windows.metadata
    defaults = DataOptions()
    fixed = {
        "variables": tuple(meta.get("variables") or ()),
        "region": tuple(meta.get("region") or ()),
        "resample": meta.get("resample"),
        "window": windows.window,
        "stride": windows.stride,
        "time_range": None,
    }
    for field, value in fixed.items():
        given = getattr(options, field)
        default = getattr(defaults, field)
        if given == default or given == value or (
                isinstance(value, tuple) and given is not None and tuple(given) == value):
            continue
        raise OptionError(f"{{{field}}} {given}: the dataset {options.data} fixes it "
                          f"({value if value is not None else 'the whole record'}); rebuild the "
                          f"dataset with another config to change it", field)
    prep = windows.preprocessor
    name, config, _ = parse_spec(options.data)
    description = describe_data(
        f"TFDS dataset {name}/{config}",
        [str(options.data) if isinstance(options.data, str) else options.data[0]], prep, windows,
        time={"start": meta.get("time_start"), "end": meta.get("time_end"),
              "n_steps": meta.get("n_time_steps")},
        options={**{k: v for k, v in dataclasses.asdict(options).items() if k != "data"},
                 "variables": list(prep.variables), "region": meta.get("region"),
                 "resample": meta.get("resample"), "window": windows.window,
                 "stride": windows.stride},
        has_labels=meta.get("has_regime"),
        tfds_dir=str(windows.builder.data_dir), netcdf_files=list(meta.get("files") or []))
    return PreparedData(windows, prep, None, description)


def _no_anomalies():
    return OptionError("{anomalies}: not available with a tfds: dataset (it holds no "
                       "climatology); use {data} with the NetCDF files instead",
                       "anomalies", "data")


def _version_key(text):
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        return (-1,)


def _short(values):
    if values is None:
        return "none"
    values = list(values)
    if len(values) <= 8:
        return ", ".join(map(str, values))
    return f"{len(values)} values {values[0]}..{values[-1]}"
