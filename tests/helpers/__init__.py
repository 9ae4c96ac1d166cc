"""Helpers shared by the tests: ERA5-form files, a tiny run folder, Keras round-trip checks."""

import os
import sys


def console_script(name):
    """The path of an installed console script (`tfds`, `keras-dsc`) of THIS Python.

    Scripts sit beside the interpreter (`venv/bin/`), which need not be on PATH: a test run as
    `venv/bin/python -m pytest` must not pick up another installation's script, or miss it.
    """
    path = os.path.join(os.path.dirname(sys.executable), name)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{name} is not installed beside {sys.executable}")
    return path
