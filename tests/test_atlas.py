"""The step-size atlas: cycle continuation, flip points, Lyapunov exponents, closed forms."""

import numpy as np
import pytest
from stepsize.models import atlas
from stepsize.sharpness import NotConverged


def test_logistic_flip_points_match_closed_forms():
    G, dG = atlas.logistic_family()
    flips = atlas.cascade(G, dG, 2 / 3, (2.9, 3.1), 4)
    assert flips[0] == pytest.approx(3.0, abs=1e-11)
    assert flips[1] == pytest.approx(1 + np.sqrt(6), abs=1e-11)  # the 2-cycle's flip, in closed form
    assert flips[2] == pytest.approx(3.544090359551922, abs=1e-9)  # known to many digits


def test_double_well_closed_forms():
    f = atlas.double_well()
    G, dG = atlas.gd_family(f)
    assert f.d2f(np.array([1.0, -1.0])) == pytest.approx([2.0, 2.0])
    flips = atlas.cascade(G, dG, 1.0, (0.9, 1.1), 3)
    assert flips[0] == pytest.approx(atlas.double_well_flip_1(), abs=1e-11)
    assert flips[1] == pytest.approx(atlas.double_well_flip_2(), abs=1e-11)
    for eta in (1.05, 1.2):  # the derived 2-cycle is a 2-cycle with the derived multiplier
        x, y = atlas.double_well_two_cycle(eta)
        assert G(np.float64(x), eta) == pytest.approx(y, abs=1e-12)
        assert G(np.float64(y), eta) == pytest.approx(x, abs=1e-12)
        assert atlas.multiplier(dG, np.array([x, y]), eta) == pytest.approx(9 - 2 * (1 + eta) ** 2, abs=1e-11)
    # the divergence point: 4 (1 + eta)^3 = 27 (2 + eta) at eta = 2
    eta = atlas.double_well_divergence()
    assert 4 * (1 + eta) ** 3 == pytest.approx(27 * (2 + eta))


def test_feigenbaum_ratios_approach_the_constant():
    G, dG = atlas.gd_family(atlas.double_well())
    r = atlas.feigenbaum_ratios(atlas.cascade(G, dG, 1.0, (0.9, 1.1), 6))
    err = np.abs(r / atlas.FEIGENBAUM_DELTA - 1)
    assert err[-1] < 1e-3 and np.all(np.diff(err) < 0)


def test_lyapunov_of_the_logistic_map_at_4_is_ln2():
    G, dG = atlas.logistic_family()
    x0 = np.random.default_rng(0).uniform(0.1, 0.9, size=64)
    att = atlas.attractor(G, dG, np.array([4.0]), x0, 100, 20000)
    assert np.median(att.lyapunov) == pytest.approx(np.log(2), abs=0.02)
    # and negative on a stable fixed point: at r = 2.5 the exponent is log|2 - r| = log 0.5
    att = atlas.attractor(G, dG, np.array([2.5]), x0, 500, 500)
    assert atlas.median_exponent(att)[0] == pytest.approx(np.log(0.5), abs=1e-6)


def test_newton_and_bisection_report_failure():
    G, dG = atlas.logistic_family()
    with pytest.raises(NotConverged):
        atlas.cycle_newton(G, dG, 0.3, 3.2, 2, max_iter=1)
    with pytest.raises(NotConverged, match="no sign change"):
        atlas.flip_point(G, dG, 2 / 3, 2.5, 2.8, 1)  # the fixed point is stable on the whole bracket


def test_escapes_beyond_two_not_below():
    G, _ = atlas.gd_family(atlas.double_well())
    x = np.linspace(-1.3, 1.3, 101)
    assert not atlas.escapes(G, x, np.full(x.size, 1.95), 3000).any()
    assert atlas.escapes(G, x[1:-1:2], np.full(x[1:-1:2].size, 2.2), 3000).all()
