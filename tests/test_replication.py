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
    md = replication.claim_check("k", "a claim", 1.0, 0.75, status=UNDECIDED, reason="raise n", interval=(0.51, 0.9))
    assert glued["claim_k_status"] == UNDECIDED and glued["claim_k_low"] == 0.51
    assert "95% CI" in md.data and "undecided" in md.data
    md = replication.claim_check("n", "a claim", 1.0, float("nan"), status="not applicable")
    assert glued["claim_n_reproduced"] is None and "none" in md.data
    with pytest.raises(ValueError, match="cannot be reproduced"):
        replication.claim_check("m", "a claim", 1.0, float("nan"), passed=True)


def test_claim_check_paper_text_replaces_a_misleading_number(monkeypatch):
    glued = {}
    monkeypatch.setattr(replication, "glue", lambda name, value, sig=None: glued.__setitem__(name, value))
    md = replication.claim_check(
        "t", "at least one", 1, 3, passed=True, paper_text="≥ 1", reproduced_label="cycles found"
    )
    assert "| ≥ 1 | 3 | **reproduced** |" in md.data
    assert "reproduced (cycles found)" in md.data
    assert glued["claim_t_paper_text"] == "≥ 1" and glued["claim_t_paper"] == 1


def test_intervals_are_rounded_outwards():
    assert replication.rounded_outward(0.9996, 1.0) == (0.99, 1.0)  # never "95% CI 1–1" for 0.9996
    assert replication.rounded_outward(0.3329, 0.4516) == (0.33, 0.46)
    assert replication.rounded_outward(0.28, 0.72) == (0.28, 0.72)  # exact values stay
    assert replication.rounded_outward(0.0, float("nan")) == (0.0, None)


def test_nbval_ignores_figure_bytes_but_not_numbers():
    """`make test` runs nbval with tests/nbval-sanitize.cfg: two different glued PNGs compare equal
    (as nbval already treats image/png), while any other output text is left as it is."""
    import base64
    import re
    from pathlib import Path

    from nbval.plugin import get_sanitize_patterns

    root = Path(__file__).resolve().parents[1]
    patterns = get_sanitize_patterns((root / "tests/nbval-sanitize.cfg").read_text())
    assert "--nbval-sanitize-with tests/nbval-sanitize.cfg" in (root / "Makefile").read_text()

    def clean(s):
        for regex, repl in patterns:
            s = re.sub(regex, repl, s)
        return s

    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"  # how every PNG starts
    a = base64.b64encode(png + b"figure one" * 20).decode()
    b = base64.b64encode(png + b"figure two, other bytes" * 9).decode()
    assert a != b and clean(a) == clean(b)
    for text in ("0.3329", "reproduced", "'undecided'", "a 95% CI 0.33–0.46"):
        assert clean(text) == text


def test_rounded_down_keeps_a_value_below_its_bound_and_drops_the_last_bits():
    assert replication.rounded_down(1.9995, 3) == replication.rounded_down(1.9999999999, 3) == 1.99  # never 2.00
    assert replication.rounded_down(1.978, 3) == replication.rounded_down(1.9765, 3) == 1.97  # AVX-512 vs AVX2 exp
    assert replication.rounded_down(0.29, 2) == 0.29  # exact values stay (0.29 is 0.28999... in binary)
    assert replication.rounded_down(-1.234, 2) == -1.3  # down, not towards zero
    assert replication.rounded_up(0.3301, 3) == 0.331
    assert replication.rounded_down(float("nan")) is None
    assert replication.rounded_down(float("inf")) == float("inf")
    assert replication.rounded_down(0.0) == 0.0


def test_glue_down_rounds_down(monkeypatch):
    import myst_nb

    got = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: got.update({name: value}))
    replication.glue("a", 1.9789, sig=3, down=True)
    replication.glue("b", 1.9789, sig=3)
    replication.glue("c", None, sig=3, down=True)
    assert got == {"a": 1.97, "b": 1.98, "c": None}
