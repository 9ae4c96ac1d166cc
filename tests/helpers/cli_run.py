"""Running `python cli.py` in a subprocess and checking its refusals, for tests.

A refusal is exit status 2, one line on stderr that starts with `Error: `, no traceback, nothing
on stdout and no file written or changed (`snapshot` before and after).
"""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run_cli(*args, prelude=None, env=None, timeout=600):
    """Runs `python cli.py ARGS` from the repository root; returns the `CompletedProcess`.

    Args:
        *args: the command line (str or path-like).
        prelude: optional Python run in the same process before the CLI starts (to put a fake
            module in `sys.modules`, for example).
        env: environment variables to set or, with `None` values, to remove.
    """
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    for key, value in (env or {}).items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    argv = [str(a) for a in args]
    if prelude is None:
        command = [sys.executable, "cli.py", *argv]
    else:
        code = (f"import runpy, sys\n{prelude}\nsys.argv = ['cli.py'] + {argv!r}\n"
                f"runpy.run_path('cli.py', run_name='__main__')\n")
        command = [sys.executable, "-c", code]
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=timeout)


def snapshot(folder):
    """`{relative path: (size, mtime_ns)}` of every file under `folder` (to see nothing changed)."""
    folder = pathlib.Path(folder)
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(done, *words):
    """Asserts a one-line refusal (exit 2, `Error: ...`, no traceback) holding every word;
    returns the line."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    assert len(lines) == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert lines[0].startswith("Error: "), lines
    assert done.stdout == "", done.stdout
    for word in words:
        assert str(word) in lines[0], (word, lines[0])
    return lines[0]
