"""Balancedness (Definition 2.3), the drift identity, the balanced initialisation and our step bound."""

import numpy as np
import pytest

from stepsize import balanced as bl
from stepsize import linear


def _net(rng, dims, B=3, s=0.7):
    return [rng.standard_normal((B, dims[j + 1], dims[j])) * s for j in range(len(dims) - 1)]


def test_balancedness_hand_case():
    # W1 = diag(2, 1), W2 = diag(1, 1): D_1 = I - diag(4, 1) = diag(-3, 0): constant 3
    W1 = np.diag([2.0, 1.0])[None]
    W2 = np.eye(2)[None]
    assert bl.balancedness([W1, W2])[0] == pytest.approx(3.0)


@pytest.mark.parametrize("dims", [(3, 4, 2), (2, 3, 3, 2), (4, 2, 3, 2, 3)])
def test_drift_identity_is_exact(dims):
    rng = np.random.default_rng(0)
    prob = linear.from_data(rng.standard_normal((dims[0], 9)), rng.standard_normal((dims[-1], 9)))
    Ws = _net(rng, dims)
    eta = np.array([0.01, 0.1, 0.3])
    Gs = linear.gradients(Ws, prob)
    new = linear.gd_step(Ws, prob, eta)
    lhs = [a - b for a, b in zip(bl.imbalance_matrices(new), bl.imbalance_matrices(Ws))]
    for a, b in zip(lhs, bl.drift(Gs, eta)):
        assert np.allclose(a, b, atol=1e-12 * max(1.0, np.abs(b).max()))


def test_balanced_init_is_balanced_with_rank():
    rng = np.random.default_rng(1)
    dims = (7, 5, 6, 4)
    Ws = bl.balanced_init(rng, dims, rank=3, batch=4, scale=1.3, spectrum=[1.0, 0.5, 2.0])
    assert np.all(bl.balancedness(Ws) < 1e-12)
    P = linear.product(Ws)
    assert np.all(bl.numerical_rank(P) == 3)
    # orthogonal factors: singular values of W_j are scale * spectrum
    s = np.linalg.svd(Ws[1], compute_uv=False)[:, :3]
    assert np.allclose(np.sort(s, axis=1), np.sort(1.3 * np.array([1.0, 0.5, 2.0]))[None])
    Q = bl.haar_orthogonal(rng, 5, 2)
    assert np.allclose(np.swapaxes(Q, 1, 2) @ Q, np.eye(5))


def test_product_norm_bound_holds_on_sublevel_set():
    rng = np.random.default_rng(2)
    prob = linear.from_data(rng.standard_normal((4, 12)), rng.standard_normal((3, 12)))
    Ws = _net(rng, (4, 5, 3), B=50, s=1.0)
    L = linear.loss(Ws, prob)
    P = np.linalg.norm(linear.product(Ws), 2, axis=(1, 2))
    assert np.all(P <= bl.product_norm_bound(prob, L) + 1e-12)


def test_factor_norm_bound_balanced_exact_and_holds_when_unbalanced():
    assert bl.factor_norm_bound(3, 0.0, 8.0) == pytest.approx(2.0)
    assert bl.factor_norm_bound(2, 0.0, 9.0) == pytest.approx(3.0)
    # hand case N = 2: t^2 - (t + 0) * delta = rho^2 -> t* = (delta + sqrt(delta^2 + 4 rho^2)) / 2
    d, rho = 0.5, 2.0
    t = (d + np.sqrt(d * d + 4 * rho * rho)) / 2
    assert bl.factor_norm_bound(2, d, rho) == pytest.approx(np.sqrt(t + d))
    rng = np.random.default_rng(3)
    for N in (2, 3, 4):
        dims = [3] * (N + 1)
        Ws = [W + 0.3 * rng.standard_normal(W.shape) for W in bl.balanced_init(rng, dims, 3, 200)]
        delta = bl.balancedness(Ws)
        rho = np.linalg.norm(linear.product(Ws), 2, axis=(1, 2))
        K = np.array([bl.factor_norm_bound(N, float(a), float(b)) for a, b in zip(delta, rho)])
        norms = np.max([np.linalg.norm(W, 2, axis=(1, 2)) for W in Ws], axis=0)
        assert np.all(norms <= K * (1 + 1e-9))


def test_hessian_bound_dominates_lambda_max():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((3, 8))
    prob = linear.from_data(X, rng.standard_normal((3, 8)))
    for N in (2, 3):
        Ws = _net(rng, [3] * (N + 1), B=20, s=0.8)
        K = np.max([np.linalg.norm(W, 2, axis=(1, 2)) for W in Ws], axis=0)
        res = np.linalg.norm(linear.residual(Ws, prob), axis=(1, 2))
        H = linear.dense_hessian(Ws, prob)
        lam = np.max(np.abs(np.linalg.eigvalsh(H)), axis=1)
        assert np.all(lam <= bl.hessian_bound(N, K, np.linalg.norm(X, 2), res) + 1e-9)
    # hand case: N = 2, K = 1, ||X|| = 1, residual 0.5 -> 2 + 0.5
    assert bl.hessian_bound(2, 1.0, 1.0, 0.5) == pytest.approx(2.5)


def test_step_bound_guarantees_descent_and_balancedness():
    rng = np.random.default_rng(5)
    for N in (2, 3, 4):
        dims = [5] + [4] * (N - 1) + [5]
        prob, X, Wt = bl.section5_problem(rng, dims, 2, 20)
        W0 = bl.balanced_init(rng, dims, 2, 1)
        L0 = float(linear.loss(W0, prob)[0])
        sb = bl.best_step_bound(prob, N, L0)
        assert sb.eta <= sb.eta_balance + 1e-15 and sb.eta <= sb.eta_smooth + 1e-15
        run = bl.run_gd(W0, prob, sb.eta, 400)
        assert np.all(np.diff(run.loss[:, 0]) <= 1e-14)
        assert run.balance.max() <= sb.delta
        assert np.all(run.drift_sum[:, 0] <= 2 * sb.eta * (L0 - run.loss[:, 0]) + 1e-12)


def test_schedule_and_its_constant():
    eta = bl.schedule(5, c=2.0, k0=4.0, gamma=0.5)
    assert eta.shape == (5, 1)
    assert eta[0, 0] == pytest.approx(1.0) and eta[5 - 1, 0] == pytest.approx(2.0 / np.sqrt(8.0))
    c = bl.schedule_constant(0.1, 9.0, 0.5)
    assert c == pytest.approx(0.3)
    assert bl.schedule(100, c, 9.0, 0.5).max() == pytest.approx(0.1)


def test_min_loss_rank_hand_case():
    # whitened, R = diag(3, 2, 1): best rank-1 leaves 1/2 (4 + 1)
    prob = linear.whitened(np.diag([3.0, 2.0, 1.0]))
    assert bl.min_loss_rank(prob, 1) == pytest.approx(2.5)
    assert bl.min_loss_rank(prob, 3) == pytest.approx(0.0, abs=1e-12)


def test_run_gd_marks_divergence():
    rng = np.random.default_rng(6)
    prob = linear.whitened(np.eye(3) * 2)
    W0 = bl.balanced_init(rng, (3, 3, 3), 3, 2)
    run = bl.run_gd(W0, prob, np.array([0.05, 5.0]), 300)
    assert list(run.fate) == ["converged", "diverged"]


def test_balanced_from_frames_fixes_the_product_across_depths():
    rng = np.random.default_rng(7)
    V0 = bl.haar_orthogonal(rng, 5, 1)[:, :, :2]
    VN = bl.haar_orthogonal(rng, 4, 1)[:, :, :2]
    s = np.array([2.0, 0.5])
    ref = VN @ np.diag(s) @ np.swapaxes(V0, 1, 2)
    for N in (2, 3, 5):
        hidden = [bl.haar_orthogonal(rng, 3, 1)[:, :, :2] for _ in range(N - 1)]
        Ws = bl.balanced_from_frames([V0] + hidden + [VN], s ** (1.0 / N))
        assert np.allclose(linear.product(Ws), ref)
        assert bl.balancedness(Ws)[0] < 1e-12
