"""Requests for ERA5 single-level data from the Copernicus Climate Data Store (CDS).

`build_cds_request` writes the request the CDS web form would make (NetCDF, unarchived);
`submit` sends it with the optional `cdsapi` package (`pip install 'keras_dsc[download]'`) and
a CDS account's API key. Nothing here touches the network until `submit` is called.
"""

import os

from keras_dsc.data.era5_names import SINGLE_LEVEL
from keras_dsc.errors import DataError, OptionError

DATASET = "reanalysis-era5-single-levels"

SHORT_NAMES = SINGLE_LEVEL
"""ERA5 short name -> CDS variable name, of the single-level variables
(`keras_dsc.data.era5_names`, the one table of both names)."""

_CREDENTIALS_HELP = (
    "create ~/.cdsapirc with the two lines 'url: https://cds.climate.copernicus.eu/api' and "
    "'key: <your personal access token>' (see https://cds.climate.copernicus.eu/how-to-api), "
    "or set CDSAPI_URL and CDSAPI_KEY")


def build_cds_request(variables, region, years, months=None, days=None, hours=None):
    """The CDS dataset name and request for ERA5 hourly data on single levels.

    Args:
        variables: ERA5 short names (`u10`, `v10`, `t2m`, `sst`, `sp`, `slhf`, `sshf`, ...) or
            CDS long names (`"2m_temperature"`).
        region: `(north, west, south, east)` in degrees (the CDS `area`), or None for the
            whole globe.
        years: a year or a list of years.
        months: months 1..12. Defaults to all.
        days: days of the month 1..31. Defaults to all (the CDS skips dates that do not exist).
        hours: hours 0..23 (ints or `"HH:00"` strings). Defaults to all.

    Returns:
        `(dataset, request)`: `"reanalysis-era5-single-levels"` and the request dict.

    Example:

    >>> dataset, request = build_cds_request(
    ...     ["u10", "v10", "t2m", "sst", "sp", "slhf", "sshf"], (43, -33, 33, -23), [2021])
    >>> request["area"], request["variable"][0]
    ([43.0, -33.0, 33.0, -23.0], '10m_u_component_of_wind')
    """
    if isinstance(variables, str):
        variables = [variables]
    names = []
    long_names = set(SHORT_NAMES.values())
    for name in variables:
        if name in SHORT_NAMES:
            names.append(SHORT_NAMES[name])
        elif name in long_names:
            names.append(name)
        else:
            raise DataError(f"variable {name!r} is not a known ERA5 single-level variable; "
                            f"known: {', '.join(SHORT_NAMES)} (or their CDS long names)")
    if not names:
        raise DataError("variables: the list of variables is empty")
    request = {
        "product_type": ["reanalysis"],
        "variable": names,
        "year": [f"{y:04d}" for y in _integers(years, "years", 1940, 2100)],
        "month": [f"{m:02d}" for m in _integers(months or range(1, 13), "months", 1, 12)],
        "day": [f"{d:02d}" for d in _integers(days or range(1, 32), "days", 1, 31)],
        "time": [f"{h:02d}:00" for h in _integers(hours if hours is not None else range(24),
                                                  "hours", 0, 23)],
        "data_format": "netcdf",
        "download_format": "unarchived",
    }
    if region is not None:
        request["area"] = _area(region)
    return DATASET, request


def submit(dataset, request, target, overwrite=False):
    """Send a request to the CDS and download the result to `target` (blocks until done).

    The file is downloaded to `<target>.partial`, checked to open as NetCDF, then renamed to
    `target`: a download cut short, or a file that is not NetCDF, never takes the target's
    name (and is removed).

    Args:
        dataset: the CDS dataset name (from `build_cds_request`).
        request: the request dict (from `build_cds_request`).
        target: the NetCDF file to write.
        overwrite: replace an existing `target`. Defaults to `False`: an existing file is
            refused before anything is sent.

    Returns:
        `target`.

    Raises:
        DataError: `target` exists, `cdsapi` is not installed, no CDS credentials are
            configured, the CDS refused or failed the request, or what it sent is not NetCDF.
    """
    target = os.fspath(target)
    if os.path.isdir(target):
        raise OptionError(f"{{target}}: {target} is a folder; give the NetCDF file to write",
                          "target")
    if os.path.exists(target) and not overwrite:
        raise OptionError(f"{{target}}: {target} already exists; pass {{overwrite}} to "
                          f"replace it", "target", "overwrite")
    try:
        import cdsapi
    except ImportError:
        raise DataError("cdsapi is not installed: pip install 'keras_dsc[download]'") from None
    url, key = cds_credentials()
    directory = os.path.dirname(os.path.abspath(target))
    os.makedirs(directory, exist_ok=True)
    partial = target + PARTIAL
    try:
        try:
            client = cdsapi.Client(url=url, key=key, quiet=True)
            client.retrieve(dataset, request, partial)
        except Exception as error:  # the CDS reports refusals as plain exceptions
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise DataError(f"{target}: the CDS request failed ({first})") from None
        _check_netcdf(partial, target)
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return target


PARTIAL = ".partial"
"""Suffix of the file a download goes to until it is complete and checked."""


def _check_netcdf(partial, target):
    """Refuses a downloaded file that does not open as NetCDF (a zip, a GRIB, an error page)."""
    from keras_dsc.data.era5 import why_unreadable  # xarray: only once something was downloaded
    import xarray as xr

    if not os.path.isfile(partial):
        raise DataError(f"{target}: the CDS request returned no file")
    try:
        with xr.open_dataset(partial, cache=False) as ds:
            ds.sizes  # noqa: B018  (opens the header)
    except (OSError, ValueError, RuntimeError, KeyError, IndexError, TypeError) as error:
        raise DataError(f"{target}: the CDS sent a file that is "
                        f"{why_unreadable(partial, error)}; nothing was written") from None


def cds_credentials():
    """The CDS `(url, key)` from CDSAPI_URL/CDSAPI_KEY or the cdsapi configuration file.

    The file is `$CDSAPI_RC`, by default `~/.cdsapirc`, with lines `url: ...` and `key: ...`.

    Raises:
        DataError: saying how to create the credentials when there are none.
    """
    url = os.environ.get("CDSAPI_URL")
    key = os.environ.get("CDSAPI_KEY")
    path = os.environ.get("CDSAPI_RC", os.path.expanduser("~/.cdsapirc"))
    if (url is None or key is None) and os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                name, _, value = line.partition(":")
                name, value = name.strip(), value.strip()
                if name == "url" and url is None:
                    url = value
                elif name == "key" and key is None:
                    key = value
    if not url or not key:
        raise DataError(f"no CDS credentials ({path} missing or incomplete): "
                        f"{_CREDENTIALS_HELP}")
    return url, key


def _integers(values, option, low, high):
    if isinstance(values, (int, str)):
        values = [values]
    out = []
    for value in values:
        text = str(value).strip()
        if option == "hours" and ":" in text:
            text = text.split(":")[0]
        try:
            number = int(text)
        except ValueError:
            raise DataError(f"{option}: {value!r} is not a whole number") from None
        if not low <= number <= high:
            raise DataError(f"{option}: {number} is outside {low}..{high}")
        if number not in out:
            out.append(number)
    if not out:
        raise DataError(f"{option}: the list is empty")
    return sorted(out)


def _area(region):
    try:
        north, west, south, east = (float(v) for v in region)
    except (TypeError, ValueError):
        raise DataError(f"region: expected (north, west, south, east) in degrees, "
                        f"got {region!r}") from None
    if not (-90 <= south <= north <= 90):
        raise DataError(f"region: latitudes must satisfy -90 <= south ({south:g}) <= north "
                        f"({north:g}) <= 90")
    if not (-180 <= west <= 180 and -180 <= east <= 180):
        raise DataError(f"region: west {west:g} and east {east:g} must be in -180..180")
    return [north, west, south, east]
