"""Tests of keras_dsc.data.download: the CDS request and the errors before any network use."""

import importlib.util
import sys

import pytest

from keras_dsc.data.download import build_cds_request, cds_credentials, submit
from keras_dsc.errors import DataError

PAPER_VARIABLES = ["u10", "v10", "t2m", "sst", "sp", "slhf", "sshf"]


@pytest.fixture
def no_credentials(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("CDSAPI_URL", "CDSAPI_KEY", "CDSAPI_RC"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_request_of_the_paper():
    dataset, request = build_cds_request(PAPER_VARIABLES, (43, -33, 33, -23), [2021])
    assert dataset == "reanalysis-era5-single-levels"
    assert request == {
        "product_type": ["reanalysis"],
        "variable": ["10m_u_component_of_wind", "10m_v_component_of_wind", "2m_temperature",
                     "sea_surface_temperature", "surface_pressure",
                     "surface_latent_heat_flux", "surface_sensible_heat_flux"],
        "year": ["2021"],
        "month": [f"{m:02d}" for m in range(1, 13)],
        "day": [f"{d:02d}" for d in range(1, 32)],
        "time": [f"{h:02d}:00" for h in range(24)],
        "data_format": "netcdf",
        "download_format": "unarchived",
        "area": [43.0, -33.0, 33.0, -23.0],
    }


def test_request_choices_and_long_names():
    _, request = build_cds_request(["2m_temperature", "sst"], None, 2020, months=[3, 1],
                                   days=[5], hours=["06:00", 0, "12"])
    assert request["variable"] == ["2m_temperature", "sea_surface_temperature"]
    assert request["year"] == ["2020"] and request["month"] == ["01", "03"]
    assert request["day"] == ["05"] and request["time"] == ["00:00", "06:00", "12:00"]
    assert "area" not in request


@pytest.mark.parametrize("kwargs, words", [
    ({"variables": ["u100x"]}, ["'u100x'", "u10"]),
    ({"years": [1800]}, ["years", "1800"]),
    ({"months": [13]}, ["months", "13"]),
    ({"hours": ["noon"]}, ["hours", "noon"]),
    ({"region": (33, -33, 43, -23)}, ["region", "south"]),
    ({"region": (43, -33, 33, 200)}, ["region", "200"]),
])
def test_bad_requests(kwargs, words):
    arguments = {"variables": ["t2m"], "region": (43, -33, 33, -23), "years": [2021]}
    arguments.update(kwargs)
    with pytest.raises(DataError) as info:
        build_cds_request(**arguments)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_submit_without_cdsapi(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "cdsapi", None)  # as if it were not installed
    dataset, request = build_cds_request(["t2m"], None, 2021)
    with pytest.raises(DataError) as info:
        submit(dataset, request, tmp_path / "era5.nc")
    assert str(info.value) == "cdsapi is not installed: pip install 'keras_dsc[download]'"


def test_submit_without_credentials(no_credentials):
    dataset, request = build_cds_request(["t2m"], None, 2021)
    with pytest.raises(DataError) as info:
        submit(dataset, request, no_credentials / "era5.nc")
    message = str(info.value)
    if importlib.util.find_spec("cdsapi") is None:
        assert "cdsapi is not installed" in message
    else:
        assert "no CDS credentials" in message and ".cdsapirc" in message
        assert "CDSAPI_KEY" in message and "\n" not in message
    assert not (no_credentials / "era5.nc").exists()


def test_credentials_from_file_or_environment(no_credentials, monkeypatch):
    with pytest.raises(DataError, match="no CDS credentials"):
        cds_credentials()
    (no_credentials / ".cdsapirc").write_text(
        "url: https://cds.example/api\nkey: abc-123\n")
    assert cds_credentials() == ("https://cds.example/api", "abc-123")
    monkeypatch.setenv("CDSAPI_URL", "https://other.example/api")
    monkeypatch.setenv("CDSAPI_KEY", "xyz")
    assert cds_credentials() == ("https://other.example/api", "xyz")
