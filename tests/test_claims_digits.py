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


def _random_counts(rng, k=5, n=20):
    conv = rng.integers(0, n + 1, k)
    und = np.array([rng.integers(0, n - c + 1) for c in conv])
    return conv, und, np.full(k, n)


def test_transition_status_is_the_status_of_mechanism_verdict():
    rng = np.random.default_rng(1)
    for _ in range(400):
        conv, und, n = _random_counts(rng)
        cr = D.critical_eta(ETAS, conv, und, n)
        status = D.transition_status(cr.lo > 0.5, cr.hi < 0.5, cr.hi > 0.5)
        assert status == D.mechanism_verdict(ETAS, conv, und, n, 1000)[0]


def _ends(rng, conv, und):
    """One random end of the undecided runs: each converges, diverges or stays undecided."""
    fate = rng.integers(0, 3, int(und.sum()))
    idx = np.repeat(np.arange(und.size), und)
    c = conv + np.bincount(idx[fate == 0], minlength=und.size)
    u = np.bincount(idx[fate == 2], minlength=und.size)
    return c, u


def test_stopping_what_leaving_allows_never_changes_the_status():
    """Runs stopped by the rule keep their share's end; every other end is drawn at random: the
    status with the stopped runs left undecided equals the status had they gone on."""
    rng = np.random.default_rng(2)
    n_fixed = 0
    for _ in range(300):
        conv, und, n = _random_counts(rng)
        leave, fixed = D.leaving(ETAS, conv, und, n, on_paper_data=False)
        n_fixed += fixed
        for _ in range(5):
            c_end, u_end = _ends(rng, conv, und)
            full = D.mechanism_verdict(ETAS, c_end, u_end, n, 1000)[0]
            stopped = leave | fixed
            c_stop, u_stop = np.where(stopped, conv, c_end), np.where(stopped, und, u_end)
            assert D.mechanism_verdict(ETAS, c_stop, u_stop, n, 1000)[0] == full
    assert 10 < n_fixed < 290  # both kinds of case were drawn


def test_leaving_is_not_fixed_while_a_transition_can_still_appear():
    conv = np.array([20, 20, 20, 6, 0])
    und = np.array([0, 0, 0, 14, 20])  # the last two may still end below one half: reproduced, or not
    leave, fixed = D.leaving(ETAS, conv, und, N, on_paper_data=False)
    assert not fixed and list(leave) == [True, True, True, False, False]
    # all but eta = 4 decided and the share surely above 1/2 up to 2: only eta = 4 can still decide it
    conv, und = np.array([20, 20, 20, 20, 0]), np.array([0, 0, 0, 0, 20])
    assert not D.leaving(ETAS, conv, und, N, on_paper_data=False)[1]
    # the share surely above 1/2 at every step: nothing the runs do decides it (the grid must grow)
    conv, und = np.array([20, 20, 20, 16, 16]), np.array([0, 0, 0, 4, 4])
    leave, fixed = D.leaving(ETAS, conv, und, N, on_paper_data=False)
    assert fixed and leave.all()
    status, reason = D.mechanism_verdict(ETAS, conv, und, N, 1000, fixed=True)
    assert status == UNDECIDED and "extend the grid" in reason and "max_steps" not in reason


def test_on_mnist_runs_above_one_go_on_until_the_literal_claim_is_fixed():
    conv, und = np.array([20, 20, 20, 0, 0]), np.array([0, 0, 0, 2, 0])  # eta = 2 surely below, 2 open
    leave, fixed = D.leaving(ETAS, conv, und, N, on_paper_data=True)
    assert not fixed and not leave[3] and leave[:3].all()
    leave, fixed = D.leaving(ETAS, conv, und, N, on_paper_data=False)
    assert fixed and leave.all()
    conv = np.array([20, 20, 20, 1, 0])  # a run above 1 converged: the literal claim differs, whatever else
    leave, fixed = D.leaving(ETAS, conv, und, N, on_paper_data=True)
    assert fixed and leave.all()


def test_verdict_rule_pools_the_depths_and_records_when_it_fixed():
    etas = np.array([0.5, 2.0])
    rule = D.verdict_rule(etas, runs=10, on_paper_data=False)
    C, U, X = int(D.Fate.CONVERGED), int(D.Fate.UNDECIDED), int(D.Fate.DIVERGED)
    depth1 = np.array([C] * 10 + [U] * 10, dtype=np.int8)
    depth2 = np.array([C] * 10 + [X] * 10, dtype=np.int8)
    stops = rule([depth1, depth2])
    # pooled: 20 of 20 converged at 0.5; at 2, 10 diverged and 10 still open: not yet fixed
    assert not stops[0][10:].any() and stops[0][:10].all() and rule.fixed_at == []
    depth1 = np.array([C] * 10 + [X] * 8 + [U] * 2, dtype=np.int8)
    stops = rule([depth1, depth2])
    assert all(s.all() for s in stops) and rule.fixed_at == [2]


def _brute_statuses(options):
    """Every status over every combination of ends (the enumeration the exact rule replaces)."""
    import itertools

    out = set()
    for combo in itertools.product(*options):
        a, b, h = (np.array(x, dtype=bool) for x in zip(*combo))
        out.add(D.transition_status(a, b, h))
    return out


def test_reachable_statuses_equal_the_enumeration_of_every_end():
    rng = np.random.default_rng(7)
    triples = [(False, False, False), (False, False, True), (True, False, True), (False, True, False)]
    n_many = 0
    for _ in range(2000):
        k = int(rng.integers(1, D.MAX_OPEN_GROUPS + 1))
        options = [[triples[j] for j in sorted(set(rng.integers(0, 4, int(rng.integers(1, 4)))))] for _ in range(k)]
        got = D.reachable_statuses(options)
        assert got == _brute_statuses(options)
        n_many += len(got) > 1
    assert 100 < n_many < 1900  # both fixed and open cases were drawn


def test_leaving_fixes_the_verdict_with_more_open_step_sizes_than_the_old_enumeration_allowed():
    """13 step sizes, 10 of them open: the first surely above, the last two surely below, and no open
    step between them can end surely below (so none can start a later rise): reproduced, whatever
    the open runs do. The enumeration stopped at 8 open step sizes and called it not fixed."""
    etas = np.array([0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0])
    n = np.full(13, 80)
    conv = np.array([80] + [45] * 10 + [0, 0])
    open_ = np.array([0] + [30] * 10 + [0, 0])
    leave, fixed = D.leaving(etas, conv, open_, n, on_paper_data=False)
    assert fixed and list(leave) == [True] + [False] * 10 + [True, True]  # fixed: every run may stop
    assert D.mechanism_verdict(etas, conv, open_, n, 3000, fixed=True)[0] == REPRODUCED
    conv[5], open_[5] = 10, 30  # eta = 1.25 could now end surely below, and a later step above: open
    assert not D.leaving(etas, conv, open_, n, on_paper_data=False)[1]
