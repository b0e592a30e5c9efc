"""One law across the book: families, the independent measurement, and the continuation check."""

import numpy as np
import pytest
from stepsize.dynamics import Fate
from stepsize.models import onelaw


def test_settled_runs_are_measured_and_continued():
    # f = x^2 / 2 (lambda = 1) at eta = 2.5: 0 is a fixed point with eta lambda / 2 = 1.25 > 1.
    fam = onelaw.Family("quadratic", lambda x: x, 2.0, lambda rng, n: np.array([0.0, 1e-30, 0.5])[:n])
    r = onelaw.run_family(fam, np.array([1.25]), 3, 50, 0)
    assert np.allclose(r.half_eta_sharpness[:2], 1.25, atol=1e-6)
    assert list(r.stays_above) == [True, False, False]  # exactly at 0: stays (a measure-zero start)
    assert list(r.transient) == [False, True, False]  # 1e-30 leaves when continued
    assert r.fates.kind[2] == Fate.DIVERGED or r.fates.kind[2] == Fate.UNDECIDED


def test_below_the_line_converges_with_its_sharpness():
    fam = onelaw.Family("quadratic", lambda x: 3.0 * x, 2.0 / 3.0, lambda rng, n: rng.uniform(-1, 1, size=n))
    r = onelaw.run_family(fam, np.array([0.5]), 8, 400, 0)
    assert np.all(r.fates.kind == Fate.CONVERGED)
    assert np.allclose(r.half_eta_sharpness, 0.5, atol=1e-6)


def test_linear_family_reference_step_is_its_hessian_bound():
    fam = onelaw.linear_family("lin", np.diag([2.0, 0.5]), 2, "balanced")
    from stepsize.models import linear

    # the reference step is 2 / lambda_max of the dense Hessian at the balanced solution
    star = linear.balanced_solution(np.diag([2.0, 0.5]), 2)
    H = linear.dense_hessian(star, linear.whitened(np.diag([2.0, 0.5])))[0]
    assert fam.eta_ref == pytest.approx(2.0 / np.linalg.eigvalsh(0.5 * (H + H.T))[-1])
    x0 = fam.start(np.random.default_rng(0), 5)
    Ws = linear.unpack(x0, [(2, 2), (2, 2)])
    for W0, W1 in [(Ws[0], Ws[1])]:  # balanced: W1^T W1 = W0 W0^T
        assert np.allclose(np.swapaxes(W1, 1, 2) @ W1, W0 @ np.swapaxes(W0, 1, 2))
