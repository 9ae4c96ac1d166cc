"""The errors keras_dsc raises for bad user input."""


class DataError(ValueError):
    """Bad input from the user: a file, variable, option or value that cannot be used.

    The message is ONE line that names the offending file, variable or option and says what is
    wrong with it, so that the command line can print it as it is and exit with status 2.

    Example:

    >>> raise DataError("era5.nc: variable 'u100' not found; available: u10, v10, t2m")
    Traceback (most recent call last):
    ...
    keras_dsc.errors.DataError: era5.nc: variable 'u100' not found; available: u10, v10, t2m
    """


class OptionError(DataError):
    """A bad value of a named option: a field of `DataOptions`/`FitOptions` or an argument.

    The library names options by their Python names; whoever reports the error spells them
    (the command line as flags, `--n-clusters`). Each option appears in `message` as
    `{name}`; `str(error)` spells it as the plain name.

    Args:
        message: the one-line message, with every option named in it written `{name}`.
        *options: the names of the options the message names; the first is the culprit.

    Example:

    >>> error = OptionError("{n_clusters} must be at least 2, got 1", "n_clusters")
    >>> str(error)
    'n_clusters must be at least 2, got 1'
    >>> error.spelled(lambda name: "--" + name.replace("_", "-"))
    '--n-clusters must be at least 2, got 1'
    """

    def __init__(self, message, *options):
        if not options:
            raise TypeError("OptionError needs the name of at least one option")
        self.message = message
        self.options = options
        super().__init__(self.spelled(str))

    def __reduce__(self):  # picklable across processes, like any exception
        return type(self), (self.message, *self.options)

    @property
    def option(self):
        """The option the error is about (the first one named)."""
        return self.options[0]

    def spelled(self, spell):
        """The message with every option name written by `spell(name)`."""
        text = self.message
        for name in self.options:
            text = text.replace("{" + name + "}", spell(name))
        return text
