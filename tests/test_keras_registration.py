"""`keras.saving.load_model("run/model.keras")` works after a plain `import keras_dsc`, in a fresh
process, with `safe_mode=True` and no `custom_objects`, as the README says (issue 12, part 5),
while `import keras_dsc` itself still imports neither Keras nor TensorFlow."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python(code):
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


@pytest.mark.parametrize("imports", ["import keras_dsc\nimport keras",
                                     "import keras\nimport keras_dsc"])
def test_the_documented_line_loads_a_run_model(tiny_run, imports):
    path = tiny_run / "model.keras"
    done = python(f"{imports}\nimport sys\n"
                  f"model = keras.saving.load_model({str(path)!r}, safe_mode=True)\n"
                  f"print(type(model).__name__, model.n_clusters)")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-2:] == ["DSC", "2"]


def test_without_keras_dsc_keras_cannot_find_the_class(tiny_run):
    """What the registration hook is for: Keras imports only its own packages' modules."""
    done = python(f"import keras\nkeras.saving.load_model({str(tiny_run / 'model.keras')!r})")
    assert done.returncode != 0 and "Could not locate class 'DSC'" in done.stderr


def test_import_keras_dsc_imports_no_keras():
    done = python("import sys, keras_dsc\nprint('keras' in sys.modules, "
                  "'tensorflow' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False False"
