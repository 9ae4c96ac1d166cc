"""Units attributes: the spellings of one unit, and whether two attributes name the same."""

WIND = ("m s**-1", "m s-1", "m/s")
KELVIN = ("K", "degK", "kelvin")
CELSIUS = ("degC", "C", "degrees_C", "degree_C", "deg_C", "Celsius", "degrees Celsius",
           "degree Celsius", "°C")
PASCAL = ("Pa", "Pascals")


def units_key(units):
    """A units attribute with spaces, `**` and `^` taken out, in lower case ("m s**-1": "ms-1")."""
    return str(units).replace(" ", "").replace("**", "").replace("^", "").lower()


def same_units(a, b):
    """Whether two units attributes name the same units ("kelvin" is "K", "degC" is "C").

    Example:

    >>> same_units("m s**-1", "m/s"), same_units("kelvin", "K"), same_units("K", "degC")
    (True, True, False)
    """
    a, b = units_key(a), units_key(b)
    return a == b or any({a, b} <= {units_key(u) for u in group}
                         for group in (WIND, KELVIN, CELSIUS, PASCAL))
