"""The error keras_dsc raises for bad user input."""


class DataError(ValueError):
    """Bad input from the user: a file, variable, option or value that cannot be used.

    The message is ONE line that names the offending file, variable or option and says what is
    wrong with it, so that the command line can print it as it is and exit with status 2.

    Example:

    >>> raise DataError("era5.nc: variable 'u100' not found; available: u10, v10, t2m")
    """
