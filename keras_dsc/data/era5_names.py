"""ERA5 variable names: the short names of CDS files and the long names of analysis-ready stores.

CDS NetCDF downloads name variables by their short (GRIB) names, `t2m`, `u10`, `msl`; the
analysis-ready Zarr stores (Google's ARCO-ERA5, WeatherBench) by their long CDS request names,
`2m_temperature`, `10m_u_component_of_wind`, `mean_sea_level_pressure`. keras_dsc names every
variable by its SHORT name once opened (the cube, `preprocessing.json`, the value bounds of
`keras_dsc.data.values`, the run folder), and accepts either name wherever a variable is asked
for (`--variables t2m,u10` and `--variables 2m_temperature,10m_u_component_of_wind` are the
same). This table is the only place the correspondence is written.

Example:

>>> short_name("2m_temperature"), short_name("t2m"), short_name("tas")
('t2m', 't2m', 'tas')
>>> long_name("u10"), long_name("tas")
('10m_u_component_of_wind', None)
"""

SHORT_TO_LONG = {
    # Single levels.
    "u10": "10m_u_component_of_wind",
    "v10": "10m_v_component_of_wind",
    "si10": "10m_wind_speed",
    "u100": "100m_u_component_of_wind",
    "v100": "100m_v_component_of_wind",
    "t2m": "2m_temperature",
    "d2m": "2m_dewpoint_temperature",
    "skt": "skin_temperature",
    "sst": "sea_surface_temperature",
    "msl": "mean_sea_level_pressure",
    "sp": "surface_pressure",
    "tp": "total_precipitation",
    "cp": "convective_precipitation",
    "lsp": "large_scale_precipitation",
    "sf": "snowfall",
    "e": "evaporation",
    "ro": "runoff",
    "tcc": "total_cloud_cover",
    "lcc": "low_cloud_cover",
    "mcc": "medium_cloud_cover",
    "hcc": "high_cloud_cover",
    "tcwv": "total_column_water_vapour",
    "blh": "boundary_layer_height",
    "lsm": "land_sea_mask",
    "siconc": "sea_ice_cover",
    "slhf": "surface_latent_heat_flux",
    "sshf": "surface_sensible_heat_flux",
    "ssr": "surface_net_solar_radiation",
    "str": "surface_net_thermal_radiation",
    "ssrd": "surface_solar_radiation_downwards",
    "strd": "surface_thermal_radiation_downwards",
    "tsr": "top_net_solar_radiation",
    "ttr": "top_net_thermal_radiation",
    "mx2t": "maximum_2m_temperature_since_previous_post_processing",
    "mn2t": "minimum_2m_temperature_since_previous_post_processing",
    "stl1": "soil_temperature_level_1",
    "stl2": "soil_temperature_level_2",
    "stl3": "soil_temperature_level_3",
    "stl4": "soil_temperature_level_4",
    # Pressure levels (a `level` dimension, chosen with `--select level=500`).
    "z": "geopotential",
    "t": "temperature",
    "u": "u_component_of_wind",
    "v": "v_component_of_wind",
    "w": "vertical_velocity",
    "q": "specific_humidity",
    "r": "relative_humidity",
    "vo": "vorticity",
    "d": "divergence",
    "pv": "potential_vorticity",
}
"""ERA5 short name -> long (CDS request, ARCO-ERA5) name."""

LONG_TO_SHORT = {long: short for short, long in SHORT_TO_LONG.items()}
"""ERA5 long name -> short name."""

PRESSURE_LEVEL = ("z", "t", "u", "v", "w", "q", "r", "vo", "d", "pv")
"""Short names of the variables on pressure levels (ERA5's pressure-levels dataset)."""

SINGLE_LEVEL = {short: long for short, long in SHORT_TO_LONG.items()
                if short not in PRESSURE_LEVEL}
"""Short -> long names of the single-level variables (what `cli.py download` requests)."""


def short_name(name):
    """The short name of an ERA5 variable given by either name; other names unchanged."""
    return LONG_TO_SHORT.get(name, name)


def long_name(name):
    """The long name of an ERA5 variable given by either name; `None` when not an ERA5 name."""
    if name in LONG_TO_SHORT:
        return name
    return SHORT_TO_LONG.get(name)
