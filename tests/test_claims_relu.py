"""Verdict logic of the ReLU chapters: each claim check, and a case that makes it fail."""

import numpy as np
from stepsize.book.claims import relu as c
from stepsize.verdicts import DIFFERS, NOT_APPLICABLE, REPRODUCED, UNDECIDED


def test_figure2_pattern():
    many = np.array([True] * 30 + [False] * 2)
    assert c.figure2_pattern(many, 1e-4, 3e-4)[0] == REPRODUCED
    few = np.array([True] * 1 + [False] * 7)  # the old check passed on 1 of 8
    assert c.figure2_pattern(few, 1e-4, 3e-4)[0] in (DIFFERS, UNDECIDED)
    assert c.figure2_pattern(np.array([True] + [False] * 31), 1e-4, 3e-4)[0] == DIFFERS
    assert c.figure2_pattern(np.array([True] * 8 + [False] * 8), 1e-4, 3e-4)[0] == UNDECIDED
    assert c.figure2_pattern(many, 2e-4, 3e-4)[0] == NOT_APPLICABLE


def test_ballpark():
    r = np.full(40, 0.8)
    assert c.ballpark(r)[0] == REPRODUCED
    assert c.ballpark(r * 1e-1)[0] == DIFFERS  # switches far below their bounds
    assert c.ballpark(r * 3.0)[0] == DIFFERS
    status, why = c.ballpark(np.array([np.nan, np.nan]))
    assert status == UNDECIDED and "n_instances" in why
    assert c.ballpark(np.array([0.8, 0.1, 0.9, 0.05]))[0] == UNDECIDED


def test_true_orbit():
    assert c.true_orbit(30, 0, 32, 3e-4)[0] == REPRODUCED
    assert c.true_orbit(0, 2, 32, 3e-4)[0] == DIFFERS
    status, why = c.true_orbit(0, 10, 16, 3e-4)
    assert status == UNDECIDED and "n_steps" in why and "drift" in why
    status, why = c.true_orbit(0, 2, 32, 3e-4)
    assert status == DIFFERS and "would lie below 0.5" in why
    assert c.true_orbit(30, 0, 32, 1e-4)[0] == NOT_APPLICABLE
    assert c.true_orbit(0, 0, 0, 3e-4)[0] == UNDECIDED


def test_true_orbit_small_sample_names_the_sample_size():
    status, why = c.true_orbit(0, 0, 1, 3e-4)
    assert status == UNDECIDED and "instances would decide" in why
