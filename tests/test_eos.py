"""The edge-of-stability network: gradient and exact HVP against finite differences, Lanczos sharpness
against a dense Hessian, and the edge summary on a constructed run."""

import numpy as np
import pytest
from stepsize.models import eos
from stepsize.sharpness import lambda_max_dense


def _tiny(seed=0):
    rng = np.random.default_rng(seed)
    net = eos.Net((5, 4, 3, 2))
    th = net.init(rng, 2) + 0.2 * rng.standard_normal((2, net.n_params))
    return net, th, rng.standard_normal((9, 5)), rng.standard_normal((9, 2))


def test_gradient_against_finite_differences():
    net, th, X, Y = _tiny()
    _, g = eos.loss_and_grad(net, th, X, Y)
    eps = 1e-6
    for i in range(0, net.n_params, 7):
        e = np.zeros_like(th)
        e[:, i] = eps
        fd = (eos.loss(net, th + e, X, Y) - eos.loss(net, th - e, X, Y)) / (2 * eps)
        assert g[:, i] == pytest.approx(fd, rel=1e-6, abs=1e-9)


def test_hvp_against_finite_differences_of_the_gradient():
    net, th, X, Y = _tiny(1)
    v = np.random.default_rng(2).standard_normal(th.shape)
    hv = eos.hvp(net, th, v, X, Y)
    eps = 1e-6
    fd = (eos.loss_and_grad(net, th + eps * v, X, Y)[1] - eos.loss_and_grad(net, th - eps * v, X, Y)[1]) / (2 * eps)
    assert np.max(np.abs(hv - fd)) < 1e-7 * max(1.0, np.max(np.abs(hv)))


def test_lanczos_sharpness_equals_dense_hessian():
    net, th, X, Y = _tiny(3)
    P = net.n_params
    H = np.column_stack([eos.hvp(net, th[:1], e[None, :], X, Y)[0] for e in np.eye(P)])
    assert np.max(np.abs(H - H.T)) < 1e-10  # the exact HVP gives a symmetric Hessian
    lam, vec = eos.sharpness(net, th[0], X, Y)
    assert lam == pytest.approx(float(lambda_max_dense(H)), rel=1e-8)
    assert np.linalg.norm(H @ vec - lam * vec) < 1e-6 * abs(lam)


def test_edge_summary_on_a_constructed_run():
    steps = np.array([0, 10, 20, 30])
    sharp = np.array([[1.0, 2.0, 3.9, 4.1], [1.0, 1.5, 2.0, 2.5]])  # eta 0.5: edge 4; run 1 never reaches it
    loss = np.tile(np.linspace(1.0, 0.1, 31), (2, 1))
    loss[0, 25] = 0.9  # one bump after the edge
    run = eos.EosRun(
        etas=np.array([0.5, 0.5]), loss=loss, sharp_steps=steps, sharp=sharp, diverged=np.array([False, False])
    )
    s = eos.edge_summary(run)
    assert list(s.reached) == [True, False]
    assert s.step_reached[0] == 20 and s.sharpening[0] == pytest.approx(3.9)
    assert s.ratio_after[0] == pytest.approx(np.median([3.9, 4.1]) / 4)
    assert s.loss_final[0] < s.loss_edge[0] and 0 < s.share_up[0] < 0.2
    assert np.isnan(s.ratio_after[1])


def test_train_stops_a_diverging_run():
    net, th, X, Y = _tiny(4)
    run = eos.train(net, th, np.array([0.1, 50.0]), X, Y, 60, 30)
    assert not run.diverged[0] and run.diverged[1]
    assert np.isfinite(run.loss[0]).all() and np.isnan(run.loss[1, -1])


def _hvp_plain(net, theta, v, X, Y):
    """The R-operator written out in full (forward pass recomputed, R(a_0) = 0 carried along)."""
    ps, acts = eos._forward(net, theta, X)
    vs = net.unpack(v)
    n, L, B = X.shape[0], len(ps) // 2, theta.shape[0]
    Ra = [np.zeros((B,) + X.shape)]
    for l in range(L):
        Rz = Ra[-1] @ ps[2 * l] + acts[l] @ vs[2 * l] + vs[2 * l + 1][:, None, :]
        Ra.append((1.0 - acts[l + 1] ** 2) * Rz if l < L - 1 else Rz)
    g, Rg = (acts[-1] - Y) / n, Ra[-1] / n
    out = [None] * len(ps)
    for l in range(L - 1, -1, -1):
        a, Rai = acts[l], Ra[l]
        out[2 * l] = np.swapaxes(Rai, 1, 2) @ g + np.swapaxes(a, 1, 2) @ Rg
        out[2 * l + 1] = Rg.sum(axis=1)
        if l > 0:
            WT, VT = np.swapaxes(ps[2 * l], 1, 2), np.swapaxes(vs[2 * l], 1, 2)
            ga = g @ WT
            Rg = (Rg @ WT + g @ VT) * (1.0 - a * a) - 2.0 * ga * a * Rai
            g = ga * (1.0 - a * a)
    return np.concatenate([x.reshape(B, -1) for x in out], axis=1)


def _train_plain(net, theta, etas, X, Y, n_steps, blowup=1e6):
    """GD on the whole batch with :func:`eos.loss_and_grad`, step by step: the losses ``(B, n_steps + 1)``."""
    losses = np.full((theta.shape[0], n_steps + 1), np.nan)
    dead = np.zeros(theta.shape[0], dtype=bool)
    for k in range(n_steps + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            lval, g = eos.loss_and_grad(net, theta, X, Y)
        dead |= ~(np.isfinite(lval) & (lval < blowup))
        losses[~dead, k] = lval[~dead]
        theta = np.where(dead[:, None], theta, theta - etas[:, None] * g)
    return losses, dead


def _small_task(B=5, seed=5):
    rng = np.random.default_rng(seed)
    net = eos.Net((64, 7, 6, 10))
    X, Y = eos.digits_task(40, seed)
    return net, net.init(rng, B), np.array([0.3, 0.6, 0.7, 60.0, 0.1])[:B], X, Y


def test_cached_hvp_operator_equals_the_full_r_operator_bit_for_bit():
    net, th, X, Y = _tiny(6)
    v = np.random.default_rng(7).standard_normal(th.shape)
    apply = eos.hvp_operator(net, th, X, Y)
    assert np.array_equal(apply(v), _hvp_plain(net, th, v, X, Y))
    assert np.array_equal(apply(2 * v), _hvp_plain(net, th, 2 * v, X, Y))  # the cache does not go stale
    assert np.array_equal(eos.hvp(net, th, v, X, Y), _hvp_plain(net, th, v, X, Y))


@pytest.mark.parametrize("chunk,workers", [(1, 1), (2, 2), (5, 1), (3, 2)])
def test_chunked_threaded_gd_equals_plain_gd_bit_for_bit(chunk, workers):
    net, th, etas, X, Y = _small_task()
    losses, dead = _train_plain(net, th, etas, X, Y, 40)
    run = eos.train(net, th, etas, X, Y, 40, 20, chunk=chunk, workers=workers)
    assert dead[3] and not dead[:3].any()  # the plain run has a diverging run to stop
    assert np.array_equal(run.loss, losses, equal_nan=True)
    assert np.array_equal(run.diverged, dead)


def test_train_does_not_depend_on_chunks_threads_or_the_lanczos_route():
    net, th, etas, X, Y = _small_task(4)
    a = eos.train(net, th, etas, X, Y, 60, 10, chunk=4, workers=1, warm_lanczos=False)
    b = eos.train(net, th, etas, X, Y, 60, 10, chunk=1, workers=2)
    c = eos.train(net, th[::-1], etas[::-1], X, Y, 60, 10, chunk=3, workers=2)  # another order of the runs
    assert np.array_equal(a.loss, b.loss, equal_nan=True) and np.array_equal(b.loss, c.loss[::-1], equal_nan=True)
    live = ~a.diverged
    assert np.isfinite(a.sharp[live]).all()
    assert np.array_equal(b.sharp, c.sharp[::-1], equal_nan=True)  # the same route: bit for bit
    assert np.allclose(a.sharp[live], b.sharp[live], rtol=1e-9, atol=0)  # ARPACK vs warm Lanczos


def test_warm_sharpness_equals_the_cold_one():
    net, th, X, Y = _tiny(8)
    _, v0 = eos.sharpness(net, th[0], X, Y)
    th1 = th[0] + 1e-2 * np.random.default_rng(9).standard_normal(th.shape[1])
    cold, _ = eos.sharpness(net, th1, X, Y)
    warm, _ = eos.sharpness(net, th1, X, Y, v0)
    assert warm == pytest.approx(cold, rel=1e-10)
    H = np.column_stack([eos.hvp(net, th1[None, :], e[None, :], X, Y)[0] for e in np.eye(th.shape[1])])
    assert warm == pytest.approx(float(lambda_max_dense(H)), rel=1e-10)
