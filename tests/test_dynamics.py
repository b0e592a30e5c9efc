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
