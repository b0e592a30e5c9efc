"""The scorecard is generated from the chapters' glued claim checks and lists every one."""

import yaml
from stepsize.book import registry as chapters
from stepsize.book import scorecard
from stepsize.book.registry import REPO_ROOT
from stepsize.book.replication import glued_values
from stepsize.verdicts import VERDICTS


def test_scorecard_is_up_to_date():
    assert scorecard.SCORECARD.read_text() == scorecard.render(scorecard.collect()), (
        "book/scorecard.md is stale: run `python -m stepsize scorecard`"
    )


def test_every_chapter_has_claims_and_each_is_listed():
    text = scorecard.SCORECARD.read_text()
    for ch in chapters.CHAPTERS.values():
        claims = scorecard.claims_of(glued_values(ch.notebook))
        assert claims, f"{ch.slug}: no claim check glued"
        for c in claims:
            assert c["status"] in VERDICTS
            assert scorecard._cell(c["claim"]) in text, f"{ch.slug}: claim {c['key']} missing from the scorecard"


def test_scorecard_in_toc_and_linked_from_intro():
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
    files = [c["file"] for p in toc["parts"] for c in p["chapters"]]
    assert "book/scorecard" in files
    assert "scorecard.md" in (REPO_ROOT / "book" / "intro.md").read_text()
