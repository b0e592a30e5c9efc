"""Part IV's claim checks, each fed a case where it must fail."""

import numpy as np
from stepsize.book.claims import beyond as v
from stepsize.shares import share
from stepsize.verdicts import DIFFERS, NOT_APPLICABLE, REPRODUCED, UNDECIDED


def test_first_flip():
    assert v.first_flip_verdict(np.array([1.0, 0.5]), np.array([1.0, 0.5]))[0] == REPRODUCED
    assert v.first_flip_verdict(np.array([1.1, 0.5]), np.array([1.0, 0.5]))[0] == DIFFERS  # bound x 1.1
    assert v.first_flip_verdict(np.array([np.nan]), np.array([1.0]))[0] == UNDECIDED


def test_feigenbaum():
    assert v.feigenbaum_verdict(np.array([4.54, 4.64, 4.668]), 4.6692)[0] == REPRODUCED
    assert v.feigenbaum_verdict(np.array([4.54, 4.64, 4.2]), 4.6692)[0] == DIFFERS
    assert v.feigenbaum_verdict(np.array([4.54]), 4.6692)[0] == NOT_APPLICABLE


def test_chaos():
    assert v.chaos_verdict(share(500, 600), 0.05)[0] == REPRODUCED
    assert v.chaos_verdict(share(0, 600), 0.05)[0] == DIFFERS
    assert v.chaos_verdict(share(1, 20), 0.05)[0] == UNDECIDED


def test_divergence():
    assert v.divergence_verdict(share(0, 100), share(50, 50), 0)[0] == REPRODUCED
    assert v.divergence_verdict(share(3, 100), share(50, 50), 0)[0] == DIFFERS  # runs diverged below
    assert v.divergence_verdict(share(0, 100), share(48, 50), 2)[0] == UNDECIDED  # budget too small
    assert v.divergence_verdict(share(0, 100), share(48, 50), 0)[0] == DIFFERS  # counter-examples


def test_edge_claims_fail_when_they_should():
    assert v.edge_reach_verdict(share(6, 6))[0] == REPRODUCED
    assert v.edge_reach_verdict(share(0, 6))[0] == DIFFERS  # budget far too small: no run reaches the edge
    assert v.edge_reach_verdict(share(3, 6))[0] == UNDECIDED
    assert v.edge_hover_verdict(share(0, 0))[0] == NOT_APPLICABLE  # premise: some run reached the edge
    assert v.edge_hover_verdict(share(0, 6))[0] == DIFFERS
    assert v.edge_loss_verdict(share(0, 6))[0] == DIFFERS
    assert v.edge_loss_verdict(share(0, 0))[0] == NOT_APPLICABLE


def test_one_law_claim():
    assert v.one_law_verdict(100, 0, 0, 1e-4)[0] == REPRODUCED
    assert v.one_law_verdict(100, 1, 0, 1e-4)[0] == DIFFERS  # a run that stays above the line
    assert v.one_law_verdict(0, 0, 0, 1e-4)[0] == NOT_APPLICABLE
    status, why = v.one_law_verdict(100, 0, 2, 1e-4)
    assert status == REPRODUCED and "transients" in why
