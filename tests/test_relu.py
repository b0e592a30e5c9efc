import numpy as np
import pytest
from stepsize import gd_map
from stepsize.models import losses, relu


def _small(seed=0, m=5, n=40):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0.0, 1.0, n))
    b, w, v, wt, vt = rng.standard_normal((5, m))
    y = relu.forward(wt, vt, b, x)
    return x, b, w, v, y


def _kink_distance(v, b, x):
    return np.min(np.abs(relu.preactivation(v, b, x)))


def test_gradients_match_finite_differences(fd):
    x, b, w, v, y = _small()
    assert _kink_distance(v, b, x) > 1e-4  # finite differences must not cross a kink
    theta = relu.pack(w, v)

    def L(th):
        return float(relu.loss(*relu.unpack(th), b, x, y))

    g = relu.pack(*relu.gradients(w, v, b, x, y))
    assert np.allclose(g, fd(L, theta, h=1e-7), rtol=1e-5, atol=1e-6)


def test_hessian_matches_finite_differences_of_gradient():
    x, b, w, v, y = _small(1)
    theta = relu.pack(w, v)
    h = 1e-7
    H_fd = np.empty((theta.size, theta.size))
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = h
        gp = relu.pack(*relu.gradients(*relu.unpack(theta + e), b, x, y))
        gm = relu.pack(*relu.gradients(*relu.unpack(theta - e), b, x, y))
        H_fd[:, k] = (gp - gm) / (2 * h)
    assert np.allclose(relu.hessian(w, v, b, x, y), H_fd, rtol=1e-5, atol=1e-5)
    # at a solution (r = 0) the Hessian is the Gauss-Newton matrix
    assert np.allclose(relu.hessian(w, v, b, x, relu.forward(w, v, b, x)), relu.gauss_newton(w, v, b, x))


def test_hand_computed_network():
    # one unit: f(x) = 2 relu(3x - 1); at x = 1: 2 * 2 = 4, at x = 0: 0
    x = np.array([0.0, 1.0])
    f = relu.forward(np.array([2.0]), np.array([3.0]), np.array([1.0]), x)
    assert np.allclose(f, [0.0, 4.0])
    # loss with target 0 is 16 (sum of squares, no 1/2); dL/dw = 2*4*2 = 16, dL/dv = 2*2*4*1 = 16
    gw, gv = relu.gradients(np.array([2.0]), np.array([3.0]), np.array([1.0]), x, np.zeros(2))
    assert relu.loss(np.array([2.0]), np.array([3.0]), np.array([1.0]), x, np.zeros(2)) == 16.0
    assert np.allclose([gw[0], gv[0]], [16.0, 16.0])


def test_theorem4_forms_hand_computed():
    x = np.array([0.5, 1.0])
    fhat = np.array([-2.0, 3.0])
    q = relu.theorem4_quantity(x, fhat)
    assert q["per_sample"] == 3.0 and q["aggregated"] == 4.0
    assert relu.theorem4_bound(x, fhat, "aggregated", loss="half") == 0.25
    assert relu.theorem4_bound(x, fhat, "aggregated", loss="sum") == 0.125
    assert relu.theorem4_bound(x, fhat, "per_sample", loss="sum") == pytest.approx(1 / 6)


def test_per_sample_bound_is_below_sharpness():
    # [D] lambda_max(Gauss-Newton of the 1/2-loss) >= 2 |x_i fhat_i| for every i
    inst = relu.make_instances([3], width=8, n_points=200)
    w, v, b = inst.w_target[0], inst.v_target[0], inst.b[0]
    lam_half = relu.sharpness(w, v, b, inst.x) / 2
    q = relu.theorem4_quantity(inst.x, inst.y[0])
    assert lam_half >= 2 * q["per_sample"] * (1 - 1e-12)


def test_fast_train_matches_plain_loop_and_dense_gradient():
    inst = relu.make_instances([0, 1, 2], width=20, n_points=1000)
    deltas = np.array([1e-4, 5e-5, 2e-4])
    t = relu.train((inst.w0, inst.v0), inst.x, inst.y, inst.b, deltas, 50)
    for k in range(3):
        w, v, L = relu.train_plain(inst.w0[k], inst.v0[k], inst.x, inst.y[k], inst.b[k], deltas[k], 50)
        assert np.allclose(t.w[k], w, rtol=1e-10, atol=1e-10)
        assert np.allclose(t.v[k], v, rtol=1e-10, atol=1e-10)
        assert np.allclose(t.loss[k], L, rtol=1e-10)
    assert np.allclose(t.f_last, relu.forward(t.w, t.v, inst.b, inst.x), atol=1e-10)
    # one step of train equals one step with the dense gradient
    t1 = relu.train((inst.w0, inst.v0), inst.x, inst.y, inst.b, deltas, 1, record=False)
    gw, gv = relu.gradients(inst.w0, inst.v0, inst.b, inst.x, inst.y)
    assert np.allclose(t1.w, inst.w0 - deltas[:, None] * gw, atol=1e-12)
    assert np.allclose(t1.v, inst.v0 - deltas[:, None] * gv, atol=1e-12)


def test_train_unsorted_inputs_and_divergence():
    rng = np.random.default_rng(4)
    x, b, w, v, y = _small(2, m=4, n=30)
    p = rng.permutation(x.size)
    a = relu.train((w, v), x, y, b, 1e-3, 20)
    c = relu.train((w, v), x[p], y[p], b, 1e-3, 20)
    assert np.allclose(a.w, c.w) and np.allclose(a.f_last[:, p], c.f_last)
    xs, bb, one = np.linspace(0, 1, 30), -np.ones(3), np.ones(3)
    big = relu.train((one, one), xs, np.zeros(30), bb, 1.0, 100)  # loss grows ~25x per step
    assert bool(big.diverged[0])
    assert relu.classify_training(big, np.zeros(30) + 1)[0] == "diverged"


def test_orbit_solver_on_example1_two_cycle():
    delta = 0.5
    f = losses.example1()
    step = gd_map(f.df, delta)

    def jac(x):
        return np.atleast_2d(1.0 - delta * f.d2f(x))

    orb = relu.period2_orbit(step, jac, np.array([0.9 * delta**2 / 4]))
    assert abs(abs(orb.theta[0]) - delta**2 / 4) < 1e-14
    assert orb.image[0] == pytest.approx(-orb.theta[0], abs=1e-14)
    assert orb.residual < 1e-14 and orb.separation > 0.1
    assert orb.max_multiplier < 1e-6  # super-attracting: multiplier 0


def test_orbit_solver_on_relu_case():
    # a small instance beyond its stability limit settles on a 2-cycle; Newton refines it
    inst = relu.make_instances([0], width=4, n_points=50)
    b, y, x = inst.b[0], inst.y[0], inst.x
    theta_star = relu.pack(inst.w_target[0], inst.v_target[0])
    lam = relu.sharpness(inst.w_target[0], inst.v_target[0], b, x)
    delta = 2.0 / lam * 1.02  # just past the flip: the minimum loses stability
    step, jac = relu.gd_map(b, x, y, delta)
    # start near the unstable minimum, pushed along the top eigenvector
    H = relu.gauss_newton(inst.w_target[0], inst.v_target[0], b, x)
    u = np.linalg.eigh(H)[1][:, -1]
    th = theta_star + 1e-3 * u
    for _ in range(3000):
        th = step(th)
    keep = np.tile(relu.active_units(th, b, x), 2)
    orb = relu.period2_orbit(step, jac, th, keep=keep)
    assert orb.residual < 1e-12
    assert orb.separation > 1e-6  # not the fixed point
    assert orb.max_multiplier < 1.0
    # G(G(theta)) = theta checked independently
    assert np.allclose(step(step(orb.theta)), orb.theta, atol=1e-12)
