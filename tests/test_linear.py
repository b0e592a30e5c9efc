import numpy as np
import pytest
from stepsize.models import linear


def _random_net(rng, dims, B=2):
    return [rng.standard_normal((B, dims[j + 1], dims[j])) * 0.7 for j in range(len(dims) - 1)]


@pytest.mark.parametrize("dims", [(3, 3, 3), (2, 4, 3, 2), (3, 2)])
def test_gradients_match_finite_differences(dims, fd):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((dims[0], 7))
    Y = rng.standard_normal((dims[-1], 7))
    prob = linear.from_data(X, Y)
    Ws = _random_net(rng, dims, B=1)
    shapes = linear.shapes_of(Ws)
    x = linear.pack(Ws)[0]

    def f(v):
        return linear.loss(linear.unpack(v[None], shapes), prob)[0]

    g = linear.pack(linear.gradients(Ws, prob))[0]
    assert np.allclose(g, fd(f, x), rtol=1e-5, atol=1e-6)
    # the loss equals the data residual
    assert f(x) == pytest.approx(0.5 * np.sum((Y - linear.product(Ws)[0] @ X) ** 2))


@pytest.mark.parametrize("dims", [(3, 3, 3), (2, 4, 3, 2)])
def test_hvp_matches_finite_differences_of_gradient(dims):
    rng = np.random.default_rng(2)
    prob = linear.whitened(rng.standard_normal((dims[-1], dims[0])))
    Ws = _random_net(rng, dims)
    Vs = _random_net(rng, dims)
    h = 1e-6
    plus = linear.gradients([W + h * V for W, V in zip(Ws, Vs)], prob)
    minus = linear.gradients([W - h * V for W, V in zip(Ws, Vs)], prob)
    fd = [(p - m) / (2 * h) for p, m in zip(plus, minus)]
    for a, b in zip(linear.hvp(Ws, prob, Vs), fd):
        assert np.allclose(a, b, rtol=1e-5, atol=1e-6)


def test_power_iteration_matches_dense_hessian():
    R = np.diag([3.0, 1.5, 0.4])
    # balanced solution W_j = R^{1/3}: the Hessian is PSD there; Corollary 1 value 3 * 3^{4/3}
    Ws = [np.broadcast_to(np.diag(np.diag(R) ** (1 / 3)), (1, 3, 3)).copy() for _ in range(3)]
    prob = linear.whitened(R)
    H = linear.dense_hessian(Ws, prob)[0]
    assert np.allclose(H, H.T, atol=1e-10)
    lam_dense = np.linalg.eigvalsh(H).max()
    lam_power = linear.hessian_lambda_max(Ws, prob, n_iter=500)[0]
    assert lam_power == pytest.approx(lam_dense, rel=1e-6)
    assert lam_dense == pytest.approx(3 * 3 ** (4 / 3), rel=1e-9)


def test_gd_step_batched_step_sizes():
    rng = np.random.default_rng(4)
    prob = linear.whitened(np.eye(2))
    Ws = _random_net(rng, (2, 2, 2), B=3)
    deltas = np.array([0.0, 0.01, 0.02])
    new = linear.gd_step(Ws, prob, deltas)
    G = linear.gradients(Ws, prob)
    for W, Wn, g in zip(Ws, new, G):
        assert np.allclose(Wn, W - deltas[:, None, None] * g)


def test_pack_roundtrip():
    rng = np.random.default_rng(5)
    Ws = _random_net(rng, (2, 3, 4), B=2)
    back = linear.unpack(linear.pack(Ws), linear.shapes_of(Ws))
    assert all(np.array_equal(a, b) for a, b in zip(Ws, back))


def _rescaled_top(depth, spec, t):
    from stepsize.models import identity

    c = np.ones((1, depth))
    c[:, 0], c[:, 1] = t, 1.0 / t
    S = identity.rescaled_top_solution(np.asarray(spec, dtype=float), c)
    Ws = [np.stack([np.diag(s[j]) for s in S]) for j in range(depth)]
    return Ws, identity.diagonal_solution_lambda_max(S)


@pytest.mark.parametrize("spec", [[3.0, 3.0, 3.0, 3.0], [3.0, 2.9, 1.1, 0.7]])
def test_hessian_lambda_max_near_degenerate_top_pair(spec):
    # depth 4, imbalance 6: the case where the old 400-step power iteration erred by 1e-5
    # (R = rho I: a repeated top eigenvalue; the other spectrum: the top pair within 1%)
    Ws, exact = _rescaled_top(4, spec, 6.0)
    prob = linear.whitened(np.diag(spec))
    ev = np.linalg.eigvalsh(linear.dense_hessian(Ws, prob)[0])
    assert (ev[-1] - ev[-2]) / ev[-1] < 0.01
    dense = linear.hessian_lambda_max(Ws, prob)[0]
    lanczos = linear.hessian_lambda_max(Ws, prob, dense_below=0)[0]  # force the eigsh route
    for lam in (dense, lanczos):
        assert lam == pytest.approx(ev[-1], rel=1e-9, abs=0)
        assert lam == pytest.approx(exact[0], rel=1e-9, abs=0)


def test_dense_hessian_matches_hvp_columns():
    rng = np.random.default_rng(8)
    prob = linear.whitened(rng.standard_normal((3, 2)))
    Ws = _random_net(rng, (2, 3, 4, 3), B=3)
    H = linear.dense_hessian(Ws, prob)
    shapes = linear.shapes_of(Ws)
    n = linear.n_params(Ws)
    for i in (0, n // 2, n - 1):
        e = np.zeros((3, n))
        e[:, i] = 1.0
        assert np.allclose(H[:, :, i], linear.pack(linear.hvp(Ws, prob, linear.unpack(e, shapes))), atol=1e-12)
    assert np.allclose(H, np.swapaxes(H, 1, 2), atol=1e-10)


def test_hessian_lambda_max_reports_non_convergence(monkeypatch):
    from stepsize import sharpness

    Ws, _ = _rescaled_top(3, [2.0, 1.0], 2.0)
    prob = linear.whitened(np.diag([2.0, 1.0]))
    # nan weights give nan, not a number
    bad = [W.copy() for W in Ws]
    bad[0][0, 0, 0] = np.nan
    assert np.isnan(linear.hessian_lambda_max(bad, prob)[0])

    def fail(*a, **k):
        raise sharpness.NotConverged("forced")

    monkeypatch.setattr(sharpness, "lambda_max_hvp", fail)
    with pytest.raises(sharpness.NotConverged):
        linear.hessian_lambda_max(Ws, prob, dense_below=0)


def test_dense_hessian_chunked_equals_one_batch():
    rng = np.random.default_rng(9)
    prob = linear.whitened(rng.standard_normal((3, 3)))
    Ws = _random_net(rng, (3, 3, 3, 3), B=5)
    full = linear.dense_hessian(Ws, prob)
    for mb in (1, 7, 40):
        assert np.array_equal(linear.dense_hessian(Ws, prob, max_batch=mb), full)


@pytest.mark.parametrize("dims", [(3, 4, 2), (5, 5, 5, 5), (6, 3, 4, 6)])
def test_loss_equals_the_three_operand_formula_and_the_direct_residual(dims):
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((dims[0], 40)), rng.standard_normal((dims[-1], 40))
    prob = linear.from_data(X, Y)
    Ws = linear.random_init(rng, 7, dims)
    P = linear.product(Ws)
    three = 0.5 * np.einsum("bij,jk,bik->b", P, prob.Sxx, P) - np.einsum("bij,ij->b", P, prob.Syx) + 0.5 * prob.yy
    direct = 0.5 * np.sum((Y[None] - P @ X[None]) ** 2, axis=(1, 2))
    lo = linear.loss(Ws, prob)
    assert np.allclose(lo, three, rtol=1e-12, atol=1e-12 * prob.yy)
    assert np.allclose(lo, direct, rtol=1e-10, atol=1e-10 * prob.yy)
