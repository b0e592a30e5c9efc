"""The benchmark harness's parts compute what they claim to time (no timings are asserted)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from stepsize.book.registry import REPO_ROOT

BENCH = REPO_ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))


def test_linear_loss_rows_time_two_equal_formulations():
    import linear_loss
    from stepsize.models import linear

    Ws, prob = linear_loss.setup(B=5, d=4, depth=3, m=12)
    assert np.allclose(linear_loss.loss_before(Ws, prob), linear.loss(Ws, prob), rtol=1e-12)
    rows = linear_loss.bench_linear_loss(1, calls=2)
    assert [r[0].split(":")[0] for r in rows] == ["before", "after"] and all(r[1] > 0 for r in rows)


def test_gelu_rows_and_the_exponential_form_is_the_books_function():
    import digits

    rows = digits.bench_gelu(1, n=2000)
    assert len(rows) == 3 and all(r[1] > 0 for r in rows)
    assert float(rows[1][2].split("largest difference ")[1].split()[0]) < 1e-12


def test_digits_step_rows_compute_the_same_step(monkeypatch):
    import digits
    from stepsize.models import mlp, mlp_gd

    monkeypatch.setattr(digits, "N_TRAIN", 40)
    monkeypatch.setattr(digits, "WIDTH", 6)
    X, Y, sizes, layers, eta = digits._setup(2)
    assert X.shape == (40, 64) and layers[0][0].shape[0] == digits.B_ETAS * digits.B_RUNS
    lo_layered, g = mlp.loss_and_grad(layers, X, Y)
    th, lo = mlp_gd.gd_steps(mlp_gd.flatten(layers), sizes, X, Y, eta, 1)
    assert np.allclose(lo[0], lo_layered, rtol=1e-12)
    assert np.allclose(th, mlp_gd.flatten(mlp._step(layers, g, eta)), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("lib", ["torch", "jax"])
def test_framework_rows_run_in_a_child_process_and_skip_when_absent(lib):
    pytest.importorskip("threadpoolctl")
    try:
        __import__(lib)
        pytest.skip(f"{lib} is installed: its row is measured by make bench, not here")
    except ImportError:
        pass
    r = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--digits-row", lib, "1", "1", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"us": None, "version": None}
