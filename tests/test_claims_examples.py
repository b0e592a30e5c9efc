"""The verdict functions of Nar & Sastry's Examples 1-3: each reproduces on the chapter's numbers and
fails as it should (differs, undecided, not applicable) when the claim must fail."""

import numpy as np
import pytest
from stepsize.book.claims import examples as v
from stepsize.shares import share
from stepsize.verdicts import DIFFERS, NOT_APPLICABLE, REPRODUCED, UNDECIDED


def test_combine_orders_the_verdicts():
    assert v.combine([(REPRODUCED, "a"), (UNDECIDED, "b")]) == (UNDECIDED, "b")
    assert v.combine([(UNDECIDED, "b"), (DIFFERS, "c"), (DIFFERS, "d")]) == (DIFFERS, "c d")
    assert v.combine([(REPRODUCED, "a"), (REPRODUCED, "e")])[0] == REPRODUCED


def test_ex1_orbit():
    assert v.ex1_orbit(0.0, 10000, 0, True, 200, 17)[0] == REPRODUCED
    # amplitude off by 1.1 times the tolerance
    assert v.ex1_orbit(1.1e-9, 10000, 0, True, 200, 17)[0] == DIFFERS
    # the exceptional points missed 0
    assert v.ex1_orbit(0.0, 10000, 0, False, 200, 17)[0] == DIFFERS
    # a budget far too small: no run on the cycle yet, all still moving
    st, why = v.ex1_orbit(None, 0, 10000, True, 1, 17)
    assert st == UNDECIDED and "17" in why
    # no run on the cycle although the budget suffices
    assert v.ex1_orbit(None, 0, 0, True, 200, 17)[0] == DIFFERS


def test_ex1_share():
    assert v.ex1_share(share(10000, 10000), 0, 0, 200, 17)[0] == REPRODUCED
    assert v.ex1_share(share(9999, 10000), 1, 0, 200, 17)[0] == DIFFERS  # one counter-example
    st, why = v.ex1_share(share(0, 10000), 0, 10000, 1, 17)  # budget far too small
    assert st == UNDECIDED and "17" in why
    assert v.ex1_share(share(3, 3), 0, 0, 200, 17)[0] == UNDECIDED  # too few instances


def test_ex2_which_minimum():
    minima, thr = (1.0, 2.0), (0.5, 0.2)
    assert v.ex2_which_minimum(0.3, minima, thr, [838, 0], 2000)[0] == REPRODUCED
    # one run reached the sharp minimum although delta >= 2/f'' there
    assert v.ex2_which_minimum(0.3, minima, thr, [838, 1], 2000)[0] == DIFFERS
    # premise: below 0.2 both minima are allowed, the claim rules nothing out
    assert v.ex2_which_minimum(0.15, minima, thr, [500, 200], 2000)[0] == NOT_APPLICABLE
    # too few initial points to decide
    assert v.ex2_which_minimum(0.3, minima, thr, [1, 0], 1)[0] == UNDECIDED


def test_ex2_threshold():
    grid = np.arange(0.01, 0.6, 0.02)
    tol, f2, n = 1e-9, 4.0, 3000
    dn = (2 - np.log(1 / tol) / n) / f2
    reached = grid < 0.5
    assert v.ex2_threshold(0.4988, 0.5, dn, grid, reached, f2, n, tol)[0] == REPRODUCED
    # reached above 2/f''
    r2 = reached.copy()
    r2[np.argmax(grid > 0.5)] = True
    assert v.ex2_threshold(0.4988, 0.5, dn, grid, r2, f2, n, tol)[0] == DIFFERS
    # the threshold scaled by 1.1: measured above it
    assert v.ex2_threshold(0.5 * 1.1, 0.5, dn, grid, reached, f2, n, tol)[0] == DIFFERS
    # missed at a grid step where the budget is ample
    r3 = reached.copy()
    r3[5] = False
    assert v.ex2_threshold(0.4988, 0.5, dn, grid, r3, f2, n, tol)[0] == DIFFERS
    # a budget far too small: missed where convergence needs more steps than n_steps
    n = 10
    dn10 = (2 - np.log(1 / tol) / n) / f2
    st, why = v.ex2_threshold(None, 0.5, dn10, grid, np.zeros_like(reached), f2, n, tol)
    assert st == UNDECIDED and "raise n_steps" in why
    assert v.steps_to_see(0.49, 4.0, 1e-9) == pytest.approx(np.log(1e9) / 0.04)
    assert v.steps_to_see(0.5, 4.0, 1e-9) == np.inf


def test_ex3():
    assert v.ex3_radius(1e-12, 2000, 2000)[0] == REPRODUCED
    assert v.ex3_radius(1.1e-9, 2000, 2000)[0] == DIFFERS
    assert v.ex3_radius(1e-12, 1999, 2000)[0] == DIFFERS
    assert v.ex3_radius(1e-12, 3, 3)[0] == UNDECIDED
    assert v.ex3_sweep(2e-12)[0] == REPRODUCED
    assert v.ex3_sweep(1.1e-9)[0] == DIFFERS


# --- the chapters themselves, at the extremes of their registry ranges -------------------------
import json
import math
import re
import subprocess
import sys

from stepsize.book.registry import REPO_ROOT
from stepsize.verdicts import VERDICTS


def run_json(slug, params, out):
    """``python -m stepsize run SLUG -p ... --json``: the glued values (as ``tests/test_notebooks.py``)."""
    args = [sys.executable, "-m", "stepsize", "run", slug, "--json", "--out", str(out)]
    for k, val in params.items():
        args += ["-p", k, str(val)]
    r = subprocess.run(args, check=False, capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def check_values(slug, values):
    """Four verdicts only; no NaN and no "nan" anywhere; a missing reproduced value is never reproduced."""
    statuses = {
        k[len("claim_") : -len("_status")]: s
        for k, s in values.items()
        if k.startswith("claim_") and k.endswith("_status")
    }
    assert statuses and set(statuses.values()) <= set(VERDICTS), (slug, statuses)
    bad = [
        k
        for k, x in values.items()
        if (isinstance(x, float) and math.isnan(x)) or (isinstance(x, str) and re.search(r"\bnan\b", x, re.IGNORECASE))
    ]
    assert not bad, f"{slug}: NaN glued: {bad}"
    for key, s in statuses.items():
        if values.get(f"claim_{key}_reproduced") is None:
            assert s != "reproduced", (slug, key)
    return statuses


EXTREMES = [
    ("nar-example1", {"delta": 1e-6}, {"ex1_orbit": "undecided", "ex1_share": "undecided"}),
    ("nar-example1", {"n_steps": 1}, {"ex1_orbit": "undecided", "ex1_share": "undecided"}),
    ("nar-example1", {"delta": 100, "n_init": 1}, {"ex1_orbit": "reproduced", "ex1_share": "undecided"}),
    ("nar-example2", {"delta": 1.0}, {"ex2_which_minimum": "reproduced"}),
    ("nar-example2", {"delta": 1e-6}, {"ex2_which_minimum": "not applicable"}),
    ("nar-example2", {"n_init": 1}, {"ex2_which_minimum": "undecided"}),
    ("nar-example2", {"n_steps": 10}, {"ex2_threshold_flat": "undecided", "ex2_threshold_sharp": "undecided"}),
    ("nar-example3", {"p": 20, "delta": 10}, {"ex3_radius": "reproduced"}),
    ("nar-example3", {"p": 4, "delta": 1e-6}, {"ex3_radius": "reproduced"}),
]


@pytest.mark.notebooks
@pytest.mark.parametrize("slug,params,want", EXTREMES, ids=[f"{s}-{p}" for s, p, _ in EXTREMES])
def test_examples_at_extreme_parameters(slug, params, want, tmp_path):
    statuses = check_values(slug, run_json(slug, params, tmp_path))
    for key, s in want.items():
        assert statuses[key] == s, (slug, params, key, statuses[key])
