"""The verdict functions of the Crăciun & Ghoshdastidar chapters: each reproduces on the chapter's
numbers and fails as it should (differs, undecided, not applicable) when the claim must fail."""

import numpy as np
from stepsize.book.claims import craciun as v
from stepsize.verdicts import DIFFERS, NOT_APPLICABLE, REPRODUCED, UNDECIDED


def test_toy_mws():
    assert v.toy_mws(0.4, 20000, 20000, 0, 20000, 2000, 100)[0] == REPRODUCED
    # one limit outside M_WS
    assert v.toy_mws(0.4, 20000, 19999, 0, 20000, 2000, 100)[0] == DIFFERS
    # premise violated: the claim is about eta < 1
    assert v.toy_mws(10.0, 0, 0, 0, 20000, 2000, 0)[0] == NOT_APPLICABLE
    assert v.toy_mws(1.0, 0, 0, 0, 20000, 2000, 0)[0] == NOT_APPLICABLE
    # budget far too small: nothing at rest yet
    st, why = v.toy_mws(1e-6, 0, 0, 20000, 20000, 2000, 15000000)
    assert st == UNDECIDED and "15000000" in why
    # nothing converged and nothing left running
    assert v.toy_mws(0.4, 0, 0, 0, 20000, 2000, 100)[0] == DIFFERS
    # too few runs
    assert v.toy_mws(0.4, 3, 3, 0, 8, 2000, 100)[0] == UNDECIDED


def test_toy_empty():
    assert v.toy_empty(1.1, 0, 20000)[0] == REPRODUCED
    assert v.toy_empty(1.1, 1, 20000)[0] == DIFFERS
    assert v.toy_empty(0.95, 0, 20000)[0] == NOT_APPLICABLE
    assert v.toy_empty(1.0, 0, 20000)[0] == NOT_APPLICABLE
    assert v.toy_empty(1.1, 0, 8)[0] == UNDECIDED
    assert "transients" in v.toy_empty(1.1, 0, 20000, n_transients=2)[1]


def test_mws_length():
    cands = {"1/η²": 36.608, "4/η": 21.9, "2/η²": 53.18}
    st, why = v.mws_length(14.47, 37.4, cands)
    assert st == DIFFERS and "1/η²" in why and "none matches" in why
    assert v.mws_length(37.4 / 1.01, 37.4)[0] == REPRODUCED
    assert v.mws_length(37.4 * 1.1, 37.4)[0] == DIFFERS  # scaled by 1.1


def test_mws_critical():
    etas = np.linspace(0.1, 1.1, 41)
    n = 40000
    conv = np.where(etas < 1 - 1e-12, 1000, 0)
    und = np.zeros_like(conv)
    assert v.mws_critical(etas, conv, und, n, 2000)[0] == REPRODUCED
    # one grid point converges above eta_c
    c2 = conv.copy()
    c2[-1] = 1
    assert v.mws_critical(etas, c2, und, n, 2000)[0] == DIFFERS
    # the sweep does not reach above 1
    assert v.mws_critical(etas[:10], conv[:10], und[:10], n, 2000)[0] == UNDECIDED
    # budget far too small: no convergence below 1, runs still moving
    c3, u3 = conv.copy(), und.copy()
    c3[30:40], u3[30:40] = 0, n
    st, why = v.mws_critical(etas, c3, u3, n, 16, steps_hint=400)
    assert st == UNDECIDED and "400" in why
    # too few points above 1 to show "none"
    assert v.mws_critical(etas, conv, und, 1, 2000)[0] == UNDECIDED


def test_linear_critical():
    ratio = np.linspace(0.5, 1.5, 21)
    nr = 24
    conv = np.where(ratio < 1 - 1e-12, nr, 0)
    div = np.zeros_like(conv)
    und = np.zeros_like(conv)
    sp = 0.05
    assert v.linear_critical(ratio, conv, div, und, nr, sp, 1200)[0] == REPRODUCED
    # a run converges above eta*
    c2 = conv.copy()
    c2[-1] = 1
    assert v.linear_critical(ratio, c2, div, und, nr, sp, 1200)[0] == DIFFERS
    # budget far too small: below eta* nothing converged, everything still moving
    c3 = np.zeros_like(conv)
    u3 = np.full_like(conv, nr)
    assert v.linear_critical(ratio, c3, div, u3, nr, sp, 10)[0] == UNDECIDED
    # below eta* the runs diverge
    d4 = np.full_like(conv, nr)
    assert v.linear_critical(ratio, c3, d4, und, nr, sp, 1200)[0] == DIFFERS
    # no step size above eta*
    assert v.linear_critical(ratio[:8], conv[:8], div[:8], und[:8], nr, sp, 1200)[0] == UNDECIDED


def test_first_zero_from():
    assert v.first_zero_from([0.1, 0.5, 1.0, 1.1], [5, 3, 0, 0]) == 1.0
    assert v.first_zero_from([0.1, 0.5], [5, 3]) is None


# --- the chapters themselves, at the extremes of their registry ranges -------------------------
import pytest
from test_claims_examples import check_values, run_json

EXTREMES = [
    ("craciun-toy", {"eta": 10}, {"toy_mws": "not applicable", "toy_empty": "reproduced"}),
    ("craciun-toy", {"eta": 1e-6}, {"toy_mws": "undecided"}),
    ("craciun-toy", {"eta_large": 1e-3}, {"toy_empty": "not applicable"}),
    ("craciun-toy", {"n_init": 8}, {"toy_empty": "undecided"}),
    ("craciun-mws", {"eta_max": 0.1000001}, {"mws_critical": "undecided", "mws_length": "differs"}),
    ("craciun-mws", {"n_steps": 16}, {"mws_critical": "undecided"}),
    ("craciun-mws", {"eta_max": 10, "n_grid": 2}, {}),
    ("craciun-linear", {"depth": 8}, {"linear_critical": "undecided"}),
    ("craciun-linear", {"n_steps": 10}, {"linear_critical": "undecided"}),
    ("craciun-linear", {"s_top": 0.01}, {}),
    ("craciun-linear", {"n_eta": 2, "n_runs": 1}, {}),
    ("craciun-linear", {"dim": 1, "n_samples": 1}, {}),
]


@pytest.mark.notebooks
@pytest.mark.parametrize("slug,params,want", EXTREMES, ids=[f"{s}-{p}" for s, p, _ in EXTREMES])
def test_craciun_at_extreme_parameters(slug, params, want, tmp_path):
    statuses = check_values(slug, run_json(slug, params, tmp_path))
    for key, s in want.items():
        assert statuses[key] == s, (slug, params, key, statuses[key])
