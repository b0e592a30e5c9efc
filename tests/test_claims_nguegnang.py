"""Verdict functions of the Nguegnang chapters: each claim check made to fail (differs, undecided, not applicable)."""

import math

import numpy as np
import pytest
from conftest import run_json
from stepsize.book.claims import nguegnang as cl
from stepsize.verdicts import DIFFERS, NOT_APPLICABLE, REPRODUCED, UNDECIDED, VERDICTS


def test_balancedness_verdicts():
    ok = {"drift_rel_err": 1e-14, "eta_beta": 0.9, "initial_balancedness": 0.0, "n_steps": 3000}
    assert cl.balancedness(0.01, 0.05, 1e-12, **ok)[0] == REPRODUCED
    # the measured drift above delta scaled by 1.1
    assert cl.balancedness(1.1 * 0.05, 0.05, 0.0, **ok)[0] == DIFFERS
    # budget far too small: within delta so far, but later steps could still exceed it
    s, reason = cl.balancedness(0.01, 0.05, 0.2, **ok)
    assert s == UNDECIDED and "n_steps" in reason
    # the drift identity broken
    assert cl.balancedness(0.01, 0.05, 0.0, **{**ok, "drift_rel_err": 1e-3})[0] == DIFFERS
    # premise violated: unbalanced start, or eta * beta > 1 (bound scaled by 1.1)
    assert cl.balancedness(0.01, 0.05, 0.0, **{**ok, "initial_balancedness": 0.3})[0] == NOT_APPLICABLE
    assert cl.balancedness(0.01, 0.05, 0.0, **{**ok, "eta_beta": 1.1})[0] == NOT_APPLICABLE


def test_constant_step_verdicts():
    good = (["converged", "converged", "diverged"],)
    assert cl.constant_step([2], ["converged"], good, [""], 300.0)[0] == REPRODUCED
    assert cl.constant_step([2], ["diverged"], good, [""], 300.0)[0] == DIFFERS
    s, reason = cl.constant_step([2], ["undecided"], good, ["raise n_steps to about 16000"], 300.0)
    assert s == UNDECIDED and "16000" in reason
    # nothing above the bound converged although every run decided: differs
    assert cl.constant_step([2], ["converged"], (["diverged", "diverged"],), [""], 300.0)[0] == DIFFERS
    # nothing diverged on the grid: undecided (a wider grid decides), never differs
    s, reason = cl.constant_step([2], ["converged"], (["converged", "converged"],), [""], 300.0)
    assert s == UNDECIDED and "wider grid" in reason
    # an undecided run is never turned into differs
    assert cl.constant_step([2], ["converged"], (["undecided", "diverged"],), [""], 300.0)[0] == UNDECIDED
    assert cl.constant_step([2], ["converged"], good, [""], 300.0, premise=False)[0] == NOT_APPLICABLE


def test_vs_nar_verdicts():
    suff, nec = 0.01, 0.5
    etas = np.geomspace(0.999 * suff, 1.5 * nec, 8)
    fates = np.where(etas < 0.45, "converged", "diverged")
    assert cl.vs_nar([2], [suff], [nec], [etas], [fates])[0] == REPRODUCED
    # the necessary bound scaled down by 1.1 below a converged step: differs
    assert cl.vs_nar([2], [suff], [etas[fates == "converged"].max() / 1.1], [etas], [fates])[0] == DIFFERS
    # the sufficient bound scaled by 1.1 above every converged step: differs
    assert cl.vs_nar([2], [1.1 * etas[fates == "converged"].max()], [nec], [etas], [fates])[0] == DIFFERS
    # budget far too small: nothing decided yet
    und = np.full(etas.size, "undecided")
    assert cl.vs_nar([2], [suff], [nec], [etas], [und])[0] == UNDECIDED
    # an undecided run above the necessary bound cannot end converged there (no global minimum is
    # stable above it): it does not leave the order open, and the reason names it; a periodic one neither
    f2 = fates.copy()
    f2[-1] = "undecided"
    status, reason = cl.vs_nar([2], [suff], [nec], [etas], [f2], texts=[[""] * 7 + ["still rising and falling"]])
    assert status == REPRODUCED and "cannot end converged" in reason and "still rising and falling" in reason
    f2[-1] = "periodic"
    assert cl.vs_nar([2], [suff], [nec], [etas], [f2])[0] == REPRODUCED
    # but a converged run above it still differs, and an open lower half stays open (and keeps the note)
    f3 = f2.copy()
    f3[-1] = "converged"
    assert cl.vs_nar([2], [suff], [nec], [etas], [f3])[0] == DIFFERS
    f4 = np.where(etas < 0.45, "undecided", "diverged")
    f4[-1] = "undecided"
    status, reason = cl.vs_nar([2], [suff], [nec], [etas], [f4])
    assert (
        status == UNDECIDED
        and "no run at or above the sufficient bound" in reason
        and "no run there can end converged" in reason
    )


def test_all_instances_share():
    n = 64
    ok = np.ones(n, dtype=bool)
    none = np.zeros(n, dtype=bool)
    s, _, sh = cl.all_instances("x", ok, none, none)
    assert s == REPRODUCED and sh.lo > 0.9
    bad = none.copy()
    bad[3] = True
    ok2 = ok & ~bad
    assert cl.all_instances("x", ok2, bad, none)[0] == DIFFERS
    und = none.copy()
    und[5] = True
    assert cl.all_instances("x", ok & ~und, none, und)[0] == UNDECIDED
    # too small a sample: undecided, not reproduced
    assert cl.all_instances("x", ok[:3], none[:3], none[:3])[0] == UNDECIDED


def test_decreasing_verdicts():
    g = [0.0, 0.5, 1.0]
    conv = [["converged"] * 3]
    text = [["raise n_steps to about 9000"] * 3]
    assert cl.decreasing([2], g, [[100, 200, 400]], [[3000] * 3], conv, text, 1.0)[0] == REPRODUCED
    # ordering violated
    assert cl.decreasing([2], g, [[100, 300, 200]], [[3000] * 3], conv, text, 1.0)[0] == DIFFERS
    # budget far too small: no schedule reaches the threshold -> undecided (not "reproduced" by infinities)
    und = [["undecided"] * 3]
    s, reason = cl.decreasing([2], g, [[-1, -1, -1]], [[50] * 3], und, text, 1.0)
    assert s == UNDECIDED and "9000" in reason
    # the slowest schedule unreached: the convergence half is open
    s, _ = cl.decreasing([2], g, [[100, 200, -1]], [[3000] * 3], [["converged", "converged", "undecided"]], text, 1.0)
    assert s == UNDECIDED
    # a slower decay not reached while a faster one reached earlier: differs
    s, _ = cl.decreasing([2], g, [[-1, 200, 400]], [[3000] * 3], [["undecided", "converged", "converged"]], text, 1.0)
    assert s == DIFFERS
    div = [["diverged"] + ["converged"] * 2]
    assert cl.decreasing([2], g, [[100, 200, 400]], [[3000] * 3], div, text, 1.0)[0] == DIFFERS
    # premise violated: the first step 1.1 times the bound
    assert cl.decreasing([2], g, [[100, 200, 400]], [[3000] * 3], conv, text, 1.1)[0] == NOT_APPLICABLE


# --- the worst cases of the registry ranges, through the reader's path (python -m stepsize run --json) ---

WORST = [
    ("nguegnang-balancedness", {"depth": 10, "n_steps": 10}),
    ("nguegnang-constant-step", {"depths": "10", "n_steps": 10}),
    ("nguegnang-vs-nar", {"depths": "2,10", "rho": 10.0, "n_grid": 2, "n_steps": 10}),
    ("nguegnang-vs-nar", {"depths": "3", "rho": 0.01, "n_grid": 4, "n_steps": 10}),
    ("nguegnang-global-minimum", {"n_init": 1, "hidden": 2, "d": 30, "n_steps": 10}),
    ("nguegnang-decreasing-step", {"depths": "2,4", "k0": 50.0}),
    ("nguegnang-decreasing-step", {"depths": "10", "k0": 1.0, "n_steps": 10}),
    ("nguegnang-decreasing-step", {"depths": "2", "k0": 1e6, "n_steps": 10}),
]


_run = run_json


def _has_nan(v):
    if isinstance(v, float):
        return math.isnan(v)
    if isinstance(v, str):
        return v.strip().lower() == "nan" or " nan" in v.lower() or "nan " in v.lower()
    return False


@pytest.mark.notebooks
@pytest.mark.parametrize("slug,params", WORST, ids=[f"{s}-{i}" for i, (s, _) in enumerate(WORST)])
def test_worst_cases_glue_no_nan_and_four_verdicts(slug, params, tmp_path):
    values = _run(slug, params, tmp_path)
    statuses = {k: v for k, v in values.items() if k.startswith("claim_") and k.endswith("_status")}
    assert statuses and set(statuses.values()) <= set(VERDICTS)
    nan = [k for k, v in values.items() if _has_nan(v)]
    assert not nan, f"{slug} {params}: NaN glued: {nan}"
