"""Claim checks: four verdicts, no NaN where a number is promised, intervals for shares."""

import math

import pytest
from stepsize.book import replication
from stepsize.book.replication import claim_status, rounded
from stepsize.verdicts import NOT_APPLICABLE, UNDECIDED, VERDICTS, decide


def test_rounded_turns_nan_into_none():
    assert rounded(float("nan")) is None
    assert rounded(math.inf) == math.inf
    assert rounded(0.123456) == 0.1235


def test_decide_orders_premise_budget_comparison():
    assert decide(True) == "reproduced"
    assert decide(False) == "differs"
    assert decide(True, decided=False) == UNDECIDED
    assert decide(True, applicable=False, decided=False) == NOT_APPLICABLE


def test_claim_status_vocabulary():
    for v in VERDICTS:
        assert claim_status(status=v) == v
    with pytest.raises(ValueError, match="status must be one of"):
        claim_status(status="passed")
    with pytest.raises(ValueError):
        claim_status()


def test_claim_check_glues_four_verdicts_and_refuses_reproduced_nan(monkeypatch):
    glued = {}
    monkeypatch.setattr(replication, "glue", lambda name, value, sig=4: glued.__setitem__(name, rounded(value, sig)))
    md = replication.claim_check("k", "a claim", 1.0, 0.75, status=UNDECIDED, reason="raise n",
                                 interval=(0.51, 0.9))
    assert glued["claim_k_status"] == UNDECIDED and glued["claim_k_low"] == 0.51
    assert "95% CI" in md.data and "undecided" in md.data
    md = replication.claim_check("n", "a claim", 1.0, float("nan"), status="not applicable")
    assert glued["claim_n_reproduced"] is None and "none" in md.data
    with pytest.raises(ValueError, match="cannot be reproduced"):
        replication.claim_check("m", "a claim", 1.0, float("nan"), passed=True)


def test_claim_check_paper_text_replaces_a_misleading_number(monkeypatch):
    glued = {}
    monkeypatch.setattr(replication, "glue", lambda name, value, sig=None: glued.__setitem__(name, value))
    md = replication.claim_check("t", "at least one", 1, 3, passed=True, paper_text="≥ 1",
                                 reproduced_label="cycles found")
    assert "| ≥ 1 | 3 | **reproduced** |" in md.data
    assert "reproduced (cycles found)" in md.data
    assert glued["claim_t_paper_text"] == "≥ 1" and glued["claim_t_paper"] == 1
