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
