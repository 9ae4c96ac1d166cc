"""The command line is one program however it is started: `keras-dsc`, `python -m keras_dsc`
and `python cli.py` print the same help and the same one-line errors."""

import os
import subprocess
import sys

import pytest

from tests.helpers import console_script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STARTS = {
    "cli.py": [sys.executable, "cli.py"],
    "python -m keras_dsc": [sys.executable, "-m", "keras_dsc"],
    "keras-dsc": [console_script("keras-dsc")],
}


def run(start, *args):
    done = subprocess.run([*STARTS[start], *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return done.returncode, done.stdout, done.stderr


def without_program_name(text):
    return text.split("\n", 1)[1]  # the first line is "Usage: <how it was started> ..."


@pytest.mark.parametrize("args", [["--help"], ["fit", "--help"], ["predict", "--help"]])
def test_the_same_help(args):
    results = {start: run(start, *args) for start in STARTS}
    codes = {start: code for start, (code, _, _) in results.items()}
    assert set(codes.values()) == {0}, codes
    texts = {without_program_name(out) for _, out, _ in results.values()}
    assert len(texts) == 1
    assert "Usage:" in results["keras-dsc"][1]


def test_the_same_one_line_error_and_exit_status():
    results = {start: run(start, "fit", "--n-clusters", "1") for start in STARTS}
    for start, (code, out, err) in results.items():
        assert code == 2, (start, err)
        assert err.strip() == "Error: --n-clusters must be at least 2, got 1", (start, err)
        assert out == ""
