"""Every claim check of the deep-linear chapters (Nar & Sastry, Sections 2-3) made to fail on purpose:
a bound scaled by 1.1, a budget far too small, a premise violated. Plus the chapters' extreme cases
through ``python -m stepsize run ... --json`` (no NaN, a verdict in the four words)."""

import math

import numpy as np
import pytest
from stepsize import bounds
from stepsize.book.claims import nar_linear as v
from stepsize.models import identity
from stepsize.verdicts import DIFFERS, NOT_APPLICABLE, REPRODUCED, UNDECIDED, VERDICTS

T, F = True, False


# --- Theorem 1 ---------------------------------------------------------------------------------
def _thm1(**kw):
    args = {
        "min_ratio": 1.0,
        "unstable_left": np.ones(20, bool),
        "unstable_undecided": np.zeros(20, bool),
        "stable_stayed": np.ones(20, bool),
        "stable_undecided": np.zeros(20, bool),
        "delta": 0.1,
        "stability_limit_balanced": 0.3,
        "n_steps": 3000,
    }
    args.update(kw)
    return v.theorem1_verdict(args.pop("min_ratio"), **args)[0]


def test_theorem1_verdicts():
    assert _thm1() == REPRODUCED
    # the stability limit scaled by 1.1 puts the bound below it: the theorem's inequality fails
    assert _thm1(min_ratio=1 / 1.1) == DIFFERS
    # a run held next to the unstable solution (settled, not moving) contradicts it
    held = np.ones(20, bool)
    held[3] = False
    assert _thm1(unstable_left=held) == DIFFERS
    # ... but one still moving when the budget ended leaves it undecided
    und = np.zeros(20, bool)
    und[3] = True
    assert _thm1(unstable_left=held, unstable_undecided=und) == UNDECIDED
    # the staying half applies only below the balanced solution's limit
    assert _thm1(stable_stayed=held) == DIFFERS
    assert _thm1(stable_stayed=held, delta=0.5) == REPRODUCED


# --- Corollary 1 -------------------------------------------------------------------------------
def _cor1_case(n_init=30, shift=1.0):
    bound = 0.2
    fr = np.array([0.5, 0.9, 0.99, 1.01, 1.2, 1.5])
    d = np.repeat(fr * bound, n_init)
    glob = d <= 0.99 * bound * shift + 1e-15
    return bound, d, glob


def test_corollary1_verdicts():
    bound, d, glob = _cor1_case()
    none = np.zeros(d.size, bool)
    es = np.full(d.size, np.nan)
    assert v.corollary1_verdict(bound, d, glob, glob, none, es, 3000)[0] == REPRODUCED
    # the bound scaled down by 1.1 (runs converge above it): differs
    assert v.corollary1_verdict(bound / 1.1, d, glob, glob, none, es, 3000)[0] == DIFFERS
    # a budget far too small: nothing converged, everything still moving
    assert v.corollary1_verdict(bound, d, none, none, ~none, es, 10)[0] == UNDECIDED
    # runs above the bound that look settled but are unstable are transients, not counter-examples
    settled = glob | (d > bound)
    es[d > bound] = 2.5
    assert v.corollary1_verdict(bound, d, glob, settled, none, es, 3000)[0] == UNDECIDED
    # too few runs above the bound to say "none"
    bound, d, glob = _cor1_case(n_init=1)
    assert (
        v.corollary1_verdict(bound, d, glob, glob, np.zeros(d.size, bool), np.full(d.size, np.nan), 3000)[0]
        == UNDECIDED
    )


# --- the depth effect --------------------------------------------------------------------------
def test_depth_verdicts():
    depths = np.arange(1, 13)
    n_init, L_star = 20, 11
    full = np.where(depths <= 11, n_init, 0)
    zero_beyond = (np.zeros(20, bool), np.zeros(20, bool), np.full(20, np.nan))
    assert v.depth_verdict(depths, L_star, full, 0 * full, n_init, 2000, *zero_beyond)[0] == REPRODUCED
    # the default run: depth 11 allowed, 0 of 20 converged, all still moving -> the budget
    short = np.where(depths <= 10, n_init, 0)
    moving = np.where(depths >= 11, n_init, 0)
    st, why = v.depth_verdict(depths, L_star, short, moving, n_init, 2000, *zero_beyond, probe=(20000, 3, 20))
    assert st == UNDECIDED and "20000" in why
    # the budget's automatic extension decides it when it is of the lone still-moving depth ...
    moving11 = np.where(depths == 11, n_init, 0)
    st, why = v.depth_verdict(
        depths, L_star, short, moving11, n_init, 2000, *zero_beyond, probe=(8000, 1, 20), probe_depth=11
    )
    assert st == REPRODUCED and "extended automatically" in why
    # ... but not when the extension converged nothing there
    st, _ = v.depth_verdict(
        depths, L_star, short, moving11, n_init, 2000, *zero_beyond, probe=(20000, 0, 20), probe_depth=11
    )
    assert st == UNDECIDED
    # a prediction that is 1.1 times too strict (L* = 10 while runs at 11 converge): differs
    bg = np.ones(40, bool)
    assert v.depth_verdict(depths, 10, full, 0 * full, n_init, 2000, bg, bg, np.full(40, 1.5))[0] == DIFFERS
    # a budget far too small: nothing converged anywhere
    assert v.depth_verdict(depths, L_star, 0 * full, 0 * full + n_init, n_init, 10, *zero_beyond)[0] == UNDECIDED
    # a step the bound allows at no depth (L* = 0), no run converging anywhere: reproduced
    z = np.zeros(depths.size, int)
    allb = (np.zeros(240, bool), np.zeros(240, bool), np.full(240, np.nan))
    assert v.depth_verdict(depths, 0, z, z, n_init, 2000, *allb)[0] == REPRODUCED
    # ... but a converged run there differs
    one = np.zeros(240, bool)
    one[0] = True
    assert v.depth_verdict(depths, 0, z + np.r_[1, z[1:]], z, n_init, 2000, one, one, np.full(240, 1.0))[0] == DIFFERS
    # no depth beyond L* on the grid: the claim is not tested
    e = (np.zeros(0, bool), np.zeros(0, bool), np.zeros(0))
    assert v.depth_verdict(depths, 12, full, 0 * full, n_init, 2000, *e)[0] == UNDECIDED


# --- Corollary 2 -------------------------------------------------------------------------------
def test_corollary2_verdicts():
    cert = bounds.corollary2_certificate(3, 0.05)
    s = np.linspace(0.2, 0.99, 40) * cert
    assert v.corollary2_verdict(cert, s, 0, 240, True, 3000)[0] == REPRODUCED
    # the certificate scaled down by 1.1: converged runs above it
    assert v.corollary2_verdict(cert / 1.1, s, 0, 240, True, 3000)[0] == DIFFERS
    # a budget far too small: no run converged
    assert v.corollary2_verdict(cert, np.zeros(0), 240, 240, True, 10)[0] == UNDECIDED
    # the rescaled batch disagreeing with direct runs
    assert v.corollary2_verdict(cert, s, 0, 240, False, 3000)[0] == DIFFERS
    # too few converged runs for "all"
    assert v.corollary2_verdict(cert, s[:3], 0, 240, True, 3000)[0] == UNDECIDED


# --- Theorem 2 ---------------------------------------------------------------------------------
def test_theorem2_linear_verdicts():
    ok = np.ones(3, bool)
    assert v.theorem2_linear_verdict(ok, ~ok, 1.0, 2000)[0] == REPRODUCED
    # Lemma 3's contraction bound scaled by 1/1.1 (a step contracts less than it promises)
    assert v.theorem2_linear_verdict(ok, ~ok, 1.1, 2000)[0] == DIFFERS
    # a budget far too small: runs still converging
    assert v.theorem2_linear_verdict(np.array([T, F, F]), np.array([F, T, T]), 0.9, 100)[0] == UNDECIDED
    # a run that stopped converging under the condition
    assert v.theorem2_linear_verdict(np.array([T, T, F]), np.zeros(3, bool), 0.9, 2000)[0] == DIFFERS


def test_theorem2_factor2_verdicts():
    assert v.theorem2_factor2_verdict(1.975, 2.0, 3.0, 2.475)[0] == REPRODUCED
    # Corollary 1's bound scaled down by 1.1: GD converged beyond it
    assert v.theorem2_factor2_verdict(1.975, 2.0 / 1.1, 3.0, 2.475)[0] == DIFFERS
    # stopped far below the bound for rho >= 1
    assert v.theorem2_factor2_verdict(1.5, 2.0, 3.0, 2.475)[0] == DIFFERS
    # a budget far too small: nothing converged
    assert v.theorem2_factor2_verdict(None, 2.0, 3.0, 2.475)[0] == UNDECIDED
    # the grid stops below the bound
    assert v.theorem2_factor2_verdict(5.975, 8.0, 0.5, 6.0)[0] == UNDECIDED


# --- Theorem 3 and Lemma 4 ---------------------------------------------------------------------
def test_theorem3_verdicts():
    args = {
        "gap_theory": 1.745,
        "norm_R": 4.0,
        "positive_converged": True,
        "negative_monotone": True,
        "n_long": 20000,
        "steps_needed": 5000.0,
    }
    assert v.theorem3_verdict(1e-9, 1.745, **args)[0] == REPRODUCED
    # ||R - R_+|| scaled by 1.1: the distance to R does not match
    assert v.theorem3_verdict(1e-9, 1.745 * 1.1, **args)[0] == DIFFERS
    # a budget far too small: still approaching R_+ monotonically
    st, why = v.theorem3_verdict(0.1, 1.6, **{**args, "n_long": 100})
    assert st == UNDECIDED and "5e+03" in why
    # a negative direction that does not shrink monotonically
    assert v.theorem3_verdict(1e-9, 1.745, **{**args, "negative_monotone": False})[0] == DIFFERS
    # the sublinear estimate: L = 3, delta = 0.01, |r| = 0.5, target 1e-3 -> (1e-3)^(-1/3) / 0.005 = 2000
    assert v.sublinear_steps(3, 0.01, 0.5, 1e-3) == pytest.approx(2000.0)
    assert math.isnan(v.sublinear_steps(2, 0.01, 0.5, 1e-3))


def test_theorem3_undecided_on_a_real_short_run():
    # the eigenbasis recursion of a negative eigenvalue at L = 6 after far too few steps
    r, L = -0.5, 6
    delta = identity.theorem2_step_condition(L, 2.0)
    x = identity.scalar_recursion(r, L, delta, 200)
    dist = float(x[-1] ** L)
    assert dist > 1e-3
    st, _ = v.theorem3_verdict(
        dist, 0.5, 0.5, 1.0, True, bool(np.all(np.diff(x) < 0)), 200, v.sublinear_steps(L, delta, 0.5, 1e-3)
    )
    assert st == UNDECIDED


def test_lemma4_verdicts():
    assert v.lemma4_verdict(np.ones(4, bool), np.ones(4, bool), 5000)[0] == REPRODUCED
    # a step above the threshold (the threshold scaled by 1.1 no longer holds): not monotone
    r, L = -1.0, 3
    x = identity.scalar_recursion(r, L, 1.5 * identity.lemma4_threshold(r), 50)
    mono = bool(np.all(x[1:] >= 0) and np.all(np.diff(x) <= 0))
    assert v.lemma4_verdict(np.array([mono]), np.array([True]), 50)[0] == DIFFERS
    # a budget far too small
    assert v.lemma4_verdict(np.ones(4, bool), np.array([T, T, F, F]), 5)[0] == UNDECIDED
    # no negative eigenvalue: the premise fails
    assert v.lemma4_verdict(np.zeros(0, bool), np.zeros(0, bool), 5000)[0] == NOT_APPLICABLE


# --- the reviewers' questions ------------------------------------------------------------------
def test_rq_diagonal_verdicts():
    ok = np.ones(16, bool)
    assert v.rq_diagonal_verdict(ok, ~ok, 1.0, 3000)[0] == REPRODUCED
    # premise violated: the step outside the condition
    assert v.rq_diagonal_verdict(ok, ~ok, 1.5, 3000)[0] == NOT_APPLICABLE
    # a budget far too small: runs still approaching R^{1/L}
    assert v.rq_diagonal_verdict(~ok, ok, 1.0, 10)[0] == UNDECIDED
    # a run that settled elsewhere
    bad = ok.copy()
    bad[0] = False
    assert v.rq_diagonal_verdict(bad, ~ok, 1.0, 3000)[0] == DIFFERS
    # too few instances for "all"
    assert v.rq_diagonal_verdict(ok[:6], ~ok[:6], 1.0, 3000)[0] == UNDECIDED


def test_rq_worst_case_verdicts():
    L = 4
    t = np.logspace(0, 1, 13)
    thm = L / (L - 2 + t**2 + t**-2.0)
    lim = thm * np.linspace(1.0, 0.9, t.size)
    assert v.rq_worst_case_verdict(lim, thm, 5, True, True)[0] == REPRODUCED
    # the stability limit scaled by 1.1: above Theorem 1's bound
    assert v.rq_worst_case_verdict(lim * 1.1, thm, 5, True, True)[0] == DIFFERS
    # the eigenvalue computations disagree
    assert v.rq_worst_case_verdict(lim, thm, 5, False, True)[0] == DIFFERS
    # not decreasing (while staying below Theorem 1's bound)
    bump = lim.copy()
    bump[5] = 0.99 * bump[6]
    assert v.rq_worst_case_verdict(bump, thm, 5, True, True)[0] == DIFFERS
    # not 1 at t = 1
    assert v.rq_worst_case_verdict(lim / 1.1, thm, 5, True, True)[0] == DIFFERS


# --- the chapters' extreme cases, executed (python -m stepsize run ... --json) ----------------
EXTREME = [
    ("nar-corollary1", {"rho": 100, "depth": 10}),
    ("nar-corollary2", {"delta": 10, "depth": 10}),
    ("nar-theorem2", {"delta_fraction": 3}),
    ("nar-review-questions", {"depth": 4, "imbalance": 6}),
]


@pytest.mark.notebooks
@pytest.mark.parametrize("slug,params", EXTREME, ids=[f"{s}-{'-'.join(map(str, p.values()))}" for s, p in EXTREME])
def test_extreme_parameters_give_numbers_and_verdicts(slug, params, tmp_path):
    from test_notebooks import _run

    values = _run(slug, params, tmp_path)
    nan = [k for k, x in values.items() if x == "nan" or (isinstance(x, float) and math.isnan(x))]
    assert not nan, f"{slug}: NaN glued: {nan}"
    statuses = {k: x for k, x in values.items() if k.startswith("claim_") and k.endswith("_status")}
    assert statuses and set(statuses.values()) <= set(VERDICTS)
    if slug == "nar-review-questions":
        assert values["power_agrees"] is True
        assert set(statuses.values()) == {REPRODUCED}
    if slug in ("nar-corollary1", "nar-corollary2"):  # nothing converges in the budget: not "differs"
        assert set(statuses.values()) == {UNDECIDED}
