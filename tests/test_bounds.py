import math

import numpy as np
import pytest
from stepsize import bounds
from stepsize.dynamics import gd_map
from stepsize.models import losses


def test_example1_orbit_is_a_two_cycle():
    for delta in (0.1, 0.5, 1.0, 3.0):
        a = bounds.example1_orbit_amplitude(delta)
        step = gd_map(losses.example1().df, delta)
        assert step(np.array([a]))[0] == pytest.approx(-a, rel=1e-14)
        assert step(np.array([-a]))[0] == pytest.approx(a, rel=1e-14)
        assert bounds.example1_orbit_loss(delta) == pytest.approx(losses.example1().f(a))


def test_example1_exceptional_coefficients():
    a = bounds.example1_exceptional_coefficients(6)
    assert a[0] == 1.0
    assert a[1] == pytest.approx((3 + math.sqrt(5)) / 2)
    assert a[2] == pytest.approx(4.8116, abs=1e-4)
    assert np.allclose(a[1:] - np.sqrt(a[1:]), a[:-1], rtol=1e-14)


def test_stability_threshold():
    assert bounds.stability_threshold(4.0) == 0.5
    assert np.allclose(bounds.stability_threshold(np.array([4.0, 10.0])), [0.5, 0.2])
    with pytest.raises(ValueError):
        bounds.stability_threshold(0.0)


def test_example3_critical_radius_is_a_two_cycle():
    for p in (4, 6, 8):
        for delta in (0.1, 0.5):
            r = bounds.example3_critical_radius(delta, p)
            assert r - delta * r ** (p - 1) == pytest.approx(-r, rel=1e-12)
    assert bounds.example3_critical_radius(0.5, 4) == pytest.approx(2.0)


def test_corollary1_bound_hand_computed():
    # L = 3, rho = 3: 2 / (3 * 3^{4/3}) = 2 / 12.98024...
    assert bounds.corollary1_bound(3, 3.0) == pytest.approx(2 / 12.980246132766677)
    assert bounds.corollary1_bound(1, 5.0) == pytest.approx(2.0)  # one layer: 2 / lambda_max = 2
    assert np.allclose(bounds.corollary1_bound(np.array([2, 4]), 1.0), [1.0, 0.5])


def test_corollary1_bound_against_depth():
    # rho = 0.8: 2, 1.25, 0.898, 0.699 for L = 1..4 (it falls from L = 1 on for rho >= 1/2)
    got = bounds.corollary1_bound(np.arange(1, 5), 0.8)
    assert np.allclose(got, [2.0, 1.25, 2 / (3 * 0.8 ** (4 / 3)), 2 / (4 * 0.8**1.5)])
    assert np.round(got, 3).tolist() == [2.0, 1.25, 0.898, 0.699]
    Ls = np.arange(1, 60)
    for rho in (0.5, 0.6, 0.8, 1.0, 2.0):
        assert np.all(np.diff(bounds.corollary1_bound(Ls, rho)) <= 1e-15)
    # rho < 1/2: grows first, peaks near max{2, 2 ln(1/rho)}, then falls
    for rho, peak in ((0.45, 2), (0.1, 5), (0.01, 9)):
        b = bounds.corollary1_bound(Ls, rho)
        assert int(Ls[np.argmax(b)]) == peak
        assert abs(peak - max(2.0, 2 * math.log(1 / rho))) < 1.0
        assert np.all(np.diff(b[peak - 1 :]) < 0)
