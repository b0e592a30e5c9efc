"""Tests of the Nar & Sastry Section 2 additions: solution constructors, Theorem 1, Corollary 2,
and the batched GD runner."""

import itertools

import numpy as np
import pytest
from stepsize import bounds
from stepsize.models import linear


def _R0():
    # the example of shared/paper-math.md ("Cross-checks"): L = 3, n = 3
    return np.random.default_rng(0).standard_normal((3, 3))


def _two_over_lambda_max(Ws, R):
    H = linear.dense_hessian(Ws, linear.whitened(R))
    return 2.0 / np.linalg.eigvalsh(H).max(axis=-1)


def test_constructors_give_solutions():
    rng = np.random.default_rng(1)
    R = _R0()
    for Ws in (
        linear.balanced_solution(R, 3),
        linear.balanced_solution(R, 4, B=3, rng=rng),
        linear.rescaled(linear.balanced_solution(R, 3), [2.0, 0.25, 2.0]),
        linear.random_solution(R, 3, 4, rng),
    ):
        assert np.allclose(linear.product(Ws), R, atol=1e-12)
        assert np.all(linear.loss(Ws, linear.whitened(R)) < 1e-12)
    # balanced: W_{j+1}^T W_{j+1} = W_j W_j^T and equal singular values in every layer
    Ws = linear.balanced_solution(R, 4, B=2, rng=rng)
    for a, b in itertools.pairwise(Ws):
        assert np.allclose(np.swapaxes(b, 1, 2) @ b, a @ np.swapaxes(a, 1, 2), atol=1e-12)
    s = np.linalg.svd(R, compute_uv=False) ** 0.25
    for W in Ws:
        assert np.allclose(np.linalg.svd(W, compute_uv=False), s)
    with pytest.raises(ValueError):
        linear.rescaled(Ws, [2.0, 1.0, 1.0, 1.0])


def test_balanced_rectangular():
    R = np.arange(6.0).reshape(2, 3) + 1.0
    Ws = linear.balanced_solution(R, 3)
    assert linear.shapes_of(Ws) == [(2, 3), (2, 2), (2, 2)]
    assert np.allclose(linear.product(Ws)[0], R)


def test_theorem1_hand_values_from_paper_math():
    # paper-math.md: rescaling c = 1, 3, 10 gives 0.300, 0.0891, 0.00892 (layers scaled by (c, 1/c, 1))
    R = _R0()
    Ws = linear.balanced_solution(R, 3)
    got = [bounds.theorem1_bound(linear.rescaled(Ws, linear.opposite_scaling(3, c)))[0] for c in (1, 3, 10)]
    assert [round(got[0], 3), round(got[1], 4), round(got[2], 5)] == [0.300, 0.0891, 0.00892]
    # by hand: denominator = rho^{4/3} (c^2 + 1/c^2 + 1) for a balanced solution rescaled by (c, 1/c, 1)
    rho = np.linalg.norm(R, 2)
    for c, g in zip((1, 3, 10), got):
        assert g == pytest.approx(2 / (rho ** (4 / 3) * (c**2 + c**-2 + 1)), rel=1e-12)
    # c = 1 is Corollary 1
    assert got[0] == pytest.approx(bounds.corollary1_bound(3, rho), rel=1e-12)


def test_theorem1_equals_stability_limit_commuting_symmetric():
    # R = diag(3, 1.5, 0.4), W_j = R^{1/3} (and rescaled): commuting symmetric, bound = 2 / lambda_max
    R = np.diag([3.0, 1.5, 0.4])
    Ws = linear.balanced_solution(R, 3)
    assert linear.hessian_lambda_max(Ws, linear.whitened(R), n_iter=400)[0] == pytest.approx(3 * 3 ** (4 / 3))
    for c in ([1, 1, 1], [2.0, 0.5, 1.0], [0.2, 1.0, 5.0]):
        V = linear.rescaled(Ws, c)
        assert bounds.theorem1_bound(V)[0] == pytest.approx(_two_over_lambda_max(V, R)[0], rel=1e-9)


def test_theorem1_never_below_stability_limit():
    # the denominator of (3) is a lower bound on lambda_max (Lemma 2): bound >= 2 / lambda_max
    rng = np.random.default_rng(7)
    for L, n in ((2, 2), (3, 3), (4, 2)):
        R = rng.standard_normal((n, n))
        a = rng.normal(size=(4, L))
        c = np.exp(a - a.mean(axis=1, keepdims=True))  # random rescalings with prod c_j = 1
        cases = [
            linear.random_solution(R, L, 6, rng),
            linear.balanced_solution(R, L, B=3, rng=rng),
            linear.rescaled(linear.balanced_solution(R, L, B=4, rng=rng), c),
        ]
        for Ws in cases:
            b = bounds.theorem1_bound(Ws)
            lim = _two_over_lambda_max(Ws, R)
            assert np.all(b >= lim * (1 - 1e-9))
        # balanced solutions attain it, with Corollary 1's value
        b = bounds.theorem1_bound(cases[1])
        assert np.allclose(b, _two_over_lambda_max(cases[1], R), rtol=1e-9)
        assert np.allclose(b, bounds.corollary1_bound(L, np.linalg.norm(R, 2)), rtol=1e-9)


def test_corollary2_hand_computed():
    # L = 2, delta = 0.25: (2 / 0.5)^{2/2} = 4;  L = 3, delta = 0.1: (20/3)^{3/4}
    assert bounds.corollary2_certificate(2, 0.25) == pytest.approx(4.0)
    assert bounds.corollary2_certificate(3, 0.1) == pytest.approx((20 / 3) ** 0.75)
    assert bounds.corollary2_certificate(3, 0.1) == pytest.approx(4.1489, abs=1e-4)
    # it inverts Corollary 1
    for L, d in ((2, 0.3), (5, 0.01)):
        rho = bounds.corollary2_certificate(L, d)
        assert bounds.corollary1_bound(L, rho) == pytest.approx(d)
    with pytest.raises(ValueError):
        bounds.corollary2_certificate(1, 0.1)


def test_corollary1_max_depth():
    # rho = 2: bounds 2/(L 2^{2(L-1)/L}) = 2, 0.5, 0.2646, 0.1768, 0.1320, 0.1050, 0.0871 for L = 1..7
    assert bounds.corollary1_max_depth(0.1, 2.0) == 6
    assert bounds.corollary1_max_depth(0.106, 2.0) == 5
    assert bounds.corollary1_max_depth(3.0, 2.0) == 0


def test_run_gd_classifies_outcomes():
    R = np.diag([2.0, 1.0])
    prob = linear.whitened(R)
    Ws = linear.balanced_solution(R, 2, B=3)
    rng = np.random.default_rng(0)
    Ws = [W + 1e-3 * rng.standard_normal(W.shape) for W in Ws]
    lim = bounds.corollary1_bound(2, 2.0)  # 0.5: the balanced solution's stability limit
    runs = linear.run_gd(Ws, prob, np.array([0.5 * lim, 1.2 * lim, 50.0]), 2000)
    assert runs.outcome.tolist() == [linear.Outcome.GLOBAL, linear.Outcome.OTHER, linear.Outcome.DIVERGED]
    assert runs.loss[0] < 1e-10 and np.isinf(runs.loss[2])


def test_scaled_step_is_an_exact_rescaling():
    rng = np.random.default_rng(3)
    R0 = rng.standard_normal((3, 3))
    L, rho, delta = 3, 2.5, 0.01
    Wp = linear.random_init(rng, 2, (3, 3, 3, 3))
    W = [rho ** (1 / L) * w for w in Wp]
    for _ in range(5):
        W = linear.gd_step(W, linear.whitened(rho * R0), delta)
        Wp = linear.gd_step(Wp, linear.whitened(R0), linear.scaled_step(delta, rho, L))
    for a, b in zip(W, Wp):
        assert np.allclose(a, rho ** (1 / L) * b, rtol=1e-12)


@pytest.mark.parametrize("n", [2, 4])  # 8 parameters (finite-difference range) and 48 (Hessian only)
def test_run_gd_settled_but_unstable_is_not_converged(n):
    # exactly at a balanced solution GD does not move (the gradient is zero to rounding), so the run
    # looks settled; at 1.5 times its stability limit it is a transient, never CONVERGED
    from stepsize import Fate

    R = np.diag(np.linspace(2.0, 1.0, n))
    L = 2 if n == 2 else 3
    Ws = linear.balanced_solution(R, L, B=2)
    lim = bounds.corollary1_bound(L, 2.0)  # 2 / lambda_max at the balanced solution
    runs = linear.run_gd(Ws, linear.whitened(R), np.array([0.5 * lim, 1.5 * lim]), 5)
    assert runs.settled.tolist() == [True, True]
    assert runs.fates.eta_sharpness == pytest.approx([1.0, 3.0], rel=1e-9)
    assert runs.fates.kind.tolist() == [Fate.CONVERGED, Fate.UNDECIDED]
    assert runs.outcome.tolist() == [linear.Outcome.GLOBAL, linear.Outcome.OTHER]
    assert np.isnan(runs.fates.orbit_center[1]).all() and runs.fates.period[1] == 0


def test_run_gd_two_cycle_multiplier_is_exact():
    # scalar-like case: L = 1 is plain least squares, GD at delta = 2 / lambda has a neutral 2-cycle
    R = np.array([[1.0]])
    W = [np.array([[[1.0 + 1e-3]]])]
    runs = linear.run_gd(W, linear.whitened(R), 2.0, 20)
    assert runs.fates.period[0] == 2 and runs.fates.multiplier[0] == pytest.approx(1.0, abs=1e-12)
