import numpy as np
import pytest
from stepsize import bounds
from stepsize.models import identity, linear


def test_theorem2_step_condition_hand_computed():
    # L = 2, rho = 4: 1 / (2 * 4^{1}) = 1/8; rho below 1 uses max{1, rho} = 1: 1/L
    assert identity.theorem2_step_condition(2, 4.0) == pytest.approx(0.125)
    assert identity.theorem2_step_condition(3, 0.5) == pytest.approx(1 / 3)
    # L = 3, rho = 8: 1 / (3 * 8^{4/3}) = 1 / (3 * 16) = 1/48
    assert identity.theorem2_step_condition(3, 8.0) == pytest.approx(1 / 48)
    # half of Corollary 1 for rho >= 1 (the reviewer's factor 2)
    for L, rho in [(2, 1.0), (4, 3.0), (7, 10.0)]:
        assert bounds.corollary1_bound(L, rho) / identity.theorem2_step_condition(L, rho) == pytest.approx(2.0)


def test_lemma3_g_and_step_condition_hand_computed():
    # L = 2, r = 4 (a = 2): g(x) = x (x + 2); g(1) = 3, g(2) = 8
    assert identity.lemma3_g(1.0, 4.0, 2) == pytest.approx(3.0)
    assert identity.lemma3_g(2.0, 4.0, 2) == pytest.approx(8.0)
    # step condition 1/g(max{1, a}) = 1/8 for r = 4; for r = 1/4 (a = 1/2): 1/g(1) = 1/(1 + 1/2)
    assert identity.lemma3_step_condition(2, 4.0) == pytest.approx(1 / 8)
    assert identity.lemma3_step_condition(2, 0.25) == pytest.approx(2 / 3)
    # closed form min{1/(L r^{2(L-1)/L}), 1/sum_i r^{i/L}}
    for L in (2, 3, 5):
        for r in (0.05, 0.3, 4.0, 50.0):
            closed = min(1 / (L * r ** (2 * (L - 1) / L)), 1 / sum(r ** (i / L) for i in range(L)))
            assert identity.lemma3_step_condition(L, r) == pytest.approx(closed)
    # epsilon: delta g(min{1, a}); L = 2, r = 4, delta = 0.1: 0.1 * g(1) = 0.3
    assert identity.lemma3_epsilon(0.1, 2, 4.0) == pytest.approx(0.3)
    # a start x0 = 3 replaces 1: L = 2, r = 4: 1/g(3) = 1/(3 * 5)
    assert identity.lemma3_step_condition(2, 4.0, x0=3.0) == pytest.approx(1 / 15)


@pytest.mark.parametrize("L", [2, 3, 5, 10])
@pytest.mark.parametrize("r", [0.05, 0.3, 4.0, 50.0])
@pytest.mark.parametrize("frac", [0.5, 0.9])
def test_lemma3_contraction_at_most_one_minus_eps(L, r, frac):
    # (at frac = 1 and r < 1, delta g(1) = 1 and the first step lands on r^{1/L} exactly)
    delta = frac * identity.lemma3_step_condition(L, r)
    eps = identity.lemma3_epsilon(delta, L, r)
    x = identity.scalar_recursion(r, L, delta, 3000)
    a = r ** (1 / L)
    e = np.abs(x - a)
    ratios = identity.contraction_factors(e, 1e-9 * max(a, 1))
    assert np.nanmax(ratios) <= 1 - eps + 1e-6
    assert 0 < eps <= 1
    assert e[-1] < 1e-9 * max(a, 1)
    # monotone: never crosses the limit
    assert np.all(np.sign(x - a)[e > 1e-12] == np.sign(1 - a))


def test_scalar_recursion_matches_matrix_gd_from_identity():
    rng = np.random.default_rng(0)
    eigs = np.array([3.0, 1.2, 0.4])
    R, Q = identity.symmetric_with_spectrum(eigs, rng)
    assert np.allclose(R, R.T) and np.allclose(np.linalg.eigvalsh(R), np.sort(eigs))
    L, delta = 3, identity.theorem2_step_condition(3, 3.0)
    Ws = identity.identity_init(L, 3, batch=2)
    for _ in range(50):
        Ws = linear.gd_step(Ws, linear.whitened(R), delta)
    xs = identity.scalar_recursion(eigs, L, delta, 50)[-1]
    assert np.allclose(Ws[0][0], (Q * xs) @ Q.T, atol=1e-12)
    assert np.allclose(linear.product(Ws)[1], identity.eigenbasis_product(Q, xs, L), atol=1e-12)
    assert identity.layer_spread(Ws).max() < 1e-12


def test_rates_hand_computed():
    # L = 2, eigenvalues {4, 1/4}, delta = 0.1: eps_i = 0.1 g(min{1, a_i}): g(1) = 1 + 2 = 3 for r = 4;
    # for r = 1/4 (a = 1/2): g(1/2) = 1/2 (1/2 + 1/2) = 1/2 -> 1 - eps = 1 - 0.05
    assert identity.theorem2_rate(0.1, 2, np.array([4.0, 0.25])) == pytest.approx(0.95)
    # local rate max_i |1 - delta L r_i^{2(L-1)/L}| = max(|1 - 0.8|, |1 - 0.05|)
    assert identity.asymptotic_rate(0.1, 2, np.array([4.0, 0.25])) == pytest.approx(0.95)


def test_lemma4_threshold_and_convergence():
    assert identity.lemma4_threshold(-3.0) == pytest.approx(0.25)
    assert identity.lemma4_threshold(np.array([-1.0, 0.0])).tolist() == [0.5, 1.0]
    for L in (2, 3, 4):
        for r in (-0.5, -2.0):
            x = identity.scalar_recursion(r, L, 0.95 * identity.lemma4_threshold(r), 3000)
            # positive and decreasing (non-increasing once L = 2 underflows to the smallest subnormal)
            assert np.all(x[1:] >= 0) and np.all(np.diff(x) <= 0) and np.all(np.diff(x)[x[1:] > 1e-300] < 0)
    # above the threshold with odd L the iterate can settle at -|r|^{1/3}
    x = identity.scalar_recursion(-0.5, 3, 1.05 * identity.lemma4_threshold(-0.5), 3000)
    assert x[-1] == pytest.approx(-(0.5 ** (1 / 3)), rel=1e-9)


def test_psd_part_hand_computed():
    R = np.diag([2.0, -1.0])
    assert np.allclose(identity.psd_part(R), np.diag([2.0, 0.0]))
    # rotated: [[0, 1], [1, 0]] has eigenvalues +-1 with eigenvectors (1, +-1)/sqrt2: R_+ = [[.5, .5], [.5, .5]]
    assert np.allclose(identity.psd_part(np.array([[0.0, 1.0], [1.0, 0.0]])), 0.5 * np.ones((2, 2)))
    # nearest PSD: distance sqrt(sum of squared negative eigenvalues), below any other PSD candidate
    rng = np.random.default_rng(1)
    R, _ = identity.symmetric_with_spectrum(np.array([2.0, 0.5, -1.0, -0.3]), rng)
    P = identity.psd_part(R)
    assert np.linalg.norm(R - P) == pytest.approx(np.hypot(1.0, 0.3))
    for _ in range(20):
        A = rng.standard_normal((4, 4))
        assert np.linalg.norm(R - A @ A.T * 0.3) >= np.linalg.norm(R - P) - 1e-12


def test_initialisations():
    W = identity.identity_init(3, 2, batch=4)
    assert len(W) == 3 and W[0].shape == (4, 2, 2) and np.all(W[2][1] == np.eye(2))
    D = np.arange(1, 13, dtype=float).reshape(2, 3, 2)
    W = identity.diagonal_init(D)
    assert np.allclose(W[1][0], np.diag([3.0, 4.0]))
    with pytest.raises(ValueError):
        identity.diagonal_init(np.ones((2, 3)))


def test_diagonal_solution_lambda_max_matches_dense_hessian():
    eigs = np.array([3.0, 1.5, 0.4])
    c = np.array([[1.0, 1.0, 1.0], [2.0, 0.5, 1.0], [4.0, 1.0, 0.25]])
    S = identity.rescaled_top_solution(eigs, c)
    assert np.allclose(np.prod(S, axis=-2), eigs)  # still solutions
    lam = identity.diagonal_solution_lambda_max(S)
    Ws = [np.stack([np.diag(s[j]) for s in S]) for j in range(3)]
    H = linear.dense_hessian(Ws, linear.whitened(np.diag(eigs)))
    assert np.allclose(lam, np.linalg.eigvalsh(H)[:, -1])
    # balanced: Corollary 1, 2/lambda = 2/(3 * 3^{4/3})
    assert 2 / lam[0] == pytest.approx(bounds.corollary1_bound(3, 3.0))
    # hand: c = (2, 1/2, 1), top-direction gains s = 3^{1/3} (2, 1/2, 1): sum_j prod_{i != j} s_i^2
    # = 3^{4/3} (1/4 + 4 + 1) here equals lambda_max (the top direction dominates)
    assert lam[1] == pytest.approx(3 ** (4 / 3) * 5.25)


@pytest.mark.parametrize("L", [2, 3, 4])
@pytest.mark.parametrize("eigs", [[2.0, 1.0, -0.4, -0.3], [1.0, 1.1, -1.7, -0.5]])
def test_theorem3_saddle_curvature_matches_hessian(L, eigs):
    eigs = np.array(eigs)
    R, Q = identity.symmetric_with_spectrum(eigs, np.random.default_rng(2))
    x = np.where(eigs > 0, np.abs(eigs) ** (1 / L), 0.0)
    Ws = [((Q * x) @ Q.T)[None] for _ in range(L)]
    ev = identity.hessian_eigenvalues(Ws, linear.whitened(R))
    assert ev[0] == pytest.approx(identity.theorem3_saddle_curvature(eigs, L), abs=1e-9)
    # hand: L = 3, lambda_p = 1, lambda_n = -1.7: 1^{1/3} (1 - 1.7) = -0.7
    assert identity.theorem3_saddle_curvature(np.array([1.0, -1.7]), 3) == pytest.approx(-0.7)


def test_rate_helpers():
    e = 0.5 ** np.arange(60.0)
    assert np.nanmax(identity.contraction_factors(e, 1e-30)) == pytest.approx(0.5)
    assert identity.tail_rate(np.concatenate([e, [0.0]])[:, None], 1e-16)[0] == pytest.approx(0.5)
    assert identity.fit_growth_rate(2.0 ** np.arange(40.0), 1.0, 1e10) == pytest.approx(2.0)
    conv = identity.is_converging(np.stack([e, np.ones(60)], axis=1), 1e-20, window=20)
    assert conv.tolist() == [True, False]


def test_fates_from_history_is_the_one_rule():
    """A falling run is not converged (is_converging counted it); settled needs eta * lambda_max < 2 too."""
    from stepsize.dynamics import Fate
    from stepsize.models import linear

    R = np.diag([2.0, 1.0])
    prob = linear.whitened(R)
    star = linear.balanced_solution(R, 2)  # a global minimum, lambda_max from the dense Hessian
    lam = float(linear.hessian_lambda_max(star, prob)[0])
    Ws = [np.repeat(W, 4, axis=0) for W in star]
    floor = 1e-9
    e = np.full((200, 4), 1e-12)
    e[:, 1] = np.geomspace(1.0, 1e-6, 200)  # still falling: the budget ended first
    e[-1, 2] = np.inf  # diverged
    delta = np.array([1.0 / lam, 1.0 / lam, 1.0 / lam, 2.5 / lam])  # the last one sits where GD cannot stay
    fate = identity.fates_from_history(e, Ws, prob, delta, floor)
    assert list(fate) == [Fate.CONVERGED, Fate.UNDECIDED, Fate.DIVERGED, Fate.UNDECIDED]
    assert identity.is_converging(e, floor)[1]  # the old test called the falling run converging
