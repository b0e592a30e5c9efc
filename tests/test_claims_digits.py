"""Verdicts of the digits chapter: the critical step, the transition claim, the paper's number; each
fed cases where it must fail."""

import math

import numpy as np
from stepsize.book.claims import digits as D
from stepsize.verdicts import DIFFERS, NOT_APPLICABLE, REPRODUCED, UNDECIDED

ETAS = np.array([0.25, 0.5, 1.0, 2.0, 4.0])
N = np.full(5, 20)


def test_sharp_transition_is_reproduced_with_a_bracketed_critical_step():
    conv = np.array([20, 19, 10, 0, 0])
    und = np.zeros(5, int)
    cr = D.critical_eta(ETAS, conv, und, N)
    assert (cr.low, cr.high) == (0.5, 2.0)
    # midpoint share 0.5 at eta = 1 exactly: the crossing lies between 1 and 2
    assert 1.0 <= cr.estimate < 2.0
    status, reason = D.mechanism_verdict(ETAS, conv, und, N, 1000)
    assert status == REPRODUCED and "[0.5, 2]" in reason


def test_estimate_interpolates_in_log_eta():
    cr = D.critical_eta(np.array([1.0, 4.0]), np.array([20, 0]), np.zeros(2, int), np.array([20, 20]))
    assert math.isclose(cr.estimate, 2.0)  # share 1 -> 0 linearly in log eta: 1/2 at the geometric mean


def test_undecided_runs_block_the_transition_and_say_raise_the_cap():
    conv = np.array([20, 19, 2, 0, 0])
    und = np.array([0, 1, 18, 20, 20])  # still moving at the cap: may converge later
    status, reason = D.mechanism_verdict(ETAS, conv, und, N, 1000)
    assert status == UNDECIDED and "max_steps" in reason and "4000" in reason
    assert math.isnan(D.critical_eta(ETAS, conv, und, N).estimate)


def test_nothing_converges_differs_and_too_few_runs_is_undecided():
    zero = np.zeros(5, int)
    assert D.mechanism_verdict(ETAS, zero, zero, N, 1000)[0] == DIFFERS
    # 3 of 5 at every step: no share is surely above or below 1/2
    status, reason = D.mechanism_verdict(ETAS, np.full(5, 3), zero, np.full(5, 5), 1000)
    assert status == UNDECIDED and "runs" in reason


def test_share_rising_again_past_the_transition_differs():
    conv = np.array([20, 20, 0, 0, 20])
    status, reason = D.mechanism_verdict(ETAS, conv, np.zeros(5, int), N, 1000)
    assert status == DIFFERS and "again" in reason


def test_grid_that_stops_before_the_transition_is_undecided():
    conv = np.array([20, 20, 20, 20, 19])
    status, reason = D.mechanism_verdict(ETAS, conv, np.zeros(5, int), N, 1000)
    assert status == UNDECIDED and "grid" in reason


def test_literal_claim_premise_and_counter_examples():
    assert D.literal_verdict(3, 0, 60, on_paper_data=False)[0] == NOT_APPLICABLE
    assert D.literal_verdict(0, 0, 0, on_paper_data=True)[0] == NOT_APPLICABLE
    assert D.literal_verdict(3, 0, 60, on_paper_data=True)[0] == DIFFERS
    assert D.literal_verdict(0, 5, 60, on_paper_data=True)[0] == UNDECIDED
    assert D.literal_verdict(0, 0, 60, on_paper_data=True)[0] == REPRODUCED
