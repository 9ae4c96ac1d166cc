"""Doctests of keras_dsc run in a fresh temporary folder, so that their examples can write files
as written (`model.save("dsc.keras")`) without touching the checkout."""

import pytest


@pytest.fixture(autouse=True)
def _doctests_in_a_temporary_folder(request):
    if type(request.node).__name__ == "DoctestItem":
        request.getfixturevalue("monkeypatch").chdir(request.getfixturevalue("tmp_path"))
