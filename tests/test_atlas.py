"""The step-size atlas: cycle continuation, flip points, Lyapunov exponents, closed forms."""

import numpy as np
import pytest
from stepsize.models import atlas, losses
from stepsize.sharpness import NotConverged


def test_logistic_flip_points_match_closed_forms():
    G, dG = atlas.logistic_family()
    flips = atlas.cascade(G, dG, 2 / 3, (2.9, 3.1), 4)
    assert flips[0] == pytest.approx(3.0, abs=1e-11)
    assert flips[1] == pytest.approx(1 + np.sqrt(6), abs=1e-11)  # the 2-cycle's flip, in closed form
    assert flips[2] == pytest.approx(3.544090359551922, abs=1e-9)  # known to many digits


def test_double_well_gradient_is_x_cubed_minus_x_to_rounding():
    x = np.random.default_rng(0).uniform(-3.0, 3.0, 100_000)
    df = atlas.double_well().df(x)
    exact = x**3 - x
    assert np.all(np.abs(df - exact) <= 4 * np.spacing(np.abs(x**3) + np.abs(x)))
    assert atlas.double_well().df(np.array([-1.0, 0.0, 1.0])).tolist() == [0.0, 0.0, 0.0]  # the critical points


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


def _plain_attractor(G, dG, params, x0, n_transient, n_record, blowup=1e6):
    """The reference: every run iterated to the end, one array computation per step (the old loop)."""
    P = np.repeat(params, x0.size)
    x = np.tile(x0, params.size)
    bad = np.zeros(x.size, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(n_transient):
            x = G(x, P)
            bad |= ~(np.abs(x) <= blowup)
            x[bad] = 0.0
        rec = np.empty((n_record, x.size))
        logsum = np.zeros(x.size)
        for k in range(n_record):
            d = np.abs(dG(x, P))
            logsum += np.log(np.where(d > 0, d, 1e-300))
            x = G(x, P)
            bad |= ~(np.abs(x) <= blowup)
            x[bad] = 0.0
            rec[k] = x
    rec[:, bad] = np.nan
    lyap = np.where(bad, np.nan, logsum / max(n_record, 1))
    shape = (params.size, x0.size)
    return rec.T.reshape(shape + (n_record,)), lyap.reshape(shape), bad.reshape(shape)


def _families():
    rng = np.random.default_rng(5)
    yield atlas.gd_family(atlas.double_well()), np.linspace(0.5, 2.4, 120), rng.uniform(-1.3, 1.3, 12)
    yield atlas.gd_family(losses.example2()), np.linspace(0.05, 0.6, 80), rng.uniform(0.6, 2.4, 8)
    yield atlas.logistic_family(), np.linspace(2.5, 4.2, 80), rng.uniform(0.1, 0.9, 8)  # r > 4 diverges


@pytest.mark.parametrize(
    "steps, options",
    [
        ((600, 200), {}),
        ((600, 200), {"chunk": 97, "workers": 2}),  # many chunks on two threads, in whatever order they finish
        ((600, 200), {"chunk": 10**6, "workers": 1, "max_period": 7}),
        ((50, 20), {"chunk": 64}),  # fewer steps than one check interval
        ((63, 65), {"chunk": 64, "max_period": 16}),  # a check inside the recorded steps
    ],
)
def test_attractor_equals_the_plain_loop_bit_for_bit(steps, options):
    for (G, dG), params, x0 in _families():
        points, lyap, bad = _plain_attractor(G, dG, params, x0, *steps)
        att = atlas.attractor(G, dG, params, x0, *steps, **options)
        assert np.array_equal(att.diverged, bad)
        assert np.array_equal(att.lyapunov, lyap, equal_nan=True)
        assert np.array_equal(att.points, points, equal_nan=True)
        short = atlas.attractor(G, dG, params, x0, *steps, keep=7, **options)
        assert np.array_equal(short.points, points[:, :, -7:], equal_nan=True)
        assert np.array_equal(short.lyapunov, lyap, equal_nan=True)


def test_attractor_runs_that_settle_or_diverge_leave_the_batch():
    G0, dG = atlas.gd_family(atlas.double_well())
    evaluated = []

    def G(x, eta):
        evaluated.append(x.size)
        return G0(x, eta)

    x0 = np.linspace(0.21, 1.23, 16)  # not 1.0, the (repelling) fixed point itself
    # a stable fixed point (eta = 0.5, multiplier 0) and certain divergence (eta = 2.3): no run lasts
    att = atlas.attractor(G, dG, np.array([0.5, 2.3]), x0, 2000, 500, workers=1)
    assert sum(evaluated) <= 0.05 * 32 * 2500
    assert not att.diverged[0].any() and att.diverged[1].all()
    assert np.all(att.points[0] == 1.0) and np.isnan(att.points[1]).all()
    # a chaotic step size: the runs stay to the end
    evaluated.clear()
    atlas.attractor(G, dG, np.array([1.8]), x0, 200, 100, workers=1)
    assert sum(evaluated) == 16 * 300


def test_density_equals_histogram2d():
    rng = np.random.default_rng(2)
    for trial in range(20):
        n, m, k = rng.integers(1, 40), rng.integers(1, 7), rng.integers(1, 5)
        params = np.linspace(0.5, 2.4, n) if trial % 2 else np.sort(rng.uniform(0.5, 2.4, n))
        pts = rng.uniform(-1.4, 1.4, (n, m, k))
        if trial % 3 == 0:
            pts = np.round(pts, 1)  # many values on bin edges, and on the last edge
        pts[rng.uniform(size=pts.shape) < 0.2] = np.nan
        pts[rng.integers(0, n, 2)] = np.nan  # step sizes where every run diverged
        bins = (int(rng.integers(1, 30)), int(rng.integers(1, 40)))
        E = np.broadcast_to(params[:, None, None], pts.shape)
        ok = np.isfinite(pts)
        want = np.histogram2d(E[ok], pts[ok], bins=bins)
        got = atlas.density(params, pts, bins, block=int(rng.integers(1, 9)))
        for a, b in zip(got, want):
            assert np.array_equal(a, b)


def test_bin_index_falls_back_where_the_guess_misses():
    edges = np.array([0.0, 0.1, 5.0, 10.0])  # not uniform: the guess from the spacing is often wrong
    v = np.array([0.0, 0.05, 0.1, 3.0, 5.0, 9.99, 10.0])
    want = np.minimum(np.searchsorted(edges, v, side="right") - 1, 2)
    assert np.array_equal(atlas._bin_index(edges, v), want)
