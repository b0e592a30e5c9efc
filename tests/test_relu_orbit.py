"""The orbit solver of the piecewise-smooth ReLU GD map (stepsize.relu_orbit)."""

import numpy as np
import pytest
from stepsize.models import relu, relu_fates
from stepsize.models import relu_orbit as ro


def test_pattern_map_equals_true_map_where_the_pattern_holds():
    inst = relu.make_instances([4], width=6, n_points=80)
    th = relu.pack(inst.w0[0], inst.v0[0])
    b, x, y = inst.b[0], inst.x, inst.y[0]
    D = ro.pattern(th, b, x)
    g = relu.pack(*relu.gradients(inst.w0[0], inst.v0[0], b, x, y))
    assert np.allclose(ro.pattern_gradient(th, b, x, y, D), g, rtol=1e-12, atol=1e-12)
    assert np.allclose(ro.pattern_hessian(th, b, x, y, D), relu.hessian(inst.w0[0], inst.v0[0], b, x, y))
    # the pattern Hessian is the derivative of the pattern gradient (it is a polynomial map)
    h = 1e-6
    H_fd = np.array(
        [
            (ro.pattern_gradient(th + h * e, b, x, y, D) - ro.pattern_gradient(th - h * e, b, x, y, D)) / (2 * h)
            for e in np.eye(th.size)
        ]
    ).T
    assert np.allclose(ro.pattern_hessian(th, b, x, y, D), H_fd, rtol=1e-6, atol=1e-6)


def test_one_unit_closed_form_two_cycle():
    delta, yv = 0.05, 11.0
    k = 1.0 + 2.0 * delta * yv
    p1, p2 = ro.one_unit_two_cycle(delta, yv)
    x, b, y = np.array([1.0]), np.array([-1.0]), np.array([yv])
    # the closed form is a 2-cycle of the true map
    assert np.allclose(ro.true_step(p1, b, x, y, delta), p2, atol=1e-13)
    assert np.allclose(ro.true_step(p2, b, x, y, delta), p1, atol=1e-13)
    # the solver finds it from a perturbed start and verifies it
    o = ro.solve_orbit(p1 + np.array([2e-3, -1e-3]), b, x, y, delta, 2)
    assert o.verified and o.residual < 1e-13 and o.n_removed == 0
    assert min(np.max(np.abs(o.points[0] - p1)), np.max(np.abs(o.points[0] - p2))) < 1e-12
    mu = np.sort(np.abs(o.multipliers))
    assert np.allclose(mu, np.sort([abs(9 - 2 * k * k), abs(5 - 2 * k)]), atol=1e-10)
    assert o.max_multiplier < 1.0
    # and GD from nearby converges to it at the rate of the largest multiplier
    th = p1 + np.array([1e-3, 1e-3])
    for _ in range(400):
        th = ro.true_step(th, b, x, y, delta)
    assert min(np.max(np.abs(th - p1)), np.max(np.abs(th - p2))) < 1e-12


def test_one_unit_closed_form_needs_k_above_2():
    with pytest.raises(ValueError):
        ro.one_unit_two_cycle(0.01, 10.0)  # k = 1.2


def _fixed_point_network(n_points=40):
    """Two units fitted exactly to their own target: a fixed point (r = 0)."""
    x = np.linspace(0.0, 1.0, n_points)
    w, v, b = np.array([1.5, -0.8]), np.array([2.0, -1.5]), np.array([0.6, -0.9])
    return x, w, v, b, relu.forward(w, v, b, x)


def test_merged_pair_at_a_fixed_point_removes_the_copies_directions():
    x, w, v, b, y = _fixed_point_network()
    delta = 0.5 * 2.0 / relu.sharpness(w, v, b, x, y)
    o1 = ro.solve_orbit(relu.pack(w, v), b, x, y, delta, 1)
    assert o1.verified and o1.n_removed == 0
    # split unit 0 into two scaled copies (lam_1^2 + lam_2^2 = 1): same output, same dynamics
    lam = np.array([0.6, 0.8])
    w2, v2, b2 = (np.concatenate([lam * q[:1], q[1:]]) for q in (w, v, b))
    o2 = ro.solve_orbit(relu.pack(w2, v2), b2, x, y, delta, 1)
    assert o2.verified
    Q = ro.degeneracies(list(o2.points), [ro.pattern(o2.points[0], b2, x)], b2)
    assert Q.groups == ((0, 1),) and Q.dead == ()
    assert o2.n_removed == 2  # the two directions that shift weight between the copies
    # they are exactly neutral: I - delta H is the identity on the removed subspace
    H = relu.hessian(w2, v2, b2, x, y)
    P = np.eye(6) - Q.basis @ Q.basis.T
    assert np.max(np.abs(H @ P)) < 1e-10
    # the quotient keeps the unmerged network's multipliers
    assert np.allclose(np.sort(np.abs(o2.multipliers)), np.sort(np.abs(o1.multipliers)), atol=1e-10)
    # a dead unit adds two removed directions
    w3, v3, b3 = np.append(w2, 0.7), np.append(v2, 1.0), np.append(b2, 5.0)  # kink at x = 5: dead
    o3 = ro.solve_orbit(relu.pack(w3, v3), b3, x, y, delta, 1)
    assert o3.verified and o3.n_removed == 4


def test_merged_pair_on_a_two_cycle_keeps_its_genuine_multipliers():
    con = relu_fates.search_true_cycle(0)
    assert con.seed is not None
    o, inst, delta = con.orbit, con.instance, con.delta
    b, x, y = inst.b[0], inst.x, inst.y[0]
    Q = ro.degeneracies(list(o.points), [ro.pattern(p, b, x) for p in o.points], b, remove_merged=False)
    j = next(u for u in range(b.size) if u not in Q.dead)
    lam = np.array([0.6, 0.8])
    w, v = relu.unpack(o.points[0])

    def split(q):
        return np.concatenate([q[:j], lam * q[j], q[j + 1 :]])

    w2, v2, b2 = split(w), split(v), split(b)
    o2 = ro.solve_orbit(relu.pack(w2, v2), b2, x, y, delta, 2)
    assert o2.verified
    # only the dead units are removed: the copies' directions carry the transverse multipliers
    assert o2.n_removed == o.n_removed
    extra = o2.multipliers.size - o.multipliers.size
    assert extra == 2
    # the transverse multipliers are the eigenvalues of prod (I - 2 delta S1 sigma_x): (1 -+ 2dS1a)(1 -+ 2dS1b)
    S1 = []
    for p in o.points:
        D = ro.pattern(p, b, x)
        r = relu.forward(*relu.unpack(p), b, x) - y
        S1.append(float((r * x) @ D[:, j]))
    pred = [(1 - 2 * delta * S1[0]) * (1 - 2 * delta * S1[1]), (1 + 2 * delta * S1[0]) * (1 + 2 * delta * S1[1])]
    got = list(np.abs(o2.multipliers))
    for q in pred:
        assert min(abs(abs(q) - g) for g in got) < 1e-8


def test_instance_converging_to_a_fixed_point_is_never_a_cycle():
    # a small network trained below its stability limit converges; the period-2 solve must not report a cycle
    inst = relu.make_instances([3], width=4, n_points=50)
    b, x, y = inst.b[0], inst.x, inst.y[0]
    ws, vs = inst.w_target[0], inst.v_target[0]
    delta = 0.9 * 2.0 / relu.sharpness(ws, vs, b, x)
    th = relu.pack(ws, vs) + 1e-3
    for _ in range(3000):
        th = ro.true_step(th, b, x, y, delta)
    o2 = ro.solve_orbit(th, b, x, y, delta, 2)
    assert not o2.verified and np.isnan(o2.max_multiplier)
    o1 = ro.solve_orbit(th, b, x, y, delta, 1)
    assert o1.verified and o1.eta_sharpness < 2.0


def test_unverified_solutions_report_why():
    # far from any orbit, with the pattern of a random start: Newton does not verify
    inst = relu.make_instances([1])
    th = relu.pack(inst.w0[0], inst.v0[0])
    o = ro.solve_orbit(th, inst.b[0], inst.x, inst.y[0], 3e-4, 2, max_iter=3)
    assert not o.verified and o.reason and o.multipliers.size == 0
    with pytest.raises(ValueError):
        ro.solve_orbit(th, inst.b[0], inst.x, inst.y[0], 3e-4, 3)
