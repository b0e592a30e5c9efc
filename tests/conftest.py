import re
import subprocess
import sys
from pathlib import Path

import stepsize.blas  # first: it pins OpenBLAS's kernel before numpy loads (stepsize.blas)

stepsize.blas.pin()  # a no-op after the import above, and it keeps the import sorter from moving it below numpy

import numpy as np
import pytest


def finite_diff(f, x, h=1e-6):
    """Central differences of a scalar function of a float array (same shape as x)."""
    g = np.zeros_like(x, dtype=float)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (f(xp) - f(xm)) / (2 * h)
    return g


@pytest.fixture
def fd():
    return finite_diff


#: The repository address the test build is given for its launch buttons (not a real project).
TEST_REPO_URL = "https://github.com/example-org/stepsize-book"


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """The book built from the stored outputs (execution off), Sphinx warnings as errors, with
    launch buttons for :data:`TEST_REPO_URL`.

    With ``STEPSIZE_TEST_HTML=DIR`` (an HTML build made the same way) a copy of DIR is used
    instead of building again: for re-running the browser checks alone.
    """
    import os
    import shutil

    from stepsize.book.registry import REPO_ROOT

    tmp = tmp_path_factory.mktemp("book")
    given = os.environ.get("STEPSIZE_TEST_HTML")
    if given:
        shutil.copytree(given, tmp / "_build" / "html")
        return tmp / "_build" / "html"
    config = (REPO_ROOT / "_config.yml").read_text()
    config, n = re.subn(r"execute_notebooks: \w+", 'execute_notebooks: "off"', config)
    assert n == 1
    (tmp / "_config.yml").write_text(config)
    jb = Path(sys.executable).with_name("jupyter-book")
    r = subprocess.run(
        [
            str(jb),
            "build",
            str(REPO_ROOT),
            "--config",
            str(tmp / "_config.yml"),
            "--path-output",
            str(tmp),
            "-W",
            "-n",
            "--keep-going",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "STEPSIZE_REPO_URL": TEST_REPO_URL},
        check=False,
    )
    assert r.returncode == 0, (r.stdout + r.stderr)[-5000:]
    return tmp / "_build" / "html"


def run_cli(*args, timeout=120):
    """``python -m stepsize ARGS`` from the repository root, its output captured (the caller reads the code)."""
    from stepsize.book.registry import REPO_ROOT

    return subprocess.run(
        [sys.executable, "-m", "stepsize", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=timeout,
        check=False,
    )


def run_json(slug, params, out, timeout=600):
    """``python -m stepsize run SLUG -p ... --json --out OUT``; asserts it succeeded, returns the glued values."""
    import json

    args = ["run", slug, "--json", "--out", str(out)]
    for k, v in params.items():
        args += ["-p", k, str(v)]
    r = run_cli(*args, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)
