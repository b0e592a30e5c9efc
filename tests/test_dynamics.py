import warnings

import numpy as np
import pytest
from stepsize.dynamics import Fate, classify, gd_map, iterate, nearest_fixed_point, trajectory


def test_linear_contraction_converges():
    step = gd_map(lambda x: 2.0 * x, 0.1)  # f = x^2, multiplier 0.8
    fates = classify(step, np.array([1.0, -3.0, 0.0]), 200)
    assert np.all(fates.kind == Fate.CONVERGED)
    assert np.allclose(fates.orbit_center, 0.0, atol=1e-12)
    assert np.all(fates.amplitude == 0.0)


def test_period_two_detected_with_amplitude():
    # G(x) = -x: every nonzero point is a 2-cycle of amplitude |x|.
    fates = classify(lambda x: -x, np.array([0.5, 2.0]), 10)
    assert np.all(fates.kind == Fate.PERIODIC)
    assert np.all(fates.period == 2)
    assert np.allclose(fates.amplitude, [0.5, 2.0])


def test_period_three_vector_state():
    rot = np.array([[np.cos(2 * np.pi / 3), -np.sin(2 * np.pi / 3)], [np.sin(2 * np.pi / 3), np.cos(2 * np.pi / 3)]])
    fates = classify(lambda x: x @ rot.T, np.array([[1.0, 0.0], [0.0, 2.0]]), 9)
    assert np.all(fates.period == 3)
    assert np.allclose(fates.amplitude, [1.0, 2.0])


def test_divergence_is_classified_without_warnings():
    step = gd_map(lambda x: x**3, 0.5)  # diverges for |x| > 2 (critical radius sqrt(2/0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fates = classify(step, np.array([1.0, 3.0, 1e100]), 100)
    assert fates.kind[0] != Fate.DIVERGED  # inside the radius: slow (sublinear) convergence
    assert fates.kind[1] == Fate.DIVERGED and fates.kind[2] == Fate.DIVERGED
    assert fates.diverged_at[1] > 0 and fates.diverged_at[0] == -1
    assert np.isnan(fates.final[1])


def test_undecided_when_budget_too_small():
    step = gd_map(lambda x: 2.0 * x, 1e-4)  # multiplier 0.9998: far from converged after 10 steps
    fates = classify(step, np.array([1.0]), 10)
    assert fates.kind[0] == Fate.UNDECIDED
    assert fates.counts() == {"converged": 0, "periodic": 0, "diverged": 0, "undecided": 1}


def test_per_run_step_sizes_broadcast():
    deltas = np.array([0.1, 0.9, 1.1])  # f = x^2/2 ... grad x: converges iff delta < 2
    step = gd_map(lambda x: x, deltas * 2.0)
    fates = classify(step, np.ones(3), 500)
    assert fates.kind.tolist() == [Fate.CONVERGED, Fate.CONVERGED, Fate.DIVERGED]


def test_nearest_fixed_point_labels():
    fates = classify(lambda x: 0.5 * (x - np.round(x)) + np.round(x), np.array([0.9, 2.2, 7.0]), 200)
    idx = nearest_fixed_point(fates, np.array([1.0, 2.0]), atol=1e-8)
    assert idx.tolist() == [0, 1, -1]


def test_trajectory_and_iterate_agree():
    step = gd_map(lambda x: x, 0.5)
    tr = trajectory(step, np.array([1.0, 2.0]), 5)
    x, div = iterate(step, np.array([1.0, 2.0]), 5)
    assert tr.shape == (6, 2)
    assert np.allclose(tr[-1], x) and np.allclose(tr[-1], np.array([1.0, 2.0]) * 0.5**5)
    assert np.all(div == -1)


def test_gd_map_rejects_bad_step():
    with pytest.raises(ValueError, match="delta"):
        gd_map(lambda x: x, -0.1)
    with pytest.raises(ValueError, match="delta"):
        gd_map(lambda x: x, np.array([0.1, np.nan]))


# --- the one fate rule: settled and linearly stable ---

from stepsize.dynamics import decide_fates, jacobian_fd


def test_decide_fates_rule():
    period = np.array([1, 1, 1, 2, 2, 0, 1])
    diverged = np.array([False, False, False, False, False, False, True])
    es = np.array([1.5, 2.5, np.nan, np.nan, np.nan, np.nan, 0.1])
    mu = np.array([np.nan, np.nan, np.nan, 0.9, 1.5, np.nan, np.nan])
    kind = decide_fates(period, diverged, es, mu)
    assert list(kind) == [
        Fate.CONVERGED,
        Fate.UNDECIDED,
        Fate.UNDECIDED,
        Fate.PERIODIC,
        Fate.UNDECIDED,
        Fate.UNDECIDED,
        Fate.DIVERGED,
    ]


def test_a_flat_stretch_at_an_unstable_point_is_not_converged():
    # f = x^2/2 at eta = 2.5: G(x) = -1.5 x. The point 0 is fixed but eta * f'' = 2.5 > 2; a run
    # started there stays put for ever (looks converged) yet GD cannot stay near it.
    step = gd_map(lambda x: x, 2.5)
    fates = classify(step, np.array([0.0, 1e-30]), 50)
    assert np.all(fates.kind == Fate.UNDECIDED)
    assert np.allclose(fates.eta_sharpness, 2.5, atol=1e-6)  # the evidence: eta * lambda_max > 2


def test_stable_fixed_point_reports_its_sharpness():
    step = gd_map(lambda x: 3.0 * x, 0.5)  # f'' = 3, eta f'' = 1.5 < 2
    fates = classify(step, np.array([1.0, -2.0]), 400)
    assert np.all(fates.kind == Fate.CONVERGED)
    assert np.allclose(fates.eta_sharpness, 1.5, atol=1e-6)


def test_unstable_two_cycle_is_not_periodic():
    # G(x) = -x + 0.5 (x - x^3)... use the logistic-type map with a repelling 2-cycle started on it.
    # x -> 1 - r x^2 at r = 1.5 has a repelling 2-cycle {a, b}: a, b roots of r^2 x^2 - r x + 1 - r = 0.
    r = 1.5
    a, b = np.roots([r * r, -r, 1 - r])
    fates = classify(lambda x: 1.0 - r * x * x, np.array([a, b]), 0)
    assert np.all(fates.period == 0)
    assert np.all(fates.kind == Fate.UNDECIDED)


def test_jacobian_fd_of_a_gd_map():
    A = np.array([[2.0, 0.5], [0.5, 1.0]])
    step = gd_map(lambda x: x @ A, 0.3)
    J = jacobian_fd(step, np.array([[1.0, 2.0], [0.0, 0.0]]))
    assert np.allclose(J, np.eye(2) - 0.3 * A, atol=1e-8)
