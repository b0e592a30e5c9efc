import numpy as np
import pytest
from stepsize import bounds
from stepsize.dynamics import Fate, classify, gd_map
from stepsize.models import losses
from stepsize.search import Bracket, candidates, first_false, multisection


def test_candidates_linear_and_log():
    c = candidates(np.array([0.0]), np.array([4.0]), 3)
    assert np.allclose(c, [[1.0, 2.0, 3.0]])
    c = candidates(np.array([1.0]), np.array([16.0]), 3, log=True)
    assert np.allclose(c, [[2.0, 4.0, 8.0]])


def test_first_false():
    v = np.array([[True, True, False, True], [False, False, False, False], [True, True, True, True]])
    assert first_false(v).tolist() == [2, 0, 4]


def test_bisection_by_hand():
    # k = 1 is bisection: [0, 4] -> [0, 2] -> [1, 2] -> [1, 1.5] for the boundary sqrt(2)
    b = multisection(lambda c: c**2 < 2.0, 0.0, 4.0, k=1, rounds=3)
    assert b.lo.tolist() == [1.0] and b.hi.tolist() == [1.5]
    assert b.evaluations == 3


def test_several_rows_at_once():
    targets = np.array([0.3, np.sqrt(2.0), 7.25])
    calls = []

    def pred(c):
        calls.append(c.shape)
        return c < targets[:, None]

    b = multisection(pred, np.zeros(3), 10.0, k=9, rounds=5)
    assert calls == [(3, 9)] * 5  # one call per round, all rows together
    assert np.all(b.lo < targets) and np.all(targets <= b.hi)
    assert np.allclose(b.width, 10.0 / 10**5)
    assert np.allclose(b.mid, targets, atol=1e-4)
    assert isinstance(b, Bracket) and b.evaluations == 3 * 9 * 5


def test_log_spacing_shrinks_the_ratio():
    b = multisection(lambda c: c < 3.0e5, 1e-3, 1e9, k=64, rounds=4, log=True)
    assert b.lo[0] < 3.0e5 <= b.hi[0]
    assert b.hi[0] / b.lo[0] == pytest.approx(1e12 ** (1 / 65**4), rel=1e-9)


def test_follows_the_first_switch():
    # True on [0, 1) and on [2, 3), False elsewhere: the first boundary is 1
    b = multisection(lambda c: (c < 1.0) | ((c >= 2.0) & (c < 3.0)), 0.0, 4.0, k=15, rounds=3)
    assert b.lo[0] < 1.0 <= b.hi[0]


def test_bad_input():
    with pytest.raises(ValueError):
        multisection(lambda c: c < 1, 2.0, 1.0)
    with pytest.raises(ValueError):
        multisection(lambda c: c < 1, 0.0, 1.0, log=True)
    with pytest.raises(ValueError):
        multisection(lambda c: np.ones(3, bool), 0.0, 1.0, k=4, rounds=1)


def test_example3_radius_by_multisection():
    # the boundary between bounded and diverging GD runs on x^4/4 is (2/delta)^{1/2}
    delta, p = 0.5, 4
    step = gd_map(losses.example3(p).df, delta)

    def bounded(c):
        fates = classify(step, c.ravel(), 200, max_period=1)
        return (fates.kind != Fate.DIVERGED).reshape(c.shape)

    b = multisection(bounded, 1e-3, 1e3, k=32, rounds=5, log=True)
    assert b.mid[0] == pytest.approx(bounds.example3_critical_radius(delta, p), rel=1e-6)
