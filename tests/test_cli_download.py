"""`python cli.py download`: the CDS request it builds, and its one-line errors (no network)."""

import json
import os
import subprocess
import sys

from click.testing import CliRunner

from keras_dsc.cli import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAPER = ["--variables", "u10,v10,t2m,sst,sp,slhf,sshf", "--region", "43,-33,33,-23"]


def no_credentials(tmp_path):
    """Environment without any CDS credentials: empty HOME, no key file, no CDSAPI_* values."""
    return {"HOME": str(tmp_path), "CDSAPI_RC": str(tmp_path / "missing.cdsapirc"),
            "CDSAPI_URL": None, "CDSAPI_KEY": None}


def test_dry_run_prints_the_papers_request():
    result = CliRunner().invoke(cli, ["download", *PAPER, "--years", "2021", "--dry-run"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["dataset"] == "reanalysis-era5-single-levels"
    request = printed["request"]
    assert request["variable"] == [
        "10m_u_component_of_wind", "10m_v_component_of_wind", "2m_temperature",
        "sea_surface_temperature", "surface_pressure", "surface_latent_heat_flux",
        "surface_sensible_heat_flux"]
    assert request["area"] == [43.0, -33.0, 33.0, -23.0]
    assert request["year"] == ["2021"]
    assert len(request["month"]) == 12 and len(request["day"]) == 31
    assert request["time"][0] == "00:00" and len(request["time"]) == 24
    assert request["product_type"] == ["reanalysis"]
    assert request["data_format"] == "netcdf"


def test_dry_run_with_ranges_and_lists():
    result = CliRunner().invoke(cli, [
        "download", "--variables", "t2m", "--years", "2018-2020,2022", "--months", "1,12",
        "--days", "1-3", "--hours", "0,12", "--target", "era5.nc", "--dry-run"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["request"]["year"] == ["2018", "2019", "2020", "2022"]
    assert printed["request"]["month"] == ["01", "12"]
    assert printed["request"]["day"] == ["01", "02", "03"]
    assert printed["request"]["time"] == ["00:00", "12:00"]
    assert "area" not in printed["request"]  # no --region: the whole globe
    assert printed["target"] == "era5.nc"


def test_bad_options_give_one_line_errors(tmp_path):
    runner = CliRunner()
    cases = [
        (["--variables", "u10,foo", "--years", "2021"], "variable 'foo' is not a known"),
        (["--variables", "u10", "--years", "twenty"], "--years: 'twenty' is not a whole"),
        (["--variables", "u10", "--years", "2021", "--months", "13"], "months: 13 is outside"),
        (["--variables", "u10", "--years", "2021", "--region", "43,-33,33"], "--region"),
        (["--variables", "u10", "--years", "2021"], "--target"),  # neither target nor dry run
    ]
    for args, expected in cases:
        result = runner.invoke(cli, ["download", *args], env=no_credentials(tmp_path))
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.output, (args, result.output)
        assert len(result.output.strip().splitlines()) == 1, result.output


def test_missing_credentials_one_line_exit_2_and_no_file(tmp_path):
    target = tmp_path / "era5.nc"
    result = CliRunner().invoke(
        cli, ["download", *PAPER, "--years", "2021", "--target", str(target)],
        env=no_credentials(tmp_path))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: no CDS credentials")
    assert ".cdsapirc" in lines[0] and "CDSAPI_KEY" in lines[0]
    assert not target.exists()


def test_incomplete_credentials_file_is_refused(tmp_path):
    rc = tmp_path / ".cdsapirc"
    rc.write_text("url: https://cds.climate.copernicus.eu/api\n")  # no key line
    env = {**no_credentials(tmp_path), "CDSAPI_RC": str(rc)}
    result = CliRunner().invoke(
        cli, ["download", "--variables", "t2m", "--years", "2021", "--target",
              str(tmp_path / "x.nc")], env=env)
    assert result.exit_code == 2
    assert f"no CDS credentials ({rc} missing or incomplete)" in result.output


def run_cli(args, env_update, prelude=""):
    """Runs cli.py in a subprocess, after `prelude` (Python run before the CLI starts)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDSAPI_")}
    env.update(env_update)
    code = (f"import runpy, sys\n{prelude}\nsys.argv = ['cli.py'] + {args!r}\n"
            f"runpy.run_path('cli.py', run_name='__main__')\n")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_subprocess_dry_run_and_missing_credentials(tmp_path):
    env = {k: v for k, v in no_credentials(tmp_path).items() if v is not None}
    done = run_cli(["download", *PAPER, "--years", "2021", "--dry-run"], env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["request"]["area"] == [43.0, -33.0, 33.0, -23.0]
    target = tmp_path / "era5.nc"
    done = run_cli(["download", *PAPER, "--years", "2021", "--target", str(target)], env)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("Error: no CDS credentials")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not target.exists()


def test_subprocess_without_cdsapi_says_how_to_install(tmp_path):
    # `sys.modules[name] = None` makes `import cdsapi` raise ImportError, as when the optional
    # package is not installed.
    env = {k: v for k, v in no_credentials(tmp_path).items() if v is not None}
    target = tmp_path / "era5.nc"
    done = run_cli(["download", *PAPER, "--years", "2021", "--target", str(target)], env,
                   prelude="sys.modules['cdsapi'] = None")
    assert done.returncode == 2
    assert done.stderr.strip() == ("Error: cdsapi is not installed: "
                                   "pip install 'keras_dsc[download]'")
    assert not target.exists()


FAKE_CDSAPI = '''
import sys, types
SENDS, LOG = {sends!r}, {log!r}
class Client:
    def __init__(self, **kwargs):
        pass
    def retrieve(self, dataset, request, target):
        with open(LOG, "a") as log:
            log.write(target + "\\n")
        if SENDS == "netcdf":
            import numpy as np, xarray as xr
            xr.Dataset({{"t2m": (("valid_time",), np.ones(2))}}).to_netcdf(target)
        elif SENDS == "grib":
            with open(target, "wb") as handle:
                handle.write(b"GRIB" + bytes(100))
        else:
            with open(target, "wb") as handle:
                handle.write(b"CDF\\x01 cut short")
            raise RuntimeError("connection reset by peer")
sys.modules["cdsapi"] = types.SimpleNamespace(Client=Client)
'''
CREDENTIALS = {"CDSAPI_URL": "https://cds.example/api", "CDSAPI_KEY": "k"}


def download_with(tmp_path, sends, *extra):
    """`cli.py download ... --target <tmp>/data/era5.nc` with a fake cdsapi that sends `sends`;
    returns (done, target, the paths cdsapi wrote to)."""
    from tests.helpers.cli_run import run_cli

    log = tmp_path / "retrieved.txt"
    target = tmp_path / "data" / "era5.nc"
    target.parent.mkdir(exist_ok=True)
    done = run_cli("download", "--variables", "t2m", "--years", "2021", "--target", target,
                   *extra, prelude=FAKE_CDSAPI.format(sends=sends, log=str(log)),
                   env=CREDENTIALS)
    written = log.read_text().split() if log.exists() else []
    return done, target, written


def test_download_goes_to_a_partial_file_checked_then_renamed(tmp_path):
    import xarray as xr

    done, target, written = download_with(tmp_path, "netcdf")
    assert done.returncode == 0, done.stderr
    assert written == [f"{target}.partial"]
    assert done.stdout.strip() == f"wrote {target}"
    assert sorted(p.name for p in target.parent.iterdir()) == ["era5.nc"]
    with xr.open_dataset(target) as ds:
        assert "t2m" in ds


def test_a_download_that_is_not_netcdf_or_fails_leaves_nothing(tmp_path):
    from tests.helpers.cli_run import refused

    done, target, written = download_with(tmp_path, "grib")
    refused(done, f"{target}: the CDS sent a file that is not a readable NetCDF file: it is a "
                  f"GRIB file", "nothing was written")
    assert written == [f"{target}.partial"] and list(target.parent.iterdir()) == []
    done, target, _ = download_with(tmp_path, "fail")
    refused(done, f"{target}: the CDS request failed (connection reset by peer)")
    assert list(target.parent.iterdir()) == []


def test_an_existing_target_is_kept_unless_overwrite(tmp_path):
    from tests.helpers.cli_run import refused

    target = tmp_path / "data" / "era5.nc"
    target.parent.mkdir()
    target.write_bytes(b"a year of downloads")
    done, target, written = download_with(tmp_path, "netcdf")
    refused(done, f"--target: {target} already exists; pass --overwrite to replace it")
    assert written == [] and target.read_bytes() == b"a year of downloads"  # nothing sent
    done, target, written = download_with(tmp_path, "netcdf", "--overwrite")
    assert done.returncode == 0, done.stderr
    assert target.read_bytes()[:3] in (b"CDF", b"\x89HD")
