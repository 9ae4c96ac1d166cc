"""Send a NetCDF slice to a keras_dsc model in TF Serving and read the clusters back.

Needs numpy and xarray only (not keras_dsc, not TensorFlow). Usage:
    python serving_client.py era5_2024-06.nc saved_models/dsc/1/assets/keras_dsc.json
"""

import json
import sys
import urllib.request

import numpy as np
import xarray as xr


def load_windows(path, metadata):
    """Windows (n, window, lat, lon, variables) in physical units, and their start times."""
    ds = xr.open_dataset(path)
    if "valid_time" in ds.dims:  # current CDS downloads
        ds = ds.rename({"valid_time": "time"})
    ds = ds[metadata["variables"]].reset_coords(drop=True)
    ds = ds.sel(latitude=metadata["latitudes"], longitude=metadata["longitudes"],
                method="nearest", tolerance=1e-4)  # the model's grid, in its order
    if metadata["time_step"]:
        ds = ds.resample(time=metadata["time_step"]).mean()  # e.g. hourly -> 3-hourly means
    values = ds.to_dataarray("variable").transpose("time", "latitude", "longitude", "variable")
    values = values.values.astype("float32")  # NaN where missing: the model masks it
    starts = range(0, len(values) - metadata["window"] + 1, metadata["stride"])
    windows = np.stack([values[s:s + metadata["window"]] for s in starts])
    return windows, ds["time"].values[list(starts)]


def request_body(windows, times, metadata):
    """The JSON body of a REST predict request ("inputs": the columnar format)."""
    inputs = {"windows": windows.tolist()}  # NaN is valid for TF Serving
    if "start_time" in metadata["inputs"]:  # a run on anomalies: the climatology needs dates
        inputs["start_time"] = times.astype("datetime64[s]").astype("int64").tolist()
    return json.dumps({"signature_name": metadata["signature_name"], "inputs": inputs})


def predict(body, url="http://localhost:8501/v1/models/dsc:predict"):
    """POSTs the request; returns the clusters and their probabilities."""
    request = urllib.request.Request(url, data=body.encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        outputs = json.load(response)["outputs"]
    return outputs["cluster"], outputs["probabilities"]


if __name__ == "__main__":
    with open(sys.argv[2]) as handle:
        metadata = json.load(handle)
    windows, times = load_windows(sys.argv[1], metadata)
    clusters, probabilities = predict(request_body(windows, times, metadata))
    for time, cluster, p in zip(times, clusters, probabilities):
        print(f"{str(time)[:19]}  cluster {cluster}  probability {p[cluster]:.3f}")
