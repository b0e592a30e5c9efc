"""Eigenvalue routines check their own convergence (dense eigvalsh, Lanczos on HVPs)."""

import numpy as np
import pytest
from stepsize.sharpness import (
    NotConverged,
    lambda_max,
    lambda_max_dense,
    lambda_max_hvp,
    top_eigenpair_hvp,
    top_eigenpair_lanczos,
)


def _nearly_degenerate(n: int = 60, gap: float = 1e-3, seed: int = 0) -> np.ndarray:
    """A symmetric matrix whose two top eigenvalues are 10 and 10 - gap: power iteration's worst case."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    ev = np.concatenate([[10.0, 10.0 - gap], rng.uniform(-1, 5, n - 2)])
    return (Q * ev) @ Q.T


def test_dense_exact_and_batched():
    A = _nearly_degenerate()
    assert lambda_max_dense(A) == pytest.approx(10.0, rel=1e-12)
    B = np.stack([A, 2 * A])
    assert lambda_max_dense(B) == pytest.approx([10.0, 20.0], rel=1e-12)


def test_dense_refuses_asymmetric():
    A = _nearly_degenerate()
    A[0, 1] += 1.0
    with pytest.raises(ValueError, match="not symmetric"):
        lambda_max_dense(A)


def test_lanczos_on_a_near_degenerate_top_pair():
    A = _nearly_degenerate(n=500, gap=1e-4)
    lam = lambda_max_hvp(lambda v: A @ v, 500)
    assert lam == pytest.approx(10.0, rel=1e-9)
    assert lambda_max(lambda v: A @ v, 500, dense_below=10) == pytest.approx(10.0, rel=1e-9)


def test_lanczos_reports_when_it_does_not_converge():
    ev = np.linspace(0.0, 1.0, 2000) ** 0.5  # a spectrum crowded at its top: no gap to converge on
    with pytest.raises(NotConverged, match="did not converge"):
        lambda_max_hvp(lambda v: ev * v, 2000, maxiter=2)


def test_lanczos_residual_check_catches_a_non_symmetric_operator():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((50, 50))  # not symmetric: Lanczos' answer is no eigenpair
    with pytest.raises(NotConverged):
        lambda_max_hvp(lambda v: A @ v, 50)


def test_warm_lanczos_equals_the_dense_answer_and_stops_early():
    A = _nearly_degenerate(n=300, gap=1e-2, seed=2)
    lam_dense = float(lambda_max_dense(A))
    count = [0]

    def op(v):
        count[0] += 1
        return A @ v

    lam_cold, v = top_eigenpair_hvp(op, 300, rtol=1e-8)
    n_cold = count[0]
    B = A + 1e-3 * _nearly_degenerate(n=300, seed=3)  # the next measurement: a nearby operator
    count[0] = 0
    lam, w = top_eigenpair_lanczos(lambda u: (count.__setitem__(0, count[0] + 1), B @ u)[1], v, rtol=1e-8)
    assert lam == pytest.approx(float(lambda_max_dense(B)), rel=1e-12)
    assert np.linalg.norm(B @ w - lam * w) <= 1e-7 * lam
    assert count[0] < n_cold  # the warm start pays
    assert lam_cold == pytest.approx(lam_dense, rel=1e-12)


def test_warm_lanczos_reports_when_it_does_not_converge():
    ev = np.linspace(0.0, 1.0, 2000) ** 0.5
    with pytest.raises(NotConverged, match="did not converge"):
        top_eigenpair_lanczos(lambda v: ev * v, np.ones(2000), maxiter=5)
    with pytest.raises(ValueError, match="non-zero"):
        top_eigenpair_lanczos(lambda v: ev * v, np.zeros(2000))


def test_warm_lanczos_residual_check_catches_a_non_symmetric_operator():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((50, 50))
    with pytest.raises(NotConverged):
        top_eigenpair_lanczos(lambda v: A @ v, np.ones(50), maxiter=50)


def test_warm_lanczos_on_a_small_operator_ends_exactly():
    A = _nearly_degenerate(n=6, gap=0.5, seed=4)
    lam, _ = top_eigenpair_lanczos(lambda u: A @ u, np.ones(6), rtol=1e-10)
    assert lam == pytest.approx(float(lambda_max_dense(A)), rel=1e-12)
