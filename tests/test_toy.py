"""The toy loss of Crăciun & Ghoshdastidar: derivatives, M_WS geometry, and the fast fate map."""

import math

import numpy as np
import pytest

from stepsize import toy
from stepsize.dynamics import Fate, classify, gd_map


def test_gradient_and_hessian_match_finite_differences(fd):
    rng = np.random.default_rng(0)
    for x, y in rng.uniform(-2, 2, size=(5, 2)):
        z = np.array([x, y])
        g = np.array(toy.grad(x, y))
        assert np.allclose(g, fd(lambda v: toy.loss(v[0], v[1]), z), atol=1e-7)
        H = toy.hessian(x, y)
        Hfd = np.stack([fd(lambda v, i=i: toy.grad(v[0], v[1])[i], z) for i in range(2)])
        assert np.allclose(H, Hfd, atol=1e-6)


def test_hessian_on_minima_eigenvalues():
    # at (2, 1/2): eigenvalues 0 and 4 + 1/4 (hand-computed), tangent (2, -1/2) in the kernel
    H = toy.hessian(2.0, 0.5)
    assert np.allclose(H, [[0.25, 1.0], [1.0, 4.0]])
    assert np.allclose(np.linalg.eigvalsh(H), [0.0, 4.25])
    assert np.allclose(H @ [2.0, -0.5], 0.0)
    assert toy.sharpness_on_minima(2.0) == pytest.approx(4.25)


def test_mws_endpoints_hand_computed():
    # eta = 0.4: x^2 + x^-2 <= 5  <=>  1/a = (sqrt 7 + sqrt 3) / 2
    a, b = toy.mws_endpoints(0.4)
    assert b == pytest.approx((math.sqrt(7) + math.sqrt(3)) / 2)
    assert a * b == pytest.approx(1.0)
    assert toy.sharpness_on_minima(b) == pytest.approx(2 / 0.4)
    assert toy.mws_endpoints(1.0) == pytest.approx((1.0, 1.0))
    assert all(math.isnan(v) for v in toy.mws_endpoints(1.1))
    assert toy.mws_empty(1.1) and not toy.mws_empty(1.0)


def test_mws_length_against_polyline():
    for eta in (0.1, 0.4, 0.9):
        x, y = toy.mws_curve(eta, n=200001)
        pos = ~np.isnan(x) & (x > 0)
        poly = np.sum(np.hypot(np.diff(x[pos]), np.diff(y[pos])))
        assert toy.mws_length(eta, branches=1) == pytest.approx(poly, rel=1e-8)
        assert toy.mws_length(eta) == pytest.approx(2 * poly, rel=1e-8)
    assert toy.mws_length(0.1) == pytest.approx(14.4698, abs=1e-3)
    assert toy.mws_length(1.0) == 0.0 and toy.mws_length(1.3) == 0.0
    assert np.all(np.diff(toy.mws_length(np.linspace(0.1, 1, 10))) < 0)


def test_fates_equals_plain_loop_bit_for_bit():
    rng = np.random.default_rng(3)
    n = 150
    x0, y0 = rng.uniform(-3, 3, n), rng.uniform(-3, 3, n)
    eta = rng.choice([0.3, 0.9, 1.1], n)
    f = toy.fates(x0, y0, eta, 300, chunk=64)
    for i in range(n):
        kind, period, steps, x, y = toy.fate_plain(x0[i], y0[i], eta[i], 300)
        assert (f.kind[i], f.period[i], f.steps[i]) == (kind, period, steps)
        assert (f.x[i] == x or (math.isnan(x) and math.isnan(f.x[i])))
        assert (f.y[i] == y or (math.isnan(y) and math.isnan(f.y[i])))
    assert len(set(f.kind.tolist())) >= 3  # converged, periodic and diverged all occur
    # a run that overflows inside a block is classified, not raised (Python's ** would raise)
    assert toy.fate_plain(50.0, 60.0, 0.9, 64)[0] == int(Fate.DIVERGED)
    assert toy.fates(np.array([50.0]), np.array([60.0]), 0.9, 64).kind[0] == int(Fate.DIVERGED)


def test_fates_agree_with_dynamics_classify():
    rng = np.random.default_rng(1)
    z0 = rng.uniform(-2.5, 2.5, size=(400, 2))
    for eta in (0.4, 1.1):
        ref = classify(gd_map(toy.grad_xy, eta), z0, 1500, max_period=4, blowup=1e6)
        f = toy.fates(z0[:, 0], z0[:, 1], eta, 1500)
        assert np.mean(ref.kind == f.kind) > 0.99
        if eta > 1:
            assert not f.at_minimum.any()
        else:  # every run that reached a minimum sits in M_WS: x^2 + y^2 <= 2/eta
            assert np.all(f.sharpness[f.at_minimum] <= 2 / eta * (1 + 1e-6))


def test_minima_arc_length_and_inverse():
    # smax = 2 is the two balanced points: length 0; mws_length(eta) = minima_arc_length(2/eta)
    assert toy.minima_arc_length(2.0) == 0.0 and toy.minima_arc_length(1.5) == 0.0
    assert toy.mws_length(0.25) == pytest.approx(toy.minima_arc_length(8.0))
    s = toy.sharpness_cutoff_for_length(37.4)
    assert toy.minima_arc_length(s) == pytest.approx(37.4, rel=1e-9)
    assert 100 < s < 110  # the cutoff that would give the paper's 37.4 (two branches)
