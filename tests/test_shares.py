"""Shares with Wilson intervals, and the verdict of a claim about a share."""

import math

import numpy as np
import pytest
from stepsize.shares import n_needed, share, share_verdict, wilson
from stepsize.verdicts import DIFFERS, REPRODUCED, UNDECIDED


def test_wilson_closed_forms():
    z = 1.959963984540054
    # k = n: the interval is [n / (n + z^2), 1]
    assert wilson(16, 16) == pytest.approx((16 / (16 + z * z), 1.0))
    assert wilson(0, 16) == pytest.approx((0.0, z * z / (16 + z * z)))
    # symmetric about 1/2 at k = n/2
    lo, hi = wilson(8, 16)
    assert lo + hi == pytest.approx(1.0)
    # the textbook value for 81 of 263 (Wilson 1927 / Newcombe 1998 example: 0.2553-0.3662)
    lo, hi = wilson(81, 263)
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)


def test_wilson_rejects_bad_counts():
    with pytest.raises(ValueError):
        wilson(3, 2)
    with pytest.raises(ValueError):
        wilson(0, 0)


def test_share_from_mask():
    s = share(np.array([True, False, True, True]))
    assert (s.k, s.n, s.p) == (3, 4, 0.75)
    assert 0 <= s.lo < 0.75 < s.hi <= 1


def test_share_verdicts_each_way():
    assert share_verdict(share(15, 16), "at_least", 0.5)[0] == REPRODUCED
    assert share_verdict(share(1, 16), "at_least", 0.5)[0] == DIFFERS
    v, why = share_verdict(share(9, 16), "at_least", 0.5)
    assert v == UNDECIDED and "instances would decide" in why
    assert share_verdict(share(16, 16), "all")[0] == REPRODUCED
    assert share_verdict(share(15, 16), "all")[0] == DIFFERS
    assert share_verdict(share(4, 4), "all")[0] == UNDECIDED  # too few to say "all"
    assert share_verdict(share(0, 20), "none")[0] == REPRODUCED
    assert share_verdict(share(1, 20), "none")[0] == DIFFERS
    assert share_verdict(share(0, 20), "at_most", 0.5)[0] == REPRODUCED
    with pytest.raises(ValueError):
        share_verdict(share(1, 2), "most")


def test_n_needed_decides():
    n = n_needed(0.6, 0.5)
    lo, _ = wilson(round(0.6 * n), n)
    assert lo > 0.5
    assert n_needed(0.5, 0.5) is None
    assert math.isfinite(n)


def test_empty_share_has_no_estimate():
    s = share(0, 0)
    assert s.n == 0 and math.isnan(s.p) and (s.lo, s.hi) == (0.0, 1.0)
